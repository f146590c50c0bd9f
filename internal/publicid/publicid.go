// Package publicid checks the random ids (UUIDs) by which clients name concerns, messages,
// attachments, investigations and identity requests. Serials stay inside the database, so
// nothing a client sees tells how many came before or which came first. It imports nothing
// of ours, so every layer may use it.
package publicid

import (
	"crypto/rand"
	"encoding/hex"
)

// Valid reports whether s is a UUID in its canonical text form, the only form public ids are
// given out in. Lookups answer "not found" for anything else without asking PostgreSQL,
// where a malformed uuid literal would be an error (a 500), not a miss.
func Valid(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
		default:
			return false
		}
	}
	return true
}

// New draws a public id: a random (version 4) UUID in canonical form. The portal draws it
// rather than PostgreSQL, so a row's sealed fields can be bound to it before the row is
// written, without a round trip to ask for one.
func New() string {
	var b [16]byte
	rand.Read(b[:])         // never fails: crypto/rand crashes the program rather than return short
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 9562 variant
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	hex.Encode(out[9:13], b[4:6])
	hex.Encode(out[14:18], b[6:8])
	hex.Encode(out[19:23], b[8:10])
	hex.Encode(out[24:], b[10:])
	out[8], out[13], out[18], out[23] = '-', '-', '-', '-'
	return string(out[:])
}
