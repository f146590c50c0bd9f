package auth_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"candour/internal/auth"
	"candour/internal/oidctest"
	"candour/internal/policytest"
	"candour/internal/routing"
	"candour/internal/store"
)

// ssoService is an auth service whose policy names the test provider, with clock now.
func ssoService(t *testing.T, prov *oidctest.Provider, now func() time.Time) *auth.Service {
	t.Helper()
	dir := policytest.Dir(t)
	if err := os.WriteFile(filepath.Join(dir, "client-secret"), []byte(oidctest.ClientSecret), 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := "issuer: " + prov.Issuer + "\nclient_id: " + oidctest.ClientID + "\nclient_secret_file: client-secret\n"
	if err := os.WriteFile(filepath.Join(dir, routing.SSOFile), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	pol, err := routing.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return auth.New(auth.Deps{Now: now, PublicURL: "http://127.0.0.1:1", SSO: func() *routing.SSO { return pol.SSO }})
}

// Every ID token here is a real one the provider signed; only whose it is, when it is
// checked and the nonce differ.
func TestVerifyIDToken(t *testing.T) {
	prov := oidctest.Start(t)
	email := "verify@example.gov.uk"
	sub := prov.AddUser(email)
	ours := prov.Token(t, oidctest.ClientID, oidctest.ClientSecret, "http://127.0.0.1:1/staff/sso/callback", email, "nonce-1")
	theirs := prov.Token(t, oidctest.OtherClientID, oidctest.OtherClientSecret, oidctest.OtherRedirect, email, "nonce-2")
	later := func() time.Time { return time.Now().Add(2 * time.Hour) } // the provider's ID tokens last an hour
	tests := []struct {
		name  string
		now   func() time.Time
		raw   string
		nonce string
		err   string // substring; "" to verify
	}{
		{"the portal's own token", time.Now, ours, "nonce-1", ""},
		{"wrong audience: a token for another client", time.Now, theirs, "nonce-2", "audience"},
		{"expired token", later, ours, "nonce-1", "expired"},
		{"another flow's nonce", time.Now, ours, "nonce-2", "nonce"},
		{"tampered signature", time.Now, ours[:len(ours)-4] + "AAAA", "nonce-1", "signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := ssoService(t, prov, tt.now).VerifyIDToken(context.Background(), tt.raw, tt.nonce)
			if tt.err == "" {
				if err != nil || id.Subject != sub {
					t.Fatalf("got %+v, %v; want subject %s", id, err, sub)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("got %v, want an error about the %s", err, tt.err)
			}
		})
	}
}

// A provider that does not answer is an error naming its issuer, not a refusal of the person.
func TestSSOIssuerDoesNotAnswer(t *testing.T) {
	prov := &oidctest.Provider{Issuer: "http://127.0.0.1:9"} // discard: nothing answers
	_, _, err := ssoService(t, prov, time.Now).BeginSSO(context.Background(), "en")
	var down *auth.SSOUnavailableError
	if !errors.As(err, &down) || down.Issuer != prov.Issuer || !strings.Contains(err.Error(), prov.Issuer) {
		t.Fatalf("got %v, want an SSOUnavailableError naming %s", err, prov.Issuer)
	}
}

// A provider whose discovery document names no end_session_endpoint cannot be asked to end
// its session: signing out is the portal's alone (ErrNoProviderLogout, which the sign-out page
// says). A password session never goes to the provider.
func TestProviderLogoutWithoutEndSession(t *testing.T) {
	var issuer string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": issuer, "authorization_endpoint": issuer + "/auth",
			"token_endpoint": issuer + "/token", "jwks_uri": issuer + "/keys", "id_token_signing_alg_values_supported": []string{"RS256"}})
	}))
	defer srv.Close()
	issuer = srv.URL
	svc := ssoService(t, &oidctest.Provider{Issuer: issuer}, time.Now)
	u := &store.User{ID: 7}
	if to, _, err := svc.ProviderLogout(context.Background(), &auth.Principal{User: u, Session: &store.Session{Method: "sso"}}, "en"); !errors.Is(err, auth.ErrNoProviderLogout) {
		t.Errorf("sso session: got %q, %v; want ErrNoProviderLogout", to, err)
	}
	if to, _, err := svc.ProviderLogout(context.Background(), &auth.Principal{User: u, Session: &store.Session{Method: "password"}}, "en"); to != "" || err != nil {
		t.Errorf("password session: got %q, %v; want nothing to do", to, err)
	}
}
