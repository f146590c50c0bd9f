// Package seal encrypts what Candour must not be able to read in the clear:
// reporters' identities (sealed to the custodians, whose private keys the
// server never holds) and concern content at rest (encrypted with a
// per-concern data key that is itself wrapped to the server key).
//
// Everything is standard age (https://age-encryption.org/v1), so a custodian
// opens a sealed identity with the upstream CLI:
//
//	age -d -i custodian-key.txt identity.age
//
// The package is plaintext in, ciphertext out: it has no database, HTTP or
// logging dependencies.
package seal

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"filippo.io/age"
	"filippo.io/age/armor"
)

// MaxRecipientSize caps the length of a single recipient string before it is
// parsed. An X25519 recipient ("age1…") is 62 bytes.
const MaxRecipientSize = 200

// ParseRecipients parses the custodians' X25519 recipients ("age1…"). Parse
// them once at start-up. Only X25519 recipients are accepted, so a sealed
// identity never mixes post-quantum and classical recipients. Surrounding
// white space is ignored; empty entries, duplicates and an empty list are
// errors. Every error says which entry (1-based) failed.
func ParseRecipients(list []string) ([]age.Recipient, error) {
	if len(list) == 0 {
		return nil, errors.New("seal: no custodian recipients")
	}
	seen := make(map[string]int, len(list))
	out := make([]age.Recipient, 0, len(list))
	for i, s := range list {
		n := i + 1
		if len(s) > MaxRecipientSize {
			return nil, fmt.Errorf("seal: recipient #%d: longer than %d bytes", n, MaxRecipientSize)
		}
		s = strings.TrimSpace(s)
		if s == "" {
			return nil, fmt.Errorf("seal: recipient #%d: empty", n)
		}
		if !strings.HasPrefix(s, "age1") || strings.HasPrefix(s, "age1pq1") {
			return nil, fmt.Errorf("seal: recipient #%d: not an X25519 age recipient (want age1…)", n)
		}
		r, err := age.ParseX25519Recipient(s)
		if err != nil {
			return nil, fmt.Errorf("seal: recipient #%d: %w", n, err)
		}
		if first, dup := seen[s]; dup {
			return nil, fmt.Errorf("seal: recipient #%d: duplicate of recipient #%d", n, first)
		}
		seen[s] = n
		out = append(out, r)
	}
	return out, nil
}

// SealIdentity encrypts plaintext once to all recipients and returns the
// binary age file (store it as bytea, next to the list of recipients it was
// sealed to). Any one custodian's identity opens it; the server cannot.
// Only X25519 recipients are accepted.
func SealIdentity(recipients []age.Recipient, plaintext []byte) ([]byte, error) {
	if len(recipients) == 0 {
		return nil, errors.New("seal: seal identity: no recipients")
	}
	for i, r := range recipients {
		if _, ok := r.(*age.X25519Recipient); !ok {
			return nil, fmt.Errorf("seal: seal identity: recipient #%d: %T is not an X25519 recipient", i+1, r)
		}
	}
	ct, err := encrypt(plaintext, recipients...)
	if err != nil {
		return nil, fmt.Errorf("seal: seal identity: %w", err)
	}
	return ct, nil
}

// Armor returns the ASCII-armored ("-----BEGIN AGE ENCRYPTED FILE-----") form
// of a binary age file, for a file or response a custodian will open with
// the age CLI.
func Armor(ciphertext []byte) (string, error) {
	if !bytes.HasPrefix(ciphertext, []byte("age-encryption.org/v1\n")) {
		return "", errors.New("seal: armor: not a binary age file")
	}
	var b strings.Builder
	w := armor.NewWriter(&b)
	if _, err := w.Write(ciphertext); err != nil {
		return "", fmt.Errorf("seal: armor: %w", err)
	}
	if err := w.Close(); err != nil {
		return "", fmt.Errorf("seal: armor: %w", err)
	}
	return b.String(), nil
}

// encrypt age-encrypts a small in-memory plaintext. The age writer is always
// closed: the last chunk is only written on Close.
func encrypt(plaintext []byte, recipients ...age.Recipient) ([]byte, error) {
	var buf bytes.Buffer
	// Header (~100 bytes per recipient) + nonce + 16-byte tag per 64 KiB chunk.
	buf.Grow(len(plaintext) + 64 + 128*len(recipients) + 16*(len(plaintext)/(64<<10)+1))
	w, err := age.Encrypt(&buf, recipients...)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(plaintext); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
