package portal_test

import (
	"context"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"candour/internal/accounts"
	"candour/internal/fault"
	"candour/internal/oidctest"
	"candour/internal/policytest"
	"candour/internal/portal"
	"candour/internal/portaltest"
	"candour/internal/routing"
)

// ssoPortal starts a portal whose policy names issuer as its sign-on provider.
func ssoPortal(t *testing.T, issuer string) *portaltest.Env {
	t.Helper()
	return ssoPortalAs(t, issuer, oidctest.ClientID)
}

// ssoPortalAs starts a portal registered at issuer as clientID.
func ssoPortalAs(t *testing.T, issuer, clientID string) *portaltest.Env {
	t.Helper()
	dir := policytest.Dir(t)
	writeSSO(t, dir, issuer, clientID)
	return portaltest.Start(t, portaltest.Setting("CANDOUR_POLICY_DIR", dir))
}

// writeSSO writes an sso.yaml and its secret file into the policy folder dir.
func writeSSO(t *testing.T, dir, issuer, clientID string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "client-secret"), []byte(oidctest.ClientSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := "name: Test Provider\nissuer: " + issuer + "\nclient_id: " + clientID + "\nclient_secret_file: client-secret\n"
	if err := os.WriteFile(filepath.Join(dir, routing.SSOFile), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
}

func body(t *testing.T, r *http.Response) string {
	t.Helper()
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func count(t *testing.T, env *portaltest.Env, query string, args ...any) int {
	t.Helper()
	var n int
	if err := env.DB.GetContext(context.Background(), &n, query, args...); err != nil {
		t.Fatal(err)
	}
	return n
}

// ssoCode opens the newest first sign-in code in the outbox for email, as the mailer does.
func ssoCode(t *testing.T, env *portaltest.Env, email string) string {
	t.Helper()
	var sealed []byte
	if err := env.DB.GetContext(context.Background(), &sealed, `SELECT sealed_link FROM notifications
		WHERE kind = 'sso_code' AND recipient = lower($1) ORDER BY id DESC LIMIT 1`, email); err != nil {
		t.Fatalf("no sign-in code for %s in the outbox: %v", email, err)
	}
	code, err := env.Auth.OpenSSOCode(email, sealed)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// postCode posts the code page's form with the browser's cookies.
func postCode(t *testing.T, env *portaltest.Env, b *http.Client, code string) *http.Response {
	t.Helper()
	r, err := b.Get(env.URL() + "/staff/sso/code")
	if err != nil {
		t.Fatal(err)
	}
	csrf := portaltest.CSRF(t, body(t, r))
	r, err = b.PostForm(env.URL()+"/staff/sso/code", url.Values{"csrf": {csrf}, "code": {code}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// ssoPerson starts the provider and a portal using it, with an account for email holding
// role, known to the provider as the subject returned.
func ssoPerson(t *testing.T, email, role string) (*oidctest.Provider, *portaltest.Env, *accounts.Created, string) {
	t.Helper()
	prov := oidctest.Start(t)
	env := ssoPortal(t, prov.Issuer)
	staff := portaltest.Account(t, env.Portal, accounts.NewUser{Email: email, Roles: []string{role}})
	return prov, env, staff, prov.AddUser(email)
}

// The first sign-in through the provider needs the code e-mailed to the account; then the
// provider's subject alone signs the account in, to the same staff session a password gives,
// and signing out ends it.
func TestSSOSignIn(t *testing.T) {
	email := "sso.officer@example.gov.uk"
	prov, env, staff, sub := ssoPerson(t, email, "monitoring_officer")

	login := portaltest.Page{}
	if r, err := http.Get(env.URL() + "/cy/staff/login"); err != nil {
		t.Fatal(err)
	} else {
		login.Body = body(t, r)
	}
	if !strings.Contains(login.Body, "Mewngofnodi gyda Test Provider") || !strings.Contains(login.Body, `name="password"`) {
		t.Fatalf("Welsh sign-in page: want the provider's button beside the password form, got:\n%s", login.Body)
	}

	// First time: the portal asks for the e-mailed code.
	b := oidctest.Browser(t)
	r := prov.SignIn(t, b, env.URL()+"/staff/sso", email)
	body(t, r)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/staff/sso/code" {
		t.Fatalf("first sign-in: got %d to %q, want 303 to the code page", r.StatusCode, r.Header.Get("Location"))
	}
	code := ssoCode(t, env, email)
	if n := count(t, env, `SELECT count(*) FROM sso_codes WHERE position(convert_to($1, 'UTF8') in code) > 0`, code); n != 0 {
		t.Errorf("the code is stored in clear")
	}
	if strings.Contains(env.Logs.String(), code) {
		t.Errorf("the code is in the log")
	}
	wrong := "00000000"
	if wrong == code {
		wrong = "11111111"
	}
	if r := postCode(t, env, b, wrong); r.StatusCode != http.StatusBadRequest {
		t.Fatalf("wrong code: got %d, want 400", r.StatusCode)
	}
	if n := count(t, env, `SELECT count(*) FROM sso_subjects`); n != 0 {
		t.Fatalf("a wrong code bound %d subjects, want none", n)
	}
	r = postCode(t, env, b, code)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/staff" {
		t.Fatalf("right code: got %d to %q, want 303 to /staff", r.StatusCode, r.Header.Get("Location"))
	}
	if n := count(t, env, `SELECT count(*) FROM sso_subjects WHERE issuer = $1 AND subject = $2 AND user_id = $3`,
		prov.Issuer, sub, staff.User.ID); n != 1 {
		t.Fatalf("got %d bindings of the provider's subject to the account, want 1", n)
	}
	if n := count(t, env, `SELECT count(*) FROM sessions WHERE user_id = $1 AND method = 'sso' AND stage = 'full'`, staff.User.ID); n != 1 {
		t.Fatalf("got %d full SSO sessions, want 1", n)
	}
	r, err := b.Get(env.URL() + "/staff")
	if err != nil {
		t.Fatal(err)
	}
	if page := body(t, r); r.StatusCode != http.StatusOK || !strings.Contains(page, html.EscapeString(staff.User.Name)) {
		t.Fatalf("staff home after the code: got %d, want 200 with the account's name", r.StatusCode)
	}

	// From then on the subject alone: no code, straight to a session.
	codes := count(t, env, `SELECT count(*) FROM notifications WHERE kind = 'sso_code'`)
	b2 := oidctest.Browser(t)
	r = prov.SignIn(t, b2, env.URL()+"/staff/sso", email)
	if page := body(t, r); r.StatusCode != http.StatusOK || !strings.Contains(page, `id="sso-done"`) {
		t.Fatalf("second sign-in: got %d, want 200 signed in:\n%s", r.StatusCode, page)
	}
	if n := count(t, env, `SELECT count(*) FROM notifications WHERE kind = 'sso_code'`); n != codes {
		t.Errorf("second sign-in sent another code")
	}
	r, err = b2.Get(env.URL() + "/staff")
	if err != nil {
		t.Fatal(err)
	}
	home := body(t, r)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("staff home after the second sign-in: got %d, want 200", r.StatusCode)
	}

	// A bound account signs in only through the provider.
	resp := portaltest.DoJSON(t, env.URL(), "POST", "/api/v1/auth/login", map[string]string{"email": email,
		"password": portaltest.Password, "totp": "000000"})
	if resp.Status != http.StatusUnauthorized {
		t.Errorf("password sign-in of a bound account: got %d, want 401", resp.Status)
	}

	// Logout ends the session (and goes on to the provider: TestSSOSignOutAtProvider).
	stop := *b2
	stop.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	r, err = stop.PostForm(env.URL()+"/staff/logout", url.Values{"csrf": {portaltest.CSRF(t, home)}})
	if err != nil {
		t.Fatal(err)
	}
	body(t, r)
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), prov.Issuer+"/") {
		t.Fatalf("logout: got %d to %q, want 303 to the provider", r.StatusCode, r.Header.Get("Location"))
	}
	r, err = b2.Get(env.URL() + "/staff")
	if err != nil {
		t.Fatal(err)
	}
	body(t, r)
	if r.StatusCode != http.StatusSeeOther || !strings.HasSuffix(r.Header.Get("Location"), "/staff/login") {
		t.Fatalf("staff home after logout: got %d to %q, want the sign-in page", r.StatusCode, r.Header.Get("Location"))
	}
	if n := count(t, env, `SELECT count(*) FROM sessions WHERE user_id = $1 AND method = 'sso' AND revoked_at IS NULL`, staff.User.ID); n != 1 {
		t.Errorf("got %d live SSO sessions after one of two logged out, want 1", n)
	}
}

// The provider vouches for a person, but SSO signs in only accounts that exist, never a
// custodian (local sign-in only), and creates nothing.
func TestSSORefusesUnknownAndLocalOnly(t *testing.T) {
	prov := oidctest.Start(t)
	env := ssoPortal(t, prov.Issuer)
	custodian := "sso.custodian@example.gov.uk"
	portaltest.Account(t, env.Portal, accounts.NewUser{Email: custodian, Roles: []string{"investigator"}})
	if _, err := env.DB.Exec(`UPDATE users SET roles = '{custodian}' WHERE email = $1`, custodian); err != nil {
		t.Fatal(err)
	}
	users := count(t, env, `SELECT count(*) FROM users`)
	for _, email := range []string{"nobody.here@example.gov.uk", custodian} {
		prov.AddUser(email)
		r := prov.SignIn(t, oidctest.Browser(t), env.URL()+"/staff/sso", email)
		page := body(t, r)
		if r.StatusCode != http.StatusUnauthorized || !strings.Contains(page, `id="sso-error"`) || !strings.Contains(page, `name="password"`) {
			t.Errorf("%s: got %d, want 401 with the reason beside local sign-in:\n%s", email, r.StatusCode, page)
		}
	}
	if n := count(t, env, `SELECT count(*) FROM users`); n != users {
		t.Errorf("got %d accounts, want %d: SSO created one", n, users)
	}
	if n := count(t, env, `SELECT count(*) FROM sso_subjects`) + count(t, env, `SELECT count(*) FROM sso_codes`) +
		count(t, env, `SELECT count(*) FROM notifications WHERE kind = 'sso_code'`); n != 0 {
		t.Errorf("got %d bindings, pending sign-ins or codes, want none", n)
	}
	if n := count(t, env, `SELECT count(*) FROM audit_events WHERE action = 'auth.login_failed' AND details->>'method' = 'sso'`); n != 2 {
		t.Errorf("got %d audited SSO refusals, want 2", n)
	}
}

// An issuer that does not answer: the portal starts, offers local sign-in, and the sign-in
// through the provider says which issuer did not answer (page and log).
func TestSSOIssuerDoesNotAnswerAtSignIn(t *testing.T) {
	issuer := "http://127.0.0.1:9" // discard: nothing answers
	env := ssoPortal(t, issuer)
	r, err := http.Get(env.URL() + "/staff/sso")
	if err != nil {
		t.Fatal(err)
	}
	page := body(t, r)
	if r.StatusCode != http.StatusServiceUnavailable || !strings.Contains(page, issuer) || !strings.Contains(page, `name="password"`) {
		t.Fatalf("got %d, want 503 naming %s beside local sign-in:\n%s", r.StatusCode, issuer, page)
	}
	if !strings.Contains(env.Logs.String(), issuer) {
		t.Errorf("the log does not name the issuer %s", issuer)
	}
	portaltest.NewStaff(t, env.Portal, "local.officer@example.gov.uk", "monitoring_officer") // local sign-in still works
}

// The provider signs a real ID token, but one the portal must not accept: for another
// relying party, or already expired. Through the whole browser flow, the callback refuses it
// in the person's language, opens no session, binds nothing and audits why.
func TestSSORefusesTokenNotForThePortal(t *testing.T) {
	prov := oidctest.Start(t)
	tests := []struct {
		name, client, reason string
	}{
		{"wrong audience", oidctest.WrongAudienceClientID, "id_token_audience"},
		{"expired token", oidctest.ExpiredClientID, "id_token_expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := ssoPortalAs(t, prov.Issuer, tt.client)
			email := "sso.token." + strings.ReplaceAll(tt.name, " ", "-") + "@example.gov.uk"
			staff := portaltest.Account(t, env.Portal, accounts.NewUser{Email: email, Roles: []string{"investigator"}})
			prov.AddUser(email)
			for _, lang := range []struct{ prefix, want string }{
				{"", "it was not meant for this portal, or it had expired"},
				{"/cy", "nid oedd wedi'i fwriadu ar gyfer y porth hwn"},
			} {
				r := prov.SignIn(t, oidctest.Browser(t), env.URL()+lang.prefix+"/staff/sso", email)
				page := html.UnescapeString(body(t, r))
				if r.StatusCode != http.StatusUnauthorized || !strings.Contains(page, `id="sso-error"`) ||
					!strings.Contains(page, lang.want) || !strings.Contains(page, `name="password"`) {
					t.Errorf("%s%s: got %d, want 401 saying %q beside local sign-in:\n%s", lang.prefix, "/staff/sso", r.StatusCode, lang.want, page)
				}
				if c := r.Header.Get("Set-Cookie"); strings.Contains(c, "candour_staff=") && !strings.Contains(c, "candour_staff=;") {
					t.Errorf("%s: a staff session cookie was set: %s", lang.prefix, c)
				}
			}
			if n := count(t, env, `SELECT count(*) FROM sessions WHERE user_id = $1`, staff.User.ID); n != 0 {
				t.Errorf("got %d sessions, want none", n)
			}
			if n := count(t, env, `SELECT count(*) FROM sso_subjects`) + count(t, env, `SELECT count(*) FROM sso_codes`); n != 0 {
				t.Errorf("got %d bindings or pending sign-ins, want none", n)
			}
			if n := count(t, env, `SELECT count(*) FROM audit_events WHERE action = 'auth.login_failed'
				AND details->>'method' = 'sso' AND details->>'reason' = $1`, tt.reason); n != 2 {
				t.Errorf("got %d audited refusals for %s, want 2", n, tt.reason)
			}
		})
	}
}

