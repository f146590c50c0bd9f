package token

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func newKeys(t *testing.T) (*Keys, string) {
	t.Helper()
	dir := t.TempDir()
	k, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	return k, dir
}

func TestRoundTrip(t *testing.T) {
	k, _ := newKeys(t)
	raw, _, err := k.Issue(AudienceMailbox, "C-1234", "", 30*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	c, err := k.Verify(AudienceMailbox, raw)
	if err != nil || c.Subject != "C-1234" {
		t.Fatalf("got %v %v, want subject C-1234", c, err)
	}
}

func TestAttacksAreRejected(t *testing.T) {
	k, _ := newKeys(t)
	other, _ := newKeys(t)
	good, _, _ := k.Issue(AudienceMailbox, "C-1", "", time.Minute)
	parts := strings.Split(good, ".")
	header := map[string]any{}
	hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
	_ = json.Unmarshal(hb, &header)

	enc := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])

	// HS256 signed with the public key as the HMAC secret: the classic key-confusion attack.
	pub := k.keys[0].priv.Public().(ed25519.PublicKey)
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": Issuer, "aud": AudienceMailbox, "sub": "C-1", "exp": time.Now().Add(time.Hour).Unix(), "jti": "x", "nbf": time.Now().Unix()})
	hs.Header["kid"] = header["kid"]
	hsToken, _ := hs.SignedString([]byte(pub))

	noneHeader := enc(map[string]any{"alg": "none", "typ": "JWT", "kid": header["kid"]})
	unknownKid := enc(map[string]any{"alg": "EdDSA", "typ": "JWT", "kid": "nope"})
	tampered := strings.Replace(string(payload), `"C-1"`, `"C-2"`, 1)

	past := func() time.Time { return time.Now().Add(-2 * time.Hour) }
	future := func() time.Time { return time.Now().Add(2 * time.Hour) }
	k.SetClock(past)
	expired, _, _ := k.Issue(AudienceMailbox, "C-1", "", time.Minute)
	k.SetClock(future)
	notYet, _, _ := k.Issue(AudienceMailbox, "C-1", "", 3*time.Hour)
	k.SetClock(time.Now)
	foreign, _, _ := other.Issue(AudienceMailbox, "C-1", "", time.Minute)

	cases := map[string]struct{ aud, raw string }{
		"alg none":          {AudienceMailbox, noneHeader + "." + parts[1] + "."},
		"HS256 with pubkey": {AudienceMailbox, hsToken},
		"unknown kid":       {AudienceMailbox, unknownKid + "." + parts[1] + "." + parts[2]},
		"tampered payload":  {AudienceMailbox, parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(tampered)) + "." + parts[2]},
		"expired":           {AudienceMailbox, expired},
		"not yet valid":     {AudienceMailbox, notYet},
		"wrong audience":    {AudienceStaff, good},
		"other server key":  {AudienceMailbox, foreign},
		"oversized":         {AudienceMailbox, strings.Repeat("a", MaxLength+1)},
		"garbage":           {AudienceMailbox, "not.a.token"},
		"empty":             {AudienceMailbox, ""},
	}
	for name, tc := range cases {
		if _, err := k.Verify(tc.aud, tc.raw); err != ErrInvalid {
			t.Errorf("%s: got %v, want ErrInvalid", name, err)
		}
	}
}

func TestRotationKeepsOldTokensValid(t *testing.T) {
	k, dir := newKeys(t)
	old, _, _ := k.Issue(AudienceStaff, "u1", "s1", time.Minute)
	time.Sleep(1100 * time.Millisecond) // kids carry a second-resolution timestamp
	if err := Rotate(dir); err != nil {
		t.Fatal(err)
	}
	k2, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(k2.keys) != 2 {
		t.Fatalf("got %d keys, want 2", len(k2.keys))
	}
	if _, err := k2.Verify(AudienceStaff, old); err != nil {
		t.Errorf("old token after rotation: got %v, want valid", err)
	}
	fresh, _, _ := k2.Issue(AudienceStaff, "u1", "s1", time.Minute)
	if _, err := k.Verify(AudienceStaff, fresh); err != ErrInvalid {
		t.Errorf("new key unknown to old set: got %v, want ErrInvalid", err)
	}
}
