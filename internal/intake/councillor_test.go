package intake_test

import (
	"context"
	"testing"

	"candour/internal/fault"
	"candour/internal/intake"
	"candour/internal/store"
)

func TestCouncillorRoute(t *testing.T) {
	f := newFixture(t, true)
	ctx := context.Background()
	cllr := &store.User{Email: "cllr.dai.jones@enghraifft.example", Name: "Cllr Dai Jones", Roles: []string{"councillor"},
		Language: "cy", Status: "active"}
	if err := f.st.InsertUser(ctx, cllr); err != nil {
		t.Fatal(err)
	}
	who := intake.Councillor{User: cllr, Language: "cy"}
	// Nobody else files or lists through the councillor route, whatever the surface lets through.
	for _, u := range []*store.User{nil, {ID: cllr.ID, Roles: []string{"councillor"}, Status: "disabled"},
		{ID: cllr.ID, Roles: []string{"service_lead"}, Status: "active"}} {
		if _, err := f.svc.SubmitCouncillorConcern(ctx, intake.Councillor{User: u}, intake.CouncillorConcern{}); !fault.Is(err, fault.NotFound) {
			t.Errorf("file as %+v: got %v, want not found", u, err)
		}
		if _, err := f.svc.CouncillorConcerns(ctx, u); !fault.Is(err, fault.NotFound) {
			t.Errorf("list as %+v: got %v, want not found", u, err)
		}
	}
	base := intake.CouncillorConcern{ServiceArea: "childrens-services", Summary: "Assessment team under strain",
		Details: "Staff tell me caseloads are too high and agency staff are leaving."}

	cases := []struct {
		name      string
		edit      func(c *intake.CouncillorConcern)
		rule      string
		routeRole string
		link      bool
	}{
		{"the case Candour was designed from", func(c *intake.CouncillorConcern) {
			c.PassingOnStaffConcerns = true
			c.NamedPeople = []string{"huw.pritchard@enghraifft.example"}
		}, "councillor-passing-on-staff-concerns", "monitoring_officer", true},
		{"first time, evidence reviewed", func(c *intake.CouncillorConcern) {
			c.EvidenceReviewed = []string{"cs-performance-2024-25", "cs-ciw-inspection-2024"}
		}, "councillor-service-area", "lead_member", false},
		{"already raised, unresolved", func(c *intake.CouncillorConcern) {
			c.RaisedWith = []string{"lead_member", "head_of_service"}
			c.RaisedOutcome = "unresolved"
		}, "councillor-escalation", "monitoring_officer", false},
		{"names the head of service", func(c *intake.CouncillorConcern) {
			c.NamedPeople = []string{"sioned.parry@enghraifft.example"}
		}, "councillor-conflict", "monitoring_officer", false},
		{"child at risk", func(c *intake.CouncillorConcern) { c.Safeguarding = true }, "safeguarding", "safeguarding_hub", false},
	}
	for _, tc := range cases {
		c := base
		tc.edit(&c)
		preview, err := f.svc.PreviewCouncillorConcern(c)
		if err != nil {
			t.Fatalf("%s: preview: %v", tc.name, err)
		}
		filed, err := f.svc.SubmitCouncillorConcern(ctx, who, c)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		d := filed.Decision
		if d.Rule != tc.rule || preview.Rule != tc.rule || d.GiveAnonymousLink != tc.link || len(d.Route) == 0 || d.Route[0].Role != tc.routeRole {
			t.Errorf("%s: got rule %s (preview %s) route %v link %v, want %s to %s link %v", tc.name, d.Rule, preview.Rule, d.RouteRoles(), d.GiveAnonymousLink, tc.rule, tc.routeRole, tc.link)
		}
		if d.Explanation["cy"] == "" || filed.Receipt != "" {
			t.Errorf("%s: want a Welsh explanation and no receipt (councillors follow through their account)", tc.name)
		}
		stored, err := f.st.ConcernByReference(ctx, filed.Reference)
		if err != nil {
			t.Fatal(err)
		}
		if stored.Channel != "councillor" || stored.Mode != "open" || stored.IdentitySealed == nil || stored.Language != "cy" {
			t.Errorf("%s: stored %s/%s sealed=%v lang=%s, want councillor/open, sealed, cy", tc.name, stored.Channel, stored.Mode, stored.IdentitySealed != nil, stored.Language)
		}
	}

	bad := base
	bad.EvidenceReviewed = []string{"no-such-report"}
	bad.ServiceArea = "childrens-services"
	if _, err := f.svc.SubmitCouncillorConcern(ctx, who, bad); !fault.Is(err, fault.Invalid) {
		t.Errorf("unknown evidence: got %v, want Invalid", err)
	} else if fe, _ := fault.As(err); fe.Fields["evidence_reviewed"] == "" {
		t.Errorf("unknown evidence: got fields %v, want evidence_reviewed", fe.Fields)
	}
	bad = base
	bad.ServiceArea = "moon-base"
	if _, err := f.svc.SubmitCouncillorConcern(ctx, who, bad); !fault.Is(err, fault.Invalid) {
		t.Errorf("unknown area: got %v, want Invalid", err)
	}
}
