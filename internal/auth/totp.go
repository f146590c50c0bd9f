package auth

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"image/png"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// TOTP settings: RFC 6238 defaults, which every authenticator app supports.
const (
	totpPeriod = 30
	totpIssuer = "Candour"
	// One step either side absorbs clock drift and a code typed as it turned over.
	totpSkew = 1
)

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// NewTOTP generates a secret for account (the user's e-mail address).
func NewTOTP(account string) (*otp.Key, error) {
	return totp.Generate(totp.GenerateOpts{Issuer: totpIssuer, AccountName: account, SecretSize: 20,
		Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
}

// TOTPKey rebuilds the otpauth key of a stored secret, for the enrolment page.
func TOTPKey(account, secret string) (*otp.Key, error) {
	return otp.NewKeyFromURL("otpauth://totp/" + totpIssuer + ":" + account + "?issuer=" + totpIssuer +
		"&secret=" + secret + "&period=30&digits=6&algorithm=SHA1")
}

// QRDataURL renders key as a PNG QR code in a data: URL, server-side (no third-party service;
// the CSP allows data: images).
func QRDataURL(key *otp.Key) (string, error) {
	img, err := key.Image(240, 240)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return "", err
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

// CodeAt is the TOTP code of secret at t (tests and enrolment checks).
func CodeAt(secret string, t time.Time) (string, error) {
	return totp.GenerateCodeCustom(secret, t, totpOpts)
}

// checkTOTP returns the time step at which code is valid for secret, considering one step
// either side of now and only steps after lastStep (so a code is never accepted twice).
func checkTOTP(secret, code string, now time.Time, lastStep int64) (int64, bool) {
	code = strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, code)
	if len(code) != 6 {
		return 0, false
	}
	step := now.Unix() / totpPeriod
	for d := int64(-totpSkew); d <= totpSkew; d++ {
		s := step + d
		if s <= lastStep {
			continue
		}
		want, err := totp.GenerateCodeCustom(secret, time.Unix(s*totpPeriod, 0), totpOpts)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return s, true
		}
	}
	return 0, false
}

// Recovery codes: ten one-time codes of 10 base32 characters (50 bits each), shown once and
// stored as SHA-256 (they are random, so a fast hash is enough).
const recoveryCodes = 10

var recoveryEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewRecoveryCodes returns codes to show the user (formatted xxxxx-xxxxx) and their hashes to
// store.
func NewRecoveryCodes() ([]string, [][]byte, error) {
	codes := make([]string, recoveryCodes)
	hashes := make([][]byte, recoveryCodes)
	for i := range codes {
		var b [7]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, nil, err
		}
		s := strings.ToLower(recoveryEncoding.EncodeToString(b[:]))[:10]
		codes[i] = s[:5] + "-" + s[5:]
		hashes[i] = hashRecovery(s)
	}
	return codes, hashes, nil
}

func normaliseRecovery(code string) string {
	return strings.ToLower(strings.NewReplacer("-", "", " ", "").Replace(code))
}

func hashRecovery(normalised string) []byte {
	sum := sha256.Sum256([]byte("candour-recovery:" + normalised))
	return sum[:]
}

// matchRecovery returns the stored hash that code matches, or nil.
func matchRecovery(stored [][]byte, code string) []byte {
	n := normaliseRecovery(code)
	if len(n) != 10 {
		return nil
	}
	h := hashRecovery(n)
	var found []byte
	for _, s := range stored {
		if subtle.ConstantTimeCompare(s, h) == 1 {
			found = s
		}
	}
	return found
}
