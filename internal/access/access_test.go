package access_test

import (
	"context"
	"encoding/json"
	"testing"

	"candour/internal/access"
	"candour/internal/dbtest"
	"candour/internal/intake"
	"candour/internal/intaketest"
	"candour/internal/receipt"
	"candour/internal/routing"
	"candour/internal/store"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

type fixture struct {
	svc     *intake.Service
	st      *store.Store
	checker *access.Checker
	hasher  *receipt.Hasher
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	k := intaketest.New(t, intaketest.Options{})
	return &fixture{svc: k.Intake, st: k.Store, checker: access.New(k.Names), hasher: k.Names}
}

func (f *fixture) user(t *testing.T, email string, roles ...string) *store.User {
	t.Helper()
	u := &store.User{Email: email, Name: email, Roles: roles, Language: "en"}
	if err := f.st.InsertUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	u.Status = "active"
	return u
}

// submit files an anonymous report through intake naming people, and returns its access facts.
func (f *fixture) submit(t *testing.T, named ...string) *store.CaseFacts {
	t.Helper()
	ctx := context.Background()
	filed, err := f.svc.Submit(ctx, intake.ReportSubmission{Mode: "anonymous", ServiceArea: "childrens-services",
		Category: "misconduct", Summary: "Caseloads hidden from inspectors",
		Details: "Cases were moved off the system before the inspection.", NamedPeople: named, Lang: "en"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := f.st.ConcernByReference(ctx, filed.Reference)
	if err != nil {
		t.Fatal(err)
	}
	facts, err := f.st.CaseFacts(ctx, c.Serial)
	if err != nil {
		t.Fatal(err)
	}
	return facts
}

func TestHeadOfServiceNamedNeverSeesIt(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	hos := f.user(t, "sioned.parry@enghraifft.example", "service_lead")
	mo := f.user(t, "elin.rowlands@enghraifft.example", "monitoring_officer")
	facts := f.submit(t, "Sioned Parry")
	if len(facts.NamedKeys) != 1 {
		t.Fatalf("got %d named keys, want 1 (is Sioned Parry in the directory?)", len(facts.NamedKeys))
	}
	// Even an explicit grant does not let a named person in.
	if err := f.st.GrantCaseAccess(ctx, facts.ConcernID, hos.ID, &mo.ID, nil); err != nil {
		t.Fatal(err)
	}
	facts, _ = f.st.CaseFacts(ctx, facts.ConcernID)
	for name, can := range map[string]func(*store.User, *store.CaseFacts) bool{
		"read": f.checker.CanReadConcern, "message": f.checker.CanMessage, "decide": f.checker.CanDecide,
		"identity": f.checker.CanRequestIdentity, "conflict": f.checker.CanDeclareConflict,
	} {
		if can(hos, facts) {
			t.Errorf("named Head of Service can %s", name)
		}
	}
	if !f.checker.CanReadConcern(mo, facts) || !f.checker.CanDecide(mo, facts) {
		t.Errorf("the Monitoring Officer cannot handle a concern naming the Head of Service")
	}
	// Not named, the same grant works.
	other := f.submit(t)
	if err := f.st.GrantCaseAccess(ctx, other.ConcernID, hos.ID, &mo.ID, nil); err != nil {
		t.Fatal(err)
	}
	other, _ = f.st.CaseFacts(ctx, other.ConcernID)
	if !f.checker.CanReadConcern(hos, other) || f.checker.CanDecide(hos, other) {
		t.Errorf("granted service lead: want read yes, decide no")
	}
}

func TestDeputyHandlesConcernNamingTheMonitoringOfficer(t *testing.T) {
	f := newFixture(t)
	mo := f.user(t, "elin.rowlands@enghraifft.example", "monitoring_officer")
	deputy := f.user(t, "owain.bevan@enghraifft.example", "deputy_monitoring_officer")
	facts := f.submit(t, "elin.rowlands@enghraifft.example")
	if f.checker.CanReadConcern(mo, facts) || f.checker.CanDecide(mo, facts) {
		t.Errorf("the named Monitoring Officer has access")
	}
	if !f.checker.CanReadConcern(deputy, facts) || !f.checker.CanDecide(deputy, facts) || !f.checker.CanAcknowledge(deputy, facts) {
		t.Errorf("the deputy cannot handle a concern naming the Monitoring Officer")
	}
}

func TestDeclaredConflictRemovesAccess(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	mo := f.user(t, "elin.rowlands@enghraifft.example", "monitoring_officer")
	facts := f.submit(t)
	if !f.checker.CanReadConcern(mo, facts) {
		t.Fatal("MO cannot read an ordinary concern")
	}
	if err := f.st.DeclareConflict(ctx, facts.ConcernID, mo.ID, []byte("sealed reason")); err != nil {
		t.Fatal(err)
	}
	facts, _ = f.st.CaseFacts(ctx, facts.ConcernID)
	if f.checker.CanReadConcern(mo, facts) {
		t.Errorf("access survives a declared conflict")
	}
}

func TestRouteHoldersAndRoles(t *testing.T) {
	f := newFixture(t)
	route, _ := json.Marshal(routing.Decision{Route: []routing.Holder{
		{Role: "lead_member", Email: "cllr.rhodri.evans@enghraifft.example"},
		{Role: "head_of_service", Email: "Sioned.Parry@enghraifft.example"},
	}})
	safeguardingRoute, _ := json.Marshal(routing.Decision{Route: []routing.Holder{{Role: "safeguarding_hub", Email: "safeguarding@enghraifft.example"}}})
	u := func(id int64, email string, roles ...string) *store.User {
		return &store.User{ID: id, Email: email, Roles: roles, Status: "active"}
	}
	hos := u(1, "sioned.parry@enghraifft.example", "service_lead")
	lead := u(2, "cllr.rhodri.evans@enghraifft.example", "service_lead")
	hos.ServiceAreas, lead.ServiceAreas = []string{"housing"}, []string{"children", "housing"}
	// On the route by e-mail, but a lead for other areas, or for none.
	strayLead := u(10, "cllr.rhodri.evans@enghraifft.example", "service_lead")
	strayLead.ServiceAreas = []string{"children"}
	noAreas := u(11, "sioned.parry@enghraifft.example", "service_lead")
	grantedLead := u(12, "dylan.roberts@enghraifft.example", "service_lead")
	grantedLead.ServiceAreas = []string{"children"}
	// On the route by e-mail without the service-lead role: not scoped by area.
	officer := u(13, "sioned.parry@enghraifft.example", "investigator")
	otherLead := u(3, "dylan.roberts@enghraifft.example", "service_lead")
	hub := u(4, "hub.worker@enghraifft.example", "safeguarding")
	admin := u(5, "admin@enghraifft.example", "admin")
	auditor := u(6, "auditor@enghraifft.example", "auditor")
	investigator := u(7, "inv@enghraifft.example", "investigator")
	custodian := u(8, "cust@enghraifft.example", "custodian")
	disabledMO := u(9, "old.mo@enghraifft.example", "monitoring_officer")
	disabledMO.Status = "disabled"
	routed := &store.CaseFacts{ConcernID: 1, Route: route, ServiceArea: "housing"}
	safeguarding := &store.CaseFacts{ConcernID: 2, Route: safeguardingRoute}
	granted := &store.CaseFacts{ConcernID: 3, Route: route, ServiceArea: "housing", Granted: []int64{7, 12}}
	broken := &store.CaseFacts{ConcernID: 4, Route: []byte("not json")}

	cases := []struct {
		name  string
		u     *store.User
		facts *store.CaseFacts
		want  bool
	}{
		{"head of service on the route", hos, routed, true},
		{"lead member on the route", lead, routed, true},
		{"another area's lead", otherLead, routed, false},
		{"on the route, lead for another area", strayLead, routed, false},
		{"on the route, lead with no areas", noAreas, routed, false},
		{"lead granted outside their areas", grantedLead, granted, true},
		{"on the route, no service-lead role", officer, routed, true},
		{"safeguarding role on a hub route", hub, safeguarding, true},
		{"safeguarding role elsewhere", hub, routed, false},
		{"admin", admin, routed, false},
		{"auditor", auditor, routed, false},
		{"custodian", custodian, routed, false},
		{"investigator not granted", investigator, routed, false},
		{"investigator granted", investigator, granted, true},
		{"disabled monitoring officer", disabledMO, routed, false},
		{"unreadable route", hos, broken, false},
		{"no user", nil, routed, false},
		{"no facts", hos, nil, false},
	}
	for _, tc := range cases {
		if got := f.checker.CanReadConcern(tc.u, tc.facts); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
	if f.checker.CanRequestIdentity(hos, routed) || !f.checker.CanRequestIdentity(investigator, granted) {
		t.Errorf("identity requests: want investigators with access only (besides the MO)")
	}
	var nilChecker *access.Checker
	if nilChecker.CanReadConcern(hos, routed) {
		t.Errorf("a nil checker grants access")
	}
}
