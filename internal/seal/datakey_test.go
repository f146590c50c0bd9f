package seal

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func newServerKey(t testing.TB) (*ServerKey, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keys", "server.key")
	k, err := LoadOrCreateServerKey(path)
	if err != nil {
		t.Fatal(err)
	}
	return k, path
}

func newDataKeyForTest(t testing.TB) (*DataKey, []byte, *ServerKey) {
	t.Helper()
	k, _ := newServerKey(t)
	d, wrapped, err := k.NewDataKey()
	if err != nil {
		t.Fatal(err)
	}
	return d, wrapped, k
}

func TestLoadOrCreateServerKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "secrets")
	path := filepath.Join(dir, "server.key")
	k1, err := LoadOrCreateServerKey(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Fatalf("key file mode: got %#o, want 0600", got)
	}
	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := di.Mode().Perm(); got != 0o700 {
		t.Fatalf("key dir mode: got %#o, want 0700", got)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("got %d files in key dir, want 1 (temporary file left behind?)", len(entries))
	}
	k2, err := LoadOrCreateServerKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := k2.Recipient().String(), k1.Recipient().String(); got != want {
		t.Fatalf("reloaded key: got recipient %s, want %s", got, want)
	}
	if s := fmt.Sprintf("%v %+v %#v %s", k1, k1, k1, k1); strings.Contains(s, "AGE-SECRET-KEY") {
		t.Fatalf("formatting a ServerKey leaks it: %s", s)
	}
}

func TestLoadOrCreateServerKeyConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "server.key")
	const n = 8
	keys := make([]*ServerKey, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { keys[i], errs[i] = LoadOrCreateServerKey(path) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("goroutine %d: got error %v, want nil", i, errs[i])
		}
		if got, want := keys[i].Recipient().String(), keys[0].Recipient().String(); got != want {
			t.Fatalf("goroutine %d: got recipient %s, want %s (key overwritten)", i, got, want)
		}
	}
}

func TestLoadServerKeyRejects(t *testing.T) {
	id := newIdentity(t)
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		wantErr string
	}{
		{"group readable", id.String() + "\n", 0o640, "must not be accessible by group or other"},
		{"world readable", id.String() + "\n", 0o604, "must not be accessible by group or other"},
		{"group writable", id.String() + "\n", 0o620, "must not be accessible by group or other"},
		{"too large", "# " + strings.Repeat("x", 5000) + "\n" + id.String() + "\n", 0o600, "larger than 4096 bytes"},
		{"empty", "# nothing here\n", 0o600, "no identity found"},
		{"two identities", id.String() + "\n" + newIdentity(t).String() + "\n", 0o600, "more than one identity"},
		{"garbage", "AGE-SECRET-KEY-1NOTAKEY\n", 0o600, "line 1: not an X25519 age identity"},
		{"recipient", id.Recipient().String() + "\n", 0o600, "line 1: not an X25519 age identity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "server.key")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			_, err := LoadOrCreateServerKey(path)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "AGE-SECRET-KEY-1") && tt.name != "garbage" {
				t.Fatalf("error leaks key material: %v", err)
			}
			// The bad file is left alone, not replaced with a new key.
			got, rerr := os.ReadFile(path)
			if rerr != nil || string(got) != tt.content {
				t.Fatalf("key file was modified")
			}
		})
	}
	t.Run("directory", func(t *testing.T) {
		if _, err := LoadOrCreateServerKey(t.TempDir()); err == nil {
			t.Fatal("got nil error, want one")
		}
	})
}

