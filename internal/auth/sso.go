package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"candour/internal/audit"
	"candour/internal/fault"
	"candour/internal/routing"
	"candour/internal/store"
)

// Staff single sign-on with the council's OpenID Connect provider (routing.SSO, sso.yaml):
// the authorization code flow with PKCE, state and nonce. It signs in only accounts that
// exist. The first time, the provider's e-mail address only picks the account, and the person
// proves it is theirs with a one-time code e-mailed to it; then the provider's subject is
// bound to the account ((issuer, sub); for Entra ID tid/oid), and from then on the subject
// alone finds it. The session is the same as a password sign-in's, with Method "sso".
//
// Who keeps local sign-in: custodians and admins never sign in through the provider (an
// administrator of the provider must not be able to reach the custodians' approvals or make
// accounts), so they stay on password and TOTP, as do accounts never bound. An account bound
// to the provider signs in only through it: when the council disables someone there, the
// portal's password is no way round it.

// Purposes of what SSO seals or MACs with the server key.
const (
	sealFlow    = "sso-flow"
	sealCode    = "sso-code"
	sealIDToken = "sso-id-token"
	macPending  = "sso-pending"
	macCode     = "sso-code"
	ssoCodeSize = 8 // digits: 10^8 codes against ssoCodeAttempts guesses
)

// SSO timings and limits.
const (
	// SSOFlowTTL is how long a person has at the provider before the flow must start again.
	SSOFlowTTL = 10 * time.Minute
	// SSOCodeTTL is how long an e-mailed first sign-in code works.
	SSOCodeTTL = 15 * time.Minute
	// ssoCodeAttempts wrong codes end a pending sign-in.
	ssoCodeAttempts = 5
	// ssoTimeout bounds each request to the provider, so one that does not answer fails soon.
	ssoTimeout = 10 * time.Second
)

// ssoLocalOnly are the roles that never sign in through the provider.
var ssoLocalOnly = []string{"custodian", "admin"}

// LocalOnly reports whether u must sign in with password and second factor.
func LocalOnly(u *store.User) bool {
	for _, r := range ssoLocalOnly {
		if u.HasRole(r) {
			return true
		}
	}
	return false
}

// SSO failures. Every refusal is one answer, whatever was wrong, and is audited with the
// reason.
var (
	ErrSSORefused = fault.New(fault.Unauthorized, "sso_refused", "sso.refused")
	// ErrSSOToken: the provider's ID token did not verify (not for this portal, expired,
	// forged): the person can do nothing about it but start again or call the service desk.
	ErrSSOToken = fault.New(fault.Unauthorized, "sso_token_refused", "sso.token_refused")
	// ErrSSOOff: the policy configures no provider.
	ErrSSOOff = fault.New(fault.NotFound, "not_found", "error.not_found")
	// ErrSSOCodeExpired: the pending sign-in is unknown, used, expired or out of attempts.
	ErrSSOCodeExpired = fault.New(fault.Unauthorized, "sso_code_expired", "sso.code_expired")
	ErrSSOCode        = &fault.Error{Kind: fault.Invalid, Code: "invalid", Message: "error.invalid",
		Fields: map[string]string{"code": "sso.code_wrong"}}
)

// SSOUnavailableError is a provider that did not answer (discovery, keys or token endpoint).
// It names the issuer so whoever reads it knows which service to chase; local sign-in still
// works.
type SSOUnavailableError struct {
	Issuer string
	Err    error
}

func (e *SSOUnavailableError) Error() string {
	return fmt.Sprintf("sign-in provider %s did not answer: %v", e.Issuer, e.Err)
}

// ssoClient is the provider as discovered, for one configuration.
type ssoClient struct {
	cfg      *routing.SSO
	provider *oidc.Provider
	oauth    oauth2.Config
}

// SSOProvider is the configured provider, or nil.
func (s *Service) SSOProvider() *routing.SSO {
	if s.d.SSO == nil {
		return nil
	}
	return s.d.SSO()
}

func (s *Service) httpContext(ctx context.Context) context.Context {
	return oidc.ClientContext(ctx, &http.Client{Timeout: ssoTimeout})
}

