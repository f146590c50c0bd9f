package portal_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"candour/internal/accounts"
	"candour/internal/intake"
	"candour/internal/portaltest"
	"candour/internal/store"
)

// twoPerson is a portal with a safeguarding concern in it, an administrator, the Monitoring
// Officer and the deputy.
type twoPerson struct {
	e              *portaltest.Env
	admin, mo, dep *portaltest.Staff
	concern        string // the safeguarding concern's public id
	phrase         string // in its text
}

func newTwoPerson(t *testing.T) *twoPerson {
	e := portaltest.Start(t)
	const phrase = "marmalade-orbit-5521"
	filed, err := e.Intake.Submit(context.Background(), intake.ReportSubmission{Mode: "anonymous", ServiceArea: "childrens-services",
		Category: "safeguarding", Safeguarding: true, Summary: "A child is at risk " + phrase, Details: "Details " + phrase, Lang: "en"})
	if err != nil {
		t.Fatal(err)
	}
	var id string
	if err := e.DB.Get(&id, `SELECT public_id FROM concerns WHERE reference = $1`, filed.Reference); err != nil {
		t.Fatal(err)
	}
	return &twoPerson{e: e, concern: id, phrase: phrase,
		admin: portaltest.NewStaff(t, e.Portal, "admin@example.gov.uk", "admin"),
		mo:    portaltest.NewStaff(t, e.Portal, "mo@example.gov.uk", "monitoring_officer"),
		dep:   portaltest.NewStaff(t, e.Portal, "deputy@example.gov.uk", "deputy_monitoring_officer")}
}

// noAccess checks that nobody can get into the account at email: it has no enrolment link and
// no password opens it.
func (tp *twoPerson) noAccess(t *testing.T, email string) {
	t.Helper()
	var links int
	if err := tp.e.DB.Get(&links, `SELECT count(*) FROM notifications WHERE kind = 'enrolment' AND recipient = lower($1)`, email); err != nil {
		t.Fatal(err)
	}
	if links != 0 {
		t.Errorf("%s: %d enrolment links sent before approval, want none", email, links)
	}
	r := portaltest.DoJSON(t, tp.e.URL(), "POST", "/api/v1/auth/login", map[string]string{"email": email,
		"password": "chosen by the admin 1234", "totp": "000000"})
	if r.Status != http.StatusUnauthorized {
		t.Errorf("%s: sign-in got %d, want 401", email, r.Status)
	}
}

// seesNoConcern checks that s cannot read the safeguarding concern.
func (tp *twoPerson) seesNoConcern(t *testing.T, s *portaltest.Staff) {
	t.Helper()
	if r := s.API("GET", "/api/v1/concerns/"+tp.concern, nil); r.Status != http.StatusNotFound {
		t.Errorf("%s reads the safeguarding concern: got %d, want 404", s.User.Email, r.Status)
	}
	if p := s.Get("/staff/concerns/" + tp.concern); strings.Contains(p.Body, tp.phrase) {
		t.Errorf("%s: the concern page shows its text", s.User.Email)
	}
}

func requestID(t *testing.T, r portaltest.Response) int64 {
	t.Helper()
	var out struct {
		RequestID int64 `json:"request_id"`
		Status    string
	}
	if err := json.Unmarshal(r.Body, &out); err != nil || out.RequestID == 0 {
		t.Fatalf("no request_id in %d %s", r.Status, r.Body)
	}
	return out.RequestID
}

func userPath(id int64, what string) string {
	return "/api/v1/users/" + strconv.FormatInt(id, 10) + what
}