func TestDataKeyWrapUnwrap(t *testing.T) {
	d, wrapped, k := newDataKeyForTest(t)
	ct, err := d.Seal(testPlace, []byte("summary"))
	if err != nil {
		t.Fatal(err)
	}
	d2, err := k.UnwrapDataKey(wrapped)
	if err != nil {
		t.Fatal(err)
	}
	got, err := openAt(d2, ct)
	if err != nil || string(got) != "summary" {
		t.Fatalf("got %q, %v, want %q, nil", got, err, "summary")
	}

	other, _ := newServerKey(t)
	if _, err := other.UnwrapDataKey(wrapped); !errors.Is(err, ErrSealed) {
		t.Fatalf("other server key: got error %v, want ErrSealed", err)
	}
	// Crypto-shredding: the server key alone cannot open content, whether
	// used directly, as its derived wrapping key, or via a fresh data key.
	if _, err := decryptAll(ct, k.id); err == nil {
		t.Fatal("server key on content: got nil error, want one")
	}
	if got, err := openAt(k.kek, ct); err == nil || got != nil {
		t.Fatalf("wrapping key on content: got %q, %v, want an error", got, err)
	}
	d3, _, err := k.NewDataKey()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := openAt(d3, ct); !errors.Is(err, ErrSealed) {
		t.Fatalf("another data key of the same server key: got error %v, want ErrSealed", err)
	}
	// The data key cannot be opened as a field, nor a field unwrapped as a key.
	if _, err := openAt(k.kek, wrapped); !errors.Is(err, ErrSealed) {
		t.Fatalf("wrapped key opened as a field: got %v, want ErrSealed", err)
	}
	keyAsField, _ := k.kek.Seal(testPlace, bytes.Repeat([]byte{7}, dataKeySize))
	if _, err := k.UnwrapDataKey(keyAsField); !errors.Is(err, ErrSealed) {
		t.Fatalf("field unwrapped as a key: got %v, want ErrSealed", err)
	}

	tampered := bytes.Clone(wrapped)
	tampered[len(tampered)-1] ^= 1
	if _, err := k.UnwrapDataKey(tampered); err == nil {
		t.Fatal("tampered wrapped key: got nil error, want one")
	}
	if _, err := k.UnwrapDataKey(make([]byte, 2000)); err == nil {
		t.Fatal("oversized wrapped key: got nil error, want one")
	}
	// A valid age file to the server key that is not a data key.
	notKey, err := encrypt([]byte("hello"), k.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.UnwrapDataKey(notKey); err == nil {
		t.Fatal("non-key content: got nil error, want one")
	}
	if s := fmt.Sprintf("%v %+v %#v %s", d, d, d, d); strings.Contains(s, "AGE-SECRET-KEY") || strings.Contains(s, export(d)) {
		t.Fatalf("formatting a DataKey leaks it: %s", s)
	}
}

// TestServerKeyFileIsStandardAge shows the server key file is a standard age identity file
// (the upstream age-keygen reads it). A data key wrapped to its public recipient is refused:
// anyone can make one, so a database writer could plant a key they know.
func TestServerKeyFileIsStandardAge(t *testing.T) {
	keygen, err := exec.LookPath("age-keygen")
	if err != nil {
		t.Fatalf("age-keygen not found (install it: apt-get install age): %v", err)
	}
	k, path := newServerKey(t)
	out, err := exec.Command(keygen, "-y", path).Output()
	if err != nil {
		t.Fatalf("age-keygen -y: %v: %s", err, stderr(err))
	}
	if got := strings.TrimSpace(string(out)); got != k.Recipient().String() {
		t.Fatalf("age-keygen -y: got %s, want %s", got, k.Recipient())
	}
	d, _, err := k.NewDataKey()
	if err != nil {
		t.Fatal(err)
	}
	planted, err := encrypt([]byte(export(d)), k.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	if d2, err := k.UnwrapDataKey(planted); err == nil || d2 != nil {
		t.Fatalf("a key wrapped to the public recipient: got %v, %v, want it refused", d2, err)
	}
	legacy, err := encrypt([]byte(export(d)), k.kek)
	if err != nil {
		t.Fatal(err)
	}
	if d2, err := k.UnwrapDataKey(legacy); err != nil || export(d2) != export(d) {
		t.Fatalf("a key wrapped in age format to the derived key: got %v, want it unwrapped", err)
	}
}

// Fields were age files before they were sealed directly: those still open.
func TestDataKeyOpensAgeFields(t *testing.T) {
	d, _, _ := newDataKeyForTest(t)
	old, err := encrypt([]byte("an older summary"), d)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := d.Open(testPlace, old); err != nil || string(got.Plain) != "an older summary" || !got.Unbound {
		t.Fatalf("age-format field: got %q, unbound %v, %v, want it opened and unbound", got.Plain, got.Unbound, err)
	}
	if _, err := d.BoundOnly().Open(testPlace, old); !errors.As(err, new(*IntegrityError)) {
		t.Fatalf("age-format field under a key made after binding: got %v, want an IntegrityError", err)
	}
	other, _, _ := newDataKeyForTest(t)
	if got, err := openAt(other, old); err == nil || got != nil {
		t.Fatalf("age-format field with another key: got %q, %v, want an error", got, err)
	}
}

func TestDataKeySealOpen(t *testing.T) {
	d, _, _ := newDataKeyForTest(t)
	for _, size := range []int{0, 1, 20 << 10, 64 << 10, 64<<10 + 1, 200 << 10} {
		plaintext := make([]byte, size)
		rand.Read(plaintext)
		ct, err := d.Seal(testPlace, plaintext)
		if err != nil {
			t.Fatal(err)
		}
		got, err := openAt(d, ct)
		if err != nil {
			t.Fatalf("size %d: got error %v, want nil", size, err)
		}
		if !bytes.Equal(got, plaintext) {
			t.Fatalf("size %d: round trip mismatch", size)
		}
	}
	a, _ := d.Seal(testPlace, []byte("same"))
	b, _ := d.Seal(testPlace, []byte("same"))
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same plaintext are equal, want randomized")
	}
}

func TestDataKeyOpenTampered(t *testing.T) {
	d, _, _ := newDataKeyForTest(t)
	plaintext := bytes.Repeat([]byte("details "), 20000) // 160 kB, 3 chunks
	ct, err := d.Seal(testPlace, plaintext)
	if err != nil {
		t.Fatal(err)
	}
	const head = 1 + 24 // version, nonce
	cases := map[string][]byte{
		"empty":               nil,
		"version only":        ct[:1],
		"nonce cut":           ct[:head-3],
		"no tag":              ct[:head+15],
		"truncated":           ct[:len(ct)-100],
		"trailing data":       append(bytes.Clone(ct), 0),
		"unknown version":     flip(ct, 0),
		"flipped nonce bit":   flip(ct, 5),
		"flipped payload bit": flip(ct, len(ct)/2),
		"flipped tag bit":     flip(ct, len(ct)-1),
		"age header, garbage": append([]byte("age-encryption.org/v1\n"), ct...),
	}
	for name, bad := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := openAt(d, bad)
			if err == nil {
				t.Fatal("got nil error, want one")
			}
			if got != nil {
				t.Fatalf("got %d bytes of plaintext with the error, want none", len(got))
			}
		})
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x01
	return c
}

