// Package receipt issues and checks the anonymous reporter's receipt: the
// only key to their mailbox. A receipt is 20 characters from a 32-character
// alphabet (100 bits from crypto/rand), shown once in groups of four, e.g.
//
//	K7QM-2XWP-TRHD-9CFA-NBEZ
//
// Only a keyed hash (HMAC-SHA256) of the normalized receipt is stored, and
// failed guesses are throttled by receipt prefix and by connection, without
// recording who guessed (Throttle).
package receipt

import (
	"crypto/rand"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Alphabet is the 32 characters a receipt is made of: digits and upper-case
// letters without 0, 1, O and I, so no two characters are easily confused
// when read aloud, printed or written by hand. (L stays: with 1 and I gone
// nothing looks like it, and typed 1/I/l are read as L.)
const Alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"

const (
	// Length is the number of alphabet characters in a receipt.
	Length = 20
	// Bits is the entropy of a receipt: Length × log2(32).
	Bits = Length * 5
	// groupSize is how many characters are shown between dashes.
	groupSize = 4
	// MaxInputSize caps what Normalize looks at.
	MaxInputSize = 100
)

// decode maps every byte a person might type for a receipt character to its
// canonical character; zero means invalid. Built from Alphabet at init.
var decode [256]byte

func init() {
	for i := 0; i < len(Alphabet); i++ {
		c := Alphabet[i]
		decode[c] = c
		if c >= 'A' && c <= 'Z' {
			decode[c+'a'-'A'] = c
		}
	}
	// Lookalikes of L, the only vertical-stroke character in the alphabet.
	for _, c := range []byte("1Iil|") {
		decode[c] = 'L'
	}
	// 0 and O are deliberately not mapped: nothing in the alphabet is
	// round, so guessing (D? Q?) would only turn a typo into a lookup.
}

// New returns a fresh receipt in display form: five groups of four
// characters separated by dashes. It has Bits bits of entropy from
// crypto/rand.
func New() (string, error) {
	var raw [Length]byte
	// crypto/rand.Read never returns an error on supported platforms, but
	// the contract allows one; fail closed.
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("receipt: read random: %w", err)
	}
	var b [Length]byte
	for i, r := range raw {
		// 256 is a multiple of 32, so the low five bits are uniform.
		b[i] = Alphabet[r&31]
	}
	return Format(string(b[:])), nil
}

// Reference returns prefix, a dash and two groups of four random characters from Alphabet
// (40 bits), e.g. "C-7KQ4-M9TX": short enough to say on the phone, and random so it says
// nothing about how many came before. Callers retry on the rare collision.
func Reference(prefix string) (string, error) {
	var raw [8]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("receipt: read random: %w", err)
	}
	b := make([]byte, 0, len(prefix)+10)
	b = append(b, prefix...)
	for i, r := range raw {
		if i%4 == 0 {
			b = append(b, '-')
		}
		b = append(b, Alphabet[r&31])
	}
	return string(b), nil
}

// Format returns the display form of a normalized receipt (groups of four
// separated by dashes). Input that is not a normalized receipt is returned
// unchanged.
func Format(normalized string) string {
	if len(normalized) != Length {
		return normalized
	}
	var b strings.Builder
	b.Grow(Length + Length/groupSize - 1)
	for i := 0; i < Length; i += groupSize {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(normalized[i : i+groupSize])
	}
	return b.String()
}

// Normalize turns what a person typed back into the canonical 20-character
// upper-case receipt. It accepts lower case, white space and dashes anywhere
// (including the non-breaking spaces and Unicode dashes that copy-paste
// brings), and reads 1, I, i, l and | as L. It reports false for input longer
// than MaxInputSize bytes, with any other character, or with the wrong
// number of receipt characters.
func Normalize(input string) (string, bool) {
	if len(input) > MaxInputSize {
		return "", false
	}
	var out [Length]byte
	n := 0
	for i := 0; i < len(input); {
		c := input[i]
		if c < utf8.RuneSelf {
			i++
			if isSeparator(rune(c)) {
				continue
			}
			d := decode[c]
			if d == 0 || n == Length {
				return "", false
			}
			out[n] = d
			n++
			continue
		}
		r, size := utf8.DecodeRuneInString(input[i:])
		i += size
		if !isSeparator(r) { // includes utf8.RuneError
			return "", false
		}
	}
	if n != Length {
		return "", false
	}
	return string(out[:]), true
}

// isSeparator reports whether r is white space or a dash a person or a
// copy-paste might put between groups.
func isSeparator(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\r', '-', '_', '.',
		'\u00a0', // no-break space
		'\u2007', // figure space
		'\u202f', // narrow no-break space
		'\u2010', // hyphen
		'\u2011', // non-breaking hyphen
		'\u2012', // figure dash
		'\u2013', // en dash
		'\u2014', // em dash
		'\u2212': // minus sign
		return true
	}
	return false
}
