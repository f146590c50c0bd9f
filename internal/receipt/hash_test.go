package receipt

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHash(t *testing.T) {
	k1, k2 := bytes.Repeat([]byte{1}, KeySize), bytes.Repeat([]byte{2}, KeySize)
	h1, err := NewHasher(k1)
	if err != nil {
		t.Fatal(err)
	}
	h1again, _ := NewHasher(k1)
	h2, _ := NewHasher(k2)
	const r = "K7QM2XWPTRHD9CFANBEZ"

	a := h1.Hash(r)
	if len(a) != 32 {
		t.Fatalf("got %d-byte hash, want 32", len(a))
	}
	if b := h1again.Hash(r); !bytes.Equal(a, b) {
		t.Fatalf("same key, same receipt: got %x and %x, want equal", a, b)
	}
	if b := h2.Hash(r); bytes.Equal(a, b) {
		t.Fatal("different keys: got equal hashes, want different")
	}
	if b := h1.Hash("K7QM2XWPTRHD9CFANBE2"); bytes.Equal(a, b) {
		t.Fatal("different receipts: got equal hashes, want different")
	}
	// A known answer, so a change in the construction breaks the test
	// (and every stored hash would stop matching).
	if got, want := fmt.Sprintf("%x", h1.Hash(r)), knownHash; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	if _, err := NewHasher(k1[:31]); err == nil {
		t.Fatal("short key: got nil error, want one")
	}
	if s := fmt.Sprintf("%v %+v %#v", h1, h1, h1); strings.Contains(s, "1 1 1") || strings.Contains(s, "0101") {
		t.Fatalf("formatting a Hasher leaks the key: %s", s)
	}
}

// HMAC-SHA256(key = 32×0x01, "K7QM2XWPTRHD9CFANBEZ").
const knownHash = "c7f668f001d607fdeb8b888b878b977751dc83ebbe11d08e2f90ae4415350fee"

func TestLoadOrCreateKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "secrets")
	path := filepath.Join(dir, "receipt.key")
	h1, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{path: 0o600, dir: 0o700} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Fatalf("%s: got mode %#o, want %#o", p, got, want)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("got %d files in key dir, want 1", len(entries))
	}
	h2, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(h1.Hash("X"), h2.Hash("X")) {
		t.Fatal("reloaded key hashes differently, want the same key")
	}
	other, err := LoadOrCreateKey(filepath.Join(t.TempDir(), "receipt.key"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(h1.Hash("X"), other.Hash("X")) {
		t.Fatal("two created keys hash the same, want random keys")
	}
}

func TestLoadKeyRejects(t *testing.T) {
	good := strings.Repeat("ab", KeySize) + "\n"
	tests := []struct {
		name, content string
		mode          os.FileMode
		wantErr       string
	}{
		{"group readable", good, 0o640, "must not be accessible by group or other"},
		{"other readable", good, 0o604, "must not be accessible by group or other"},
		{"short", strings.Repeat("ab", 16), 0o600, "want 64 hex characters"},
		{"not hex", strings.Repeat("zz", KeySize), 0o600, "not hex"},
		{"too large", strings.Repeat(" ", 5000) + good, 0o600, "larger than 4096 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "receipt.key")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			_, err := LoadOrCreateKey(path)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
			}
			if got, _ := os.ReadFile(path); string(got) != tt.content {
				t.Fatal("bad key file was modified, want it left alone")
			}
		})
	}
}
