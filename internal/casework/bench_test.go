package casework_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"candour/internal/access"
	"candour/internal/casework"
	"candour/internal/dbtest"
	"candour/internal/proctree"
	"candour/internal/store"
)

func p99(ds []time.Duration) time.Duration { return pct(ds, 99) }

func msf(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func runTimes(b *testing.B, n int, fn func() error) []time.Duration {
	b.Helper()
	if err := fn(); err != nil {
		b.Fatal(err)
	}
	out := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		t := time.Now()
		if err := fn(); err != nil {
			b.Fatal(err)
		}
		out = append(out, time.Since(t))
	}
	return out
}

// BenchmarkTriage: the Monitoring Officer's queue over 1,000,000 concerns (bulk COPY, realistic
// spreads): the first page, a page 10,000 items deep (keyset cursor), and a concern page (a real
// concern with messages, decrypted and audited). The floor, measured in the same run, is a
// primary-key lookup of one concern row through the same pool. Target: each p99 ≤ 20 ms.
func BenchmarkTriage(b *testing.B) {
	const concerns, runs, pageSize = 1_000_000, 200, 50
	f := newFixture(b)
	ctx := context.Background()
	t0 := time.Now()
	dbtest.SeedConcerns(b, f.db, concerns, f.clock())
	b.Logf("seeded %d concerns in %s", concerns, time.Since(t0).Round(time.Second))
	mo := f.user(b, "elin.rowlands@enghraifft.example", "monitoring_officer")
	id := f.report(b, false)
	for i := 0; i < 10; i++ {
		if err := f.cw.Message(ctx, mo, id, "A question for the reporter"); err != nil {
			b.Fatal(err)
		}
	}

	cursor, short := deepCursor(b, f, mo)
	if short > 0 {
		b.Fatalf("the queue ended after %d items", short)
	}

	var serial int64 // the floor stays a primary-key lookup
	if err := f.db.GetContext(ctx, &serial, `SELECT id FROM concerns WHERE public_id = $1`, id); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	floor := runTimes(b, runs, func() error {
		var ref string
		return f.db.GetContext(ctx, &ref, `SELECT reference FROM concerns WHERE id = $1`, serial)
	})
	first := runTimes(b, runs, func() error {
		_, err := f.cw.Triage(ctx, mo, casework.TriageQuery{Limit: pageSize})
		return err
	})
	deep := runTimes(b, runs, func() error {
		_, err := f.cw.Triage(ctx, mo, casework.TriageQuery{Limit: pageSize, Cursor: cursor})
		return err
	})
	concern := runTimes(b, runs, func() error {
		_, err := f.cw.Concern(ctx, mo, id)
		return err
	})
	b.StopTimer()
	// The plans these figures rest on, for the record.
	v := store.TriageViewer{UserID: mo.ID, Email: mo.Email, NamedKey: access.NamedKey(f.names, mo.Email), Monitoring: true}
	after, _ := casework.DecodeCursor(cursor)
	for name, c := range map[string]*store.TriageCursor{"first page": nil, "deep page": after} {
		plan, err := f.st.ExplainTriage(ctx, v, store.TriageFilter{}, c, pageSize+1, f.clock())
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("plan of the %s:\n%s", name, plan)
	}
	b.ReportMetric(msf(p99(floor)), "floor_p99_ms")
	for name, ds := range map[string][]time.Duration{"first_page": first, "deep_page": deep, "concern_page": concern} {
		b.ReportMetric(msf(p99(ds)), name+"_p99_ms")
		b.ReportMetric(msf(p99(ds))/msf(p99(floor)), name+"_ratio")
	}
}

