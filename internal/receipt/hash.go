package receipt

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the size of the receipt hashing key.
const KeySize = 32

// maxKeyFileSize caps how much of a key file is read.
const maxKeyFileSize = 4 << 10

// Hasher computes the keyed hash under which a receipt is stored. The key
// lives outside the database, so a database dump alone does not allow
// testing guesses offline.
type Hasher struct {
	key [KeySize]byte
}

// NewHasher returns a Hasher with the given 32-byte key (for tests and for
// keys provided by a secret store).
func NewHasher(key []byte) (*Hasher, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("receipt: hash key is %d bytes, want %d", len(key), KeySize)
	}
	h := &Hasher{}
	copy(h.key[:], key)
	return h, nil
}

// LoadOrCreateKey loads the receipt hashing key from path, or creates it if
// the file does not exist: 32 random bytes, hex-encoded on one line, in a
// file with mode 0600 (parent directory 0700 if missing), written to a
// temporary file and linked into place so a partial key is never seen and
// an existing key is never replaced. It refuses a key file accessible by
// group or other.
//
// Losing this key makes every stored receipt hash useless: back it up with
// the server key.
func LoadOrCreateKey(path string) (*Hasher, error) {
	h, err := loadKey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return h, err
	}
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("receipt: generate hash key: %w", err)
	}
	switch err := createKeyFile(path, []byte(hex.EncodeToString(key)+"\n")); {
	case errors.Is(err, errKeyFileExists):
		return loadKey(path) // another process won the race
	case err != nil:
		return nil, fmt.Errorf("receipt: create hash key %s: %w", path, err)
	}
	return NewHasher(key)
}

func loadKey(path string) (*Hasher, error) {
	data, err := readKeyFile(path)
	if err != nil {
		return nil, fmt.Errorf("receipt: load hash key: %w", err)
	}
	s := strings.TrimSpace(string(data))
	if len(s) != 2*KeySize {
		return nil, fmt.Errorf("receipt: load hash key %s: want %d hex characters", path, 2*KeySize)
	}
	key, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("receipt: load hash key %s: not hex", path)
	}
	return NewHasher(key)
}

// Hash returns HMAC-SHA256(key, normalized), 32 bytes, to store in a unique
// indexed column and look up by equality. Pass only the output of
// Normalize, so that every way of typing a receipt hashes the same.
func (h *Hasher) Hash(normalized string) []byte {
	m := hmac.New(sha256.New, h.key[:])
	io.WriteString(m, normalized)
	return m.Sum(nil)
}

// String keeps the key out of logs.
func (h *Hasher) String() string { return "receipt.Hasher(redacted)" }

// GoString keeps the key out of %#v.
func (h *Hasher) GoString() string { return h.String() }

// errKeyFileExists is returned by createKeyFile when the file already exists.
var errKeyFileExists = errors.New("key file already exists")

// readKeyFile reads a secret key file, refusing anything that is not a
// regular file, is accessible by group or other, or is larger than
// maxKeyFileSize. A missing file gives an error wrapping fs.ErrNotExist.
// (The same rules as seal's server key file.)
func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%s has mode %#o: a key file must not be accessible by group or other (chmod 600)", path, perm)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxKeyFileSize)
	}
	return data, nil
}

// createKeyFile atomically creates path (mode 0600) holding data; see
// LoadOrCreateKey.
func createKeyFile(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmpName := tmp.Name()
	defer func() {
		if rmErr := os.Remove(tmpName); rmErr != nil && !errors.Is(rmErr, fs.ErrNotExist) && err == nil {
			err = rmErr
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	// link(2), unlike rename(2), fails if path exists.
	if err := os.Link(tmpName, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return errKeyFileExists
		}
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
