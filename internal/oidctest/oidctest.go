// Package oidctest runs a real OpenID Connect provider on 127.0.0.1 for the tests: the example
// provider of github.com/zitadel/oidc (exampleop with its in-memory storage), which does the
// whole authorization code flow with PKCE, signs ID tokens with its own key and serves its
// discovery document, keys, token and UserInfo endpoints. One runs per test binary.
package oidctest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/oauth2"
	"golang.org/x/text/language"
)

// The provider's clients: the portal, and another relying party whose tokens the portal must
// refuse (they are not for it).
const (
	ClientID          = "candour"
	ClientSecret      = "candour-test-client-secret"
	OtherClientID     = "another-portal"
	OtherClientSecret = "another-portal-secret"
	// OtherRedirect is the other client's redirect URI; nothing listens there.
	OtherRedirect = "http://127.0.0.1:1/cb"
	// Password is every user's password at the provider.
	Password = "verysecure"
	// WrongAudienceClientID is a registration of the portal (same secret, same redirect URIs)
	// for which the provider misissues: its ID tokens name OtherClientID as their only
	// audience and authorised party, as if meant for another relying party.
	WrongAudienceClientID = "candour-wrong-audience"
	// ExpiredClientID is a registration of the portal whose ID tokens expire an hour before
	// they are issued: a provider whose clock is far behind, or a token replayed late.
	ExpiredClientID = "candour-expired"
	// PostLogoutPath is where the provider may send the browser back after signing out
	// (on any 127.0.0.1 port, in either language).
	PostLogoutPath = "/staff/sso/signed-out"
)

// portalClients are the registrations a portal under test may be configured with.
var portalClients = []string{ClientID, WrongAudienceClientID, ExpiredClientID}

// Provider is the running provider.
type Provider struct {
	Issuer string
	users  *users
	ended  *ended
}

// ended counts the sessions the provider ended at its end_session endpoint, by subject.
type ended struct {
	mu    sync.Mutex
	bySub map[string]int
}

// Ended is how many times the provider ended a session of subject at its end_session
// endpoint (RP-initiated logout), for any of the portal's registrations.
func (p *Provider) Ended(subject string) int {
	p.ended.mu.Lock()
	defer p.ended.mu.Unlock()
	return p.ended.bySub[subject]
}

var (
	once   sync.Once
	shared *Provider
	err    error
)

// Start returns the provider of this test binary, starting it on first use. It serves until
// the process ends.
func Start(t testing.TB) *Provider {
	t.Helper()
	once.Do(func() { shared, err = start() })
	if err != nil {
		t.Fatalf("oidctest: %v", err)
	}
	return shared
}

func start() (*Provider, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Provider{Issuer: "http://" + ln.Addr().String(), users: &users{byID: map[string]*storage.User{}},
		ended: &ended{bySub: map[string]int{}}}
	clients := []*storage.Client{storage.WebClient(OtherClientID, OtherClientSecret, OtherRedirect)}
	for _, id := range portalClients {
		clients = append(clients, storage.WebClient(id, ClientSecret, "http://127.0.0.1/staff/sso/callback"))
	}
	storage.RegisterClients(clients...)
	st := &opStorage{Storage: storage.NewStorage(p.users), ended: p.ended}
	go func() { _ = http.Serve(ln, exampleop.SetupServer(p.Issuer, st, nil, false)) }()
	return p, nil
}

// opStorage is the example storage, with the portal's redirect URIs allowed on any port (each
// test's portal listens on a port of its own), the misissuing registrations, and a record of
// the sessions ended.
type opStorage struct {
	*storage.Storage
	ended *ended
}

func (s *opStorage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.Storage.GetClientByClientID(ctx, id)
	if err != nil || !slices.Contains(portalClients, id) {
		return c, err
	}
	return anyPort{Client: c, id: id}, nil
}

// AuthRequestByCode hands the token endpoint a request that names OtherClientID when the
// code was issued to WrongAudienceClientID, so the ID token is signed for the other party.
func (s *opStorage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	r, err := s.Storage.AuthRequestByCode(ctx, code)
	if err != nil || r.GetClientID() != WrongAudienceClientID {
		return r, err
	}
	return otherAudience{r}, nil
}

type otherAudience struct{ op.AuthRequest }

func (otherAudience) GetClientID() string   { return OtherClientID }
func (otherAudience) GetAudience() []string { return []string{OtherClientID} }

func (s *opStorage) TerminateSession(ctx context.Context, userID, clientID string) error {
	s.ended.mu.Lock()
	s.ended.bySub[userID]++
	s.ended.mu.Unlock()
	return s.Storage.TerminateSession(ctx, userID, clientID)
}

type anyPort struct {
	op.Client
	id string
}

