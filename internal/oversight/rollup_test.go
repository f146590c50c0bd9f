package oversight_test

import (
	"context"
	"database/sql"
	"math"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"candour/internal/dbtest"
	"candour/internal/publicid"
	"candour/internal/store"
)

// referenceFacts works the statistics out the slow way, straight from concerns and messages
// (what store.Stats did before the rollup of migration 00009), with percentiles over the same
// whole hours the rollup keeps.
func referenceFacts(t *testing.T, db *sqlx.DB, from, to, now time.Time) *store.StatsFacts {
	t.Helper()
	f := &store.StatsFacts{}
	var rows []struct {
		store.StatsCount
		AckLate             int64 `db:"ack_late"`
		AckOverdue          int64 `db:"ack_overdue"`
		FeedbackLate        int64 `db:"feedback_late"`
		FeedbackOverdue     int64 `db:"feedback_overdue"`
		Anonymous           int64 `db:"anonymous"`
		AckLateKeys         int64 `db:"ack_late_keys"`
		AckOverdueKeys      int64 `db:"ack_overdue_keys"`
		FeedbackLateKeys    int64 `db:"feedback_late_keys"`
		FeedbackOverdueKeys int64 `db:"feedback_overdue_keys"`
		AnonymousKeys       int64 `db:"anonymous_keys"`
	}
	if err := db.Select(&rows, `
		SELECT CASE
		         WHEN GROUPING(channel) = 0 THEN 'channel' WHEN GROUPING(mode) = 0 THEN 'mode'
		         WHEN GROUPING(category) = 0 THEN 'category' WHEN GROUPING(service_area) = 0 THEN 'service_area'
		         WHEN GROUPING(route_rule) = 0 THEN 'route' WHEN GROUPING(o) = 0 THEN 'outcome'
		         ELSE 'total' END AS dimension,
		       coalesce(channel, mode, category, service_area, route_rule, o, '') AS value,
		       count(*) AS n,
		       count(*) FILTER (WHERE acknowledged_at > acknowledge_by) AS ack_late,
		       count(*) FILTER (WHERE acknowledged_at IS NULL AND acknowledge_by < $3) AS ack_overdue,
		       count(*) FILTER (WHERE feedback_at > feedback_by) AS feedback_late,
		       count(*) FILTER (WHERE feedback_at IS NULL AND feedback_by < $3) AS feedback_overdue,
		       count(*) FILTER (WHERE mode = 'anonymous') AS anonymous,
		       coalesce(sum(record_key), 0) AS keys,
		       coalesce(sum(record_key) FILTER (WHERE acknowledged_at > acknowledge_by), 0) AS ack_late_keys,
		       coalesce(sum(record_key) FILTER (WHERE acknowledged_at IS NULL AND acknowledge_by < $3), 0) AS ack_overdue_keys,
		       coalesce(sum(record_key) FILTER (WHERE feedback_at > feedback_by), 0) AS feedback_late_keys,
		       coalesce(sum(record_key) FILTER (WHERE feedback_at IS NULL AND feedback_by < $3), 0) AS feedback_overdue_keys,
		       coalesce(sum(record_key) FILTER (WHERE mode = 'anonymous'), 0) AS anonymous_keys
		FROM (SELECT *, coalesce(outcome, 'pending') AS o FROM concerns) c
		WHERE received_at >= $1 AND received_at < $2
		GROUP BY GROUPING SETS ((channel), (mode), (category), (service_area), (route_rule), (o), ())`,
		from, to, now); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.Dimension == "total" {
			f.AckLate, f.AckOverdue = store.Tally{N: r.AckLate, Keys: r.AckLateKeys}, store.Tally{N: r.AckOverdue, Keys: r.AckOverdueKeys}
			f.FeedbackLate = store.Tally{N: r.FeedbackLate, Keys: r.FeedbackLateKeys}
			f.FeedbackOverdue = store.Tally{N: r.FeedbackOverdue, Keys: r.FeedbackOverdueKeys}
			f.Anonymous = store.Tally{N: r.Anonymous, Keys: r.AnonymousKeys}
		}
		if r.N > 0 {
			f.Counts = append(f.Counts, r.StatsCount)
		}
	}
	if err := db.Get(&f.AnonymousDialogue, `
		SELECT count(*) AS n, coalesce(sum(record_key), 0) AS keys FROM (
		  SELECT m.concern_id, c.record_key FROM messages m JOIN concerns c ON c.id = m.concern_id
		  WHERE c.mode = 'anonymous' AND c.received_at >= $1 AND c.received_at < $2 AND m.author IN ('staff', 'reporter')
		  GROUP BY m.concern_id, c.record_key
		  HAVING bool_or(m.author = 'staff') AND bool_or(m.author = 'reporter')) d`, from, to); err != nil {
		t.Fatal(err)
	}
	if err := db.Select(&f.Times, `
		WITH t AS (
		  SELECT count(acknowledged_at) AS ack_n, count(decided_at) AS decide_n,
		         count(feedback_at) AS feedback_n, count(closed_at) AS close_n,
		         coalesce(sum(record_key) FILTER (WHERE acknowledged_at IS NOT NULL), 0) AS ack_k,
		         coalesce(sum(record_key) FILTER (WHERE decided_at IS NOT NULL), 0) AS decide_k,
		         coalesce(sum(record_key) FILTER (WHERE feedback_at IS NOT NULL), 0) AS feedback_k,
		         coalesce(sum(record_key) FILTER (WHERE closed_at IS NOT NULL), 0) AS close_k,
		         percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY round(date_part('epoch', acknowledged_at - received_at) / 3600) * 3600) AS ack,
		         percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY round(date_part('epoch', decided_at - received_at) / 3600) * 3600) AS decide,
		         percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY round(date_part('epoch', feedback_at - received_at) / 3600) * 3600) AS feedback,
		         percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY round(date_part('epoch', closed_at - received_at) / 3600) * 3600) AS close
		  FROM concerns WHERE received_at >= $1 AND received_at < $2)
		SELECT 'acknowledge' AS metric, ack_n AS n, ack_k AS keys, ack[1] AS median, ack[2] AS p90 FROM t
		UNION ALL SELECT 'decide', decide_n, decide_k, decide[1], decide[2] FROM t
		UNION ALL SELECT 'feedback', feedback_n, feedback_k, feedback[1], feedback[2] FROM t
		UNION ALL SELECT 'close', close_n, close_k, close[1], close[2] FROM t`, from, to); err != nil {
		t.Fatal(err)
	}
	return f
}

