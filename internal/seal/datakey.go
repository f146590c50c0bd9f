package seal

import (
	"bufio"
	"bytes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
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
		key, err := k.kek.open(wrapped, sealedV1, wrapAD)
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
	// boundOnly refuses fields sealed before binding (see BoundOnly).
	boundOnly bool
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
// name) held in memory, bound to the place it is stored in: one
// XChaCha20-Poly1305 sealing under the data key with a random 192-bit nonce,
// after the version byte sealedV2, with the place as associated data. Fields
// are small and whole, so age's per-file header and STREAM chunking (kept for
// attachments) would only add cost.
//
// Someone able to write to the database cannot move the ciphertext to another
// row, column or table, nor change an attribute of its row that p names: it
// then fails to open with an *IntegrityError.
func (d *DataKey) Seal(p Place, plaintext []byte) ([]byte, error) {
	ct, err := d.sealV(sealedV2, plaintext, p.ad())
	if err != nil {
		return nil, fmt.Errorf("seal: seal field: %w", err)
	}
	return ct, nil
}

// Open decrypts a field sealed with Seal for the place p. A field sealed
// before fields were bound (sealedV1, or an age file) still opens, and
// Opened.Unbound says so: nothing ties it to its place. Any tampering or
// truncation is an error, and no plaintext is returned with an error; a bound
// field that does not open in p is an *IntegrityError.
func (d *DataKey) Open(p Place, ciphertext []byte) (Opened, error) {
	switch {
	case len(ciphertext) > 0 && ciphertext[0] == sealedV2:
		plain, err := d.open(ciphertext, sealedV2, p.ad())
		if err != nil {
			return Opened{}, &IntegrityError{Place: p}
		}
		return Opened{Plain: plain}, nil
	case d.boundOnly:
		// This key was made after fields were bound: nothing legitimate under it is unbound,
		// so an unbound field here was planted (an old ciphertext replayed, say).
		return Opened{}, &IntegrityError{Place: p}
	case !isAge(ciphertext):
		plain, err := d.open(ciphertext, sealedV1, fieldAD)
		if err != nil {
			return Opened{}, fmt.Errorf("seal: open field: %w", err)
		}
		return Opened{Plain: plain, Unbound: true}, nil
	}
	r, err := age.Decrypt(bytes.NewReader(ciphertext), d)
	if err != nil {
		return Opened{}, fmt.Errorf("seal: open field: %w", err)
	}
	// The plaintext is never longer than the ciphertext.
	buf := bytes.NewBuffer(make([]byte, 0, len(ciphertext)))
	if _, err := buf.ReadFrom(r); err != nil {
		return Opened{}, fmt.Errorf("seal: open field: %w", err)
	}
	return Opened{Plain: buf.Bytes(), Unbound: true}, nil
}

// Opened is a field's plaintext, and whether it was sealed before fields were
// bound to their place.
type Opened struct {
	Plain   []byte
	Unbound bool
}

// Bound reports whether a sealed field is bound to its place (sealedV2).
func Bound(ciphertext []byte) bool { return len(ciphertext) > 0 && ciphertext[0] == sealedV2 }

// BoundOnly returns a copy of d that refuses unbound fields. Use it once a
// field sealed when the key was made (a concern's content, an investigation's
// title) is bound: the key is newer than binding, so no unbound field under it
// can be genuine.
func (d *DataKey) BoundOnly() *DataKey {
	c := *d
	c.boundOnly = true
	return &c
}

// Place is where a sealed field is stored: its table, the public id of its
// row (or, for rows without one, of the concern or investigation they belong
// to), its column, and attributes of the row that the ciphertext vouches for
// ("author=staff"), which must be known before the row is written.
type Place struct {
	Table, Row, Field string
	Attrs             []string
}

// ad is the associated data of a field sealed at p: a label, then each part
// prefixed by its length (4 bytes, big-endian), so no two places encode alike
// whatever bytes their parts hold.
func (p Place) ad() []byte {
	parts := append([]string{p.Table, p.Row, p.Field}, p.Attrs...)
	n := len(fieldADv2)
	for _, s := range parts {
		n += 4 + len(s)
	}
	ad := make([]byte, 0, n)
	ad = append(ad, fieldADv2...)
	for _, s := range parts {
		ad = binary.BigEndian.AppendUint32(ad, uint32(len(s)))
		ad = append(ad, s...)
	}
	return ad
}

// IntegrityError is a bound field that does not open in the place it was
// read from: moved from another row or column, its row's bound attributes
// changed, or altered. It names the place and never the content.
type IntegrityError struct{ Place Place }

func (e *IntegrityError) Error() string {
	return fmt.Sprintf("seal: integrity: %s.%s of %s is not the one sealed there (moved, altered or its row changed)",
		e.Place.Table, e.Place.Field, e.Place.Row)
}

// Is makes an IntegrityError match ErrSealed.
func (e *IntegrityError) Is(target error) bool { return target == ErrSealed }

// Version bytes: the first byte of a field or wrapped key in Candour's own
// format. An age file starts with 'a', so they never meet.
const (
	// sealedV1: fields bound to nothing but their use (fieldAD); wrapped keys.
	sealedV1 = 0x01
	// sealedV2: fields bound to their place (Place.ad).
	sealedV2 = 0x02
)

// Associated data keeps the uses of one key apart: a field can never be
// passed off as a wrapped key, or the other way round.
var (
	fieldAD   = []byte("candour/field/v1")
	fieldADv2 = []byte("candour/field/v2")
	wrapAD    = []byte("candour/data-key/v1")
)

// ErrSealed is returned for a sealed value that is cut, altered or not ours.
var ErrSealed = errors.New("not authentic, or not sealed with this key")

func isAge(b []byte) bool { return bytes.HasPrefix(b, []byte("age-encryption.org/")) }

// seal is sealedV1 || nonce || XChaCha20-Poly1305(plaintext, ad).
func (d *DataKey) seal(plaintext, ad []byte) ([]byte, error) { return d.sealV(sealedV1, plaintext, ad) }

// sealV is version || nonce || XChaCha20-Poly1305(plaintext, ad).
func (d *DataKey) sealV(version byte, plaintext, ad []byte) ([]byte, error) {
	const head = 1 + chacha20poly1305.NonceSizeX
	out := make([]byte, head, head+len(plaintext)+chacha20poly1305.Overhead)
	out[0] = version
	if _, err := rand.Read(out[1:head]); err != nil {
		return nil, err
	}
	return d.aead.Seal(out, out[1:head], plaintext, ad), nil
}

func (d *DataKey) open(ciphertext []byte, version byte, ad []byte) ([]byte, error) {
	const head = 1 + chacha20poly1305.NonceSizeX
	if len(ciphertext) < head+chacha20poly1305.Overhead || ciphertext[0] != version {
		return nil, ErrSealed
	}
	plain, err := d.aead.Open(nil, ciphertext[1:head], ciphertext[head:], ad)
	if err != nil {
		return nil, ErrSealed
	}
	return plain, nil
}

// EncryptStream returns a writer that encrypts everything written to it as
// an age file written to dst, in 64 KiB chunks (constant memory). age has no
// associated data, so the place p goes inside the encrypted stream, as a
// header before the plaintext, and DecryptStream checks it. The caller must
// Close the writer: the last chunk is only written on Close, and a stream that
// was not closed will not decrypt. Close does not close dst.
func (d *DataKey) EncryptStream(dst io.Writer, p Place) (io.WriteCloser, error) {
	w, err := age.Encrypt(dst, d)
	if err != nil {
		return nil, fmt.Errorf("seal: encrypt stream: %w", err)
	}
	ad := p.ad()
	head := binary.BigEndian.AppendUint32(append([]byte(streamMagic), 0), uint32(len(ad)))
	if _, err := w.Write(append(head, ad...)); err != nil {
		return nil, fmt.Errorf("seal: encrypt stream: %w", err)
	}
	return w, nil
}

// streamMagic opens the plaintext of a stream bound to its place; the NUL
// after it, then the place's length and encoding (Place.ad) follow.
const streamMagic = "candour/stream/v2"

// maxStreamHeader caps the place read from a stream before it is compared.
const maxStreamHeader = 4 << 10

// DecryptStream returns a reader of the plaintext of an age file read from
// src, in constant memory. The header is checked before DecryptStream
// returns, and so is the place sealed inside the stream: a stream sealed for
// another place is an *IntegrityError. A stream written before streams were
// bound has no place in it; it still opens, with unbound true (unless d is
// BoundOnly). Each chunk is authenticated before it is returned, but the
// plaintext must be treated as untrusted until a Read returns io.EOF: a
// truncated stream ends with an error wrapping io.ErrUnexpectedEOF, a
// tampered one with an authentication error, never with io.EOF. Write the
// plaintext somewhere temporary and only use it once the whole read
// succeeded.
func (d *DataKey) DecryptStream(src io.Reader, p Place) (r io.Reader, unbound bool, err error) {
	ar, err := age.Decrypt(src, d)
	if err != nil {
		return nil, false, fmt.Errorf("seal: decrypt stream: %w", err)
	}
	br := bufio.NewReaderSize(&streamReader{r: ar}, 64<<10)
	magic, err := br.Peek(len(streamMagic) + 1)
	if err != nil && err != io.EOF {
		return nil, false, err
	}
	if !bytes.Equal(magic, append([]byte(streamMagic), 0)) {
		if d.boundOnly {
			return nil, false, &IntegrityError{Place: p}
		}
		return br, true, nil
	}
	var head [4]byte
	if _, err := br.Discard(len(magic)); err != nil {
		return nil, false, err
	}
	if _, err := io.ReadFull(br, head[:]); err != nil {
		return nil, false, &IntegrityError{Place: p}
	}
	n := binary.BigEndian.Uint32(head[:])
	if n > maxStreamHeader {
		return nil, false, &IntegrityError{Place: p}
	}
	got := make([]byte, n)
	if _, err := io.ReadFull(br, got); err != nil || !bytes.Equal(got, p.ad()) {
		return nil, false, &IntegrityError{Place: p}
	}
	return br, false, nil
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
	plain, err := k.kek.open(ciphertext, sealedV1, boundAD(purpose, owner))
	if err != nil {
		return nil, fmt.Errorf("seal: open %s: %w", purpose, err)
	}
	return plain, nil
}

// MAC is a keyed hash of msg for purpose under a key derived from the server key: a value the
// database can hold and compare but nobody without the server key can make (an enrolment
// token's, so whoever can write a row still cannot plant a token of their own).
func (k *ServerKey) MAC(purpose string, msg []byte) []byte {
	key := make([]byte, sha256.Size)
	if _, err := io.ReadFull(hkdf.New(sha256.New, []byte(k.id.String()), nil, []byte("candour/mac/v1:"+purpose)), key); err != nil {
		panic("seal: hkdf: " + err.Error()) // reading 32 bytes from HKDF-SHA256 cannot fail
	}
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)
}

// boundAD never equals wrapAD or fieldAD (the prefix differs), and the length prefix keeps
// purpose and owner from running into each other.
func boundAD(purpose, owner string) []byte {
	return fmt.Appendf(nil, "candour/bound/v1\x00%d:%s\x00%s", len(purpose), purpose, owner)
}