// ssoClient discovers the provider once per configuration (a reloaded policy discovers
// again). A provider that does not answer is not remembered: the next sign-in tries again.
func (s *Service) ssoClient(ctx context.Context) (*ssoClient, error) {
	cfg := s.SSOProvider()
	if cfg == nil {
		return nil, ErrSSOOff
	}
	s.ssoMu.Lock()
	defer s.ssoMu.Unlock()
	if s.sso != nil && s.sso.cfg == cfg {
		return s.sso, nil
	}
	p, err := oidc.NewProvider(s.httpContext(ctx), cfg.Issuer)
	if err != nil {
		return nil, &SSOUnavailableError{Issuer: cfg.Issuer, Err: err}
	}
	s.sso = &ssoClient{cfg: cfg, provider: p, oauth: oauth2.Config{
		ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret(), Endpoint: p.Endpoint(),
		RedirectURL: strings.TrimSuffix(s.d.PublicURL, "/") + SSOCallbackPath,
		Scopes:      []string{oidc.ScopeOpenID, "email", "profile"},
	}}
	return s.sso, nil
}

// SSOCallbackPath is where the provider sends the browser back; it must be registered with
// the provider as the portal's redirect URI (after CANDOUR_PUBLIC_URL).
const SSOCallbackPath = "/staff/sso/callback"

// ssoFlow is what the browser keeps between leaving for the provider and coming back, sealed
// with the server key so it can be neither read nor forged.
type ssoFlow struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Lang     string `json:"l"`
	Expires  int64  `json:"e"`
}

// BeginSSO starts a sign-in at the provider: the URL to send the browser to, and the flow to
// keep in a short-lived cookie until it comes back.
func (s *Service) BeginSSO(ctx context.Context, lang string) (authURL, flow string, err error) {
	c, err := s.ssoClient(ctx)
	if err != nil {
		return "", "", err
	}
	if s.d.Secrets == nil {
		return "", "", errNoSecrets
	}
	f := ssoFlow{State: randomToken(), Nonce: randomToken(), Verifier: oauth2.GenerateVerifier(), Lang: lang,
		Expires: s.d.Now().Add(SSOFlowTTL).Unix()}
	b, err := json.Marshal(f)
	if err != nil {
		return "", "", err
	}
	sealed, err := s.d.Secrets.SealFor(sealFlow, "", b)
	if err != nil {
		return "", "", err
	}
	return c.oauth.AuthCodeURL(f.State, oidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier)),
		base64.RawURLEncoding.EncodeToString(sealed), nil
}

func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// FlowLang is the language a flow was started in ("" when it does not open).
func (s *Service) FlowLang(flow string) string {
	f, err := s.openFlow(flow)
	if err != nil {
		return ""
	}
	return f.Lang
}

func (s *Service) openFlow(flow string) (*ssoFlow, error) {
	if s.d.Secrets == nil || len(flow) > 2048 {
		return nil, ErrSSORefused
	}
	b, err := base64.RawURLEncoding.DecodeString(flow)
	if err != nil {
		return nil, ErrSSORefused
	}
	plain, err := s.d.Secrets.OpenFor(sealFlow, "", b)
	if err != nil {
		return nil, ErrSSORefused
	}
	var f ssoFlow
	if err := json.Unmarshal(plain, &f); err != nil || s.d.Now().Unix() > f.Expires {
		return nil, ErrSSORefused
	}
	return &f, nil
}

// SSOCallback is what the provider sent the browser back with.
type SSOCallback struct {
	Flow  string // the cookie BeginSSO made
	State string
	Code  string
	Error string // the provider's error parameter (the person cancelled, say)
}

// SSOResult is a finished callback: a session, or a first sign-in waiting for its e-mailed
// code (Pending, the token for the code page's cookie).
type SSOResult struct {
	Issued  *Issued
	Pending string
}

// CompleteSSO checks the provider's answer against the flow (state), exchanges the code with
// the PKCE verifier, verifies the ID token (signature, issuer, audience, expiry, nonce) and
// signs the bound account in, or starts a first sign-in. Every refusal is ErrSSORefused and
// audited with its reason; a provider that does not answer is an *SSOUnavailableError.
func (s *Service) CompleteSSO(ctx context.Context, cb SSOCallback) (*SSOResult, error) {
	res, reason, err := s.completeSSO(ctx, cb)
	if reason != "" {
		if aerr := audit.Record(ctx, s.d.Store, audit.Event{Action: "auth.login_failed", Actor: audit.ActorSystem,
			Details: map[string]string{"method": "sso", "reason": reason}}); aerr != nil {
			return nil, aerr
		}
		if strings.HasPrefix(reason, "id_token") {
			return nil, ErrSSOToken
		}
		return nil, ErrSSORefused
	}
	return res, err
}