// ssoBound signs email in through the provider for the first time with browser b, with the
// e-mailed code, and returns the staff home page it reaches.
func ssoBound(t *testing.T, env *portaltest.Env, prov *oidctest.Provider, b *http.Client, email string) string {
	t.Helper()
	r := prov.SignIn(t, b, env.URL()+"/staff/sso", email)
	body(t, r)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/staff/sso/code" {
		t.Fatalf("first sign-in of %s: got %d to %q, want 303 to the code page", email, r.StatusCode, r.Header.Get("Location"))
	}
	if r := postCode(t, env, b, ssoCode(t, env, email)); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("code of %s: got %d, want 303", email, r.StatusCode)
	}
	r, err := b.Get(env.URL() + "/staff")
	if err != nil {
		t.Fatal(err)
	}
	home := body(t, r)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("staff home of %s: got %d, want 200", email, r.StatusCode)
	}
	return home
}

// Signing out of a session that came through the provider revokes it in the portal first,
// then sends the browser to the provider's end_session_endpoint with the session's ID token,
// which ends the provider's session and comes back with the state; a state that does not
// match says only the portal's session is known to be over.
func TestSSOSignOutAtProvider(t *testing.T) {
	email := "sso.leaver@example.gov.uk"
	prov, env, staff, sub := ssoPerson(t, email, "investigator")
	b := oidctest.Browser(t)
	home := ssoBound(t, env, prov, b, email)

	stop := *b // the same cookies, stopping at each answer
	stop.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	r, err := stop.PostForm(env.URL()+"/staff/logout", url.Values{"csrf": {portaltest.CSRF(t, home)}})
	if err != nil {
		t.Fatal(err)
	}
	body(t, r)
	to, err := url.Parse(r.Header.Get("Location"))
	if err != nil || r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(to.String(), prov.Issuer+"/") {
		t.Fatalf("logout: got %d to %q, want 303 to the provider", r.StatusCode, r.Header.Get("Location"))
	}
	q := to.Query()
	if q.Get("id_token_hint") == "" || q.Get("state") == "" || q.Get("post_logout_redirect_uri") != env.URL()+oidctest.PostLogoutPath {
		t.Fatalf("logout at the provider: got %v, want id_token_hint, state and post_logout_redirect_uri %s", q, env.URL()+oidctest.PostLogoutPath)
	}
	// The portal's session ended before the browser left for the provider.
	if n := count(t, env, `SELECT count(*) FROM sessions WHERE user_id = $1 AND revoked_at IS NULL`, staff.User.ID); n != 0 {
		t.Fatalf("got %d live sessions while the browser is at the provider, want none", n)
	}
	if n := count(t, env, `SELECT count(*) FROM sessions WHERE user_id = $1 AND position(convert_to($2, 'UTF8') in sso_id_token) > 0`,
		staff.User.ID, q.Get("id_token_hint")[:40]); n != 0 {
		t.Errorf("the ID token is stored in clear")
	}

	r, err = stop.Get(to.String())
	if err != nil {
		t.Fatal(err)
	}
	body(t, r)
	back, err := url.Parse(r.Header.Get("Location"))
	if err != nil || back.Query().Get("state") != q.Get("state") || !strings.HasPrefix(back.String(), env.URL()+oidctest.PostLogoutPath) {
		t.Fatalf("provider's end_session: got %d to %q, want back to the portal with the state", r.StatusCode, r.Header.Get("Location"))
	}
	if n := prov.Ended(sub); n != 1 {
		t.Fatalf("the provider ended %d sessions of the person, want 1", n)
	}

	// A forged state, then the right one: only the state this browser was sent with confirms.
	forged := *back
	forged.RawQuery = url.Values{"state": {"forged"}}.Encode()
	for _, tt := range []struct {
		url, want string
	}{
		{forged.String(), "staff.sso.signed_out.unconfirmed"},
		{back.String(), "staff.sso.signed_out.provider"},
		{env.URL() + "/cy" + oidctest.PostLogoutPath + "?at=portal", "staff.sso.signed_out.local"},
	} {
		if tt.want == "staff.sso.signed_out.provider" {
			b = oidctest.Browser(t) // the forged visit used up the state cookie: replay it on a fresh jar
			u, _ := url.Parse(env.URL())
			b.Jar.SetCookies(u, []*http.Cookie{{Name: "candour_sso_logout", Value: q.Get("state")}})
		}
		r, err := b.Get(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		page := body(t, r)
		if r.StatusCode != http.StatusOK || !strings.Contains(page, `data-outcome="`+tt.want+`"`) {
			t.Errorf("GET %s: got %d, want the page saying %s:\n%s", tt.url, r.StatusCode, tt.want, page)
		}
	}
}

// ssoCodeAt is ssoCode for council c of a deployment.
func ssoCodeAt(t *testing.T, env *portaltest.Env, c *portal.Council, email string) string {
	t.Helper()
	var sealed []byte
	if err := portaltest.InCouncil(t, env.Portal, c, func(tx *sqlx.Tx) error {
		return tx.Get(&sealed, `SELECT sealed_link FROM notifications WHERE kind = 'sso_code' AND recipient = lower($1)
			ORDER BY id DESC LIMIT 1`, email)
	}); err != nil {
		t.Fatalf("no sign-in code for %s at %s: %v", email, c.Slug, err)
	}
	code, err := c.Auth.OpenSSOCode(email, sealed)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

func countAt(t *testing.T, env *portaltest.Env, c *portal.Council, query string, args ...any) int {
	t.Helper()
	var n int
	if err := portaltest.InCouncil(t, env.Portal, c, func(tx *sqlx.Tx) error { return tx.Get(&n, query, args...) }); err != nil {
		t.Fatal(err)
	}
	return n
}

// One deployment, two councils: north names the provider in its sso.yaml, south does not.
// The same person has an account at both. Signing in through the provider binds them at
// north only; south offers no provider, its callback signs nobody in with north's flow, and
// its rows hold no binding.
func TestSSOCouncilsAreSeparate(t *testing.T) {
	prov := oidctest.Start(t)
	root := policytest.Deployment(t, "north", "south")
	writeSSO(t, filepath.Join(root, "north"), prov.Issuer, oidctest.ClientID)
	env := portaltest.Start(t, portaltest.Setting("CANDOUR_POLICY_DIR", root))
	north, south := env.CouncilBySlug("north"), env.CouncilBySlug("south")
	email := "sso.both@example.gov.uk"
	atNorth := portaltest.AccountAt(t, env.Portal, north, accounts.NewUser{Email: email, Roles: []string{"investigator"}})
	atSouth := portaltest.AccountAt(t, env.Portal, south, accounts.NewUser{Email: email, Roles: []string{"investigator"}})
	sub := prov.AddUser(email)
	_, port, _ := net.SplitHostPort(env.Portal.Addr())
	northURL, southURL := "http://north.example:"+port, "http://south.example:"+port

	b := oidctest.BrowserAt(t, env.Portal.Addr())
	r := prov.SignIn(t, b, northURL+"/staff/sso", email)
	body(t, r)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/staff/sso/code" {
		t.Fatalf("first sign-in at north: got %d to %q, want 303 to the code page", r.StatusCode, r.Header.Get("Location"))
	}
	r, err := b.Get(northURL + "/staff/sso/code")
	if err != nil {
		t.Fatal(err)
	}
	csrf := portaltest.CSRF(t, body(t, r))
	r, err = b.PostForm(northURL+"/staff/sso/code", url.Values{"csrf": {csrf}, "code": {ssoCodeAt(t, env, north, email)}})
	if err != nil {
		t.Fatal(err)
	}
	body(t, r)
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("code at north: got %d, want 303", r.StatusCode)
	}
	if n := countAt(t, env, north, `SELECT count(*) FROM sso_subjects WHERE subject = $1 AND user_id = $2`, sub, atNorth.User.ID); n != 1 {
		t.Fatalf("north: got %d bindings, want 1", n)
	}
	if n := countAt(t, env, south, `SELECT count(*) FROM sso_subjects`) + countAt(t, env, south, `SELECT count(*) FROM sso_codes`) +
		countAt(t, env, south, `SELECT count(*) FROM sessions WHERE user_id = $1`, atSouth.User.ID); n != 0 {
		t.Fatalf("south: got %d bindings, pending sign-ins or sessions, want none", n)
	}

	// South has no provider: no button, no way in through it.
	r, err = b.Get(southURL + "/staff/login")
	if err != nil {
		t.Fatal(err)
	}
	if page := body(t, r); strings.Contains(page, "Test Provider") || !strings.Contains(page, `name="password"`) {
		t.Errorf("south's sign-in page: want the password form and no provider button:\n%s", page)
	}
	r, err = b.Get(southURL + "/staff/sso")
	if err != nil {
		t.Fatal(err)
	}
	body(t, r)
	if r.StatusCode != http.StatusNotFound {
		t.Errorf("south /staff/sso: got %d, want 404", r.StatusCode)
	}

	// North's flow, with the provider's code, taken to south's callback.
	stop := *b
	var callback *url.URL
	stop.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		if req.URL.Path == "/staff/sso/callback" {
			callback = req.URL
			return http.ErrUseLastResponse
		}
		return nil
	}
	r = prov.SignIn(t, &stop, northURL+"/staff/sso", email)
	body(t, r)
	if callback == nil {
		t.Fatalf("the provider did not send the browser back to north's callback")
	}
	north0, _ := url.Parse(northURL)
	req, _ := http.NewRequest("GET", southURL+"/staff/sso/callback?"+callback.RawQuery, nil)
	for _, c := range b.Jar.Cookies(north0) {
		req.AddCookie(c)
	}
	r, err = b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body(t, r)
	if r.StatusCode == http.StatusOK || strings.Contains(r.Header.Get("Set-Cookie"), "candour_staff=e") {
		t.Errorf("north's callback at south: got %d, want a refusal and no session", r.StatusCode)
	}
	if n := countAt(t, env, south, `SELECT count(*) FROM sessions WHERE user_id = $1`, atSouth.User.ID) +
		countAt(t, env, south, `SELECT count(*) FROM sso_subjects`); n != 0 {
		t.Errorf("south after north's callback: got %d sessions or bindings, want none", n)
	}
}

