package seal

import (
	"bufio"
	"bytes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"filippo.io/age"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/hkdf"

	"candour/internal/keyfile"
)

// ServerKey is the server's age X25519 identity. Its only job is to wrap and
// unwrap per-concern data keys; it never encrypts content directly.
//
// The key file is a standard age identity file (age-keygen -y reads it). Data
// keys are wrapped with a symmetric key derived from it (XChaCha20-Poly1305),
// which costs no X25519 operation per concern.
type ServerKey struct {
	id *age.X25519Identity
	// kek wraps data keys: a symmetric key derived from the identity, so filing a concern
	// costs no X25519 operation, the dearest step of a submission otherwise.
	kek *DataKey
}

func serverKeyFrom(id *age.X25519Identity) (*ServerKey, error) {
	kek := make([]byte, dataKeySize)
	if _, err := io.ReadFull(hkdf.New(sha256.New, []byte(id.String()), nil, []byte("candour/data-key-wrap/v1")), kek); err != nil {
		return nil, fmt.Errorf("seal: derive wrapping key: %w", err)
	}
	d, err := newDataKey(kek)
	if err != nil {
		return nil, err
	}
	return &ServerKey{id: id, kek: d}, nil
}

// LoadOrCreateServerKey loads the server key from path, or creates it (mode
// 0600, parent directory 0700 if missing, written atomically) if the file
// does not exist. It refuses a key file accessible by group or other, one
// larger than 4 KiB, and one that does not hold exactly one X25519 identity.
func LoadOrCreateServerKey(path string) (*ServerKey, error) {
	data, err := keyfile.ReadOrCreate(path, func() ([]byte, error) {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			return nil, err
		}
		return fmt.Appendf(nil, "# Candour server key: wraps per-concern data keys. Keep it secret and backed up.\n"+
			"# created: %s\n# public key: %s\n%s\n", time.Now().UTC().Format(time.RFC3339), id.Recipient(), id), nil
	})
	if err != nil {
		return nil, fmt.Errorf("seal: server key %s: %w", path, err)
	}
	id, err := parseSingleIdentity(data)
	if err != nil {
		return nil, fmt.Errorf("seal: server key %s: %w", path, err)
	}
	return serverKeyFrom(id)
}

// parseSingleIdentity parses an age identity file that must contain exactly
// one X25519 identity; blank lines and # comments are ignored. Errors never
// include the key material.
func parseSingleIdentity(data []byte) (*age.X25519Identity, error) {
	var found *age.X25519Identity
	sc := bufio.NewScanner(bytes.NewReader(data))
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		if found != nil {
			return nil, fmt.Errorf("line %d: more than one identity", line)
		}
		id, err := age.ParseX25519Identity(s)
		if err != nil {
			// age's message does not echo the key, but keep ours generic.
			return nil, fmt.Errorf("line %d: not an X25519 age identity", line)
		}
		found = id
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if found == nil {
		return nil, errors.New("no identity found")
	}
	return found, nil
}

// Recipient returns the server key's public recipient.
func (k *ServerKey) Recipient() *age.X25519Recipient { return k.id.Recipient() }

// String keeps the key out of logs.
func (k *ServerKey) String() string { return "seal.ServerKey(" + k.id.Recipient().String() + ")" }

// GoString keeps the key out of %#v.
func (k *ServerKey) GoString() string { return k.String() }

// maxWrappedKeySize caps a wrapped data key before it is parsed. A real one
// is about 200 bytes.
const maxWrappedKeySize = 1 << 10

// NewDataKey generates a fresh random data key for one concern and returns it
// with its wrapped form (the data key encrypted to the server key), which is
// what gets stored. The data key is independent of the server key: deleting
// the wrapped key makes everything encrypted with it unrecoverable.
func (k *ServerKey) NewDataKey() (*DataKey, []byte, error) {
	var key [dataKeySize]byte
	if _, err := rand.Read(key[:]); err != nil {
		return nil, nil, fmt.Errorf("seal: new data key: %w", err)
	}
	d, err := newDataKey(key[:])
	if err != nil {
		return nil, nil, err
	}
	wrapped, err := k.kek.seal(key[:], wrapAD)
	if err != nil {
		return nil, nil, fmt.Errorf("seal: wrap data key: %w", err)
	}
	return d, wrapped, nil
}

