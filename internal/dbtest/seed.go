package dbtest

import (
	"candour/internal/store"
	"context"
	"math/rand/v2"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// weighted picks from choices by weight.
type weighted struct {
	values  []string
	cumul   []int
	weights int
}

func pick(pairs ...any) weighted {
	var w weighted
	for i := 0; i < len(pairs); i += 2 {
		w.weights += pairs[i+1].(int)
		w.values = append(w.values, pairs[i].(string))
		w.cumul = append(w.cumul, w.weights)
	}
	return w
}

func (w weighted) from(r *rand.Rand) string {
	n := r.IntN(w.weights)
	i := sort.SearchInts(w.cumul, n+1)
	return w.values[i]
}

var (
	channels   = pick("web", 80, "councillor", 15, "recorded", 5)
	modes      = pick("anonymous", 55, "confidential", 30, "open", 15)
	categories = pick("misconduct", 30, "fraud", 15, "health_safety", 15, "safeguarding", 12, "discrimination", 10,
		"data_protection", 8, "other", 10)
	areas = pick("childrens-services", 25, "adult-social-care", 20, "housing", 20, "finance", 10, "environment", 15,
		"education", 9, "chief-executive", 1)
	routes = pick("staff-whistleblowing", 60, "safeguarding", 12, "councillor-service-area", 12, "councillor-conflict", 5,
		"councillor-escalation", 3, "councillor-passing-on-staff-concerns", 3, "default", 5)
	outcomes = pick("accepted", 30, "referred", 45, "declined", 25)
)

const base36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"

// SeedMonitoringOfficer holds the route of every seeded concern that goes to the Monitoring
// Officer.
const SeedMonitoringOfficer = "monitoring.officer@seed.example"

// SeedLeadMember holds the route of the seeded councillor concerns about area, with the area's
// head of service: a service lead with this address and area sees them in the queue.
func SeedLeadMember(area string) string { return "lead-member." + area + "@seed.example" }

// seedRoute is the stored routing decision of a seeded concern, as access and the queue read it.
func seedRoute(rule, area string) string {
	switch rule {
	case "safeguarding":
		return `{"rule":"safeguarding","route":[{"role":"safeguarding_hub","email":"hub@seed.example"}]}`
	case "councillor-service-area":
		return `{"rule":"councillor-service-area","route":[{"role":"lead_member","email":"` + SeedLeadMember(area) +
			`"},{"role":"head_of_service","email":"head-of-service.` + area + `@seed.example"}]}`
	}
	return `{"rule":"` + rule + `","route":[{"role":"monitoring_officer","email":"` + SeedMonitoringOfficer + `"}]}`
}

// Reference is the i-th seeded concern's reference.
func Reference(i int) string {
	var b [8]byte
	for j := 7; j >= 0; j-- {
		b[j] = base36[i%36]
		i /= 36
	}
	return "C-" + string(b[:4]) + "-" + string(b[4:])
}

// SeedConcerns bulk-loads n concerns received over the four years before now with COPY in one
// transaction, plus messages for one in ten of them, then VACUUM ANALYZE (as autovacuum
// would do after a load). Each is routed by its rule, as intake would route it: to the
// Monitoring Officer, the safeguarding hub, or the area's lead member and head of service.
func SeedConcerns(tb testing.TB, db *sqlx.DB, n int, now time.Time) {
	tb.Helper()
	SeedConcernsIn(tb, db, 0, n, now)
}

// SeedConcernsIn is SeedConcerns into council (0: the session's council, else the default).
// References are drawn from the council's id, so two councils' seeds do not collide.
func SeedConcernsIn(tb testing.TB, db *sqlx.DB, council int64, n int, now time.Time) {
	tb.Helper()
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	span := 4 * 365 * 24 * time.Hour
	start := now.Add(-span).Truncate(time.Hour)
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback()
	// PostgreSQL refuses COPY into a table under row-level security: copy into a temporary
	// table of the same shape, then move the rows in one INSERT, in the session's council (the
	// default council when the session names none).
	var chosen string
	refBase := 0 // references are unique across the deployment
	if council > store.DefaultCouncil {
		refBase = int(council) * 100_000_000
	}
	if council != 0 {
		chosen = strconv.FormatInt(council, 10)
	}
	if _, err := tx.Exec(`SELECT set_config('candour.council', coalesce(NULLIF($1, ''), NULLIF(current_setting('candour.council', true), ''), $2), true)`,
		chosen, strconv.FormatInt(store.DefaultCouncil, 10)); err != nil {
		tb.Fatal(err)
	}
	if _, err := tx.Exec(`CREATE TEMPORARY TABLE seed_concerns (LIKE concerns INCLUDING DEFAULTS) ON COMMIT DROP`); err != nil {
		tb.Fatal(err)
	}
	stmt, err := tx.Prepare(pq.CopyIn("seed_concerns", "reference", "channel", "mode", "service_area", "category", "safeguarding",
		"status", "language", "content", "route_rule", "route_version", "route", "received_at", "acknowledge_by",
		"feedback_by", "acknowledged_at", "decided_at", "feedback_at", "closed_at", "outcome", "next_deadline"))
	if err != nil {
		tb.Fatal(err)
	}
	content := make([]byte, 48)
	day := 24 * time.Hour
	opt := func(t time.Time) any {
		if t.IsZero() || t.After(now) {
			return nil
		}
		return t
	}
	for i := 0; i < n; i++ {
		received := start.Add(time.Duration(r.Int64N(int64(span)))).Truncate(time.Hour)
		ackBy, feedbackBy := received.Add(7*day), received.AddDate(0, 3, 0)
		var acked, decided, fedBack, closed time.Time
		var outcome any
		status := "received"
		if r.IntN(100) < 97 {
			acked = received.Add(time.Duration(r.Int64N(int64(10 * day))))
			status = "acknowledged"
			if r.IntN(100) < 90 {
				decided = acked.Add(time.Duration(r.Int64N(int64(30 * day))))
				o := outcomes.from(r)
				outcome, status = o, o
				fedBack = decided.Add(time.Duration(r.Int64N(int64(80 * day))))
				if r.IntN(100) < 85 {
					closed = fedBack.Add(time.Duration(r.Int64N(int64(60 * day))))
					status = "closed"
				}
			}
		}
		if decided.After(now) {
			decided, fedBack, closed, outcome, status = time.Time{}, time.Time{}, time.Time{}, nil, "acknowledged"
		}
		if acked.After(now) {
			acked, status = time.Time{}, "received"
		}
		if closed.After(now) {
			closed, status = time.Time{}, outcome.(string)
		}
		var next any = ackBy
		if status == "closed" {
			next = nil
		} else if !acked.IsZero() {
			next = feedbackBy
		}
		for j := range content {
			content[j] = byte(r.Uint32())
		}
		cat, channel, mode, area, rule := categories.from(r), channels.from(r), modes.from(r), areas.from(r), routes.from(r)
		if _, err := stmt.Exec(Reference(refBase+i), channel, mode, area, cat, cat == "safeguarding",
			status, "en", content, rule, "bench", seedRoute(rule, area), received, ackBy, feedbackBy,
			opt(acked), opt(decided), opt(fedBack), opt(closed), outcome, next); err != nil {
			tb.Fatal(err)
		}
	}
	if _, err := stmt.Exec(); err != nil {
		tb.Fatal(err)
	}
	if err := stmt.Close(); err != nil {
		tb.Fatal(err)
	}
	if _, err := tx.Exec(`INSERT INTO concerns SELECT * FROM seed_concerns ORDER BY id`); err != nil {
		tb.Fatal(err)
	}
	// A conversation on one concern in ten: staff asks, the reporter answers; some report
	// detriment.
	if _, err := tx.Exec(`INSERT INTO messages (concern_id, author, body, detriment, created_at)
		SELECT c.id, a.author, '\x00'::bytea, a.author = 'reporter' AND c.id % 97 = 0, c.received_at + a.after
		FROM concerns c, (VALUES ('staff', interval '2 days'), ('reporter', interval '5 days')) a(author, after)
		WHERE c.id % 10 = 0`); err != nil {
		tb.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
	// As the serving role VACUUM only warns that it is not the owner and skips the tables, which
	// left the visibility map empty and every index-only scan fetching rows from the table.
	var name string
	if err := db.Get(&name, `SELECT current_database()`); err != nil {
		tb.Fatal(err)
	}
	d, err := ready(tb).database(name)
	if err != nil {
		tb.Fatal(err)
	}
	owner := Open(tb, d.OwnerURL)
	tables := "concerns, messages"
	var holders bool // the route holders' index (migration 00037), unless a migration test seeds an older schema
	if err := owner.Get(&holders, `SELECT to_regclass('concern_holders') IS NOT NULL`); err != nil {
		tb.Fatal(err)
	} else if holders {
		tables += ", concern_holders"
	}
	if _, err := owner.Exec(`VACUUM (ANALYZE) ` + tables); err != nil {
		tb.Fatal(err)
	}
}
