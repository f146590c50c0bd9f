package portal_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"filippo.io/age"

	"candour/internal/intake"
	"candour/internal/portaltest"
	"candour/internal/store"
)

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
	noCase := func(where string, p portaltest.Page) {
		t.Helper()
		for _, secret := range []string{phrase, filed.Reference, filed.Receipt} {
			if strings.Contains(p.Body, secret) {
				t.Errorf("%s shows %q from a concern; admins never see case content", where, secret)
			}
		}
	}

	admin := portaltest.NewStaff(t, e.Portal, "admin@example.gov.uk", "admin")
	worker := portaltest.NewStaff(t, e.Portal, "investigator@example.gov.uk", "investigator")
	mo := portaltest.NewStaff(t, e.Portal, "mo@example.gov.uk", "monitoring_officer")
	workerPath := "/staff/admin/users/" + strconv.FormatInt(worker.User.ID, 10)

	// The list: every account, with roles and status, in English and Welsh.
	list := admin.Get("/staff/admin/users")
	if list.Status != http.StatusOK {
		t.Fatalf("GET /staff/admin/users: got %d, want 200", list.Status)
	}
	for _, want := range []string{"admin@example.gov.uk", "investigator@example.gov.uk", "mo@example.gov.uk",
		"Monitoring Officer", "Investigator", `href="` + workerPath + `"`, `id="add-user"`} {
		if !strings.Contains(list.Body, want) {
			t.Errorf("user list: missing %q", want)
		}
	}
	noCase("user list", list)
	if cy := admin.Get("/cy/staff/admin/users"); cy.Status != http.StatusOK || !strings.Contains(cy.Body, "Cyfrifon defnyddwyr") {
		t.Errorf("GET /cy/staff/admin/users: got %d, want 200 in Welsh", cy.Status)
	}
	if home := admin.Get("/staff"); !strings.Contains(home.Body, `href="/staff/admin/users"`) {
		t.Error("staff home: no link to the accounts page for an admin")
	}
	csrf := admin.CSRF("/staff/admin/users")

	// A form without the session's CSRF token is refused.
	if p := admin.Post(workerPath+"/disable", url.Values{"csrf": {"forged"}}); p.Status != http.StatusForbidden {
		t.Errorf("disable without CSRF: got %d, want 403", p.Status)
	}

	// Change roles in a way that widens no access (a councillor role, no area): 303 back to the
	// account, the roles are stored, and the person's live session ends at once.
	if got := worker.API("GET", "/api/v1/investigations", nil).Status; got != http.StatusOK {
		t.Fatalf("worker before the change: got %d, want 200", got)
	}
	p := admin.Post(workerPath+"/roles", url.Values{"csrf": {csrf}, "roles": {"investigator", "councillor"}})
	if p.Status != http.StatusSeeOther || p.Header.Get("Location") != workerPath+"?done=roles" {
		t.Fatalf("change roles: got %d to %q, want 303 to %s?done=roles", p.Status, p.Header.Get("Location"), workerPath)
	}
	u, err := st.UserByID(ctx, worker.User.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(u.Roles, ","); got != "investigator,councillor" || len(u.ServiceAreas) != 0 {
		t.Errorf("roles after the change: got %s %v, want investigator,councillor []", got, u.ServiceAreas)
	}
	if got := worker.API("GET", "/api/v1/investigations", nil).Status; got != http.StatusUnauthorized {
		t.Errorf("worker after the role change: got %d, want 401", got)
	}
	done := admin.Get(workerPath + "?done=roles")
	if done.Status != http.StatusOK || !strings.Contains(done.Body, "Auditor") || !strings.Contains(done.Body, `id="done"`) {
		t.Errorf("account page after the change: got %d, want 200 with the new role and a confirmation", done.Status)
	}
	noCase("account page", done)

	// A role change with no role, or an unknown role: the error summary, in the page's language.
	p = admin.Post("/cy"+workerPath+"/roles", url.Values{"csrf": {csrf}})
	if p.Status != http.StatusBadRequest || !strings.Contains(p.Body, "govuk-error-summary") ||
		!strings.Contains(p.Body, "Dewiswch o leiaf un rôl") || !strings.Contains(p.Body, `href="#roles"`) {
		t.Errorf("no roles (Welsh): got %d, want 400 with the Welsh error summary linking to #roles", p.Status)
	}
	p = admin.Post(workerPath+"/roles", url.Values{"csrf": {csrf}, "roles": {"emperor"}})
	if p.Status != http.StatusBadRequest || !strings.Contains(p.Body, "That role does not exist") {
		t.Errorf("unknown role: got %d, want 400 naming the problem", p.Status)
	}

	// Reset the second factor of an investigator: it could let in whoever holds the new
	// credentials, so it is only proposed and nothing changes yet.
	p = admin.Post(workerPath+"/reset-2fa", url.Values{"csrf": {csrf}})
	if p.Status != http.StatusSeeOther || p.Header.Get("Location") != workerPath+"?done=proposed" {
		t.Fatalf("reset 2FA: got %d to %q, want 303 to ?done=proposed", p.Status, p.Header.Get("Location"))
	}
	cred, err := st.CredentialsFor(ctx, worker.User.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !cred.TOTPEnabled || cred.TOTPSealed == nil {
		t.Errorf("after a proposed reset: TOTP enabled %v, secret set %v; want both kept", cred.TOTPEnabled, cred.TOTPSealed != nil)
	}
	if p := admin.Post(workerPath+"/reset-password", url.Values{"csrf": {csrf}}); p.Status != http.StatusConflict ||
		!strings.Contains(p.Body, "already waiting for approval") {
		t.Errorf("a second proposal while one is open: got %d, want 409 saying one waits", p.Status)
	}

	// Disable.
	p = admin.Post(workerPath+"/disable", url.Values{"csrf": {csrf}})
	if p.Status != http.StatusSeeOther || p.Header.Get("Location") != workerPath+"?done=disabled" {
		t.Fatalf("disable: got %d to %q, want 303", p.Status, p.Header.Get("Location"))
	}
	if u, err := st.UserByID(ctx, worker.User.ID); err != nil || u.Status != "disabled" {
		t.Errorf("after disable: got status %q (%v), want disabled", u.Status, err)
	}

	// An admin cannot lock themselves out here.
	self := "/staff/admin/users/" + strconv.FormatInt(admin.User.ID, 10)
	if p := admin.Post(self+"/disable", url.Values{"csrf": {csrf}}); p.Status != http.StatusBadRequest {
		t.Errorf("disable own account: got %d, want 400", p.Status)
	}
	if p := admin.Get("/staff/admin/users/999999"); p.Status != http.StatusNotFound {
		t.Errorf("unknown account: got %d, want 404", p.Status)
	}

	// Add a user: no password, no secret on the page. An investigator is only proposed.
	id, _ := age.GenerateX25519Identity()
	// A custodian (their key joins every new sealed identity) is never made through the portal.
	custodian := url.Values{"csrf": {csrf}, "email": {"New.Custodian@example.gov.uk"}, "name": {"Nia Newydd"},
		"roles": {"custodian"}, "language": {"cy"}, "age_recipient": {id.Recipient().String()}}
	if p := admin.Post("/staff/admin/users", custodian); p.Status != http.StatusForbidden {
		t.Errorf("add a custodian through the portal: got %d, want 403", p.Status)
	}
	form := url.Values{"csrf": {csrf}, "email": {"New.Investigator@example.gov.uk"}, "name": {"Nia Newydd"},
		"roles": {"investigator"}, "language": {"cy"}}
	p = admin.Post("/staff/admin/users", form)
	if p.Status != http.StatusOK || !strings.Contains(p.Body, "Account proposed") || strings.Contains(p.Body, `id="totp-secret"`) {
		t.Fatalf("add user: got %d, want 200 saying it is proposed, with no secret", p.Status)
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
	if created == nil || created.Language != "cy" || created.AgeRecipient != nil || len(created.Roles) != 0 || created.Status != "pending" {
		t.Fatalf("added user: got %+v, want a pending Welsh-speaking account with no role yet", created)
	}

	// Bad input: each field's problem in the error summary; nothing is created.
	bad := url.Values{"csrf": {csrf}, "email": {"not-an-email"}, "name": {""}, "roles": {"custodian"},
		"language": {"en"}}
	p = admin.Post("/staff/admin/users", bad)
	if p.Status != http.StatusBadRequest {
		t.Fatalf("bad new user: got %d, want 400", p.Status)
	}
	for _, want := range []string{`href="#email"`, `href="#name"`, `href="#age_recipient"`,
		"Enter the custodian&#39;s age public key"} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("bad new user: missing %q", want)
		}
	}
	dup := url.Values{"csrf": {csrf}, "email": {"MO@example.gov.uk"}, "name": {"Dup"}, "roles": {"councillor"},
		"language": {"en"}}
	if p := admin.Post("/staff/admin/users", dup); p.Status != http.StatusBadRequest ||
		!strings.Contains(p.Body, "There is already an account with this email address") {
		t.Errorf("duplicate email: got %d, want 400 saying so", p.Status)
	}

	// Anyone else: the pages do not exist.
	moCSRF := mo.CSRF("/staff")
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
		var p portaltest.Page
		if r.method == "POST" {
			p = mo.Post(r.path, r.form)
		} else {
			p = mo.Get(r.path)
		}
		if p.Status != http.StatusNotFound {
			t.Errorf("monitoring officer %s %s: got %d, want 404", r.method, r.path, p.Status)
		}
	}
	if home := mo.Get("/staff"); strings.Contains(home.Body, "/staff/admin/users") {
		t.Error("staff home links a monitoring officer to the accounts page")
	}
}