func TestDataKeyStream(t *testing.T) {
	d, _, _ := newDataKeyForTest(t)
	plaintext := make([]byte, 3<<20+12345)
	rand.Read(plaintext)

	var ct bytes.Buffer
	w, err := d.EncryptStream(&ct, testPlace)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(w, bytes.NewReader(plaintext)); err != nil {
		t.Fatal(err)
	}
	beforeClose := ct.Len()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if ct.Len() <= beforeClose {
		t.Fatal("Close wrote nothing, want the last chunk")
	}

	r, unbound, err := d.DecryptStream(bytes.NewReader(ct.Bytes()), testPlace)
	if err != nil || unbound {
		t.Fatalf("got unbound %v, error %v, want a bound stream", unbound, err)
	}
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, plaintext) {
		t.Fatal("stream round trip mismatch")
	}
}

func TestDataKeyStreamTruncated(t *testing.T) {
	d, _, _ := newDataKeyForTest(t)
	plaintext := bytes.Repeat([]byte("attachment"), 50000) // 500 kB, 8 chunks
	var ct bytes.Buffer
	w, err := d.EncryptStream(&ct, testPlace)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(plaintext); err != nil {
		t.Fatal(err)
	}
	unclosed := bytes.Clone(ct.Bytes()) // what is left if Close is forgotten
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	full := ct.Bytes()
	const chunk = 64<<10 + 16
	total := len(streamMagic) + 1 + 4 + len(testPlace.ad()) + len(plaintext) // the place header is inside the payload
	payloadStart := len(full) - (total/(64<<10)+1)*16 - total

	cases := map[string][]byte{
		"never closed":        unclosed,
		"cut at chunk bound":  full[:payloadStart+3*chunk],
		"cut mid chunk":       full[:payloadStart+3*chunk+100],
		"last byte missing":   full[:len(full)-1],
		"payload bit flipped": flip(full, payloadStart+5*chunk+7),
	}
	for name, bad := range cases {
		t.Run(name, func(t *testing.T) {
			r, _, err := d.DecryptStream(bytes.NewReader(bad), testPlace)
			if err != nil {
				return // rejected up front: fine
			}
			got, err := io.ReadAll(r)
			if err == nil {
				t.Fatalf("read %d bytes and nil error, want an error", len(got))
			}
			if !strings.HasPrefix(err.Error(), "seal: decrypt stream:") {
				t.Fatalf("got error %q, want it prefixed with seal: decrypt stream:", err)
			}
			// Cut mid-chunk, age tries the fragment as the last chunk and
			// fails to authenticate it; cut between chunks, it is an EOF.
			if name == "cut at chunk bound" && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("got error %v, want io.ErrUnexpectedEOF", err)
			}
			if len(got) >= len(plaintext) {
				t.Fatalf("got all %d bytes before the error", len(got))
			}
		})
	}
	if _, _, err := d.DecryptStream(strings.NewReader("not age at all"), testPlace); err == nil {
		t.Fatal("non-age stream: got nil error, want one")
	}
}

