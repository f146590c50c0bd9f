package casework_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"candour/internal/access"
	"candour/internal/casework"
	"candour/internal/dbtest"
	"candour/internal/store"
)

// holders is a test's concerns and staff, for attacks on the queue of staff other than the
// Monitoring Officer, which reads concern_holders (migration 00037), while single-concern access
// reads the concern itself (package access).
type holders struct {
	f        *fixture
	concerns []string // public ids, in filing order
	staff    []*store.User
}

func (h *holders) file(t *testing.T, safeguarding bool, named ...string) string {
	t.Helper()
	id := h.f.report(t, safeguarding, named...)
	h.concerns = append(h.concerns, id)
	return id
}

func (h *holders) user(t *testing.T, email string, areas []string, roles ...string) *store.User {
	t.Helper()
	u := &store.User{Email: email, Name: email, Roles: roles, ServiceAreas: areas, Language: "en", Status: "active"}
	if err := h.f.st.InsertUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	h.staff = append(h.staff, u)
	return u
}

// set changes a concern's columns with the portal's own connection, as any later code might.
func (h *holders) set(t *testing.T, id, assignments string, args ...any) {
	t.Helper()
	h.f.db.MustExec(`UPDATE concerns SET `+assignments+` WHERE public_id = $1`, append([]any{id}, args...)...)
}

