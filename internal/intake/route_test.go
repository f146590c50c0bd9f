package intake_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"candour/internal/intaketest"
	"candour/internal/routing"
)

// Reports with the same facts share one remembered decision, kept once in route_decisions, but
// the stored route is always the whole decision the current policy gives for the report's own
// facts: naming a route holder still moves the route, and a reloaded policy is used at once.
func TestRememberedRoutesFollowFactsAndPolicy(t *testing.T) {
	ctx := context.Background()
	k := intaketest.New(t, intaketest.Options{})
	storedJSON := func(ref string) string {
		t.Helper()
		c, err := k.Store.ConcernByReference(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		return string(c.Route)
	}
	stored := func(ref string) routing.Decision {
		t.Helper()
		var d routing.Decision
		if err := json.Unmarshal([]byte(storedJSON(ref)), &d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	kept := func(want int) {
		t.Helper()
		var n int
		if err := k.DB.Get(&n, `SELECT count(*) FROM route_decisions`); err != nil || n != want {
			t.Fatalf("route_decisions holds %d (%v), want %d", n, err, want)
		}
	}
	r := report("anonymous")
	r.NamedPeople = nil
	// The first report sends its decision whole; the next ones send its hash and the insert
	// copies the decision from route_decisions: every concern still holds all of it.
	var firstJSON string
	for i := range 3 {
		filed, err := k.Intake.Submit(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		if got := storedJSON(filed.Reference); i == 0 {
			firstJSON = got
		} else if got != firstJSON {
			t.Fatalf("same facts, different routes:\n%s\n%s", firstJSON, got)
		}
	}
	kept(1)
	var first routing.Decision
	if err := json.Unmarshal([]byte(firstJSON), &first); err != nil {
		t.Fatal(err)
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
	kept(1) // a decision about a named person stays in its own concern only

	// A decision that has gone from route_decisions fails one filing, not every one after it:
	// the next sends it whole again.
	if _, err := k.DB.Exec(`DELETE FROM route_decisions`); err != nil {
		t.Fatal(err)
	}
	r.NamedPeople = nil
	if _, err := k.Intake.Submit(ctx, r); err == nil {
		t.Fatal("filed with its decision missing")
	}
	if filed, err = k.Intake.Submit(ctx, r); err != nil {
		t.Fatal(err)
	} else if got := storedJSON(filed.Reference); got != firstJSON {
		t.Fatalf("route after the decision was sent again:\n%s\nwant\n%s", got, firstJSON)
	}
	kept(1)

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
	kept(2)
}
