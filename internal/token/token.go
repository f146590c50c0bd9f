// Package token issues and verifies the portal's JWTs (golang-jwt v5): EdDSA only, several keys
// told apart by kid so keys can rotate, and an audience per surface so a mailbox token never
// opens a staff route and a staff token never opens a mailbox.
package token

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"candour/internal/keyfile"
)

// Audiences. Each surface verifies exactly one.
const (
	AudienceMailbox = "mailbox"
	AudienceStaff   = "staff"
)

// Issuer is the iss claim of every token.
const Issuer = "candour"

// MaxLength caps what is parsed: a real token is a few hundred bytes.
const MaxLength = 4096

// ErrInvalid is the one answer for any token that does not verify; callers say 401 and nothing
// more, so an attacker learns nothing from the difference between failures.
var ErrInvalid = errors.New("token: invalid")

// Claims are the registered claims plus the session id, when the token belongs to a session.
type Claims struct {
	jwt.RegisteredClaims
	Session string `json:"sid,omitempty"`
}

type key struct {
	id   string
	priv ed25519.PrivateKey
}

// Keys signs with the newest key and verifies with any key it holds.
type Keys struct {
	keys []key // sorted by id; the last signs
	now  func() time.Time
}

// LoadOrCreate reads every `<kid>.pem` Ed25519 key in dir, creating the first one if the folder
// is empty. Keys are rotated by adding a newer file; kids sort by creation time.
func LoadOrCreate(dir string) (*Keys, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("token: create key folder: %w", err)
	}
	ks, err := load(dir)
	if err != nil {
		return nil, err
	}
	if len(ks.keys) == 0 {
		if err := Rotate(dir); err != nil {
			return nil, err
		}
		return load(dir)
	}
	return ks, nil
}

// Rotate adds a new signing key to dir; older keys keep verifying until they are removed.
func Rotate(dir string) error {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("token: generate key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return fmt.Errorf("token: encode key: %w", err)
	}
	var suffix [4]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		return err
	}
	kid := time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(suffix[:])
	if err := keyfile.Create(filepath.Join(dir, kid+".pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil {
		return fmt.Errorf("token: write key: %w", err)
	}
	return nil
}

func load(dir string) (*Keys, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("token: read key folder: %w", err)
	}
	ks := &Keys{now: time.Now}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".pem") || strings.HasPrefix(name, ".") {
			continue
		}
		path := filepath.Join(dir, name)
		b, err := keyfile.Read(path)
		if err != nil {
			return nil, fmt.Errorf("token: %w", err)
		}
		priv, err := jwt.ParseEdPrivateKeyFromPEM(b)
		if err != nil {
			return nil, fmt.Errorf("token: %s: %w", path, err)
		}
		edPriv, ok := priv.(ed25519.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("token: %s: not an Ed25519 key", path)
		}
		ks.keys = append(ks.keys, key{id: strings.TrimSuffix(name, ".pem"), priv: edPriv})
	}
	sort.Slice(ks.keys, func(i, j int) bool { return ks.keys[i].id < ks.keys[j].id })
	return ks, nil
}

// SetClock replaces the time source (tests).
func (k *Keys) SetClock(now func() time.Time) { k.now = now }

// Issue signs a token for subject on audience, valid for ttl. sessionID may be empty.
func (k *Keys) Issue(audience, subject, sessionID string, ttl time.Duration) (string, Claims, error) {
	signer := k.keys[len(k.keys)-1]
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", Claims{}, err
	}
	now := k.now().Truncate(time.Second)
	claims := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    Issuer,
			Subject:   subject,
			Audience:  jwt.ClaimStrings{audience},
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
			NotBefore: jwt.NewNumericDate(now),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        hex.EncodeToString(jti[:]),
		},
		Session: sessionID,
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	t.Header["kid"] = signer.id
	s, err := t.SignedString(signer.priv)
	return s, claims, err
}

// Verify checks signature (EdDSA only, known kid), issuer, audience, expiry, not-before,
// issued-at and jti. Any failure is ErrInvalid.
func (k *Keys) Verify(audience, raw string) (*Claims, error) {
	if raw == "" || len(raw) > MaxLength {
		return nil, ErrInvalid
	}
	claims := &Claims{}
	_, err := jwt.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		for _, key := range k.keys {
			if key.id == kid {
				return key.priv.Public(), nil
			}
		}
		return nil, ErrInvalid
	},
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithAudience(audience),
		jwt.WithIssuer(Issuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(k.now),
	)
	if err != nil || claims.ID == "" || claims.Subject == "" || claims.NotBefore == nil {
		return nil, ErrInvalid
	}
	return claims, nil
}
