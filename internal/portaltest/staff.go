package portaltest

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"html"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"candour/internal/accounts"
	"candour/internal/auth"
	"candour/internal/portal"
	"candour/internal/routing"

	"github.com/jmoiron/sqlx"
)

// Password is the password of every staff account the tests create.
const Password = "a long enough passphrase"

// Account creates a staff account the way `candour user add` does without a password (the
// console, so it is active at once: the bootstrap path), then enrols it as the person would:
// the enrolment link is read from the outbox row the portal's mailer would send, and the
// password (n.Password; empty: Password) and a new TOTP secret are set through POST
// /api/v1/enrolment. An empty name is made from the e-mail address. The secret is returned
// in TOTPSecret, as the harness's person holds it; enrolment used the code of the previous
// time step, so the current one is still free for one sign-in.
func Account(t testing.TB, p *portal.Portal, n accounts.NewUser) *accounts.Created {
	t.Helper()
	return AccountAt(t, p, p.Council, n)
}

// AccountAt is Account in council c of the deployment.
func AccountAt(t testing.TB, p *portal.Portal, c *portal.Council, n accounts.NewUser) *accounts.Created {
	t.Helper()
	if n.Name == "" {
		n.Name = "Name of " + n.Email
	}
	password := n.Password
	if password == "" {
		password = Password
	}
	n.Password = ""
	created, err := c.Accounts.Create(context.Background(), accounts.Console(), n)
	if err != nil {
		t.Fatalf("create account %s: %v", n.Email, err)
	}
	created.TOTPSecret = enrol(t, p, c, created.User.Email, password)
	return created
}

// EnrolmentLink opens the newest enrolment link in the outbox for email, as the mailer does.
func EnrolmentLink(t testing.TB, p *portal.Portal, email string) string {
	t.Helper()
	return enrolmentLink(t, p, p.Council, email)
}

func enrolmentLink(t testing.TB, p *portal.Portal, c *portal.Council, email string) string {
	t.Helper()
	ctx := context.Background()
	for attempt := 1; ; attempt++ {
		var sealed []byte
		err := InCouncil(t, p, c, func(tx *sqlx.Tx) error {
			return tx.GetContext(ctx, &sealed, `SELECT sealed_link FROM notifications
				WHERE kind = 'enrolment' AND recipient = lower($1) AND sealed_link IS NOT NULL ORDER BY id DESC LIMIT 1`, email)
		})
		if err == nil {
			link, err := c.Auth.OpenLink(email, sealed)
			if err != nil {
				t.Fatalf("open the enrolment link for %s: %v", email, err)
			}
			return link
		}
		if !errors.Is(err, sql.ErrNoRows) || attempt == 3 {
			t.Fatalf("enrolment link for %s: %v", email, err)
		}
		// The notifier sent it (and, once sent, forgets it) between its making and now: ask the
		// console for a new one, as someone whose mail went astray would.
		u, err := c.Accounts.UserByEmail(ctx, email)
		if err != nil {
			t.Fatalf("enrolment link for %s: %v", email, err)
		}
		if _, err := c.Accounts.ResetPassword(ctx, accounts.Console(), u.ID); err != nil {
			t.Fatalf("a new enrolment link for %s: %v", email, err)
		}
	}
}

// Enrol uses the newest enrolment link of email through the API with password and a new
// TOTP secret, which it returns.
func Enrol(t testing.TB, p *portal.Portal, email, password string) string {
	t.Helper()
	return enrol(t, p, p.Council, email, password)
}