// BenchmarkTriageTwoCouncils: what sharing a deployment costs the Monitoring Officer's queue.
// Three databases of the same 500,000 concerns, queried through the same store:
//   - "no_rls": one council, with row-level security turned off by the owner (the store still
//     sets its council in every transaction): the floor;
//   - "single": one council, as it runs;
//   - "shared": a council whose database also holds another council's 500,000.
//
// They take turns, in a different order each round, in the same run. Target (issue 16):
// row-level security costs at most 10% (single against no_rls, shared against single).
func BenchmarkTriageTwoCouncils(b *testing.B) {
	const each, runs, rounds, pageSize = 500_000, 100, 3, 50
	ctx := context.Background()
	type side struct {
		name        string
		f           *fixture
		mo          *store.User
		cursor      string
		first, deep []time.Duration
	}
	sides := []*side{{name: "no_rls", f: newFixture(b)}, {name: "single", f: newFixture(b)}, {name: "shared", f: newFixtureIn(b, "south")}}
	for _, s := range sides {
		if s.name == "shared" {
			dbtest.SeedConcernsIn(b, s.f.db, store.DefaultCouncil, each, s.f.clock()) // the other council
		}
		dbtest.SeedConcernsIn(b, s.f.db, s.f.st.Council(), each, s.f.clock())
		if s.name == "no_rls" {
			dbtest.Open(b, s.f.ownerURL).MustExec(`ALTER TABLE concerns DISABLE ROW LEVEL SECURITY;
				ALTER TABLE conflicts DISABLE ROW LEVEL SECURITY; ALTER TABLE case_access DISABLE ROW LEVEL SECURITY`)
		}
		s.mo = s.f.user(b, "elin.rowlands@enghraifft.example", "monitoring_officer")
		var short int
		if s.cursor, short = deepCursor(b, s.f, s.mo); short > 0 {
			b.Fatalf("the queue ended after %d items", short)
		}
	}
	b.ResetTimer()
	for round := range rounds {
		for i := range sides {
			s := sides[(i+round)%len(sides)]
			s.first = append(s.first, runTimes(b, runs, func() error {
				_, err := s.f.cw.Triage(ctx, s.mo, casework.TriageQuery{Limit: pageSize})
				return err
			})...)
			s.deep = append(s.deep, runTimes(b, runs, func() error {
				_, err := s.f.cw.Triage(ctx, s.mo, casework.TriageQuery{Limit: pageSize, Cursor: s.cursor})
				return err
			})...)
		}
	}
	b.StopTimer()
	for _, s := range sides {
		b.ReportMetric(msf(p99(s.first)), s.name+"_first_page_p99_ms")
		b.ReportMetric(msf(p99(s.deep)), s.name+"_deep_page_p99_ms")
	}
	for _, pair := range [][2]*side{{sides[1], sides[0]}, {sides[2], sides[1]}} {
		b.ReportMetric(msf(p99(pair[0].first))/msf(p99(pair[1].first)), pair[0].name+"_to_"+pair[1].name+"_first_page_ratio")
		b.ReportMetric(msf(p99(pair[0].deep))/msf(p99(pair[1].deep)), pair[0].name+"_to_"+pair[1].name+"_deep_page_ratio")
	}
}

// deepCursor walks u's queue and returns the cursor of the page that starts 10,000 items in or,
// when the queue is shorter, of its last page; short is then the queue's length.
func deepCursor(tb testing.TB, f *fixture, u *store.User) (cursor string, short int) {
	tb.Helper()
	for walked := 0; walked < 10_000; walked += 200 {
		page, err := f.cw.Triage(context.Background(), u, casework.TriageQuery{Limit: 200, Cursor: cursor})
		if err != nil {
			tb.Fatal(err)
		}
		if page.NextCursor == "" {
			return cursor, walked + len(page.Items)
		}
		cursor = page.NextCursor
	}
	return cursor, 0
}

// staffClient is one of the concurrent staff in BenchmarkTriageConcurrent: who, and the page
// of their queue that starts deepest (up to 10,000 items in).
type staffClient struct {
	kind   string
	user   *store.User
	cursor string
}

// triageFilters are the filtered pages the clients take turns asking for.
var triageFilters = []store.TriageFilter{{Status: "received"}, {ServiceArea: "education"}, {Breached: true},
	{Channel: "councillor"}, {Route: "councillor-conflict"}}

// triageLoad is BenchmarkTriageConcurrent's database and staff.
type triageLoad struct {
	f                *fixture
	mo, deputy, lead *store.User
	concern          string // a real concern with messages, all three may read
	deep             map[*store.User]string
}

