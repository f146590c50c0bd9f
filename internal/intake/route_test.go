package intake_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"candour/internal/intaketest"
	"candour/internal/routing"
)

// Reports with the same facts share one remembered decision, but the stored route is always
// the one the current policy gives for the report's own facts: naming a route holder still
// moves the route, and a reloaded policy is used at once.
func TestRememberedRoutesFollowFactsAndPolicy(t *testing.T) {
	ctx := context.Background()
	k := intaketest.New(t, intaketest.Options{})
	stored := func(ref string) routing.Decision {
		t.Helper()
		c, err := k.Store.ConcernByReference(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		var d routing.Decision
		if err := json.Unmarshal(c.Route, &d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	r := report("anonymous")
	r.NamedPeople = nil
	var first routing.Decision
	for i := range 2 {
		filed, err := k.Intake.Submit(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		d := stored(filed.Reference)
		if i == 0 {
			first = d
		} else if d.Rule != first.Rule || d.PolicyVersion != first.PolicyVersion || len(d.Route) != len(first.Route) {
			t.Fatalf("same facts, different routes: %+v and %+v", first, d)
		}
	}
	if len(first.Route) == 0 || !strings.EqualFold(first.Route[0].Email, "elin.rowlands@enghraifft.example") {
		t.Fatalf("route %+v, want Elin Rowlands first", first.Route)
	}

	// Naming the route holder: her route must not be the remembered one.
	r.NamedPeople = []string{"Elin Rowlands"}
	filed, err := k.Intake.Submit(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range stored(filed.Reference).Route {
		if strings.EqualFold(h.Email, "elin.rowlands@enghraifft.example") {
			t.Fatalf("a concern naming Elin Rowlands is routed to her")
		}
	}

	// A reloaded policy decides the next report with the same facts as the first.
	reloaded := *k.Policy
	reloaded.Version = "reloaded"
	k.Policy = &reloaded
	r.NamedPeople = nil
	filed, err = k.Intake.Submit(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if v := stored(filed.Reference).PolicyVersion; v != "reloaded" {
		t.Fatalf("policy version %q after a reload, want reloaded", v)
	}
}
