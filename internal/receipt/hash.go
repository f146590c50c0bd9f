package receipt

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"candour/internal/keyfile"
)

// KeySize is the size of the receipt hashing key.
const KeySize = 32

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
	data, err := keyfile.ReadOrCreate(path, func() ([]byte, error) {
		key := make([]byte, KeySize)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		return []byte(hex.EncodeToString(key) + "\n"), nil
	})
	if err != nil {
		return nil, fmt.Errorf("receipt: hash key %s: %w", path, err)
	}
	s := strings.TrimSpace(string(data))
	if len(s) != 2*KeySize {
		return nil, fmt.Errorf("receipt: hash key %s: want %d hex characters", path, 2*KeySize)
	}
	key, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("receipt: hash key %s: not hex", path)
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