func (s *Service) completeSSO(ctx context.Context, cb SSOCallback) (*SSOResult, string, error) {
	f, err := s.openFlow(cb.Flow)
	if err != nil {
		return nil, "flow", nil
	}
	if cb.Error != "" || cb.Code == "" || len(cb.Code) > 2048 {
		return nil, "provider_error", nil
	}
	if !hmac.Equal([]byte(cb.State), []byte(f.State)) {
		return nil, "state", nil
	}
	c, err := s.ssoClient(ctx)
	if err != nil {
		return nil, "", err
	}
	tok, err := c.oauth.Exchange(s.httpContext(ctx), cb.Code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			return nil, "code_exchange", nil // the provider answered: no
		}
		return nil, "", &SSOUnavailableError{Issuer: c.cfg.Issuer, Err: err}
	}
	raw, _ := tok.Extra("id_token").(string)
	id, err := s.VerifyIDToken(ctx, raw, f.Nonce)
	if err != nil {
		return nil, s.idTokenRefusal(ctx, c, raw, err), nil
	}
	bound, err := s.d.Store.SSOUser(ctx, c.cfg.Issuer, id.Subject)
	if err == nil {
		issued, reason, err := s.ssoSignIn(ctx, bound, s.sealIDToken(bound, raw))
		return &SSOResult{Issued: issued}, reason, err
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, "", err
	}
	email := id.Email
	if email == "" {
		// A provider may put the address only in UserInfo; it must describe the same subject.
		ui, err := c.provider.UserInfo(s.httpContext(ctx), oauth2.StaticTokenSource(tok))
		if err != nil || ui.Subject != id.Sub {
			return nil, "no_email", nil
		}
		email = ui.Email
	}
	if email == "" || len(email) > 254 {
		return nil, "no_email", nil
	}
	u, err := s.d.Store.UserByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		return nil, "unknown_account", nil // nothing is created
	}
	if err != nil {
		return nil, "", err
	}
	if reason := ssoRefusal(u); reason != "" {
		return nil, reason, nil
	}
	pending, err := s.startPending(ctx, u, c.cfg.Issuer, id.Subject, s.sealIDToken(u.ID, raw))
	return &SSOResult{Pending: pending}, "", err
}

// IDToken is what the portal takes from a verified ID token.
type IDToken struct {
	// Subject is what the account is bound to: sub, or for Entra ID "tid/oid".
	Subject string
	Sub     string
	Email   string
}

// VerifyIDToken checks a raw ID token from the provider: signature by the provider's keys,
// issuer, audience (this portal's client id), expiry against the service's clock, and nonce.
// For Entra ID the token must come from the configured tenant and carry an object id.
func (s *Service) VerifyIDToken(ctx context.Context, raw, nonce string) (*IDToken, error) {
	c, err := s.ssoClient(ctx)
	if err != nil {
		return nil, err
	}
	if raw == "" {
		return nil, errors.New("auth: no id_token in the token response")
	}
	v := c.provider.Verifier(&oidc.Config{ClientID: c.cfg.ClientID, Now: s.d.Now})
	t, err := v.Verify(ctx, raw)
	if err != nil {
		return nil, err
	}
	if !hmac.Equal([]byte(t.Nonce), []byte(nonce)) {
		return nil, errors.New("auth: id_token nonce does not match the flow's")
	}
	var claims struct {
		Email             string `json:"email"`
		PreferredUsername string `json:"preferred_username"`
		TID               string `json:"tid"`
		OID               string `json:"oid"`
	}
	if err := t.Claims(&claims); err != nil {
		return nil, err
	}
	out := &IDToken{Subject: t.Subject, Sub: t.Subject, Email: claims.Email}
	if c.cfg.Entra() {
		if !strings.EqualFold(claims.TID, c.cfg.TenantID) || claims.OID == "" {
			return nil, errors.New("auth: id_token is not from the configured Entra ID tenant")
		}
		out.Subject = strings.ToLower(claims.TID) + "/" + strings.ToLower(claims.OID)
		if out.Email == "" {
			out.Email = claims.PreferredUsername
		}
	}
	if len(out.Subject) > 300 {
		return nil, errors.New("auth: id_token subject too long")
	}
	return out, nil
}

// idTokenRefusal is the audited reason an ID token was refused: expired, for another
// audience (it verifies once the audience is not checked), or anything else.
func (s *Service) idTokenRefusal(ctx context.Context, c *ssoClient, raw string, err error) string {
	var expired *oidc.TokenExpiredError
	if errors.As(err, &expired) {
		return "id_token_expired"
	}
	v := c.provider.Verifier(&oidc.Config{SkipClientIDCheck: true, Now: s.d.Now})
	if raw != "" {
		if _, aerr := v.Verify(ctx, raw); aerr == nil {
			return "id_token_audience"
		}
	}
	return "id_token"
}

