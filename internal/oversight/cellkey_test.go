package oversight_test

import (
	"context"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"candour/internal/dbtest"
	"candour/internal/oversight"
	"candour/internal/policytest"
	"candour/internal/routing"
	"candour/internal/store"
)

// fileWithKeys inserts one concern per category, received at, with record keys drawn from
// rng (seeded: the test is deterministic).
func fileWithKeys(t *testing.T, db *sqlx.DB, rng *rand.Rand, at time.Time, categories ...string) {
	t.Helper()
	var refs pq.StringArray
	var keys pq.Int64Array
	for range categories {
		ref++
		refs = append(refs, dbtest.Reference(ref))
		keys = append(keys, rng.Int64N(256))
	}
	exec(t, db, `INSERT INTO concerns (reference, channel, mode, service_area, category, safeguarding, status, language,
		route_rule, route_version, route, received_at, acknowledge_by, feedback_by, record_key)
		SELECT r, 'web', 'anonymous', 'finance', c, false, 'received', 'en', 'staff-whistleblowing', 'test', '{}',
		       $4, $4::timestamptz + interval '7 days', $4::timestamptz + interval '3 months', k
		FROM unnest($1::text[], $2::text[], $3::int[]) x (r, c, k)`, refs, pq.StringArray(categories), keys, at)
}

// cellKeyCase is a fresh database, record keys seeded with seed, and the statistics over it
// with the sample policy's perturbation table (noisy) and without (exact).
type cellKeyCase struct {
	db           *sqlx.DB
	rng          *rand.Rand
	noisy, exact *oversight.Service
}

func newCellKeyCase(t *testing.T, seed uint64) cellKeyCase {
	t.Helper()
	db := dbtest.New(t)
	noisy, exact := services(t, db)
	return cellKeyCase{db: db, rng: rand.New(rand.NewPCG(seed, 2026)), noisy: noisy, exact: exact}
}

// trials is how many seeded sets each attack is tried on.
const trials = 40

// services are the statistics with the sample policy's perturbation table, and exact.
func services(t *testing.T, db *sqlx.DB) (noisy, exact *oversight.Service) {
	t.Helper()
	p, err := routing.Load(policytest.Dir(t))
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(db)
	noisy, exact = oversight.New(st, func() *routing.Policy { return p }), oversight.New(st, nil)
	fixed := func() time.Time { return time.Date(2027, 1, 1, 0, 0, 0, 0, london) }
	noisy.SetClock(fixed)
	exact.SetClock(fixed)
	return noisy, exact
}

var london, _ = time.LoadLocation("Europe/London")

func month(year int, m time.Month) time.Time { return time.Date(year, m, 1, 0, 0, 0, 0, london) }

// The first attack: a breakdown with two suppressed cells (20 fraud, 1 bullying, 1 safety).
// With exact figures the total minus the shown cells gives the suppressed cells' sum every
// time; with the cell-key method the total is perturbed on its own, so over 40 seeded sets
// the attacker's arithmetic is often wrong.
func TestCellKeyDefeatsSuppressionArithmetic(t *testing.T) {
	c := newCellKeyCase(t, 17)
	ctx, db, rng, noisy, exact := context.Background(), c.db, c.rng, c.noisy, c.exact
	attack := func(svc *oversight.Service, from time.Time) (recovered, truth int64) {
		rep, err := svc.Figures(ctx, from, from.AddDate(0, 1, 0))
		if err != nil {
			t.Fatal(err)
		}
		total, ok := rep.Received.Shown()
		if !ok {
			t.Fatalf("%v: total suppressed: %+v", from, rep.Received)
		}
		trueCounts := map[string]int64{"fraud": 20, "bullying": 1, "safety": 1}
		recovered = total
		for _, r := range rep.Table("category").Rows {
			if v, ok := r.Shown(); ok {
				recovered -= v
			} else {
				truth += trueCounts[r.Key]
			}
		}
		return recovered, truth
	}
	wrong := 0
	for i := range trials {
		from := month(2000+i/12, time.Month(i%12+1))
		cats := []string{"bullying", "safety"}
		for range 20 {
			cats = append(cats, "fraud")
		}
		fileWithKeys(t, db, rng, from.Add(36*time.Hour), cats...)
		if got, truth := attack(exact, from); got != truth || truth != 2 {
			t.Fatalf("set %d without noise: the attack gives %d, want the true 2 (the attack must work on exact figures)", i, got)
		}
		if got, truth := attack(noisy, from); got != truth {
			wrong++
		}
	}
	if wrong < trials/4 {
		t.Errorf("the attack recovered the suppressed cells in %d of %d sets, want it wrong in at least a quarter", trials-wrong, trials)
	}
	t.Logf("the attack was wrong in %d of %d sets", wrong, trials)
}