// An administrator tries every way to read cases through the API and gets a refusal or a
// pending request, never access.
func TestAdminCannotReadCasesThroughTheAPI(t *testing.T) {
	tp := newTwoPerson(t)
	admin := tp.admin
	cllr := portaltest.NewStaff(t, tp.e.Portal, "cllr@example.gov.uk", "councillor")
	lead := portaltest.SignIn(t, tp.e.Portal, portaltest.Account(t, tp.e.Portal, accounts.NewUser{Email: "lead@example.gov.uk",
		Roles: []string{"service_lead"}, ServiceAreas: []string{"housing"}}))

	// A safeguarding account with a password of the admin's choosing: the field does not exist.
	r := admin.API("POST", "/api/v1/users", map[string]any{"email": "sg@example.gov.uk", "name": "S", "roles": []string{"safeguarding"},
		"password": "chosen by the admin 1234"})
	if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), `"password"`) {
		t.Errorf("create with a password: got %d %s, want 400 naming password", r.Status, r.Body)
	}
	for _, c := range []struct{ name, email, role string }{
		{"a safeguarding account", "sg@example.gov.uk", "safeguarding"},
		{"a service lead", "lead2@example.gov.uk", "service_lead"},
		// The hub's address in the directory: the safeguarding concern routes to it by e-mail.
		{"a route holder's directory address, as a councillor", "safeguarding@enghraifft.example", "councillor"},
	} {
		r := admin.API("POST", "/api/v1/users", map[string]any{"email": c.email, "name": "X", "roles": []string{c.role}})
		if r.Status != http.StatusCreated || !strings.Contains(string(r.Body), `"pending"`) {
			t.Errorf("create %s: got %d %s, want 201 pending", c.name, r.Status, r.Body)
		}
		requestID(t, r)
		tp.noAccess(t, c.email)
		if body := string(r.Body); strings.Contains(body, "secret") || strings.Contains(body, "password") {
			t.Errorf("create %s: the answer carries a credential: %s", c.name, body)
		}
	}
	// An account that reads no case gets its link at once, and nothing secret comes back.
	r = admin.API("POST", "/api/v1/users", map[string]any{"email": "cllr2@example.gov.uk", "name": "X", "roles": []string{"councillor"}})
	if r.Status != http.StatusCreated || !strings.Contains(string(r.Body), `"active"`) || strings.Contains(string(r.Body), "secret") {
		t.Errorf("create a councillor: got %d %s, want 201 active with no secret", r.Status, r.Body)
	}

	// Roles and areas widened, resets: each only proposed, the person unchanged.
	r = admin.API("POST", userPath(cllr.User.ID, "/roles"), map[string]any{"roles": []string{"councillor", "safeguarding"}})
	if r.Status != http.StatusAccepted {
		t.Errorf("add safeguarding: got %d %s, want 202", r.Status, r.Body)
	}
	tp.seesNoConcern(t, cllr)
	r = admin.API("POST", userPath(lead.User.ID, "/roles"), map[string]any{"roles": []string{"service_lead"},
		"service_areas": []string{"housing", "childrens-services"}})
	if r.Status != http.StatusAccepted {
		t.Errorf("widen service areas: got %d %s, want 202", r.Status, r.Body)
	}
	widen := requestID(t, r)
	if r := admin.API("POST", userPath(lead.User.ID, "/reset-password"), nil); r.Status != http.StatusConflict {
		t.Errorf("reset while a request is open: got %d %s, want 409", r.Status, r.Body)
	}
	if r := tp.mo.API("POST", "/api/v1/access-requests/"+strconv.FormatInt(widen, 10)+"/decision", map[string]bool{"approve": false}); r.Status != http.StatusNoContent {
		t.Fatalf("refuse the widening: got %d %s, want 204", r.Status, r.Body)
	}
	u, err := store.New(tp.e.DB).UserByID(context.Background(), lead.User.ID)
	if err != nil || strings.Join(u.ServiceAreas, ",") != "housing" {
		t.Errorf("after a refusal: areas %v (%v), want [housing]", u.ServiceAreas, err)
	}
	for _, what := range []string{"/reset-password", "/reset-2fa"} {
		r := admin.API("POST", userPath(lead.User.ID, what), nil)
		if r.Status != http.StatusAccepted {
			t.Errorf("%s of a service lead: got %d %s, want 202", what, r.Status, r.Body)
		}
		id := requestID(t, r)
		// The lead's own credentials still work; nobody got new ones.
		if r := lead.API("GET", "/api/v1/triage", nil); r.Status != http.StatusOK {
			t.Errorf("%s: the lead's session ended before approval (%d)", what, r.Status)
		}
		if r := tp.dep.API("POST", "/api/v1/access-requests/"+strconv.FormatInt(id, 10)+"/decision", map[string]bool{"approve": false}); r.Status != http.StatusNoContent {
			t.Fatalf("refuse %s: got %d %s", what, r.Status, r.Body)
		}
	}

	// Themselves: refused outright.
	r = admin.API("POST", userPath(admin.User.ID, "/roles"), map[string]any{"roles": []string{"admin", "safeguarding"}})
	if r.Status != http.StatusForbidden {
		t.Errorf("give themselves safeguarding: got %d %s, want 403", r.Status, r.Body)
	}
	// Admin with a case-reading role in one person: refused naming the field.
	r = admin.API("POST", "/api/v1/users", map[string]any{"email": "both@example.gov.uk", "name": "X", "roles": []string{"admin", "investigator"}})
	if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), `"roles"`) {
		t.Errorf("admin with investigator: got %d %s, want 400 naming roles", r.Status, r.Body)
	}
	r = admin.API("POST", userPath(cllr.User.ID, "/roles"), map[string]any{"roles": []string{"admin", "safeguarding"}})
	if r.Status != http.StatusBadRequest && r.Status != http.StatusForbidden {
		t.Errorf("make someone admin and safeguarding: got %d %s, want a refusal", r.Status, r.Body)
	}

	// Only the Monitoring Officer and deputy see the requests; the admin does not decide them.
	if r := admin.API("GET", "/api/v1/access-requests", nil); r.Status != http.StatusNotFound {
		t.Errorf("admin lists access requests: got %d, want 404", r.Status)
	}
	list := tp.mo.API("GET", "/api/v1/access-requests", nil)
	if list.Status != http.StatusOK || !strings.Contains(string(list.Body), "sg@example.gov.uk") {
		t.Fatalf("MO lists access requests: got %d %s", list.Status, list.Body)
	}
	var open struct {
		Items []struct {
			ID    int64
			Email string
		}
	}
	if err := json.Unmarshal(list.Body, &open); err != nil {
		t.Fatal(err)
	}
	var sg int64
	for _, it := range open.Items {
		if it.Email == "sg@example.gov.uk" {
			sg = it.ID
		}
	}
	decide := "/api/v1/access-requests/" + strconv.FormatInt(sg, 10) + "/decision"
	if r := admin.API("POST", decide, map[string]bool{"approve": true}); r.Status != http.StatusNotFound {
		t.Errorf("admin approves: got %d, want 404", r.Status)
	}
	tp.noAccess(t, "sg@example.gov.uk")

	// Approved by the Monitoring Officer, the link goes to the person's own address, and only
	// they (the holder of that mailbox) get in and read the concern.
	if r := tp.mo.API("POST", decide, map[string]bool{"approve": true}); r.Status != http.StatusNoContent {
		t.Fatalf("MO approves: got %d %s", r.Status, r.Body)
	}
	secret := portaltest.Enrol(t, tp.e.Portal, "sg@example.gov.uk", portaltest.Password)
	sg1, err := tp.e.Accounts.UserByEmail(context.Background(), "sg@example.gov.uk")
	if err != nil {
		t.Fatal(err)
	}
	staff := portaltest.SignIn(t, tp.e.Portal, &accounts.Created{User: sg1, TOTPSecret: secret})
	if r := staff.API("GET", "/api/v1/concerns/"+tp.concern, nil); r.Status != http.StatusOK {
		t.Errorf("approved safeguarding account reads the concern: got %d, want 200", r.Status)
	}
	// The link was used once.
	if r := portaltest.DoJSON(t, tp.e.URL(), "POST", "/api/v1/enrolment", map[string]string{"token": "x", "password": "p",
		"totp_secret": "s", "totp": "0"}); r.Status != http.StatusNotFound {
		t.Errorf("enrol with a bad token: got %d, want 404", r.Status)
	}
}