// UnwrapDataKey opens a wrapped data key produced by NewDataKey with the
// same server key. Keys wrapped by an earlier version as age files to the
// derived key still unwrap. Keys wrapped to the identity's public recipient do
// not: anyone can make one (the recipient is public), so someone able to write
// to the database could plant a data key they know and read whatever is
// sealed for that concern afterwards.
func (k *ServerKey) UnwrapDataKey(wrapped []byte) (*DataKey, error) {
	if len(wrapped) > maxWrappedKeySize {
		return nil, fmt.Errorf("seal: unwrap data key: longer than %d bytes", maxWrappedKeySize)
	}
	if !isAge(wrapped) {
		key, err := k.kek.open(wrapped, wrapAD)
		if err != nil {
			return nil, fmt.Errorf("seal: unwrap data key: %w", err)
		}
		if len(key) != dataKeySize {
			return nil, errors.New("seal: unwrap data key: content is not a data key")
		}
		return newDataKey(key)
	}
	r, err := age.Decrypt(bytes.NewReader(wrapped), k.kek)
	if err != nil {
		return nil, fmt.Errorf("seal: unwrap data key: %w", err)
	}
	plain, err := io.ReadAll(io.LimitReader(r, maxWrappedKeySize))
	if err != nil {
		return nil, fmt.Errorf("seal: unwrap data key: %w", err)
	}
	key, err := hex.DecodeString(string(plain))
	if err != nil || len(key) != dataKeySize {
		return nil, errors.New("seal: unwrap data key: content is not a data key")
	}
	return newDataKey(key)
}

const (
	dataKeySize = chacha20poly1305.KeySize
	// dataKeyStanza is the age header stanza that carries a file key wrapped
	// with a data key. Only Candour reads these files; custodians never do.
	dataKeyStanza = "candour-dk"
)

// DataKey is a per-concern content key: 32 random bytes, stored only wrapped
// to the server key. Fields are sealed with it directly (see Seal). Streams
// are age files whose file key is wrapped with the data key by
// XChaCha20-Poly1305 (a custom age stanza), so each attachment has a fresh
// file key and is authenticated chunk by chunk in age's STREAM format, but
// costs no X25519 operation.
//
// A DataKey is safe for concurrent use.
type DataKey struct {
	aead cipher.AEAD
	key  []byte
}

func newDataKey(key []byte) (*DataKey, error) {
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("seal: data key: %w", err)
	}
	return &DataKey{aead: aead, key: append([]byte(nil), key...)}, nil
}

// Wrap implements age.Recipient.
func (d *DataKey) Wrap(fileKey []byte) ([]*age.Stanza, error) {
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	body := d.aead.Seal(nil, nonce, fileKey, []byte(dataKeyStanza))
	return []*age.Stanza{{Type: dataKeyStanza, Args: []string{base64.RawStdEncoding.EncodeToString(nonce)}, Body: body}}, nil
}

// Unwrap implements age.Identity.
func (d *DataKey) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	for _, s := range stanzas {
		if s.Type != dataKeyStanza || len(s.Args) != 1 {
			continue
		}
		nonce, err := base64.RawStdEncoding.Strict().DecodeString(s.Args[0])
		if err != nil || len(nonce) != chacha20poly1305.NonceSizeX {
			continue
		}
		fileKey, err := d.aead.Open(nil, nonce, s.Body, []byte(dataKeyStanza))
		if err != nil {
			continue
		}
		return fileKey, nil
	}
	return nil, age.ErrIncorrectIdentity
}

// String keeps the key out of logs.
func (d *DataKey) String() string { return "seal.DataKey(redacted)" }

// GoString keeps the key out of %#v.
func (d *DataKey) GoString() string { return d.String() }

// Seal encrypts a small field (summary, details, a name, a message, a file
// name) held in memory: one XChaCha20-Poly1305 sealing under the data key with
// a random 192-bit nonce, after a version byte. Fields are small and whole, so
// age's per-file header and STREAM chunking (kept for attachments) would only
// add cost: sealing a report's fields was a tenth of a submission's CPU.
//
// Seal does not bind the ciphertext to the field or row it is stored in:
// someone who can write to the database could swap two ciphertexts of the
// same concern. Callers that need that binding must include it in the
// plaintext.
func (d *DataKey) Seal(plaintext []byte) ([]byte, error) {
	ct, err := d.seal(plaintext, fieldAD)
	if err != nil {
		return nil, fmt.Errorf("seal: seal field: %w", err)
	}
	return ct, nil
}

// Open decrypts a field sealed with Seal (or an age file, as fields were
// before). Any tampering or truncation is an error, and no plaintext is
// returned with an error.
func (d *DataKey) Open(ciphertext []byte) ([]byte, error) {
	if !isAge(ciphertext) {
		plain, err := d.open(ciphertext, fieldAD)
		if err != nil {
			return nil, fmt.Errorf("seal: open field: %w", err)
		}
		return plain, nil
	}
	r, err := age.Decrypt(bytes.NewReader(ciphertext), d)
	if err != nil {
		return nil, fmt.Errorf("seal: open field: %w", err)
	}
	// The plaintext is never longer than the ciphertext.
	buf := bytes.NewBuffer(make([]byte, 0, len(ciphertext)))
	if _, err := buf.ReadFrom(r); err != nil {
		return nil, fmt.Errorf("seal: open field: %w", err)
	}
	return buf.Bytes(), nil
}

