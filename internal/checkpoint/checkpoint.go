// Package checkpoint keeps the audit log's trust anchors outside the database (issue 15). The
// audit trail is a Merkle tree as Certificate Transparency keeps one (golang.org/x/mod/sumdb/tlog);
// a checkpoint is its size and root in the C2SP tlog-checkpoint signed-note format, signed by
// the server's Ed25519 key and cosigned by witnesses (C2SP tlog-witness, tlog-cosignature) that
// refuse a checkpoint which does not extend the last one they signed. The keys that verify are
// pinned in the council's policy, so a database owner who rewrites the events, or the server
// itself, cannot make a rewritten history verify.
//
// The package is pure: notes, keys, the checkpoint file and the witness protocol. Building the
// tree from the events is internal/audit's.
package checkpoint

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// OriginSuffix ends every origin: "<council>/candour-audit", one log per council.
const OriginSuffix = "/candour-audit"

// Signature algorithms of C2SP signed-note keys.
const (
	algEd25519     = 1
	algCosignature = 4
)

// Body is the text of a checkpoint (C2SP tlog-checkpoint) without its signatures.
func Body(origin string, size int64, root tlog.Hash) string {
	return fmt.Sprintf("%s\n%d\n%s\n", origin, size, base64.StdEncoding.EncodeToString(root[:]))
}

// Checkpoint is a parsed checkpoint body.
type Checkpoint struct {
	Origin string
	Size   int64
	Root   tlog.Hash
}

// ParseBody parses a checkpoint body: origin, size and root on three lines (extension lines,
// which C2SP allows after them, are ignored).
func ParseBody(text string) (Checkpoint, error) {
	lines := strings.SplitN(text, "\n", 4)
	if len(lines) < 4 || lines[0] == "" {
		return Checkpoint{}, errors.New("a checkpoint is an origin, a size and a root hash on three lines")
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return Checkpoint{}, fmt.Errorf("size %q is not a count of events", lines[1])
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize {
		return Checkpoint{}, fmt.Errorf("root %q is not a base64 SHA-256 hash", lines[2])
	}
	return Checkpoint{Origin: lines[0], Size: size, Root: tlog.Hash(root)}, nil
}

// Signer signs checkpoints as the log: an Ed25519 key named by the log's origin (witnesses look
// a log's key up by that name).
type Signer struct {
	name string
	hash uint32
	key  ed25519.PrivateKey
}

// NewSigner returns the signer for origin with the Ed25519 key seed.
func NewSigner(origin string, seed []byte) (*Signer, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("checkpoint key: %d bytes, want %d", len(seed), ed25519.SeedSize)
	}
	if !validName(origin) {
		return nil, fmt.Errorf("origin %q: want a name without spaces or '+'", origin)
	}
	key := ed25519.NewKeyFromSeed(seed)
	return &Signer{name: origin, hash: keyHash(origin, algEd25519, key.Public().(ed25519.PublicKey)), key: key}, nil
}

func (s *Signer) Name() string                    { return s.name }
func (s *Signer) KeyHash() uint32                 { return s.hash }
func (s *Signer) Sign(msg []byte) ([]byte, error) { return ed25519.Sign(s.key, msg), nil }

// VerifierKey is the signer's public key as a C2SP vkey, the form policies pin.
func (s *Signer) VerifierKey() string {
	return vkey(s.name, s.hash, algEd25519, s.key.Public().(ed25519.PublicKey))
}

// CosignerKey is the vkey of a witness's cosignature/v1 key named name.
func CosignerKey(name string, pub ed25519.PublicKey) string {
	return vkey(name, keyHash(name, algCosignature, pub), algCosignature, pub)
}

func vkey(name string, hash uint32, alg byte, pub []byte) string {
	return fmt.Sprintf("%s+%08x+%s", name, hash, base64.StdEncoding.EncodeToString(append([]byte{alg}, pub...)))
}

// Sign signs a checkpoint body as the log and returns the signed note.
func (s *Signer) SignBody(body string) ([]byte, error) {
	return note.Sign(&note.Note{Text: body}, s)
}

