package auth

import (
	"bufio"
	"crypto/rand"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
	SaltLen uint32
	KeyLen  uint32
}

// DefaultParams follow RFC 9106 §4's second recommended option (64 MiB, 3 passes) with one
// lane: about 120–240 ms and 64 MiB per hash on one core. That makes an offline guess as costly
// as a sign-in, yet a busy morning of sign-ins costs little. The memory is what hurts GPU
// crackers; hashes run one at a time (see hashGate) so a flood of sign-ins cannot exhaust the
// server's memory. One lane costs a guesser the same memory and work as two, and leaves the
// other core to everyone else while a flood keeps the gate busy: with two, every hash took both
// cores and reports filed meanwhile waited behind it (BenchmarkSignInFlood). Stored hashes carry
// their parameters, so a change only needs the next successful sign-in to re-hash.
var DefaultParams = Params{Memory: 64 * 1024, Time: 3, Threads: 1, SaltLen: 16, KeyLen: 32}

// Password rules.
const (
	MinPasswordLength = 12
	MaxPasswordLength = 256 // bytes; argon2 would take more, but nobody types more
)

//go:embed common-passwords.txt
var commonPasswordList string

var commonPasswords = func() map[string]bool {
	m := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(commonPasswordList))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line != "" && !strings.HasPrefix(line, "#") {
			m[strings.ToLower(line)] = true
		}
	}
	return m
}()

// Password problems, as translation keys (the form and the API say the same thing).
var (
	ErrPasswordShort  = errors.New("password.too_short")
	ErrPasswordLong   = errors.New("password.too_long")
	ErrPasswordCommon = errors.New("password.common")
	ErrPasswordEmail  = errors.New("password.is_email")
)

// CheckPassword applies the password rules: at least MinPasswordLength characters, not too
// long, not a well-known password, not the e-mail address.
func CheckPassword(pw, email string) error {
	switch {
	case utf8.RuneCountInString(pw) < MinPasswordLength:
		return ErrPasswordShort
	case len(pw) > MaxPasswordLength:
		return ErrPasswordLong
	case commonPasswords[strings.ToLower(pw)]:
		return ErrPasswordCommon
	case email != "" && strings.EqualFold(strings.TrimSpace(pw), strings.TrimSpace(email)):
		return ErrPasswordEmail
	}
	return nil
}

// HashPassword returns an argon2id hash in the PHC string format
// ($argon2id$v=19$m=…,t=…,p=…$salt$key).
func HashPassword(pw string, p Params) (string, error) {
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := derive([]byte(pw), salt, p)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

func derive(pw, salt []byte, p Params) []byte {
	key, _ := hashes.hash(laneFirst, false, pw, salt, p)
	return key
}

// VerifyPassword reports whether pw matches encoded, in constant time. A malformed hash, or one
// with parameters outside sane bounds, never matches. It waits its turn however long the queue.
func VerifyPassword(encoded, pw string) bool {
	ok, _ := verifyPassword(encoded, pw, laneFirst, false)
	return ok
}

// verifyPassword is VerifyPassword in a lane of the hash queue; when bounded and that lane is
// full it returns at once with admitted false.
func verifyPassword(encoded, pw string, lane int, bounded bool) (match, admitted bool) {
	p, salt, key, err := decodeHash(encoded)
	if err != nil || len(pw) > MaxPasswordLength {
		return false, true
	}
	got, admitted := hashes.hash(lane, bounded, []byte(pw), salt, p)
	return admitted && subtle.ConstantTimeCompare(got, key) == 1, admitted
}

// NeedsRehash reports whether encoded uses parameters other than want.
func NeedsRehash(encoded string, want Params) bool {
	p, _, _, err := decodeHash(encoded)
	return err != nil || p.Memory != want.Memory || p.Time != want.Time || p.Threads != want.Threads
}

func decodeHash(encoded string) (Params, []byte, []byte, error) {
	var p Params
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return p, nil, nil, errors.New("not an argon2id hash")
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return p, nil, nil, errors.New("unsupported argon2 version")
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return p, nil, nil, errors.New("bad argon2 parameters")
	}
	// Bounds stop a planted hash from costing the server gigabytes or minutes.
	if p.Memory < 8 || p.Memory > 1<<20 || p.Time < 1 || p.Time > 10 || p.Threads < 1 || p.Threads > 16 {
		return p, nil, nil, errors.New("argon2 parameters out of bounds")
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return p, nil, nil, errors.New("bad salt")
	}
	key, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return p, nil, nil, errors.New("bad key")
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	return p, salt, key, nil
}