// queue walks u's whole queue, limit items a page, failing on a concern listed twice.
func (h *holders) queue(t *testing.T, u *store.User, limit int) []string {
	t.Helper()
	var got []string
	cursor := ""
	for {
		page, err := h.f.cw.Triage(context.Background(), u, casework.TriageQuery{Limit: limit, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			if slices.Contains(got, it.ID) {
				t.Fatalf("%s: %s is in the queue twice: %v", u.Email, it.ID, got)
			}
			got = append(got, it.ID)
		}
		if page.NextCursor == "" {
			return got
		}
		cursor = page.NextCursor
	}
}

// filtered is the first page of u's queue in one service area.
func (h *holders) filtered(t *testing.T, u *store.User, area string) []string {
	t.Helper()
	page, err := h.f.cw.Triage(context.Background(), u, casework.TriageQuery{Filter: store.TriageFilter{ServiceArea: area}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range page.Items {
		got = append(got, it.ID)
	}
	return got
}

// check fails unless every staff member's queue holds exactly the open concerns access lets
// them read, and the holders' index is what the concerns now say it should be (no row left
// behind by a change, none missing).
func (h *holders) check(t *testing.T, step string) {
	t.Helper()
	ctx := context.Background()
	checker := access.New(h.f.names)
	for _, u := range h.staff {
		queue := h.queue(t, u, 2)
		for _, id := range h.concerns {
			facts, err := h.f.st.CaseFactsByPublicID(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			var open bool
			if err := h.f.db.Get(&open, `SELECT closed_at IS NULL AND shredded_at IS NULL FROM concerns WHERE public_id = $1`, id); err != nil {
				t.Fatal(err)
			}
			want := open && checker.CanReadConcern(u, facts)
			if got := slices.Contains(queue, id); got != want {
				t.Errorf("%s: %s's queue holds concern %d: %v, want %v (open %v)", step, u.Email, slices.Index(h.concerns, id), got, want, open)
			}
		}
	}
	if _, stray := dbtest.HolderDrift(t, h.f.db); stray != 0 {
		t.Errorf("%s: concern_holders differs from the open concerns' holders in %d rows", step, stray)
	}
}

func route(pairs ...string) string {
	var els []string
	for i := 0; i < len(pairs); i += 2 {
		els = append(els, `{"role":"`+pairs[i]+`","email":"`+pairs[i+1]+`"}`)
	}
	return `{"rule":"test","route":[` + strings.Join(els, ",") + `]}`
}

// A service lead holds a route by e-mail only in their areas; a referral or a grant stands
// outside them. Each step re-routes, refers, grants, closes or reopens a concern, and the queue
// must follow exactly what access allows.
func TestHolderQueueFollowsEveryChange(t *testing.T) {
	h := &holders{f: newFixture(t)}
	ctx := context.Background()
	mo := h.user(t, "mo@enghraifft.example", nil, "monitoring_officer")
	lead := h.user(t, "lead@enghraifft.example", []string{"housing"}, "service_lead")
	h.user(t, "other@enghraifft.example", nil, "investigator")
	h.user(t, "hub@enghraifft.example", nil, "safeguarding")
	housing, finance, third := h.file(t, false), h.file(t, false), h.file(t, true)
	h.set(t, finance, `service_area = 'finance'`)
	h.check(t, "filed (routed to the Monitoring Officer)")

	h.set(t, housing, `route = $2`, route("lead_member", "LEAD@enghraifft.example "))
	h.set(t, finance, `route = $2`, route("lead_member", "lead@enghraifft.example"))
	h.check(t, "routed to the lead in and out of their area")
	if q := h.queue(t, lead, 50); !slices.Equal(q, []string{housing}) {
		t.Fatalf("the lead's queue: %v, want only the housing concern %s", q, housing)
	}
	for area, want := range map[string][]string{"housing": {housing}, "finance": nil} {
		if q := h.filtered(t, lead, area); !slices.Equal(q, want) {
			t.Errorf("the lead's queue of %s: %v, want %v", area, q, want)
		}
	}

	h.set(t, housing, `route = $2`, route("head_of_service", "other@enghraifft.example", "safeguarding_hub", ""))
	h.check(t, "re-routed to another and the hub")
	h.set(t, finance, `referred_to = 'route_holder', referred_email = 'Lead@enghraifft.example'`)
	h.check(t, "referred to the lead outside their area")
	// Filtered by an area outside theirs, only the referral counts.
	if q := h.filtered(t, lead, "finance"); !slices.Equal(q, []string{finance}) {
		t.Errorf("the lead's queue of finance: %v, want the referral %s", q, finance)
	}
	h.set(t, finance, `referred_email = 'other@enghraifft.example'`)
	h.check(t, "referral moved on")
	h.set(t, third, `referred_to = 'safeguarding', referred_email = NULL`)
	h.check(t, "referred to the hub")

	if err := h.f.st.GrantCaseAccess(ctx, h.f.byPublicID(t, third).Serial, lead.ID, &mo.ID, []byte("transfer")); err != nil {
		t.Fatal(err)
	}
	h.check(t, "granted to the lead")
	if err := h.f.st.RevokeCaseAccess(ctx, h.f.byPublicID(t, third).Serial, lead.ID); err != nil {
		t.Fatal(err)
	}
	h.check(t, "grant revoked")

	h.set(t, housing, `status = 'accepted', awaiting_council = true, acknowledged_at = now()`)
	h.check(t, "acknowledged (deadline and filters moved)")
	h.set(t, housing, `closed_at = now(), status = 'closed'`)
	h.check(t, "closed")
	h.set(t, housing, `closed_at = NULL, status = 'accepted'`)
	h.check(t, "reopened")
	h.set(t, housing, `closed_at = now(), status = 'closed'`)
	h.set(t, housing, `shredded_at = now()`)
	h.check(t, "shredded")
	if _, err := h.f.db.Exec(`DELETE FROM concerns WHERE public_id = $1`, finance); err != nil {
		t.Fatal(err)
	}
	h.concerns = slices.DeleteFunc(h.concerns, func(id string) bool { return id == finance })
	h.check(t, "deleted")
}

// Named people and those who declared a conflict never see the concern, whichever way they
// would otherwise hold it: route, hub, referral, grant.
func TestHolderQueueNeverShowsTheExcluded(t *testing.T) {
	h := &holders{f: newFixture(t)}
	ctx := context.Background()
	mo := h.user(t, "mo@enghraifft.example", nil, "monitoring_officer")
	named := h.user(t, "named@enghraifft.example", nil, "safeguarding", "investigator")
	conflicted := h.user(t, "conflicted@enghraifft.example", []string{"housing"}, "safeguarding", "service_lead")
	bystander := h.user(t, "bystander@enghraifft.example", nil, "safeguarding")
	naming, plain := h.file(t, true), h.file(t, true)
	for _, id := range []string{naming, plain} {
		h.set(t, id, `route = $2, referred_to = 'safeguarding', referred_email = $3`,
			route("safeguarding_hub", "named@enghraifft.example", "lead_member", "conflicted@enghraifft.example"),
			"conflicted@enghraifft.example")
		for _, u := range []*store.User{named, conflicted} {
			if err := h.f.st.GrantCaseAccess(ctx, h.f.byPublicID(t, id).Serial, u.ID, &mo.ID, []byte("transfer")); err != nil {
				t.Fatal(err)
			}
		}
	}
	h.check(t, "held every way")
	// Intake keys only the directory's people; set as it would have for one named there.
	h.set(t, naming, `named_keys = ARRAY[$2::bytea]`, access.NamedKey(h.f.names, "Named@enghraifft.example"))
	h.f.db.MustExec(`INSERT INTO conflicts (concern_id, user_id, reason) VALUES ($1, $2, '\x00')`,
		h.f.byPublicID(t, plain).Serial, conflicted.ID)
	h.check(t, "named and conflicted")
	for u, want := range map[*store.User][]string{named: {plain}, conflicted: {naming}, bystander: {naming, plain}} {
		if q := h.queue(t, u, 1); !slices.Equal(slices.Sorted(slices.Values(q)), slices.Sorted(slices.Values(want))) {
			t.Errorf("%s's queue: %v, want %v", u.Email, q, want)
		}
	}
}

// A concern held several ways is in several branches of the query: pages of one or two must
// still list each once, in the Monitoring Officer's order.
func TestHolderQueuePagesEachConcernOnceInOrder(t *testing.T) {
	h := &holders{f: newFixture(t)}
	ctx := context.Background()
	mo := h.user(t, "mo@enghraifft.example", nil, "monitoring_officer")
	many := h.user(t, "many@enghraifft.example", nil, "safeguarding", "investigator")
	for i := 0; i < 9; i++ {
		h.f.set(h.f.now.Add(time.Hour))
		id := h.file(t, i%3 == 0)
		switch i % 4 {
		case 0:
			h.set(t, id, `route = $2`, route("head_of_service", "many@enghraifft.example", "safeguarding_hub", ""))
		case 1:
			h.set(t, id, `referred_to = 'safeguarding', referred_email = 'many@enghraifft.example'`)
		case 2:
			h.set(t, id, `route = $2`, route("head_of_service", "many@enghraifft.example"))
			if err := h.f.st.GrantCaseAccess(ctx, h.f.byPublicID(t, id).Serial, many.ID, &mo.ID, []byte("transfer")); err != nil {
				t.Fatal(err)
			}
		}
	}
	h.check(t, "held several ways")
	checker := access.New(h.f.names)
	want := slices.DeleteFunc(h.queue(t, mo, 50), func(id string) bool {
		facts, err := h.f.st.CaseFactsByPublicID(ctx, id)
		return err != nil || !checker.CanReadConcern(many, facts)
	})
	if len(want) < 7 {
		t.Fatalf("only %d concerns held: the test holds too few to page through", len(want))
	}
	for _, limit := range []int{1, 2, 50} {
		if got := h.queue(t, many, limit); !slices.Equal(got, want) {
			t.Errorf("pages of %d: %v, want %v", limit, got, want)
		}
	}
}