// A Monitoring Officer who also administers accounts (data from before the rule) cannot approve
// their own proposal, and nobody approves a request about themselves.
func TestMonitoringOfficerCannotApproveTheirOwnProposal(t *testing.T) {
	tp := newTwoPerson(t)
	both := portaltest.NewStaff(t, tp.e.Portal, "both@example.gov.uk", "monitoring_officer")
	// Written as data from before the separation rule: no path of the portal makes it.
	if _, err := tp.e.DB.Exec(`UPDATE users SET roles = '{monitoring_officer,admin}' WHERE id = $1`, both.User.ID); err != nil {
		t.Fatal(err)
	}
	r := both.API("POST", "/api/v1/users", map[string]any{"email": "inv@example.gov.uk", "name": "X", "roles": []string{"investigator"}})
	if r.Status != http.StatusCreated {
		t.Fatalf("propose: got %d %s", r.Status, r.Body)
	}
	decide := "/api/v1/access-requests/" + strconv.FormatInt(requestID(t, r), 10) + "/decision"
	if r := both.API("POST", decide, map[string]bool{"approve": true}); r.Status != http.StatusForbidden || !strings.Contains(string(r.Body), "own_request") {
		t.Errorf("approve their own proposal: got %d %s, want 403 own_request", r.Status, r.Body)
	}
	tp.noAccess(t, "inv@example.gov.uk")
	if _, err := tp.e.DB.Exec(`INSERT INTO access_requests (user_id, kind, proposed_by, status, decided_by) VALUES ($1, 'roles', $2, 'approved', $1)`,
		tp.mo.User.ID, tp.admin.User.ID); err == nil {
		t.Error("the database took a request decided by its own subject")
	}
	if r := tp.dep.API("POST", decide, map[string]bool{"approve": true}); r.Status != http.StatusNoContent {
		t.Errorf("the deputy approves: got %d %s, want 204", r.Status, r.Body)
	}
}