// Removing an account's SSO binding (its directory account was recreated) follows the rules
// of a credential reset: an administrator only proposes it for an account that reads cases,
// and the Monitoring Officer approves; a protected account's is the console's alone. Once
// removed, the sessions have ended and the next sign-in through the provider needs the
// e-mailed code again.
func TestSSOUnbind(t *testing.T) {
	ctx := context.Background()
	email := "sso.recreated@example.gov.uk"
	prov, env, staff, _ := ssoPerson(t, email, "investigator")
	ssoBound(t, env, prov, oidctest.Browser(t), email)
	bindings := func(userID int64) int {
		return count(t, env, `SELECT count(*) FROM sso_subjects WHERE user_id = $1`, userID)
	}

	admin := portaltest.NewStaff(t, env.Portal, "sso.admin@example.gov.uk", "admin")
	path := "/staff/admin/users/" + strconv.FormatInt(staff.User.ID, 10)
	if p := admin.Get(path); !strings.Contains(p.Body, `id="sso-unbind"`) {
		t.Fatalf("the account's admin page offers no removal of the sign-in link:\n%s", p.Body)
	}
	p := admin.Post(path+"/sso-unbind", url.Values{"csrf": {admin.CSRF(path)}})
	if p.Status != http.StatusSeeOther || !strings.HasSuffix(p.Header.Get("Location"), "?done=proposed") || bindings(staff.User.ID) != 1 {
		t.Fatalf("admin's removal for a case reader: got %d to %q, %d bindings; want only a proposal",
			p.Status, p.Header.Get("Location"), bindings(staff.User.ID))
	}
	request := count(t, env, `SELECT id FROM access_requests WHERE user_id = $1 AND kind = 'sso_unbind' AND status = 'pending'`, staff.User.ID)
	mo := portaltest.NewStaff(t, env.Portal, "sso.mo@example.gov.uk", "monitoring_officer")
	if err := env.Accounts.Decide(ctx, accounts.Staff(mo.User), int64(request), true); err != nil {
		t.Fatal(err)
	}
	if n := bindings(staff.User.ID); n != 0 {
		t.Fatalf("after approval: got %d bindings, want none", n)
	}
	if n := count(t, env, `SELECT count(*) FROM sessions WHERE user_id = $1 AND revoked_at IS NULL`, staff.User.ID); n != 0 {
		t.Errorf("after approval: got %d live sessions, want none", n)
	}
	if n := count(t, env, `SELECT count(*) FROM audit_events WHERE action = 'access.approve' AND details->>'kind' = 'sso_unbind'`); n != 1 {
		t.Errorf("got %d audited approvals of the removal, want 1", n)
	}

	// The next sign-in through the provider needs the code again.
	r := prov.SignIn(t, oidctest.Browser(t), env.URL()+"/staff/sso", email)
	body(t, r)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/staff/sso/code" {
		t.Fatalf("sign-in after the removal: got %d to %q, want 303 to the code page", r.StatusCode, r.Header.Get("Location"))
	}

	// A protected account: never through the portal, at once from the console.
	officer := "sso.deputy@example.gov.uk"
	deputy := portaltest.Account(t, env.Portal, accounts.NewUser{Email: officer, Roles: []string{"councillor"}})
	prov.AddUser(officer)
	ssoBound(t, env, prov, oidctest.Browser(t), officer)
	if _, err := env.Accounts.SetRoles(ctx, accounts.Console(), deputy.User.ID, []string{"deputy_monitoring_officer"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Accounts.UnbindSSO(ctx, accounts.Staff(admin.User), deputy.User.ID); !fault.Is(err, fault.Forbidden) || bindings(deputy.User.ID) != 1 {
		t.Fatalf("admin's removal for a deputy: got %v, %d bindings; want forbidden and the binding kept", err, bindings(deputy.User.ID))
	}
	if _, err := env.Accounts.UnbindSSO(ctx, accounts.Console(), deputy.User.ID); err != nil || bindings(deputy.User.ID) != 0 {
		t.Fatalf("console's removal: got %v, %d bindings; want it removed", err, bindings(deputy.User.ID))
	}
	if n := count(t, env, `SELECT count(*) FROM audit_events WHERE action = 'user.sso_unbind' AND object_id = $1
		AND actor = 'cli'`, strconv.FormatInt(deputy.User.ID, 10)); n != 1 {
		t.Errorf("got %d audited console removals, want 1", n)
	}
}