func enrol(t testing.TB, p *portal.Portal, c *portal.Council, email, password string) string {
	t.Helper()
	tok, err := auth.EnrolmentToken(enrolmentLink(t, p, c, email))
	if err != nil {
		t.Fatal(err)
	}
	key, err := auth.NewTOTP(email)
	if err != nil {
		t.Fatal(err)
	}
	// The previous step's code is accepted only while the current step lasts: too near its
	// end, a slow request would reach the server two steps on. Wait for the next step then.
	now := time.Now()
	if left := 30*time.Second - now.Sub(now.Truncate(30*time.Second)); left < 3*time.Second {
		time.Sleep(left)
		now = time.Now()
	}
	code, err := auth.CodeAt(key.Secret(), now.Add(-30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	r := DoJSON(t, p.URL(), "POST", "/api/v1/enrolment", map[string]string{"token": tok, "password": password,
		"totp_secret": key.Secret(), "totp": code}, HostHeader(c))
	if r.Status != http.StatusOK {
		t.Fatalf("enrol %s: got %d %s, want 200", email, r.Status, r.Body)
	}
	return key.Secret()
}

// Staff is a signed-in staff member without a browser. Their session token is both the API
// bearer and the web session cookie; the session's CSRF token is on every page with a form.
type Staff struct {
	*accounts.Created
	Token string
	t     testing.TB
	base  string
	host  string // the council's host name, sent as Host; empty: the listening address
}

// NewStaff creates an account with roles and signs it in.
func NewStaff(t testing.TB, p *portal.Portal, email string, roles ...string) *Staff {
	t.Helper()
	return NewStaffAt(t, p, p.Council, email, roles...)
}

// NewStaffAt is NewStaff in council c of the deployment.
func NewStaffAt(t testing.TB, p *portal.Portal, c *portal.Council, email string, roles ...string) *Staff {
	t.Helper()
	return SignInAt(t, p, c, AccountAt(t, p, c, accounts.NewUser{Email: email, Roles: roles}))
}

// SignIn signs an account with Password in through the API with the current TOTP code, which
// cannot be used again: sign each account in once.
func SignIn(t testing.TB, p *portal.Portal, c *accounts.Created) *Staff {
	t.Helper()
	return SignInAt(t, p, p.Council, c)
}

// SignInAt is SignIn at council c's host.
func SignInAt(t testing.TB, p *portal.Portal, council *portal.Council, c *accounts.Created) *Staff {
	t.Helper()
	code, err := auth.CodeAt(c.TOTPSecret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	s := &Staff{Created: c, t: t, base: p.URL(), host: councilHost(council)}
	r := s.API("POST", "/api/v1/auth/login", map[string]string{"email": c.User.Email, "password": Password, "totp": code})
	if r.Status != http.StatusOK {
		t.Fatalf("sign in %s: got %d %s, want 200", c.User.Email, r.Status, r.Body)
	}
	var out struct{ Token string }
	if err := json.Unmarshal(r.Body, &out); err != nil || out.Token == "" {
		t.Fatalf("sign in %s: no token in %s", c.User.Email, r.Body)
	}
	s.Token = out.Token
	return s
}

// API sends in as JSON (nil: no body) to the API with the session's bearer token (none before
// sign-in); the exchange is checked against the OpenAPI document.
func (s *Staff) API(method, path string, in any) Response {
	s.t.Helper()
	var headers []string
	if s.Token != "" {
		headers = append(headers, "Authorization: Bearer "+s.Token)
	}
	if s.host != "" {
		headers = append(headers, "Host: "+s.host)
	}
	return DoJSON(s.t, s.base, method, path, in, headers...)
}

// Page is a finished page request. Redirects are not followed, so a 303 and its Location are
// what the test sees.
type Page struct {
	Status int
	Header http.Header
	Body   string
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// Get asks for a page with the session cookie.
func (s *Staff) Get(path string) Page {
	s.t.Helper()
	return s.page("GET", path, nil)
}

// Post posts a form with the session cookie. The form carries its own "csrf" field (see
// CSRF), so a test can also send a wrong one or none.
func (s *Staff) Post(path string, form url.Values) Page {
	s.t.Helper()
	return s.page("POST", path, strings.NewReader(form.Encode()))
}

// Upload posts a file from a page's upload form (multipart: the CSRF part, then the file).
func (s *Staff) Upload(path, csrf, name string, content []byte) Page {
	s.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("csrf", csrf)
	fw, _ := mw.CreateFormFile("file", name)
	_, _ = fw.Write(content)
	_ = mw.Close()
	return s.send("POST", path, mw.FormDataContentType(), &buf)
}

func (s *Staff) page(method, path string, body io.Reader) Page {
	s.t.Helper()
	contentType := ""
	if body != nil {
		contentType = "application/x-www-form-urlencoded"
	}
	return s.send(method, path, contentType, body)
}

func (s *Staff) send(method, path, contentType string, body io.Reader) Page {
	s.t.Helper()
	req, err := http.NewRequest(method, s.base+path, body)
	if err != nil {
		s.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.AddCookie(&http.Cookie{Name: "candour_staff", Value: s.Token})
	if s.host != "" {
		req.Host = s.host
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return Page{Status: resp.StatusCode, Header: resp.Header, Body: string(b)}
}

// CSRF reads the session's CSRF token from the page at path, which must have a form.
func (s *Staff) CSRF(path string) string {
	s.t.Helper()
	p := s.Get(path)
	if p.Status != http.StatusOK {
		s.t.Fatalf("GET %s: got %d, want a page with a form", path, p.Status)
	}
	return CSRF(s.t, p.Body)
}

// HostHeader is the Host header that reaches council c ("" for a deployment of one council,
// which answers on its listening address).
func HostHeader(c *portal.Council) string {
	if h := councilHost(c); h != "" {
		return "Host: " + h
	}
	return ""
}

func councilHost(c *portal.Council) string {
	if c == nil || c.Slug == routing.DefaultSlug {
		return ""
	}
	return c.Policy().Council.Hosts[0]
}

// InCouncil runs fn in a transaction on the portal's pool set to council c, for a test's own
// SQL: row-level security shows it c's rows only, as it does the portal.
func InCouncil(t testing.TB, p *portal.Portal, c *portal.Council, fn func(tx *sqlx.Tx) error) error {
	t.Helper()
	tx, err := p.DB.Beginx()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`SELECT set_config('candour.council', $1, true)`, strconv.FormatInt(c.ID, 10)); err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// CSRF reads the CSRF token from a page's form.
func CSRF(t testing.TB, page string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF field in page:\n%s", page)
	}
	return html.UnescapeString(m[1])
}
