package keyfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCreateAndRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "secret.key")
	if _, err := Read(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: got %v, want fs.ErrNotExist", err)
	}
	if err := Create(path, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := Create(path, []byte("two")); !errors.Is(err, ErrExists) {
		t.Fatalf("second create: got %v, want ErrExists (a key is never replaced)", err)
	}
	got, err := Read(path)
	if err != nil || string(got) != "one" {
		t.Fatalf("got %q %v, want the first key", got, err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %#o, want 0600", fi.Mode().Perm())
	}
	if fi, _ := os.Stat(filepath.Dir(path)); fi.Mode().Perm() != 0o700 {
		t.Errorf("folder mode %#o, want 0700", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

func TestReadRefuses(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]struct {
		mode os.FileMode
		data string
		want string
	}{
		"group readable": {0o640, "k", "group or other"},
		"world readable": {0o604, "k", "group or other"},
		"too large":      {0o600, strings.Repeat("k", MaxSize+1), "larger than"},
	}
	for name, tc := range cases {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		os.WriteFile(path, []byte(tc.data), tc.mode)
		os.Chmod(path, tc.mode)
		if _, err := Read(path); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error mentioning %q", name, err, tc.want)
		}
	}
	if _, err := Read(dir); err == nil {
		t.Errorf("a folder was read as a key file")
	}
}