// newTriageLoad seeds 1,000,000 concerns, the three kinds of staff, their exclusions and grant,
// and finds each one's cursor up to 10,000 items deep.
func newTriageLoad(tb testing.TB) *triageLoad {
	tb.Helper()
	f := newFixture(tb)
	ctx := context.Background()
	t0 := time.Now()
	dbtest.SeedConcerns(tb, f.db, 1_000_000, f.clock())
	tb.Logf("seeded 1,000,000 concerns in %s", time.Since(t0).Round(time.Second))

	l := &triageLoad{f: f, deep: map[*store.User]string{}}
	l.mo = f.user(tb, dbtest.SeedMonitoringOfficer, "monitoring_officer")
	l.deputy = f.user(tb, "deputy.monitoring@seed.example", "deputy_monitoring_officer")
	l.lead = &store.User{Email: dbtest.SeedLeadMember("housing"), Name: "Lead", Roles: []string{"service_lead"},
		ServiceAreas: []string{"housing"}, Language: "en", Status: "active"}
	if err := f.st.InsertUser(ctx, l.lead); err != nil {
		tb.Fatal(err)
	}
	f.db.MustExec(`INSERT INTO conflicts (concern_id, user_id, reason)
		SELECT id, $1, '\x00' FROM concerns WHERE closed_at IS NULL AND id % 50 = 0`, l.deputy.ID)
	f.db.MustExec(`UPDATE concerns SET named_keys = ARRAY[$1::bytea] WHERE closed_at IS NULL AND id % 200 = 1`,
		access.NamedKey(f.names, l.deputy.Email))
	dbtest.Open(tb, f.ownerURL).MustExec(`ANALYZE concerns, conflicts, concern_holders`) // the owner's: the serving role's is skipped
	l.concern = f.report(tb, false)
	for i := 0; i < 10; i++ {
		if err := f.cw.Message(ctx, l.mo, l.concern, "A question for the reporter"); err != nil {
			tb.Fatal(err)
		}
	}
	if err := f.st.GrantCaseAccess(ctx, f.byPublicID(tb, l.concern).Serial, l.lead.ID, &l.mo.ID, []byte("transfer")); err != nil {
		tb.Fatal(err)
	}
	for _, u := range []*store.User{l.mo, l.deputy, l.lead} {
		var short int
		if l.deep[u], short = deepCursor(tb, f, u); short > 0 {
			tb.Logf("%s: the queue ends after %d items", u.Email, short)
		}
	}
	return l
}

