package seal

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"filippo.io/age/armor"
)

func newIdentity(t testing.TB) *age.X25519Identity {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func decryptAll(src []byte, ids ...age.Identity) ([]byte, error) {
	r, err := age.Decrypt(bytes.NewReader(src), ids...)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func TestParseRecipients(t *testing.T) {
	a, b := newIdentity(t).Recipient().String(), newIdentity(t).Recipient().String()
	pq, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		list    []string
		wantN   int
		wantErr string
	}{
		{"one", []string{a}, 1, ""},
		{"two with spaces", []string{" " + a, b + "\n"}, 2, ""},
		{"empty list", nil, 0, "no custodian recipients"},
		{"empty entry", []string{a, "  "}, 0, "recipient #2: empty"},
		{"too long", []string{a, "age1" + strings.Repeat("q", 300)}, 0, "recipient #2: longer than 200 bytes"},
		{"bad checksum", []string{a[:len(a)-1] + "x"}, 0, "recipient #1:"},
		{"ssh key", []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHsKLqeplhpW+uObz5dvMgjz1OxfM/XXUB+VHtZ6isGN"}, 0, "recipient #1: not an X25519 age recipient"},
		{"post-quantum", []string{a, pq.Recipient().String()}, 0, "recipient #2: longer than 200 bytes"},
		{"post-quantum prefix", []string{a, pq.Recipient().String()[:100]}, 0, "recipient #2: not an X25519 age recipient"},
		{"identity instead of recipient", []string{newIdentity(t).String()}, 0, "recipient #1: not an X25519 age recipient"},
		{"duplicate", []string{a, b, a}, 0, "recipient #3: duplicate of recipient #1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRecipients(tt.list)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "AGE-SECRET-KEY") {
					t.Fatalf("error leaks a secret key: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			if len(got) != tt.wantN {
				t.Fatalf("got %d recipients, want %d", len(got), tt.wantN)
			}
		})
	}
}

func TestSealIdentity(t *testing.T) {
	c1, c2, other := newIdentity(t), newIdentity(t), newIdentity(t)
	recipients, err := ParseRecipients([]string{c1.Recipient().String(), c2.Recipient().String()})
	if err != nil {
		t.Fatal(err)
	}
	plaintext := []byte("Name: Jo Bloggs\nContact: jo@example.org\nRole: clerk")
	ct, err := SealIdentity(recipients, plaintext)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ct, []byte("Bloggs")) {
		t.Fatal("ciphertext contains plaintext")
	}
	// Encrypted once: a single header with one stanza per custodian.
	if got := bytes.Count(ct, []byte("age-encryption.org/v1")); got != 1 {
		t.Fatalf("got %d age headers, want 1", got)
	}
	if got := bytes.Count(ct, []byte("\n-> X25519 ")); got != 2 {
		t.Fatalf("got %d X25519 stanzas, want 2", got)
	}
	for i, id := range []*age.X25519Identity{c1, c2} {
		got, err := decryptAll(ct, id)
		if err != nil {
			t.Fatalf("custodian %d: got error %v, want nil", i+1, err)
		}
		if !bytes.Equal(got, plaintext) {
			t.Fatalf("custodian %d: got %q, want %q", i+1, got, plaintext)
		}
	}
	var noMatch *age.NoIdentityMatchError
	if _, err := decryptAll(ct, other); !errors.As(err, &noMatch) {
		t.Fatalf("other identity: got error %v, want NoIdentityMatchError", err)
	}
}

func TestSealIdentityRejects(t *testing.T) {
	if _, err := SealIdentity(nil, []byte("x")); err == nil {
		t.Fatal("no recipients: got nil error, want one")
	}
	pq, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	mixed := []age.Recipient{newIdentity(t).Recipient(), pq.Recipient()}
	if _, err := SealIdentity(mixed, []byte("x")); err == nil || !strings.Contains(err.Error(), "recipient #2") {
		t.Fatalf("mixed recipients: got error %v, want one naming recipient #2", err)
	}
}

func TestArmor(t *testing.T) {
	id := newIdentity(t)
	ct, err := SealIdentity([]age.Recipient{id.Recipient()}, []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	armored, err := Armor(ct)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(armored, "-----BEGIN AGE ENCRYPTED FILE-----\n") ||
		!strings.HasSuffix(armored, "-----END AGE ENCRYPTED FILE-----\n") {
		t.Fatalf("got %q, want an armored age file", armored)
	}
	r, err := age.Decrypt(armor.NewReader(strings.NewReader(armored)), id)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil || string(got) != "hello" {
		t.Fatalf("got %q, %v, want %q, nil", got, err, "hello")
	}
	if _, err := Armor([]byte("not age")); err == nil {
		t.Fatal("non-age input: got nil error, want one")
	}
}

// TestArmorOpensWithAgeCLI checks the promise made to custodians: the
// upstream age CLI opens a sealed identity with their key file. It fails,
// rather than skips, when age is not installed.
func TestArmorOpensWithAgeCLI(t *testing.T) {
	agePath, err := exec.LookPath("age")
	if err != nil {
		t.Fatalf("age CLI not found (install it: apt-get install age): %v", err)
	}
	dir := t.TempDir()
	custodian, other := newIdentity(t), newIdentity(t)
	plaintext := "Name: Jo Bloggs\nRole: clerk\n"
	ct, err := SealIdentity([]age.Recipient{other.Recipient(), custodian.Recipient()}, []byte(plaintext))
	if err != nil {
		t.Fatal(err)
	}
	armored, err := Armor(ct)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "custodian.txt")
	writeFile(t, keyFile, custodian.String()+"\n")
	for _, tc := range []struct{ name, content string }{
		{"armored", armored},
		{"binary", string(ct)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := filepath.Join(dir, tc.name+".age")
			writeFile(t, in, tc.content)
			out, err := exec.Command(agePath, "-d", "-i", keyFile, in).Output()
			if err != nil {
				t.Fatalf("age -d: %v: %s", err, stderr(err))
			}
			if string(out) != plaintext {
				t.Fatalf("got %q, want %q", out, plaintext)
			}
		})
	}
	// And a key that is not a recipient does not open it.
	wrongKey := filepath.Join(dir, "wrong.txt")
	writeFile(t, wrongKey, newIdentity(t).String()+"\n")
	in := filepath.Join(dir, "armored.age")
	if out, err := exec.Command(agePath, "-d", "-i", wrongKey, in).Output(); err == nil {
		t.Fatalf("age -d with a wrong key: got %q and no error, want an error", out)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func stderr(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(ee.Stderr)
	}
	return ""
}
