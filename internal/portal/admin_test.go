package portal_test

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"candour/internal/accounts"
	"candour/internal/auth"
	"candour/internal/intake"
	"candour/internal/portaltest"
	"candour/internal/store"
)

const adminTestPassword = "a long enough passphrase"

// adminNoRedirect sees 303s instead of following them.
var adminNoRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

type adminPage struct {
	status int
	header http.Header
	body   string
}

// adminSession is a signed-in staff member: their token works as the API bearer and as the
// web session cookie.
type adminSession struct {
	t     *testing.T
	e     *portaltest.Env
	user  *store.User
	token string
}

// adminSignIn creates an account with roles and signs it in through the API (once: a TOTP code
// cannot be used twice).
func adminSignIn(t *testing.T, e *portaltest.Env, email string, roles ...string) *adminSession {
	t.Helper()
	c, err := e.Accounts.Create(context.Background(), accounts.Console(), accounts.NewUser{Email: email, Name: "Name of " + email,
		Roles: roles, Password: adminTestPassword})
	if err != nil {
		t.Fatal(err)
	}
	code, _ := auth.CodeAt(c.TOTPSecret, time.Now())
	b, _ := json.Marshal(map[string]string{"email": email, "password": adminTestPassword, "totp": code})
	r := e.Do(t, "POST", "/api/v1/auth/login", "application/json", bytes.NewReader(b))
	if r.Status != http.StatusOK {
		t.Fatalf("login %s: got %d %s, want 200", email, r.Status, r.Body)
	}
	var out struct{ Token string }
	if err := json.Unmarshal(r.Body, &out); err != nil || out.Token == "" {
		t.Fatalf("login %s: no token in %s", email, r.Body)
	}
	return &adminSession{t: t, e: e, user: c.User, token: out.Token}
}