// The same attempts through the pages: proposals, never access; the Monitoring Officer decides
// on the access requests page, in English and Welsh.
func TestAdminCannotReadCasesThroughThePages(t *testing.T) {
	tp := newTwoPerson(t)
	admin := tp.admin
	cllr := portaltest.NewStaff(t, tp.e.Portal, "cllr@example.gov.uk", "councillor")
	csrf := admin.CSRF("/staff/admin/users")

	p := admin.Post("/staff/admin/users", url.Values{"csrf": {csrf}, "email": {"sg@example.gov.uk"}, "name": {"S"},
		"roles": {"safeguarding"}, "language": {"en"}, "password": {"chosen by the admin 1234"}})
	if p.Status != http.StatusOK || !strings.Contains(p.Body, "Account proposed") || strings.Contains(p.Body, "totp-secret") {
		t.Errorf("add a safeguarding account: got %d, want 200 proposed with no secret", p.Status)
	}
	tp.noAccess(t, "sg@example.gov.uk")
	path := "/staff/admin/users/" + strconv.FormatInt(cllr.User.ID, 10)
	p = admin.Post(path+"/roles", url.Values{"csrf": {csrf}, "roles": {"councillor", "safeguarding"}})
	if p.Status != http.StatusSeeOther || !strings.HasSuffix(p.Header.Get("Location"), "?done=proposed") {
		t.Errorf("add safeguarding: got %d to %q, want 303 proposed", p.Status, p.Header.Get("Location"))
	}
	tp.seesNoConcern(t, cllr)
	p = admin.Post(path+"/roles", url.Values{"csrf": {csrf}, "roles": {"admin", "safeguarding"}})
	if p.Status != http.StatusBadRequest || !strings.Contains(p.Body, `href="#roles"`) {
		t.Errorf("admin with safeguarding: got %d, want 400 linking to roles", p.Status)
	}
	if p := admin.Get("/staff/access-requests"); p.Status != http.StatusNotFound {
		t.Errorf("admin opens the access requests: got %d, want 404", p.Status)
	}

	page := tp.mo.Get("/staff/access-requests")
	if page.Status != http.StatusOK || !strings.Contains(page.Body, "sg@example.gov.uk") || !strings.Contains(page.Body, "cllr@example.gov.uk") {
		t.Fatalf("access requests page: got %d, want both requests", page.Status)
	}
	if cy := tp.mo.Get("/cy/staff/access-requests"); !strings.Contains(cy.Body, "Ceisiadau am fynediad") {
		t.Error("access requests page in Welsh: missing its title")
	}
	rs, err := tp.e.Accounts.Requests(context.Background(), accounts.Staff(tp.mo.User))
	if err != nil || len(rs) != 2 {
		t.Fatalf("requests: %v %v", rs, err)
	}
	moCSRF := portaltest.CSRF(t, page.Body)
	for _, r := range rs {
		decision := "refuse"
		if r.Email == "sg@example.gov.uk" {
			decision = "approve"
		}
		p := tp.mo.Post("/staff/access-requests/"+strconv.FormatInt(r.ID, 10)+"/decision",
			url.Values{"csrf": {moCSRF}, "decision": {decision}})
		if p.Status != http.StatusSeeOther {
			t.Errorf("%s %s: got %d, want 303", decision, r.Email, p.Status)
		}
	}
	tp.seesNoConcern(t, cllr)

	// The enrolment page, from the link in the outbox: the person sets both, in Welsh too.
	link := portaltest.EnrolmentLink(t, tp.e.Portal, "sg@example.gov.uk")
	tok := link[strings.Index(link, "token=")+len("token="):]
	form := tp.mo.Get("/cy/staff/enrol?token=" + tok)
	if form.Status != http.StatusOK || !strings.Contains(form.Body, "Sefydlu eich cyfrif") || !strings.Contains(form.Body, `id="totp-secret"`) {
		t.Fatalf("enrolment page: got %d", form.Status)
	}
	if bad := tp.mo.Get("/staff/enrol?token=nothing"); bad.Status != http.StatusNotFound || !strings.Contains(bad.Body, `id="enrol-invalid"`) {
		t.Errorf("enrolment page with a bad token: got %d", bad.Status)
	}
}