// countsOf gives each cell's count and key sum: the rollup must carry both exactly.
func countsOf(f *store.StatsFacts) map[string]store.Tally {
	m := map[string]store.Tally{}
	for _, c := range f.Counts {
		if c.Dimension != "finding" {
			t := m[c.Dimension+"/"+c.Value]
			m[c.Dimension+"/"+c.Value] = store.Tally{N: t.N + c.N, Keys: t.Keys + c.Keys}
		}
	}
	return m
}

func sameFloat(a, b sql.NullFloat64) bool {
	return a.Valid == b.Valid && (!a.Valid || math.Abs(a.Float64-b.Float64) < 1e-6)
}

func compareFacts(t *testing.T, name string, got, want *store.StatsFacts) {
	t.Helper()
	gc, wc := countsOf(got), countsOf(want)
	for k, w := range wc {
		if gc[k] != w {
			t.Errorf("%s: count %s: got %+v, want %+v", name, k, gc[k], w)
		}
	}
	for k, g := range gc {
		if _, ok := wc[k]; !ok {
			t.Errorf("%s: count %s: got %+v, want no row", name, k, g)
		}
	}
	scalars := [][3]any{
		{"ack late", got.AckLate, want.AckLate}, {"ack overdue", got.AckOverdue, want.AckOverdue},
		{"feedback late", got.FeedbackLate, want.FeedbackLate}, {"feedback overdue", got.FeedbackOverdue, want.FeedbackOverdue},
		{"anonymous", got.Anonymous, want.Anonymous}, {"anonymous dialogue", got.AnonymousDialogue, want.AnonymousDialogue},
	}
	for _, s := range scalars {
		if s[1] != s[2] {
			t.Errorf("%s: %s: got %v, want %v", name, s[0], s[1], s[2])
		}
	}
	if len(got.Times) != len(want.Times) {
		t.Fatalf("%s: %d times, want %d", name, len(got.Times), len(want.Times))
	}
	for i, w := range want.Times {
		g := got.Times[i]
		if g.Metric != w.Metric || g.N != w.N || g.Keys != w.Keys || !sameFloat(g.Median, w.Median) || !sameFloat(g.P90, w.P90) {
			t.Errorf("%s: times: got %+v, want %+v", name, g, w)
		}
	}
}