// web sends a page request with the session cookie; form, when not nil, is posted.
func (s *adminSession) web(method, path string, form url.Values) adminPage {
	s.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, s.e.URL()+path, body)
	if err != nil {
		s.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.AddCookie(&http.Cookie{Name: "candour_staff", Value: s.token})
	resp, err := adminNoRedirect.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return adminPage{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// api calls the JSON API with the session's bearer token and returns the status.
func (s *adminSession) api(method, path string) int {
	s.t.Helper()
	return s.e.Do(s.t, method, path, "", nil, "Authorization: Bearer "+s.token).Status
}

var adminCSRFField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf reads the session's CSRF token from a page that has a form.
func (s *adminSession) csrf(path string) string {
	s.t.Helper()
	p := s.web("GET", path, nil)
	m := adminCSRFField.FindStringSubmatch(p.body)
	if p.status != http.StatusOK || m == nil {
		s.t.Fatalf("GET %s: got %d and no CSRF token, want a page with a form", path, p.status)
	}
	return html.UnescapeString(m[1])
}

func TestAdminManagesAccountsWithoutSeeingCases(t *testing.T) {
	e := portaltest.Start(t)
	ctx := context.Background()
	st := store.New(e.DB)

	// A concern exists; nothing on the admin pages may show it.
	const phrase = "tangerine-abacus-quarry-8812"
	filed, err := e.Intake.Submit(ctx, intake.ReportSubmission{Mode: "anonymous", ServiceArea: "finance", Category: "fraud",
		Summary: "Invoices split to dodge approval " + phrase, Details: "The details mention " + phrase + " again.", Lang: "en"})
	if err != nil {
		t.Fatal(err)
	}
	noCase := func(where string, p adminPage) {
		t.Helper()
		for _, secret := range []string{phrase, filed.Reference, filed.Receipt} {
			if strings.Contains(p.body, secret) {
				t.Errorf("%s shows %q from a concern; admins never see case content", where, secret)
			}
		}
	}

	admin := adminSignIn(t, e, "admin@example.gov.uk", "admin")
	worker := adminSignIn(t, e, "investigator@example.gov.uk", "investigator")
	mo := adminSignIn(t, e, "mo@example.gov.uk", "monitoring_officer")
	workerPath := "/staff/admin/users/" + strconv.FormatInt(worker.user.ID, 10)

	// The list: every account, with roles and status, in English and Welsh.
	list := admin.web("GET", "/staff/admin/users", nil)
	if list.status != http.StatusOK {
		t.Fatalf("GET /staff/admin/users: got %d, want 200", list.status)
	}
	for _, want := range []string{"admin@example.gov.uk", "investigator@example.gov.uk", "mo@example.gov.uk",
		"Monitoring Officer", "Investigator", `href="` + workerPath + `"`, `id="add-user"`} {
		if !strings.Contains(list.body, want) {
			t.Errorf("user list: missing %q", want)
		}
	}
	noCase("user list", list)
	if cy := admin.web("GET", "/cy/staff/admin/users", nil); cy.status != http.StatusOK || !strings.Contains(cy.body, "Cyfrifon defnyddwyr") {
		t.Errorf("GET /cy/staff/admin/users: got %d, want 200 in Welsh", cy.status)
	}
	if home := admin.web("GET", "/staff", nil); !strings.Contains(home.body, `href="/staff/admin/users"`) {
		t.Error("staff home: no link to the accounts page for an admin")
	}
	csrf := admin.csrf("/staff/admin/users")

	// A form without the session's CSRF token is refused.
	if p := admin.web("POST", workerPath+"/disable", url.Values{"csrf": {"forged"}}); p.status != http.StatusForbidden {
		t.Errorf("disable without CSRF: got %d, want 403", p.status)
	}

	// Change roles: 303 back to the account, the roles are stored, and the person's live
	// session ends at once.
	if got := worker.api("GET", "/api/v1/investigations"); got != http.StatusOK {
		t.Fatalf("worker before the change: got %d, want 200", got)
	}
	p := admin.web("POST", workerPath+"/roles", url.Values{"csrf": {csrf}, "roles": {"investigator", "councillor"},
		"service_areas": {"finance"}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != workerPath+"?done=roles" {
		t.Fatalf("change roles: got %d to %q, want 303 to %s?done=roles", p.status, p.header.Get("Location"), workerPath)
	}
	u, err := st.UserByID(ctx, worker.user.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(u.Roles, ","); got != "investigator,councillor" || strings.Join(u.ServiceAreas, ",") != "finance" {
		t.Errorf("roles after the change: got %s %v, want investigator,councillor [finance]", got, u.ServiceAreas)
	}
	if got := worker.api("GET", "/api/v1/investigations"); got != http.StatusUnauthorized {
		t.Errorf("worker after the role change: got %d, want 401", got)
	}
	done := admin.web("GET", workerPath+"?done=roles", nil)
	if done.status != http.StatusOK || !strings.Contains(done.body, "Auditor") || !strings.Contains(done.body, `id="done"`) {
		t.Errorf("account page after the change: got %d, want 200 with the new role and a confirmation", done.status)
	}
	noCase("account page", done)

	// A role change with no role, or an unknown role: the error summary, in the page's language.
	p = admin.web("POST", "/cy"+workerPath+"/roles", url.Values{"csrf": {csrf}})
	if p.status != http.StatusBadRequest || !strings.Contains(p.body, "govuk-error-summary") ||
		!strings.Contains(p.body, "Dewiswch o leiaf un rôl") || !strings.Contains(p.body, `href="#roles"`) {
		t.Errorf("no roles (Welsh): got %d, want 400 with the Welsh error summary linking to #roles", p.status)
	}
	p = admin.web("POST", workerPath+"/roles", url.Values{"csrf": {csrf}, "roles": {"emperor"}})
	if p.status != http.StatusBadRequest || !strings.Contains(p.body, "That role does not exist") {
		t.Errorf("unknown role: got %d, want 400 naming the problem", p.status)
	}

	// Reset the second factor: TOTP gone, so they enrol again at next sign-in.
	p = admin.web("POST", workerPath+"/reset-2fa", url.Values{"csrf": {csrf}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != workerPath+"?done=reset" {
		t.Fatalf("reset 2FA: got %d to %q, want 303", p.status, p.header.Get("Location"))
	}
	cred, err := st.CredentialsFor(ctx, worker.user.ID)
	if err != nil {
		t.Fatal(err)
	}
	if cred.TOTPEnabled || cred.TOTPSecret != nil {
		t.Errorf("after reset: TOTP enabled %v, secret set %v; want neither", cred.TOTPEnabled, cred.TOTPSecret != nil)
	}

	// Disable.
	p = admin.web("POST", workerPath+"/disable", url.Values{"csrf": {csrf}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != workerPath+"?done=disabled" {
		t.Fatalf("disable: got %d to %q, want 303", p.status, p.header.Get("Location"))
	}
	if u, err := st.UserByID(ctx, worker.user.ID); err != nil || u.Status != "disabled" {
		t.Errorf("after disable: got status %q (%v), want disabled", u.Status, err)
	}

	// An admin cannot lock themselves out here.
	self := "/staff/admin/users/" + strconv.FormatInt(admin.user.ID, 10)
	if p := admin.web("POST", self+"/disable", url.Values{"csrf": {csrf}}); p.status != http.StatusBadRequest {
		t.Errorf("disable own account: got %d, want 400", p.status)
	}
	if p := admin.web("GET", "/staff/admin/users/999999", nil); p.status != http.StatusNotFound {
		t.Errorf("unknown account: got %d, want 404", p.status)
	}

	// Add a user: the TOTP secret is shown once, the password must be changed at first sign-in.
	id, _ := age.GenerateX25519Identity()
	// A custodian (their key joins every new sealed identity) is never made through the portal.
	custodian := url.Values{"csrf": {csrf}, "email": {"New.Custodian@example.gov.uk"}, "name": {"Nia Newydd"},
		"roles": {"custodian"}, "language": {"cy"}, "age_recipient": {id.Recipient().String()},
		"password": {"another long enough passphrase"}}
	if p := admin.web("POST", "/staff/admin/users", custodian); p.status != http.StatusForbidden {
		t.Errorf("add a custodian through the portal: got %d, want 403", p.status)
	}
	form := url.Values{"csrf": {csrf}, "email": {"New.Investigator@example.gov.uk"}, "name": {"Nia Newydd"},
		"roles": {"investigator"}, "language": {"cy"}, "password": {"another long enough passphrase"}}
	p = admin.web("POST", "/staff/admin/users", form)
	if p.status != http.StatusOK || !strings.Contains(p.body, `id="totp-secret"`) {
		t.Fatalf("add user: got %d, want 200 with the TOTP secret", p.status)
	}
	noCase("add user", p)
	var created *store.User
	us, err := st.Users(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range us {
		if us[i].Email == "new.investigator@example.gov.uk" {
			created = &us[i]
		}
	}
	if created == nil || created.Language != "cy" || created.AgeRecipient != nil || strings.Join(created.Roles, ",") != "investigator" {
		t.Fatalf("added user: got %+v, want a Welsh-speaking investigator", created)
	}
	if cred, err := st.CredentialsFor(ctx, created.ID); err != nil || !cred.MustChangePassword {
		t.Errorf("added user: must change password %v (%v), want true", cred.MustChangePassword, err)
	}
	if again := admin.web("GET", "/staff/admin/users", nil); strings.Contains(again.body, `id="totp-secret"`) {
		t.Error("the TOTP secret is shown again; want it only once")
	}

	// Bad input: each field's problem in the error summary; nothing is created.
	bad := url.Values{"csrf": {csrf}, "email": {"not-an-email"}, "name": {""}, "roles": {"custodian"},
		"language": {"en"}, "password": {"short"}}
	p = admin.web("POST", "/staff/admin/users", bad)
	if p.status != http.StatusBadRequest {
		t.Fatalf("bad new user: got %d, want 400", p.status)
	}
	for _, want := range []string{`href="#email"`, `href="#name"`, `href="#age_recipient"`, `href="#password"`,
		"Enter the custodian&#39;s age public key", "The password is too short"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("bad new user: missing %q", want)
		}
	}
	dup := url.Values{"csrf": {csrf}, "email": {"MO@example.gov.uk"}, "name": {"Dup"}, "roles": {"councillor"},
		"language": {"en"}, "password": {"another long enough passphrase"}}
	if p := admin.web("POST", "/staff/admin/users", dup); p.status != http.StatusBadRequest ||
		!strings.Contains(p.body, "There is already an account with this email address") {
		t.Errorf("duplicate email: got %d, want 400 saying so", p.status)
	}

	// Anyone else: the pages do not exist.
	moCSRF := mo.csrf("/staff")
	for _, r := range []struct {
		method, path string
		form         url.Values
	}{
		{"GET", "/staff/admin/users", nil},
		{"GET", "/cy/staff/admin/users", nil},
		{"GET", workerPath, nil},
		{"POST", "/staff/admin/users", url.Values{"csrf": {moCSRF}, "email": {"x@example.gov.uk"}}},
		{"POST", workerPath + "/roles", url.Values{"csrf": {moCSRF}, "roles": {"admin"}}},
		{"POST", workerPath + "/reset-2fa", url.Values{"csrf": {moCSRF}}},
		{"POST", workerPath + "/disable", url.Values{"csrf": {moCSRF}}},
	} {
		if p := mo.web(r.method, r.path, r.form); p.status != http.StatusNotFound {
			t.Errorf("monitoring officer %s %s: got %d, want 404", r.method, r.path, p.status)
		}
	}
	if home := mo.web("GET", "/staff", nil); strings.Contains(home.body, "/staff/admin/users") {
		t.Error("staff home links a monitoring officer to the accounts page")
	}
}
