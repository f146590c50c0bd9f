package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"candour/internal/seal"
)

func TestIdentityOpen(t *testing.T) {
	custodian, _ := age.GenerateX25519Identity()
	other, _ := age.GenerateX25519Identity()
	recipients, err := seal.ParseRecipients([]string{custodian.Recipient().String(), other.Recipient().String()})
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := seal.SealIdentity(recipients, []byte(`{"name":"Gwen Whistleblower"}`))
	if err != nil {
		t.Fatal(err)
	}
	armored, _ := seal.Armor(sealed)
	dir := t.TempDir()
	key := filepath.Join(dir, "key.txt")
	os.WriteFile(key, []byte("# custodian\n"+custodian.String()+"\n"), 0o600)
	wrongKey := filepath.Join(dir, "wrong.txt")
	stranger, _ := age.GenerateX25519Identity()
	os.WriteFile(wrongKey, []byte(stranger.String()+"\n"), 0o600)

	for name, in := range map[string][]byte{"armored": []byte(armored), "binary": sealed} {
		var out, errb bytes.Buffer
		if code := identityCmd([]string{"open", "--key", key}, bytes.NewReader(in), &out, &errb); code != 0 || !strings.Contains(out.String(), "Gwen Whistleblower") {
			t.Errorf("%s: got exit %d, %q %q", name, code, out.String(), errb.String())
		}
	}
	var out, errb bytes.Buffer
	if code := identityCmd([]string{"open", "--key", wrongKey}, strings.NewReader(armored), &out, &errb); code != 1 || out.Len() != 0 {
		t.Errorf("wrong key: got exit %d, output %q", code, out.String())
	}
	if code := identityCmd([]string{"open"}, strings.NewReader(armored), &out, &errb); code != 2 {
		t.Errorf("no key: got exit %d, want 2", code)
	}
}

// An identity moved to another concern in the database is refused by the custodian's check:
// the concern's public id is sealed inside it (age has no associated data).
func TestIdentityOpenChecksConcern(t *testing.T) {
	custodian, _ := age.GenerateX25519Identity()
	recipients, _ := seal.ParseRecipients([]string{custodian.Recipient().String()})
	key := filepath.Join(t.TempDir(), "key.txt")
	os.WriteFile(key, []byte(custodian.String()+"\n"), 0o600)
	const mine, theirs = "6f1c2d3e-4a5b-4c6d-8e7f-0a1b2c3d4e5f", "0e9d8c7b-6a59-4837-a625-1403f2e1d0c9"
	bound, _ := seal.SealIdentity(recipients, []byte(`{"name":"Gwen Whistleblower","concern":"`+mine+`"}`))
	legacy, _ := seal.SealIdentity(recipients, []byte(`{"name":"Gwen Whistleblower"}`))
	cases := []struct {
		name    string
		sealed  []byte
		concern string
		code    int
		stderr  string
	}{
		{"its own concern", bound, mine, 0, ""},
		{"moved to another concern", bound, theirs, 1, "integrity"},
		{"sealed before binding", legacy, mine, 0, "warning"},
	}
	for _, tc := range cases {
		var out, errb bytes.Buffer
		code := identityCmd([]string{"open", "--key", key, "--concern", tc.concern}, bytes.NewReader(tc.sealed), &out, &errb)
		if code != tc.code || !strings.Contains(errb.String(), tc.stderr) {
			t.Errorf("%s: got exit %d, stderr %q, want %d and %q", tc.name, code, errb.String(), tc.code, tc.stderr)
		}
		if tc.code != 0 && strings.Contains(out.String(), "Gwen") {
			t.Errorf("%s: the refused identity was printed: %q", tc.name, out.String())
		}
	}
}