// ParseVerifier parses a pinned vkey: an Ed25519 log key or a witness's cosignature/v1 key.
func ParseVerifier(vk string) (note.Verifier, error) {
	parts := strings.SplitN(vk, "+", 3)
	if len(parts) != 3 {
		return nil, errors.New("a key is name+hash+base64 (C2SP signed-note)")
	}
	key, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(key) == 0 {
		return nil, errors.New("the key after the second '+' is not base64")
	}
	switch key[0] {
	case algEd25519:
		return note.NewVerifier(vk)
	case algCosignature:
		hash, err := strconv.ParseUint(parts[1], 16, 32)
		pub := ed25519.PublicKey(key[1:])
		if err != nil || len(parts[1]) != 8 || len(pub) != ed25519.PublicKeySize || !validName(parts[0]) ||
			uint32(hash) != keyHash(parts[0], algCosignature, pub) {
			return nil, errors.New("malformed cosignature key")
		}
		return &cosigVerifier{name: parts[0], hash: uint32(hash), pub: pub}, nil
	}
	return nil, fmt.Errorf("key algorithm %d: want 1 (Ed25519) or 4 (cosignature/v1)", key[0])
}

// cosigVerifier checks C2SP tlog-cosignature (cosignature/v1) signatures: a timestamp and an
// Ed25519 signature over "cosignature/v1\ntime T\n" and the checkpoint body.
type cosigVerifier struct {
	name string
	hash uint32
	pub  ed25519.PublicKey
}

func (v *cosigVerifier) Name() string    { return v.name }
func (v *cosigVerifier) KeyHash() uint32 { return v.hash }
func (v *cosigVerifier) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	t := binary.BigEndian.Uint64(sig)
	return ed25519.Verify(v.pub, fmt.Appendf(nil, "cosignature/v1\ntime %d\n%s", t, msg), sig[8:])
}

func keyHash(name string, alg byte, pub []byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name + "\n"))
	h.Write([]byte{alg})
	h.Write(pub)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

func validName(name string) bool {
	return name != "" && !strings.ContainsAny(name, "+ \t\n\r")
}

// Pins are the keys a council's policy pins: the log's and its witnesses'.
type Pins struct {
	Origin    string
	Log       note.Verifier
	Witnesses []note.Verifier
	// Development: the keys were read from the data folder, not pinned by a policy, and the
	// witness runs inside the portal. Nothing is independent of the server; say so loudly.
	Development bool
}

func (p *Pins) verifiers() note.Verifiers {
	return note.VerifierList(append([]note.Verifier{p.Log}, p.Witnesses...)...)
}

// Open checks a signed checkpoint against the pins: the log's signature and at least one
// witness's cosignature, for the pinned origin.
func (p *Pins) Open(signed []byte) (Checkpoint, *note.Note, error) {
	n, err := note.Open(signed, p.verifiers())
	var unknown *note.UnverifiedNoteError
	switch {
	case errors.As(err, &unknown):
		var names []string
		for _, s := range unknown.Note.UnverifiedSigs {
			names = append(names, fmt.Sprintf("%s+%08x", s.Name, s.Hash))
		}
		return Checkpoint{}, nil, fmt.Errorf("signed by an unknown key (%s), not by the pinned %s+%08x",
			strings.Join(names, ", "), p.Log.Name(), p.Log.KeyHash())
	case err != nil:
		return Checkpoint{}, nil, fmt.Errorf("signature: %w", err)
	}
	c, err := ParseBody(n.Text)
	if err != nil {
		return Checkpoint{}, nil, err
	}
	if c.Origin != p.Origin {
		return Checkpoint{}, nil, fmt.Errorf("origin %q, want %q", c.Origin, p.Origin)
	}
	var byLog, witnessed bool
	for _, s := range n.Sigs {
		if s.Name == p.Log.Name() && s.Hash == p.Log.KeyHash() {
			byLog = true
			continue
		}
		witnessed = true
	}
	if !byLog {
		return Checkpoint{}, nil, fmt.Errorf("not signed by the log's pinned key %s+%08x", p.Log.Name(), p.Log.KeyHash())
	}
	if !witnessed {
		return Checkpoint{}, nil, errors.New("no cosignature from a pinned witness: a checkpoint the server alone signed proves nothing")
	}
	return c, n, nil
}