// ssoRefusal is why u may not sign in through the provider ("" when it may).
func ssoRefusal(u *store.User) string {
	switch {
	case u.Status != "active":
		return "disabled"
	case LocalOnly(u):
		return "local_only_role"
	}
	return ""
}

// ssoSignIn opens a session for a bound account that may still sign in through the provider.
func (s *Service) ssoSignIn(ctx context.Context, userID int64, idToken []byte) (*Issued, string, error) {
	u, err := s.d.Store.UserByID(ctx, userID)
	if err != nil {
		return nil, "", err
	}
	if reason := ssoRefusal(u); reason != "" {
		return nil, reason, nil
	}
	var issued *Issued
	err = s.d.Store.Tx(ctx, func(tx *store.Store) error {
		issued, err = s.openSSO(ctx, tx, u, idToken)
		return err
	})
	return issued, "", err
}

func (s *Service) openSSO(ctx context.Context, tx *store.Store, u *store.User, idToken []byte) (*Issued, error) {
	issued, err := s.openWith(ctx, tx, u, StageFull, "sso", idToken, s.d.Now())
	if err != nil {
		return nil, err
	}
	return issued, audit.Record(ctx, tx, audit.Event{ActorID: u.ID, Action: "auth.login", ObjectType: "session",
		ObjectID: issued.Session.ID, Details: map[string]string{"stage": StageFull, "method": "sso"}})
}

// startPending stores a first sign-in and e-mails its code to the account's own address,
// sealed for that address: the code is never stored or logged in clear (the row keeps a MAC
// bound to the pending sign-in).
func (s *Service) startPending(ctx context.Context, u *store.User, issuer, subject string, idToken []byte) (string, error) {
	if s.d.Secrets == nil {
		return "", errNoSecrets
	}
	n, err := rand.Int(rand.Reader, big.NewInt(100_000_000))
	if err != nil {
		return "", err
	}
	code := fmt.Sprintf("%0*d", ssoCodeSize, n)
	token := randomToken()
	id := s.d.Secrets.MAC(macPending, []byte(token))
	sealed, err := s.d.Secrets.SealFor(sealCode, strings.ToLower(u.Email), []byte(code))
	if err != nil {
		return "", err
	}
	p := &store.PendingSSO{ID: id, UserID: u.ID, Issuer: issuer, Subject: subject, Code: s.codeMAC(id, code),
		ExpiresAt: s.d.Now().Add(SSOCodeTTL), IDToken: idToken}
	err = s.d.Store.Tx(ctx, func(tx *store.Store) error {
		if err := tx.InsertPendingSSO(ctx, p, u.Email, sealed); err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.Event{ActorID: u.ID, Action: "auth.sso_code_sent", ObjectType: "user",
			ObjectID: strconv.FormatInt(u.ID, 10)})
	})
	return token, err
}

func (s *Service) codeMAC(pendingID []byte, code string) []byte {
	return s.d.Secrets.MAC(macCode, append(append([]byte(nil), pendingID...), code...))
}

// OpenSSOCode opens a first sign-in code in the outbox for its recipient, for the notifier.
func (s *Service) OpenSSOCode(recipient string, sealed []byte) (string, error) {
	if s.d.Secrets == nil {
		return "", errNoSecrets
	}
	b, err := s.d.Secrets.OpenFor(sealCode, strings.ToLower(recipient), sealed)
	return string(b), err
}