// The second attack: January against January–February. With exact figures the difference is
// February's count (here 1 concern in a category and 1 in total); with the cell-key method
// January–February is a different set of concerns with unrelated noise. Over 40 seeded years
// the difference is often not the true count.
func TestCellKeyDefeatsPeriodDifferencing(t *testing.T) {
	c := newCellKeyCase(t, 2021)
	ctx, db, rng, noisy, exact := context.Background(), c.db, c.rng, c.noisy, c.exact
	feb := func(svc *oversight.Service, year int) (total, fraud int64) {
		count := func(to time.Month) (int64, int64) {
			rep, err := svc.Figures(ctx, month(year, time.January), month(year, to))
			if err != nil {
				t.Fatal(err)
			}
			n, _ := rep.Received.Shown()
			var f int64
			for _, r := range rep.Table("category").Rows {
				if r.Key == "fraud" {
					f, _ = r.Shown()
				}
			}
			return n, f
		}
		jan, janFraud := count(time.February)
		both, bothFraud := count(time.March)
		return both - jan, bothFraud - janFraud
	}
	wrongTotal, wrongFraud := 0, 0
	for i := range trials {
		year := 1990 + i
		jan := []string{"bullying", "bullying", "bullying", "bullying", "bullying"}
		for range 10 {
			jan = append(jan, "fraud")
		}
		fileWithKeys(t, db, rng, month(year, time.January).Add(48*time.Hour), jan...)
		fileWithKeys(t, db, rng, month(year, time.February).Add(48*time.Hour), "fraud")
		if total, fraud := feb(exact, year); total != 1 || fraud != 1 {
			t.Fatalf("year %d without noise: February by difference is %d in total, %d fraud; want 1 and 1", year, total, fraud)
		}
		total, fraud := feb(noisy, year)
		if total != 1 {
			wrongTotal++
		}
		if fraud != 1 {
			wrongFraud++
		}
	}
	if wrongTotal < trials/4 || wrongFraud < trials/4 {
		t.Errorf("January–February minus January gave February's count in %d (total) and %d (fraud) of %d years, want it wrong in at least a quarter",
			trials-wrongTotal, trials-wrongFraud, trials)
	}
	t.Logf("the difference was wrong in %d (total) and %d (fraud) of %d years", wrongTotal, wrongFraud, trials)
}

// The same query twice gives the same figures (the noise belongs to the set of concerns),
// and the noise is within the table's ±2 of the exact figures.
func TestCellKeySameQuerySameFigures(t *testing.T) {
	c := newCellKeyCase(t, 5)
	ctx, db, rng, noisy, exact := context.Background(), c.db, c.rng, c.noisy, c.exact
	cats := []string{}
	for i := range 37 {
		cats = append(cats, []string{"fraud", "bullying", "safety", "finance"}[i%4])
	}
	fileWithKeys(t, db, rng, month(2024, time.March).Add(time.Hour), cats...)
	from, to := month(2024, time.January), month(2025, time.January)
	first, err := noisy.Figures(ctx, from, to)
	if err != nil {
		t.Fatal(err)
	}
	again, err := noisy.Figures(ctx, from, to)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(first, again) {
		t.Errorf("the same query twice: got %+v then %+v, want the same figures", first, again)
	}
	if p := first.Perturbation; p.Method != "cell-key" || p.Version != "candour-ck-2.1" || p.MaxPerturbation != 2 {
		t.Errorf("perturbation: got %+v, want cell-key candour-ck-2.1 ±2", p)
	}
	truth, err := exact.Figures(ctx, from, to)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := truth.Received.Shown()
	if v, ok := first.Received.Shown(); !ok || v < n-2 || v > n+2 {
		t.Errorf("received: got %+v, want %d±2", first.Received, n)
	}
}