// BenchmarkTriageConcurrent: issue 20's target, triage p99 ≤ 20 ms with 16 concurrent staff
// clients at 1,000,000 concerns. The clients are Monitoring Officers, a deputy who declared
// conflicts on one open concern in fifty and is named in one in two hundred, and service leads
// who see their area's councillor concerns and a grant; each asks in turn for the first page,
// a filtered page, a page up to 10,000 items deep and a concern page. The floor is the same 16
// clients each looking up one concern by primary key through the same pool; floor and target
// take turns, in the same run, so the machine's noise falls on both.
func BenchmarkTriageConcurrent(b *testing.B) {
	const clients, rounds, perKind, pageSize = 16, 3, 10, 50
	l := newTriageLoad(b)
	f, mo, id := l.f, l.mo, l.concern
	ctx := context.Background()
	staff := make([]*staffClient, clients)
	for i := range staff {
		switch i % 4 {
		case 0, 1:
			staff[i] = &staffClient{kind: "monitoring", user: l.mo}
		case 2:
			staff[i] = &staffClient{kind: "conflicted", user: l.deputy}
		default:
			staff[i] = &staffClient{kind: "service_lead", user: l.lead}
		}
		staff[i].cursor = l.deep[staff[i].user]
	}

	var serial int64
	if err := f.db.GetContext(ctx, &serial, `SELECT id FROM concerns WHERE public_id = $1`, id); err != nil {
		b.Fatal(err)
	}
	// Each client's operations, in the order it runs them; kinds interleave so that every kind
	// meets every other under load.
	ops := func(c *staffClient, n int) (kind string, fn func() error) {
		switch n % 4 {
		case 0:
			return "first_page", func() error {
				_, err := f.cw.Triage(ctx, c.user, casework.TriageQuery{Limit: pageSize})
				return err
			}
		case 1:
			filter := triageFilters[(n/4)%len(triageFilters)]
			return "filtered_page", func() error {
				_, err := f.cw.Triage(ctx, c.user, casework.TriageQuery{Limit: pageSize, Filter: filter})
				return err
			}
		case 2:
			return "deep_page", func() error {
				_, err := f.cw.Triage(ctx, c.user, casework.TriageQuery{Limit: pageSize, Cursor: c.cursor})
				return err
			}
		}
		return "concern_page", func() error {
			_, err := f.cw.Concern(ctx, c.user, id)
			return err
		}
	}
	floorOp := func(*staffClient, int) (string, func() error) {
		return "floor", func() error {
			var ref string
			return f.db.GetContext(ctx, &ref, `SELECT reference FROM concerns WHERE id = $1`, serial)
		}
	}
	times := map[string][]time.Duration{}
	byViewer := map[string][]time.Duration{}
	var mu sync.Mutex
	// phase runs n operations on each client at once and files each one's time under its kind.
	phase := func(n int, op func(*staffClient, int) (string, func() error)) {
		var wg sync.WaitGroup
		errs := make(chan error, len(staff))
		for ci, c := range staff {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < n; i++ {
					kind, fn := op(c, ci+i) // clients start at different kinds
					t := time.Now()
					if err := fn(); err != nil {
						errs <- fmt.Errorf("%s %s: %w", c.kind, kind, err)
						return
					}
					d := time.Since(t)
					mu.Lock()
					times[kind] = append(times[kind], d)
					byViewer[c.kind+" "+kind] = append(byViewer[c.kind+" "+kind], d)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
	}
	phase(4, ops) // warm the pool, the plans and the caches
	clear(times)
	clear(byViewer)
	pool := f.db.Stats()
	// The CPU each side takes, of this process (the clients and the portal's code) and of the
	// PostgreSQL server it started, and the wall time: with 16 clients asking again as soon as
	// they are answered, the cores are saturated and every request waits for the others' CPU.
	var goCPU, pgCPU, wall [2]float64 // floor, target
	timed := func(side int, run func()) {
		self0, pg0 := proctree.CPU(os.Getpid())
		t := time.Now()
		run()
		wall[side] += time.Since(t).Seconds()
		self1, pg1 := proctree.CPU(os.Getpid())
		goCPU[side] += self1 - self0
		pgCPU[side] += pg1 - pg0
	}
	b.ResetTimer()
	for range rounds {
		timed(0, func() { phase(4*perKind, floorOp) })
		timed(1, func() { phase(4*perKind, ops) })
	}
	b.StopTimer()
	requests := float64(clients * rounds * 4 * perKind)
	for side, name := range []string{"floor", "target"} {
		b.ReportMetric(goCPU[side]/requests*1e3, name+"_go_cpu_ms/request")
		b.ReportMetric(pgCPU[side]/requests*1e3, name+"_pg_cpu_ms/request")
		// Little's law: each of the clients' requests takes, on average, clients × wall / requests.
		b.ReportMetric(clients*wall[side]/requests*1e3, name+"_mean_ms")
	}
	// Whether 16 clients waited for the pool's connections (database.Open allows 20).
	after := f.db.Stats()
	b.Logf("pool: %d connections open at most %d; %d waits for a connection, %s in all; %d closed as more than the idle limit",
		after.OpenConnections, after.MaxOpenConnections, after.WaitCount-pool.WaitCount, after.WaitDuration-pool.WaitDuration,
		after.MaxIdleClosed-pool.MaxIdleClosed)

	viewer := func(u *store.User) store.TriageViewer {
		return store.TriageViewer{UserID: u.ID, Email: u.Email, NamedKey: access.NamedKey(f.names, u.Email),
			Monitoring: access.CanSeeTriage(u), ServiceLead: u.HasRole("service_lead"), ServiceAreas: u.ServiceAreas}
	}
	deepest, _ := casework.DecodeCursor(l.deep[mo])
	for _, p := range []struct {
		name   string
		u      *store.User
		filter store.TriageFilter
		after  *store.TriageCursor
	}{
		{"Monitoring Officer's first page", mo, store.TriageFilter{}, nil},
		{"Monitoring Officer's deep page", mo, store.TriageFilter{}, deepest},
		{"Monitoring Officer's page of one route", mo, triageFilters[4], nil},
		{"service lead's first page", l.lead, store.TriageFilter{}, nil},
		{"service lead's page of a route they hold none of", l.lead, triageFilters[4], nil},
	} {
		plan, err := f.st.ExplainTriage(ctx, viewer(p.u), p.filter, p.after, pageSize+1, f.clock())
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("plan of the %s:\n%s", p.name, plan)
	}
	// What the queue's indexes cost in space, beside the table (issue 20).
	var sizes []string
	if err := dbtest.Open(b, f.ownerURL).Select(&sizes, `SELECT n || ' ' || pg_size_pretty(pg_relation_size(n::regclass))
		FROM unnest(ARRAY['concerns', 'concerns_triage', 'concern_holders', 'concern_holders_queue']) n`); err != nil {
		b.Fatal(err)
	}
	b.Logf("sizes: %s", strings.Join(sizes, ", "))
	names := make([]string, 0, len(byViewer))
	for name := range byViewer {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		ds := byViewer[name]
		b.Logf("%-28s n=%4d p50 %6.2f ms  p99 %6.2f ms", name, len(ds), msf(pct(ds, 50)), msf(pct(ds, 99)))
	}
	floor := times["floor"]
	b.ReportMetric(msf(pct(floor, 50)), "floor_p50_ms")
	b.ReportMetric(msf(pct(floor, 99)), "floor_p99_ms")
	for _, kind := range []string{"first_page", "filtered_page", "deep_page", "concern_page"} {
		ds := times[kind]
		b.ReportMetric(msf(pct(ds, 50)), kind+"_p50_ms")
		b.ReportMetric(msf(pct(ds, 99)), kind+"_p99_ms")
		b.ReportMetric(msf(pct(ds, 99))/msf(pct(floor, 99)), kind+"_p99_ratio")
	}
}

// pct is the p-th percentile of ds (nearest rank below).
func pct(ds []time.Duration, p int) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[(len(s)-1)*p/100]
}