// ConfirmSSOCode checks the e-mailed code of a first sign-in. The right code binds the
// provider's subject to the account and signs it in; a wrong one counts, and the last allowed
// wrong one ends the pending sign-in (ErrSSOCodeExpired from then on).
func (s *Service) ConfirmSSOCode(ctx context.Context, pending, code string) (*Issued, error) {
	if s.d.Secrets == nil || pending == "" || len(pending) > 100 {
		return nil, ErrSSOCodeExpired
	}
	code = strings.TrimSpace(code)
	id := s.d.Secrets.MAC(macPending, []byte(pending))
	now := s.d.Now()
	var issued *Issued
	var fail error
	err := s.d.Store.Tx(ctx, func(tx *store.Store) error {
		p, err := tx.PendingSSOByID(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			fail = ErrSSOCodeExpired
			return nil
		}
		if err != nil {
			return err
		}
		if !now.Before(p.ExpiresAt) || p.Attempts >= ssoCodeAttempts {
			fail = ErrSSOCodeExpired
			return tx.DeletePendingSSO(ctx, id)
		}
		if len(code) != ssoCodeSize || !hmac.Equal(s.codeMAC(id, code), p.Code) {
			fail = ErrSSOCode
			if p.Attempts+1 >= ssoCodeAttempts {
				err = tx.DeletePendingSSO(ctx, id)
			} else {
				err = tx.CountPendingSSOAttempt(ctx, id)
			}
			if err != nil {
				return err
			}
			return audit.Record(ctx, tx, audit.Event{ActorID: p.UserID, Action: "auth.login_failed", ObjectType: "user",
				ObjectID: strconv.FormatInt(p.UserID, 10), Details: map[string]string{"method": "sso", "reason": "code"}})
		}
		u, err := tx.UserByID(ctx, p.UserID)
		if err != nil {
			return err
		}
		if other, err := tx.SSOUser(ctx, p.Issuer, p.Subject); err == nil && other != u.ID {
			fail = ErrSSORefused // the subject was bound to another account meanwhile
		} else if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if ssoRefusal(u) != "" {
			fail = ErrSSORefused
		}
		if err := tx.DeletePendingSSO(ctx, id); err != nil {
			return err
		}
		if fail != nil {
			return nil
		}
		if err := tx.BindSSOSubject(ctx, p.Issuer, p.Subject, u.ID, now); err != nil {
			return err
		}
		if err := audit.Record(ctx, tx, audit.Event{ActorID: u.ID, Action: "user.sso_bind", ObjectType: "user",
			ObjectID: strconv.FormatInt(u.ID, 10), Details: map[string]string{"issuer": p.Issuer}}); err != nil {
			return err
		}
		issued, err = s.openSSO(ctx, tx, u, p.IDToken)
		return err
	})
	if err != nil {
		return nil, err
	}
	return issued, fail
}

// maxKeptIDToken bounds the ID token kept for signing out; a larger one is not kept, and the
// provider is asked to end the session without it.
const maxKeptIDToken = 16 << 10

// sealIDToken seals the provider's ID token for account userID, to be handed back as
// id_token_hint when the session ends (nil when there is nothing to keep).
func (s *Service) sealIDToken(userID int64, raw string) []byte {
	if s.d.Secrets == nil || raw == "" || len(raw) > maxKeptIDToken {
		return nil
	}
	b, err := s.d.Secrets.SealFor(sealIDToken, strconv.FormatInt(userID, 10), []byte(raw))
	if err != nil {
		return nil // signing out will not carry the hint; signing in need not fail for it
	}
	return b
}

// SSOSignedOutPath is where the provider sends the browser back after ending its session; it
// must be registered with the provider as a post-logout redirect URI (after
// CANDOUR_PUBLIC_URL, and under /cy for Welsh).
const SSOSignedOutPath = "/staff/sso/signed-out"

// ErrNoProviderLogout: the provider publishes no end_session_endpoint, so signing out ended
// the portal's session only.
var ErrNoProviderLogout = errors.New("auth: the sign-in provider has no end_session_endpoint")

// ProviderLogout is where to send the browser so that the provider ends its own session too
// (OpenID Connect RP-initiated logout), with the state it must bring back to SSOSignedOutPath.
// Call it after SignOut: the portal's session is over whatever the provider does. It is ""
// for a session that did not sign in through the provider; ErrNoProviderLogout or an
// *SSOUnavailableError when the provider cannot be asked.
func (s *Service) ProviderLogout(ctx context.Context, p *Principal, lang string) (to, state string, err error) {
	if p.Session.Method != "sso" {
		return "", "", nil
	}
	c, err := s.ssoClient(ctx)
	if errors.Is(err, ErrSSOOff) {
		return "", "", ErrNoProviderLogout // the council has stopped using a provider
	}
	if err != nil {
		return "", "", err
	}
	var meta struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := c.provider.Claims(&meta); err != nil || meta.EndSession == "" {
		return "", "", ErrNoProviderLogout
	}
	u, err := url.Parse(meta.EndSession)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return "", "", ErrNoProviderLogout
	}
	back := strings.TrimSuffix(s.d.PublicURL, "/")
	if lang == "cy" {
		back += "/cy"
	}
	state = randomToken()
	q := u.Query()
	q.Set("client_id", c.cfg.ClientID)
	q.Set("post_logout_redirect_uri", back+SSOSignedOutPath)
	q.Set("state", state)
	if len(p.Session.SSOIDToken) > 0 && s.d.Secrets != nil {
		raw, err := s.d.Secrets.OpenFor(sealIDToken, strconv.FormatInt(p.User.ID, 10), p.Session.SSOIDToken)
		if err == nil {
			q.Set("id_token_hint", string(raw))
		}
	}
	u.RawQuery = q.Encode()
	return u.String(), state, nil
}