// sealedV1 is the first byte of a field or wrapped key in Candour's own format.
// An age file starts with 'a', so the two never meet.
const sealedV1 = 0x01

// Associated data keeps the uses of one key apart: a field can never be
// passed off as a wrapped key, or the other way round.
var (
	fieldAD = []byte("candour/field/v1")
	wrapAD  = []byte("candour/data-key/v1")
)

// ErrSealed is returned for a sealed value that is cut, altered or not ours.
var ErrSealed = errors.New("not authentic, or not sealed with this key")

func isAge(b []byte) bool { return bytes.HasPrefix(b, []byte("age-encryption.org/")) }

// seal is sealedV1 || nonce || XChaCha20-Poly1305(plaintext, ad).
func (d *DataKey) seal(plaintext, ad []byte) ([]byte, error) {
	const head = 1 + chacha20poly1305.NonceSizeX
	out := make([]byte, head, head+len(plaintext)+chacha20poly1305.Overhead)
	out[0] = sealedV1
	if _, err := rand.Read(out[1:head]); err != nil {
		return nil, err
	}
	return d.aead.Seal(out, out[1:head], plaintext, ad), nil
}

func (d *DataKey) open(ciphertext, ad []byte) ([]byte, error) {
	const head = 1 + chacha20poly1305.NonceSizeX
	if len(ciphertext) < head+chacha20poly1305.Overhead || ciphertext[0] != sealedV1 {
		return nil, ErrSealed
	}
	plain, err := d.aead.Open(nil, ciphertext[1:head], ciphertext[head:], ad)
	if err != nil {
		return nil, ErrSealed
	}
	return plain, nil
}

// EncryptStream returns a writer that encrypts everything written to it as
// an age file written to dst, in 64 KiB chunks (constant memory). The caller
// must Close it: the last chunk is only written on Close, and a stream that
// was not closed will not decrypt. Close does not close dst.
func (d *DataKey) EncryptStream(dst io.Writer) (io.WriteCloser, error) {
	w, err := age.Encrypt(dst, d)
	if err != nil {
		return nil, fmt.Errorf("seal: encrypt stream: %w", err)
	}
	return w, nil
}

// DecryptStream returns a reader of the plaintext of an age file read from
// src, in constant memory. The header is checked before DecryptStream
// returns. Each chunk is authenticated before it is returned, but the
// plaintext must be treated as untrusted until a Read returns io.EOF: a
// truncated stream ends with an error wrapping io.ErrUnexpectedEOF, a
// tampered one with an authentication error, never with io.EOF. Write the
// plaintext somewhere temporary and only use it once the whole read
// succeeded.
func (d *DataKey) DecryptStream(src io.Reader) (io.Reader, error) {
	r, err := age.Decrypt(src, d)
	if err != nil {
		return nil, fmt.Errorf("seal: decrypt stream: %w", err)
	}
	return &streamReader{r: r}, nil
}

// streamReader adds context to errors from the age payload reader while
// keeping them matchable with errors.Is.
type streamReader struct {
	r io.Reader
}

func (s *streamReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("seal: decrypt stream: %w", err)
	}
	return n, err
}

// SealFor seals a small secret of the server's own (a second-factor secret, an enrolment link
// waiting in the outbox) with the server's data key, bound to purpose and owner as associated
// data: a ciphertext copied to another row or put to another use does not open.
func (k *ServerKey) SealFor(purpose, owner string, plaintext []byte) ([]byte, error) {
	ct, err := k.kek.seal(plaintext, boundAD(purpose, owner))
	if err != nil {
		return nil, fmt.Errorf("seal: seal %s: %w", purpose, err)
	}
	return ct, nil
}

// OpenFor opens what SealFor sealed for the same purpose and owner, or returns ErrSealed.
func (k *ServerKey) OpenFor(purpose, owner string, ciphertext []byte) ([]byte, error) {
	plain, err := k.kek.open(ciphertext, boundAD(purpose, owner))
	if err != nil {
		return nil, fmt.Errorf("seal: open %s: %w", purpose, err)
	}
	return plain, nil
}

// boundAD never equals wrapAD or fieldAD (the prefix differs), and the length prefix keeps
// purpose and owner from running into each other.
func boundAD(purpose, owner string) []byte {
	return fmt.Appendf(nil, "candour/bound/v1\x00%d:%s\x00%s", len(purpose), purpose, owner)
}
