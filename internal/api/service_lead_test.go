package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"candour/internal/accounts"
	"candour/internal/portaltest"
)

// lead signs in a service lead for areas.
func (e *env) lead(email string, areas ...string) *portaltest.Staff {
	e.t.Helper()
	return portaltest.SignIn(e.t, e.p, portaltest.Account(e.t, e.p, accounts.NewUser{Email: email,
		Roles: []string{"service_lead"}, ServiceAreas: areas}))
}

type queueOut struct {
	Items []struct {
		ID       string     `json:"id"`
		DecideBy *time.Time `json:"decide_by"`
	} `json:"items"`
}

// A service lead sees only concerns in their own service areas. A councillor's concern about
// children's services is routed to that area's Lead Member and Head of Service. The Head of
// Service has since moved to housing (her account says so; the directory has not caught up),
// and a housing lead guesses the id: both get 404 from the page and the API and an empty queue.
// The Lead Member for children's services sees it, with its decide clock, in English and Welsh.
func TestServiceLeadsSeeOnlyTheirAreas(t *testing.T) {
	e := start(t)
	e.addCustodian()
	cllr := e.user("cllr.dai.jones@enghraifft.example", "councillor")
	in := designCase()
	in["named_people"], in["passing_on_staff_concerns"] = []string{}, false
	status, body, _ := e.do("POST", "/api/v1/councillor/concerns", cllr.token, in)
	e.must(status, 201, body, "councillor concern")
	c, err := e.st.ConcernByReference(context.Background(), jsonField[councillorOut](t, body).Reference)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(c.Route), "sioned.parry@enghraifft.example") || c.ServiceArea != "childrens-services" {
		t.Fatalf("route: got %s in %s, want the children's services Head of Service", c.Route, c.ServiceArea)
	}
	// A known decide date, to read it back on the pages.
	e.db.MustExec(`UPDATE concerns SET decide_by = '2027-01-05T10:00:00Z' WHERE id = $1`, c.Serial)

	moved := e.lead("sioned.parry@enghraifft.example", "housing")
	guesser := e.lead("ffion.davies@enghraifft.example", "housing")
	right := e.lead("cllr.rhodri.evans@enghraifft.example", "childrens-services")

	for name, s := range map[string]*portaltest.Staff{"moved head of service": moved, "housing lead": guesser} {
		if r := s.API("GET", "/api/v1/concerns/"+c.ID, nil); r.Status != http.StatusNotFound {
			t.Errorf("%s, API: got %d, want 404", name, r.Status)
		}
		if r := s.API("POST", "/api/v1/concerns/"+c.ID+"/messages", map[string]string{"body": "Hello?"}); r.Status != http.StatusNotFound {
			t.Errorf("%s, message: got %d, want 404", name, r.Status)
		}
		for _, path := range []string{"/staff/concerns/" + c.ID, "/cy/staff/concerns/" + c.ID} {
			if p := s.Get(path); p.Status != http.StatusNotFound || strings.Contains(p.Body, c.Reference) {
				t.Errorf("%s, page %s: got %d, want 404 without the reference", name, path, p.Status)
			}
		}
		r := s.API("GET", "/api/v1/triage", nil)
		var q queueOut
		if err := json.Unmarshal(r.Body, &q); r.Status != http.StatusOK || err != nil || len(q.Items) != 0 {
			t.Errorf("%s, queue: got %d %s, want 200 and nothing", name, r.Status, r.Body)
		}
		if p := s.Get("/staff/triage"); strings.Contains(p.Body, c.Reference) {
			t.Errorf("%s: the queue page lists %s", name, c.Reference)
		}
	}

	want := time.Date(2027, 1, 5, 10, 0, 0, 0, time.UTC)
	r := right.API("GET", "/api/v1/triage", nil)
	var q queueOut
	if err := json.Unmarshal(r.Body, &q); err != nil || len(q.Items) != 1 || q.Items[0].ID != c.ID ||
		q.Items[0].DecideBy == nil || !q.Items[0].DecideBy.Equal(want) {
		t.Fatalf("the children's lead's queue: got %d %s, want the concern due for decision on %v", r.Status, r.Body, want)
	}
	r = right.API("GET", "/api/v1/concerns/"+c.ID, nil)
	var got struct {
		DecideBy *time.Time `json:"decide_by"`
	}
	if err := json.Unmarshal(r.Body, &got); r.Status != http.StatusOK || err != nil || got.DecideBy == nil || !got.DecideBy.Equal(want) {
		t.Errorf("the children's lead, API: got %d %s, want 200 with decide_by %v", r.Status, r.Body, want)
	}
	for _, tc := range []struct{ path, heading, due string }{
		{"/staff/concerns/" + c.ID, "Decide", "due 5 January 2027"},
		{"/cy/staff/concerns/" + c.ID, "Penderfynu", "erbyn 5 Ionawr 2027"},
		{"/staff/triage", "Decide", c.Reference},
		{"/cy/staff/triage", "Penderfynu", c.Reference},
	} {
		p := right.Get(tc.path)
		if p.Status != http.StatusOK || !strings.Contains(p.Body, tc.heading) || !strings.Contains(p.Body, tc.due) {
			t.Errorf("%s: got %d, want 200 with %q and %q", tc.path, p.Status, tc.heading, tc.due)
		}
	}
}