func BenchmarkSealField(b *testing.B) {
	d, _, _ := newDataKeyForTest(b)
	field := make([]byte, 20<<10)
	rand.Read(field)
	b.SetBytes(int64(len(field)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Seal(testPlace, field); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpenField(b *testing.B) {
	d, _, _ := newDataKeyForTest(b)
	field := make([]byte, 20<<10)
	rand.Read(field)
	ct, err := d.Seal(testPlace, field)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(field)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Open(testPlace, ct); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncryptStream(b *testing.B) {
	d, _, _ := newDataKeyForTest(b)
	const size = 64 << 20
	src := make([]byte, size)
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		w, err := d.EncryptStream(io.Discard, testPlace)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(w, bytes.NewReader(src)); err != nil {
			b.Fatal(err)
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// export is a data key as an earlier version wrapped it: hex.
func export(d *DataKey) string { return hex.EncodeToString(d.key) }

// testPlace is where the tests' fields are stored.
var testPlace = Place{Table: "concerns", Row: "2b1f0c3e-0d0a-4c1e-9a51-3c52f2d1e7a1", Field: "content"}

// openAt opens a field sealed at testPlace and returns its plaintext only.
func openAt(d *DataKey, ct []byte) ([]byte, error) {
	o, err := d.Open(testPlace, ct)
	return o.Plain, err
}

// A field opens only in the place it was sealed for: another row, column or table, or a
// changed bound attribute, is an IntegrityError naming the place, with no plaintext.
func TestDataKeyFieldBoundToPlace(t *testing.T) {
	d, _, _ := newDataKeyForTest(t)
	msg := Place{Table: "messages", Row: "m1", Field: "body", Attrs: []string{"author=staff", "detriment=false"}}
	ct, err := d.Seal(msg, []byte("we have started"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := d.Open(msg, ct); err != nil || string(got.Plain) != "we have started" || got.Unbound {
		t.Fatalf("own place: got %q, unbound %v, %v, want it opened and bound", got.Plain, got.Unbound, err)
	}
	moved := map[string]Place{
		"another row":       {Table: "messages", Row: "m2", Field: "body", Attrs: msg.Attrs},
		"another column":    {Table: "messages", Row: "m1", Field: "name", Attrs: msg.Attrs},
		"another table":     {Table: "notes", Row: "m1", Field: "body", Attrs: msg.Attrs},
		"author flipped":    {Table: "messages", Row: "m1", Field: "body", Attrs: []string{"author=reporter", "detriment=false"}},
		"detriment toggled": {Table: "messages", Row: "m1", Field: "body", Attrs: []string{"author=staff", "detriment=true"}},
		"attribute dropped": {Table: "messages", Row: "m1", Field: "body", Attrs: []string{"author=staff"}},
		// Length prefixes keep parts apart: the same bytes split differently are another place.
		"parts shifted": {Table: "messagesm1", Row: "", Field: "body", Attrs: msg.Attrs},
	}
	for name, p := range moved {
		t.Run(name, func(t *testing.T) {
			got, err := d.Open(p, ct)
			var ie *IntegrityError
			if !errors.As(err, &ie) || ie.Place.Table != p.Table || ie.Place.Field != p.Field {
				t.Fatalf("got %v, want an IntegrityError for %s.%s", err, p.Table, p.Field)
			}
			if !errors.Is(err, ErrSealed) || got.Plain != nil {
				t.Fatalf("got %d bytes, errors.Is(ErrSealed) %v, want no plaintext and ErrSealed", len(got.Plain), errors.Is(err, ErrSealed))
			}
			if strings.Contains(err.Error(), "we have started") {
				t.Fatalf("the error carries the content: %v", err)
			}
		})
	}
}

// Fields sealed before binding (sealedV1) still open, reported unbound; a key made after
// binding (BoundOnly) refuses them, so an old ciphertext cannot be replayed into a new case.
func TestDataKeyOpensV1FieldsAsUnbound(t *testing.T) {
	d, _, _ := newDataKeyForTest(t)
	old, err := d.seal([]byte("an older summary"), fieldAD)
	if err != nil {
		t.Fatal(err)
	}
	if Bound(old) {
		t.Fatal("Bound(v1) = true, want false")
	}
	got, err := d.Open(testPlace, old)
	if err != nil || string(got.Plain) != "an older summary" || !got.Unbound {
		t.Fatalf("v1 field: got %q, unbound %v, %v, want it opened and unbound", got.Plain, got.Unbound, err)
	}
	if _, err := d.BoundOnly().Open(testPlace, old); !errors.As(err, new(*IntegrityError)) {
		t.Fatalf("v1 field under BoundOnly: got %v, want an IntegrityError", err)
	}
	bound, _ := d.Seal(testPlace, []byte("x"))
	if !Bound(bound) {
		t.Fatal("Bound(v2) = false, want true")
	}
}

// A stream carries its place inside the encrypted payload: opened for another place it is an
// IntegrityError before any plaintext is read; a stream from before binding opens unbound.
func TestDataKeyStreamBoundToPlace(t *testing.T) {
	d, _, _ := newDataKeyForTest(t)
	a := Place{Table: "attachments", Row: "a1", Field: "blob", Attrs: []string{"concern=c1"}}
	var ct bytes.Buffer
	w, err := d.EncryptStream(&ct, a)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "evidence")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b := a
	b.Row = "a2"
	if _, _, err := d.DecryptStream(bytes.NewReader(ct.Bytes()), b); !errors.As(err, new(*IntegrityError)) {
		t.Fatalf("another attachment's place: got %v, want an IntegrityError", err)
	}
	legacy, err := encrypt([]byte("old evidence"), d)
	if err != nil {
		t.Fatal(err)
	}
	r, unbound, err := d.DecryptStream(bytes.NewReader(legacy), a)
	if err != nil || !unbound {
		t.Fatalf("legacy stream: got unbound %v, %v, want it opened unbound", unbound, err)
	}
	if got, err := io.ReadAll(r); err != nil || string(got) != "old evidence" {
		t.Fatalf("legacy stream: got %q, %v", got, err)
	}
	if _, _, err := d.BoundOnly().DecryptStream(bytes.NewReader(legacy), a); !errors.As(err, new(*IntegrityError)) {
		t.Fatalf("legacy stream under BoundOnly: got %v, want an IntegrityError", err)
	}
}