// GetID is the party the token endpoint checks the code against: the other one for the
// misissuing registration (see AuthRequestByCode).
func (c anyPort) GetID() string {
	if c.id == WrongAudienceClientID {
		return OtherClientID
	}
	return c.id
}

func (c anyPort) IDTokenLifetime() time.Duration {
	if c.id == ExpiredClientID {
		return -time.Hour
	}
	return c.Client.IDTokenLifetime()
}

// RedirectURIGlobs: a portal on 127.0.0.1, or a council of a test deployment on its own
// host (north.example…, reached with BrowserAt).
func (anyPort) RedirectURIGlobs() []string {
	return []string{"http://127.0.0.1:*/staff/sso/callback", "http://127.0.0.1:*/cy/staff/sso/callback",
		"http://*.example:*/staff/sso/callback"}
}

func (anyPort) PostLogoutRedirectURIGlobs() []string {
	return []string{"http://127.0.0.1:*" + PostLogoutPath, "http://127.0.0.1:*/cy" + PostLogoutPath}
}

// users is the provider's user directory.
type users struct {
	mu   sync.Mutex
	byID map[string]*storage.User
}

func (u *users) GetUserByID(id string) *storage.User {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.byID[id]
}

func (u *users) GetUserByUsername(name string) *storage.User {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, x := range u.byID {
		if x.Username == name {
			return x
		}
	}
	return nil
}

func (u *users) ExampleClientID() string { return storage.ServiceUserID }

// AddUser adds a person to the provider with e-mail address email (also their user name) and
// returns their subject. Adding the same address again returns the same subject.
func (p *Provider) AddUser(email string) string {
	p.users.mu.Lock()
	defer p.users.mu.Unlock()
	for id, x := range p.users.byID {
		if x.Username == email {
			return id
		}
	}
	id := fmt.Sprintf("user-%d", len(p.users.byID)+1)
	p.users.byID[id] = &storage.User{ID: id, Username: email, Password: Password, FirstName: "Test", LastName: email,
		Email: email, EmailVerified: true, PreferredLanguage: language.English}
	return id
}

// Browser is a cookie-keeping HTTP client that stops at the portal's answer to the callback.
func Browser(t testing.TB) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if strings.Contains(req.URL.Path, "/staff") && !strings.HasSuffix(req.URL.Path, "/staff/sso/callback") {
			return http.ErrUseLastResponse // a portal page after the callback: the test looks at it
		}
		return nil
	}}
}

// BrowserAt is a Browser that reaches every host under .example (a test deployment's
// councils) at addr, the portal's listening address.
func BrowserAt(t testing.TB, addr string) *http.Client {
	t.Helper()
	b := Browser(t)
	dial := (&net.Dialer{}).DialContext
	b.Transport = &http.Transport{DialContext: func(ctx context.Context, network, hostport string) (net.Conn, error) {
		if host, _, err := net.SplitHostPort(hostport); err == nil && strings.HasSuffix(host, ".example") {
			hostport = addr
		}
		return dial(ctx, network, hostport)
	}}
	return b
}

// SignIn goes from start (the portal's /staff/sso) to the provider, signs in there as the
// user with email, and returns the portal's answer to the callback, not followed further.
func (p *Provider) SignIn(t testing.TB, b *http.Client, start, email string) *http.Response {
	t.Helper()
	resp, err := b.Get(start)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	id := resp.Request.URL.Query().Get("authRequestID")
	if resp.StatusCode != http.StatusOK || id == "" {
		t.Fatalf("GET %s: got %d at %s, want the provider's login page", start, resp.StatusCode, resp.Request.URL)
	}
	resp, err = b.PostForm(p.Issuer+"/login/username", url.Values{"id": {id}, "username": {email}, "password": {Password}})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// Token runs the code flow with PKCE for a client of the provider other than the portal's
// own handling, as user email with nonce, and returns the raw ID token the provider issued.
func (p *Provider) Token(t testing.TB, clientID, secret, redirect, email, nonce string) string {
	t.Helper()
	cfg := oauth2.Config{ClientID: clientID, ClientSecret: secret, RedirectURL: redirect, Scopes: []string{"openid", "email"},
		Endpoint: oauth2.Endpoint{AuthURL: p.Issuer + "/auth", TokenURL: p.Issuer + "/oauth/token"}}
	verifier := oauth2.GenerateVerifier()
	b := Browser(t)
	b.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), redirect) {
			return http.ErrUseLastResponse
		}
		return nil
	}
	authURL := cfg.AuthCodeURL("state", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", nonce))
	resp := p.SignIn(t, b, authURL, email)
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("sign in at the provider for %s: got %d to %q, want a redirect with a code", clientID, resp.StatusCode, resp.Header.Get("Location"))
	}
	tok, err := cfg.Exchange(context.Background(), loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange the code for %s: %v", clientID, err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		t.Fatalf("no id_token for %s", clientID)
	}
	return raw
}
