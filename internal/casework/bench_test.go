package casework_test

import (
	"context"
	"sort"
	"testing"
	"time"

	"candour/internal/access"
	"candour/internal/casework"
	"candour/internal/dbtest"
	"candour/internal/store"
)

func p99(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[(len(s)-1)*99/100]
}

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

	// The cursor of the page that starts 10,000 items deep, found by walking the queue.
	cursor := ""
	for walked := 0; walked < 10_000; walked += 200 {
		page, err := f.cw.Triage(ctx, mo, casework.TriageQuery{Limit: 200, Cursor: cursor})
		if err != nil {
			b.Fatal(err)
		}
		if page.NextCursor == "" {
			b.Fatalf("the queue ended after %d items", walked)
		}
		cursor = page.NextCursor
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
		for walked := 0; walked < 10_000; walked += 200 { // a page 10,000 items deep
			page, err := s.f.cw.Triage(ctx, s.mo, casework.TriageQuery{Limit: 200, Cursor: s.cursor})
			if err != nil || page.NextCursor == "" {
				b.Fatalf("walking the queue: %v after %d", err, walked)
			}
			s.cursor = page.NextCursor
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