// TestStatsRollupMatchesConcerns checks the rollup the triggers keep against the concerns
// themselves, after a bulk load and after the kinds of change the application makes (new
// concerns, lifecycle steps, messages through the store, retention deleting a mailbox, a
// concern deleted), for periods of whole months and for periods whose ends fall mid-month,
// across a clock change, inside one day and outside the data.
func TestStatsRollupMatchesConcerns(t *testing.T) {
	db := dbtest.New(t)
	ctx := context.Background()
	now := time.Date(2026, 3, 15, 10, 30, 0, 0, time.UTC)
	dbtest.SeedConcerns(t, db, 20_000, now)
	st := store.New(db)

	exec(t, db, `UPDATE concerns SET acknowledged_at = received_at + interval '9 days 7 minutes', status = 'acknowledged'
		WHERE acknowledged_at IS NULL AND id % 3 = 0 AND received_at + interval '9 days' < $1`, now)
	exec(t, db, `UPDATE concerns SET outcome = 'declined', decided_at = coalesce(decided_at, acknowledged_at + interval '1 hour 40 minutes')
		WHERE acknowledged_at IS NOT NULL AND id % 7 = 0`)
	exec(t, db, `UPDATE concerns SET next_deadline = NULL WHERE id % 11 = 0`) // no statistic moves
	exec(t, db, `UPDATE concerns SET received_at = received_at - interval '20 days' WHERE id % 13 = 0`)
	exec(t, db, `DELETE FROM concerns WHERE id % 17 = 0`)
	// A conversation started one message at a time through the store (the reporter's goes
	// through InsertMessage's CTE that also updates the concern), and retention emptying
	// mailboxes.
	var ids []int64
	if err := db.Select(&ids, `SELECT id FROM concerns WHERE id % 10 <> 0 AND mode = 'anonymous' ORDER BY id LIMIT 300`); err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		at := now.Add(-time.Duration(i) * time.Hour)
		if err := st.InsertMessage(ctx, &store.Message{ID: publicid.New(), ConcernID: id, Author: "staff", Body: []byte{0}, CreatedAt: at}); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			if err := st.InsertMessage(ctx, &store.Message{ID: publicid.New(), ConcernID: id, Author: "reporter", Body: []byte{0}, CreatedAt: at}); err != nil {
				t.Fatal(err)
			}
		}
	}
	exec(t, db, `DELETE FROM messages WHERE concern_id IN (SELECT id FROM concerns WHERE id % 40 = 0)`)
	exec(t, db, `DELETE FROM messages WHERE concern_id IN (SELECT id FROM concerns WHERE id % 30 = 0) AND author = 'reporter'`)
	// One concern at a time, as the web form files them (references past the seeded ones).
	ref += 100_000
	for i := 0; i < 20; i++ {
		insert(t, db, concern{channel: "web", mode: "anonymous", category: "fraud", area: "housing", route: "default",
			outcome: "accepted", received: time.Date(2025, 7, 14, 13, 0, 0, 0, time.UTC).Add(time.Duration(i) * 5 * time.Hour),
			ack: time.Duration(i) * 3 * time.Hour, decide: 2 * day, feedback: 30*day + 29*time.Minute, close: 40 * day})
	}

	// A batch as the portal files them, in one statement: concerns that have reached nothing,
	// anonymous and not, across a month's end, with one that has.
	exec(t, db, `INSERT INTO concerns (reference, channel, mode, service_area, category, safeguarding, status, language,
		route_rule, route_version, route, received_at, acknowledge_by, feedback_by, acknowledged_at, outcome)
		VALUES ($1, 'web', 'anonymous', 'housing', 'fraud', false, 'received', 'en', 'default', 'test', '{}', $5, $5, $5, NULL, NULL),
		       ($2, 'web', 'confidential', 'finance', 'fraud', true, 'received', 'en', 'safeguarding', 'test', '{}', $5, $5, $5, NULL, NULL),
		       ($3, 'councillor', 'anonymous', 'housing', 'other', false, 'received', 'cy', 'default', 'test', '{}', $6, $6, $6, NULL, NULL),
		       ($4, 'web', 'anonymous', 'housing', 'fraud', false, 'acknowledged', 'en', 'default', 'test', '{}', $5, $5, $5, $6, 'accepted')`,
		dbtest.Reference(ref+1), dbtest.Reference(ref+2), dbtest.Reference(ref+3), dbtest.Reference(ref+4),
		time.Date(2025, 7, 31, 22, 0, 0, 0, time.UTC), time.Date(2025, 8, 1, 9, 0, 0, 0, time.UTC))
	ref += 10

	london, _ := time.LoadLocation("Europe/London")
	periods := []struct {
		name     string
		from, to time.Time
	}{
		{"calendar year", time.Date(2025, 1, 1, 0, 0, 0, 0, london), time.Date(2026, 1, 1, 0, 0, 0, 0, london)},
		{"financial year", time.Date(2024, 4, 1, 0, 0, 0, 0, london), time.Date(2025, 4, 1, 0, 0, 0, 0, london)},
		{"mid-month to mid-month across clock changes", time.Date(2025, 3, 17, 0, 0, 0, 0, london), time.Date(2025, 11, 9, 0, 0, 0, 0, london)},
		{"UTC midnights in summer", time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 9, 1, 0, 0, 0, 0, time.UTC)},
		{"inside one month", time.Date(2025, 7, 3, 0, 0, 0, 0, london), time.Date(2025, 7, 29, 0, 0, 0, 0, london)},
		{"one day", time.Date(2025, 7, 15, 0, 0, 0, 0, london), time.Date(2025, 7, 16, 0, 0, 0, 0, london)},
		{"odd instants", time.Date(2023, 2, 3, 4, 5, 6, 0, time.UTC), time.Date(2025, 10, 26, 1, 30, 0, 0, time.UTC)},
		{"everything", time.Date(2000, 1, 1, 0, 0, 0, 0, london), time.Date(2030, 1, 1, 0, 0, 0, 0, london)},
		{"nothing", time.Date(2027, 1, 1, 0, 0, 0, 0, london), time.Date(2028, 1, 1, 0, 0, 0, 0, london)},
	}
	for _, p := range periods {
		got, err := st.Stats(ctx, p.from, p.to, now)
		if err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		compareFacts(t, p.name, got, referenceFacts(t, db, p.from, p.to, now))
	}

	// The deltas folded, the figures do not move, and the tables hold exactly what a fresh
	// backfill would.
	if err := st.CompactStats(ctx); err != nil {
		t.Fatal(err)
	}
	for _, p := range periods {
		got, err := st.Stats(ctx, p.from, p.to, now)
		if err != nil {
			t.Fatalf("%s after compaction: %v", p.name, err)
		}
		compareFacts(t, p.name+" after compaction", got, referenceFacts(t, db, p.from, p.to, now))
	}
	var diff int
	if err := db.Get(&diff, `
		WITH fresh AS (
		  SELECT x.month, x.dimension, x.value, sum(x.n) AS n, sum(x.ack_late) AS ack_late, sum(x.feedback_late) AS feedback_late,
		         sum(x.anonymous) AS anonymous, sum(x.anonymous_dialogue) AS anonymous_dialogue, sum(x.keys) AS keys,
		         sum(x.ack_late_keys) AS ack_late_keys, sum(x.feedback_late_keys) AS feedback_late_keys,
		         sum(x.anonymous_keys) AS anonymous_keys, sum(x.anonymous_dialogue_keys) AS anonymous_dialogue_keys
		  FROM concerns c, stats_concern_cells(1, c.record_key, c.received_at, c.channel, c.mode, c.category, c.service_area,
		      c.route_rule, c.outcome, c.acknowledged_at, c.acknowledge_by, c.feedback_at, c.feedback_by, c.dialogue) x
		  GROUP BY 1, 2, 3),
		kept AS (SELECT month, dimension, value, n, ack_late, feedback_late, anonymous, anonymous_dialogue, keys,
		                ack_late_keys, feedback_late_keys, anonymous_keys, anonymous_dialogue_keys
		         FROM stats_concern_counts WHERE n <> 0 OR ack_late <> 0 OR feedback_late <> 0 OR anonymous <> 0 OR anonymous_dialogue <> 0
		           OR keys <> 0 OR ack_late_keys <> 0 OR feedback_late_keys <> 0 OR anonymous_keys <> 0 OR anonymous_dialogue_keys <> 0)
		SELECT count(*) FROM ((TABLE fresh EXCEPT ALL TABLE kept) UNION ALL (TABLE kept EXCEPT ALL TABLE fresh)) d`); err != nil {
		t.Fatal(err)
	}
	if diff != 0 {
		t.Errorf("stats_concern_counts differs from a fresh backfill in %d rows", diff)
	}
	if err := db.Get(&diff, `
		WITH fresh AS (
		  SELECT stats_month(c.received_at) AS month, t.metric, t.hours, count(*) AS n, sum(c.record_key) AS keys
		  FROM concerns c, stats_concern_times(c.received_at, c.acknowledged_at, c.decided_at, c.feedback_at, c.closed_at) t
		  GROUP BY 1, 2, 3),
		kept AS (SELECT month, metric, hours, n, keys FROM stats_concern_times WHERE n <> 0 OR keys <> 0)
		SELECT count(*) FROM ((TABLE fresh EXCEPT ALL TABLE kept) UNION ALL (TABLE kept EXCEPT ALL TABLE fresh)) d`); err != nil {
		t.Fatal(err)
	}
	if diff != 0 {
		t.Errorf("stats_concern_times differs from a fresh backfill in %d rows", diff)
	}
	var wrong int
	if err := db.Get(&wrong, `
		SELECT count(*) FROM concerns c
		WHERE c.dialogue <> (EXISTS (SELECT 1 FROM messages m WHERE m.concern_id = c.id AND m.author = 'staff')
		                 AND EXISTS (SELECT 1 FROM messages m WHERE m.concern_id = c.id AND m.author = 'reporter'))`); err != nil {
		t.Fatal(err)
	}
	if wrong != 0 {
		t.Errorf("%d concerns have a dialogue flag that does not match their mailbox", wrong)
	}
}
