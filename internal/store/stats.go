package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// StatsCount is one cell of a breakdown: how many rows have Value in Dimension, and the sum
// of their record keys.
type StatsCount struct {
	Dimension string `db:"dimension"`
	Value     string `db:"value"`
	N         int64  `db:"n"`
	Keys      int64  `db:"keys"`
}

// Tally is a count and the sum of the counted rows' record keys (migration 00030), from
// which internal/oversight works out the published figure's cell key. The sum is not reduced
// modulo 256: the rollup adds deltas of either sign.
type Tally struct {
	N    int64 `db:"n"`
	Keys int64 `db:"keys"`
}

// StatsTime is the spread of one interval (received → acknowledged, decided, fed back,
// closed) over the concerns that reached that step, in seconds. Each interval is first rounded
// to whole hours (the rollup keeps hour histograms), so Median and P90 are percentile_cont
// over those hours: exact at hour resolution, finer than the tenth of a day reports show.
type StatsTime struct {
	Metric string          `db:"metric"`
	N      int64           `db:"n"`
	Keys   int64           `db:"keys"` // of the concerns that reached the step
	Median sql.NullFloat64 `db:"median"`
	P90    sql.NullFloat64 `db:"p90"`
}

// StatsFacts are the raw aggregates behind the statistics: counts over clear columns only.
// Nothing here is suppressed yet; internal/oversight does that in one place.
type StatsFacts struct {
	Counts          []StatsCount // dimensions: total, channel, mode, category, service_area, route, outcome, finding
	Times           []StatsTime  // metrics: acknowledge, decide, feedback, close (hour resolution)
	AckLate         Tally        // acknowledged after acknowledge_by
	AckOverdue      Tally        // not acknowledged and past acknowledge_by
	DecideLate      Tally        // decided after decide_by
	DecideOverdue   Tally        // not decided and past decide_by
	FeedbackLate    Tally        // fed back after feedback_by
	FeedbackOverdue Tally        // not fed back and past feedback_by
	// Anonymous concerns, and those of them with a two-way conversation (at least one staff
	// and one reporter message).
	Anonymous         Tally
	AnonymousDialogue Tally
	// Allegations with a finding, and those upheld or partly upheld, in investigations
	// reported (or closed) in the period.
	Findings      Tally
	Substantiated Tally
	Detriment     Tally // messages reporting detriment, sent in the period
	// Investigations opened and closed in the period; recommendations past due and not done
	// at Now.
	InvestigationsOpened   Tally
	InvestigationsClosed   Tally
	RecommendationsOverdue Tally
}

// statsSettings keep a statistics query to one backend process (parallel workers cost more
// to start than they save on the rollup's few rows), skip JIT compilation, and let the
// aggregates hash in memory.
const statsSettings = `SET LOCAL work_mem = '64MB'; SET LOCAL max_parallel_workers_per_gather = 0; SET LOCAL jit = off`

// statsBounds split a period into the whole council months the rollup answers (stats_concern_counts
// and stats_concern_times, migration 00009) and at most two edges, [from, LoAt) and [HiAt, to),
// read from concerns itself. PostgreSQL works them out with the same stats_month the triggers
// key the rollup by, so a concern is counted exactly once whatever the period.
type statsBounds struct {
	LoMonth time.Time `db:"lo_month"` // first whole month in the period
	HiMonth time.Time `db:"hi_month"` // first month after the last whole one (== LoMonth: none)
	From    time.Time `db:"from_at"`
	LoAt    time.Time `db:"lo_at"`
	HiAt    time.Time `db:"hi_at"`
	To      time.Time `db:"to_at"`
}

const statsBoundsQuery = `
	WITH m AS (
	  SELECT CASE WHEN stats_month($1::timestamptz)::timestamp AT TIME ZONE 'Europe/London' < $1::timestamptz
	              THEN (stats_month($1::timestamptz) + interval '1 month')::date
	              ELSE stats_month($1::timestamptz) END AS lo,
	         stats_month($2::timestamptz) AS hi)
	SELECT lo AS lo_month, greatest(lo, hi) AS hi_month, $1::timestamptz AS from_at,
	       CASE WHEN lo < hi THEN lo::timestamp AT TIME ZONE 'Europe/London' ELSE $2::timestamptz END AS lo_at,
	       CASE WHEN lo < hi THEN hi::timestamp AT TIME ZONE 'Europe/London' ELSE $2::timestamptz END AS hi_at,
	       $2::timestamptz AS to_at
	FROM m`

// args are the query arguments $1..$6: the months, then the two edges.
func (b statsBounds) args() []any {
	return []any{b.LoMonth, b.HiMonth, b.From, b.LoAt, b.HiAt, b.To}
}

// Stats aggregates the concerns received in [from, to) and the casework of the period. now is
// the moment clocks and recommendations are judged against. It reads clear columns only and
// never touches content.
//
// Whole months come from the rollup the triggers of migration 00009 keep in step with
// concerns (so a year is a few hundred count rows and some 80,000 histogram rows, not a
// quarter of a million concerns); any part of a month at either end of the period is read
// from concerns (the portal asks only for whole months, so that is for other callers). Clocks
// overdue depend on now and are counted at query time over the partial indexes of the
// concerns still waiting.
//
// The work runs on two connections at once: the counts on one, the handling-time histograms on
// the other. The second imports the first's snapshot, so every figure describes the same
// moment and the tables add up. Call it on the pool, not inside Tx.
func (s *Store) Stats(ctx context.Context, from, to, now time.Time) (*StatsFacts, error) {
	if s.db == nil {
		return nil, errors.New("store: Stats needs the pool, not a transaction")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	counts, err := s.beginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer counts.Rollback()
	var snapshot string
	if err := counts.GetContext(ctx, &snapshot, `SELECT pg_export_snapshot()`); err != nil {
		return nil, err
	}
	var b statsBounds
	if err := counts.GetContext(ctx, &b, statsBoundsQuery, from, to); err != nil {
		return nil, err
	}
	if _, err := counts.ExecContext(ctx, statsSettings); err != nil {
		return nil, err
	}
	f := &StatsFacts{}
	times := make(chan error, 1)
	go func() { times <- s.statsTimes(ctx, snapshot, b, f) }()
	err = statsCounts(ctx, counts, b, now, f)
	if err != nil {
		cancel()
	}
	// The exporting transaction stays open until the other has imported its snapshot, which
	// it has once it returns.
	if terr := <-times; err == nil {
		err = terr
	}
	if err != nil {
		return nil, err
	}
	return f, nil
}

// statsTimes fills f.Times on a second transaction that sees snapshot.
func (s *Store) statsTimes(ctx context.Context, snapshot string, b statsBounds, f *StatsFacts) error {
	tx, err := s.db.BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// The snapshot id comes from PostgreSQL, not from input; it still goes in as a literal
	// because SET TRANSACTION SNAPSHOT takes no parameters.
	if _, err := tx.ExecContext(ctx, `SET TRANSACTION SNAPSHOT `+pq.QuoteLiteral(snapshot)); err != nil {
		return err
	}
	// Only now: the snapshot must be set before the transaction's first query.
	if err := s.setCouncil(ctx, tx); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, statsSettings); err != nil {
		return err
	}
	// The period's histogram: whole months from the rollup, the edges from concerns with the
	// same stats_concern_times the trigger uses.
	rows, err := tx.QueryContext(ctx, `
		SELECT metric, hours, sum(n)::bigint, sum(keys)::bigint FROM (
		  SELECT metric, hours, n, keys FROM stats_concern_times WHERE month >= $1 AND month < $2
		  UNION ALL
		  SELECT t.metric, t.hours, 1, c.record_key FROM concerns c,
		         stats_concern_times(c.received_at, c.acknowledged_at, c.decided_at, c.feedback_at, c.closed_at) t
		  WHERE c.received_at >= $3 AND c.received_at < $4
		  UNION ALL
		  SELECT t.metric, t.hours, 1, c.record_key FROM concerns c,
		         stats_concern_times(c.received_at, c.acknowledged_at, c.decided_at, c.feedback_at, c.closed_at) t
		  WHERE c.received_at >= $5 AND c.received_at < $6) x
		GROUP BY 1, 2`, b.args()...)
	if err != nil {
		return err
	}
	defer rows.Close()
	hist := map[string][]hoursCount{}
	for rows.Next() {
		var metric string
		var h hoursCount
		if err := rows.Scan(&metric, &h.hours, &h.n, &h.keys); err != nil {
			return err
		}
		if h.n != 0 || h.keys != 0 {
			hist[metric] = append(hist[metric], h)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, m := range []string{"acknowledge", "decide", "feedback", "close"} {
		f.Times = append(f.Times, timeSpread(m, hist[m]))
	}
	return nil
}

// hoursCount is one bar of a handling-time histogram: n concerns took hours; keys is the sum
// of their record keys.
type hoursCount struct {
	hours int64
	n     int64
	keys  int64
}

// timeSpread is percentile_cont(0.5) and (0.9) over the histogram h, in seconds: the value
// at fractional rank p·(N−1) of the sorted hours, interpolated between its neighbours as
// PostgreSQL does.
func timeSpread(metric string, h []hoursCount) StatsTime {
	sort.Slice(h, func(i, j int) bool { return h[i].hours < h[j].hours })
	t := StatsTime{Metric: metric}
	for _, b := range h {
		t.N += b.n
		t.Keys += b.keys
	}
	if t.N == 0 {
		return t
	}
	// at is the k-th smallest value (0-based).
	at := func(k int64) float64 {
		var seen int64
		for _, b := range h {
			seen += b.n
			if k < seen {
				return float64(b.hours)
			}
		}
		return float64(h[len(h)-1].hours)
	}
	pc := func(p float64) sql.NullFloat64 {
		pos := p * float64(t.N-1)
		lo := math.Floor(pos)
		v := at(int64(lo))
		if frac := pos - lo; frac > 0 {
			v += frac * (at(int64(lo)+1) - v)
		}
		return sql.NullFloat64{Float64: v * 3600, Valid: true}
	}
	t.Median, t.P90 = pc(0.5), pc(0.9)
	return t
}

// statsCounts fills everything but f.Times.
func statsCounts(ctx context.Context, tx *sqlx.Tx, b statsBounds, now time.Time, f *StatsFacts) error {
	// Every breakdown, the late clocks and the anonymous dialogue: the rollup's months plus the
	// edges, grouped by all the dimensions at once and rolled up each way as the rollup is.
	// The late, anonymous and dialogue columns count on the total row only. Each count comes
	// with the sum of its concerns' record keys.
	var rows []struct {
		StatsCount
		AckLate               int64 `db:"ack_late"`
		FeedbackLate          int64 `db:"feedback_late"`
		Anonymous             int64 `db:"anonymous"`
		AnonymousDialogue     int64 `db:"anonymous_dialogue"`
		AckLateKeys           int64 `db:"ack_late_keys"`
		FeedbackLateKeys      int64 `db:"feedback_late_keys"`
		AnonymousKeys         int64 `db:"anonymous_keys"`
		AnonymousDialogueKeys int64 `db:"anonymous_dialogue_keys"`
	}
	if err := sqlx.SelectContext(ctx, tx, &rows, `
		WITH e AS (
		  SELECT channel, mode, category, service_area, route_rule, outcome, acknowledged_at, acknowledge_by,
		         feedback_at, feedback_by, dialogue, record_key
		  FROM concerns WHERE received_at >= $3 AND received_at < $4
		  UNION ALL
		  SELECT channel, mode, category, service_area, route_rule, outcome, acknowledged_at, acknowledge_by,
		         feedback_at, feedback_by, dialogue, record_key
		  FROM concerns WHERE received_at >= $5 AND received_at < $6),
		g AS (
		  SELECT channel, mode, category, service_area, route_rule, coalesce(outcome, 'pending') AS outcome,
		         count(*) AS n,
		         count(*) FILTER (WHERE acknowledged_at > acknowledge_by) AS ack_late,
		         count(*) FILTER (WHERE feedback_at > feedback_by) AS feedback_late,
		         count(*) FILTER (WHERE mode = 'anonymous' AND dialogue) AS dialogue,
		         sum(record_key) AS keys,
		         coalesce(sum(record_key) FILTER (WHERE acknowledged_at > acknowledge_by), 0) AS ack_late_keys,
		         coalesce(sum(record_key) FILTER (WHERE feedback_at > feedback_by), 0) AS feedback_late_keys,
		         coalesce(sum(record_key) FILTER (WHERE mode = 'anonymous' AND dialogue), 0) AS dialogue_keys
		  FROM e
		  GROUP BY 1, 2, 3, 4, 5, 6),
		edges AS (
		  SELECT CASE
		           WHEN GROUPING(channel) = 0 THEN 'channel'
		           WHEN GROUPING(mode) = 0 THEN 'mode'
		           WHEN GROUPING(category) = 0 THEN 'category'
		           WHEN GROUPING(service_area) = 0 THEN 'service_area'
		           WHEN GROUPING(route_rule) = 0 THEN 'route'
		           WHEN GROUPING(outcome) = 0 THEN 'outcome'
		           ELSE 'total' END AS dimension,
		         coalesce(channel, mode, category, service_area, route_rule, outcome, '') AS value,
		         sum(n) AS n, sum(ack_late) AS ack_late, sum(feedback_late) AS feedback_late,
		         coalesce(sum(n) FILTER (WHERE mode = 'anonymous'), 0) AS anonymous, sum(dialogue) AS anonymous_dialogue,
		         sum(keys) AS keys, sum(ack_late_keys) AS ack_late_keys, sum(feedback_late_keys) AS feedback_late_keys,
		         coalesce(sum(keys) FILTER (WHERE mode = 'anonymous'), 0) AS anonymous_keys,
		         sum(dialogue_keys) AS anonymous_dialogue_keys
		  FROM g
		  GROUP BY GROUPING SETS ((channel), (mode), (category), (service_area), (route_rule), (outcome), ()))
		SELECT dimension, value, sum(n)::bigint AS n, sum(ack_late)::bigint AS ack_late,
		       sum(feedback_late)::bigint AS feedback_late, sum(anonymous)::bigint AS anonymous,
		       sum(anonymous_dialogue)::bigint AS anonymous_dialogue,
		       sum(keys)::bigint AS keys, sum(ack_late_keys)::bigint AS ack_late_keys,
		       sum(feedback_late_keys)::bigint AS feedback_late_keys, sum(anonymous_keys)::bigint AS anonymous_keys,
		       sum(anonymous_dialogue_keys)::bigint AS anonymous_dialogue_keys
		FROM (
		  SELECT dimension, value, n, ack_late, feedback_late, anonymous, anonymous_dialogue,
		         keys, ack_late_keys, feedback_late_keys, anonymous_keys, anonymous_dialogue_keys
		  FROM stats_concern_counts WHERE month >= $1 AND month < $2
		  UNION ALL
		  SELECT dimension, value, n, ack_late, feedback_late, anonymous, anonymous_dialogue,
		         keys, ack_late_keys, feedback_late_keys, anonymous_keys, anonymous_dialogue_keys
		  FROM edges WHERE n > 0) x
		GROUP BY 1, 2
		HAVING sum(n) > 0`, b.args()...); err != nil {
		return err
	}
	for _, r := range rows {
		if r.Dimension == "total" {
			f.AckLate, f.FeedbackLate = Tally{r.AckLate, r.AckLateKeys}, Tally{r.FeedbackLate, r.FeedbackLateKeys}
			f.Anonymous = Tally{r.Anonymous, r.AnonymousKeys}
			f.AnonymousDialogue = Tally{r.AnonymousDialogue, r.AnonymousDialogueKeys}
		}
		f.Counts = append(f.Counts, r.StatsCount)
	}
	// Clocks overdue at now, over the partial indexes of the concerns still waiting; decisions
	// made late too, which the rollup does not carry (the partial index of migration 00022 holds
	// only the undecided and the late, so both are small index-only counts). Findings
	// count in the period their investigation reported (or closed, if it closed without a
	// report). Each is a count and the sum of the counted rows' record keys.
	tallies := []struct {
		into  *Tally
		query string
	}{
		{&f.AckOverdue, `FROM concerns
		   WHERE acknowledged_at IS NULL AND received_at >= $1 AND received_at < $2 AND acknowledge_by < $3`},
		{&f.DecideLate, `FROM concerns
		   WHERE decide_by IS NOT NULL AND decided_at > decide_by AND received_at >= $1 AND received_at < $2`},
		{&f.DecideOverdue, `FROM concerns
		   WHERE decide_by IS NOT NULL AND decided_at IS NULL AND received_at >= $1 AND received_at < $2 AND decide_by < $3`},
		{&f.FeedbackOverdue, `FROM concerns
		   WHERE feedback_at IS NULL AND received_at >= $1 AND received_at < $2 AND feedback_by < $3`},
		{&f.Findings, `FROM allegations a JOIN investigations i ON i.id = a.investigation_id
		   WHERE a.finding IS NOT NULL
		     AND coalesce(i.reported_at, i.closed_at) >= $1 AND coalesce(i.reported_at, i.closed_at) < $2`},
		{&f.Substantiated, `FROM allegations a JOIN investigations i ON i.id = a.investigation_id
		   WHERE a.finding IN ('upheld', 'partly_upheld')
		     AND coalesce(i.reported_at, i.closed_at) >= $1 AND coalesce(i.reported_at, i.closed_at) < $2`},
		{&f.Detriment, `FROM messages WHERE detriment AND created_at >= $1 AND created_at < $2`},
		{&f.InvestigationsOpened, `FROM investigations WHERE created_at >= $1 AND created_at < $2`},
		{&f.InvestigationsClosed, `FROM investigations WHERE closed_at >= $1 AND closed_at < $2`},
		{&f.RecommendationsOverdue, `FROM recommendations
		   WHERE due_at < ($3::timestamptz AT TIME ZONE 'Europe/London')::date AND status <> 'done'`},
	}
	// One statement, one round trip: a cross join of one-row counts, (n, keys) side by side.
	var q strings.Builder
	dest := make([]any, 0, 2*len(tallies))
	q.WriteString("SELECT * FROM ")
	for i, t := range tallies {
		if i > 0 {
			q.WriteString(", ")
		}
		key := "record_key"
		if strings.HasPrefix(t.query, "FROM allegations a") {
			key = "a.record_key" // investigations has one too
		}
		fmt.Fprintf(&q, "(SELECT count(*), coalesce(sum(%s), 0)::bigint %s) t%d", key, t.query, i)
		dest = append(dest, &t.into.N, &t.into.Keys)
	}
	if err := tx.QueryRowxContext(ctx, q.String(), b.From, b.To, now).Scan(dest...); err != nil {
		return err
	}
	var findings []StatsCount
	if err := sqlx.SelectContext(ctx, tx, &findings, `
		SELECT 'finding' AS dimension, a.finding AS value, count(*) AS n, sum(a.record_key) AS keys
		FROM allegations a JOIN investigations i ON i.id = a.investigation_id
		WHERE a.finding IS NOT NULL
		  AND coalesce(i.reported_at, i.closed_at) >= $1 AND coalesce(i.reported_at, i.closed_at) < $2
		GROUP BY a.finding`, b.From, b.To); err != nil {
		return err
	}
	f.Counts = append(f.Counts, findings...)
	return nil
}

// CompactStats folds the rollup's appended deltas into one row per key, for the months that
// have more than one. Readers sum either way; this only keeps the tables small. One instance
// at a time (advisory lock); a write that lands meanwhile adds its delta after and stays.
func (s *Store) CompactStats(ctx context.Context) error {
	return s.Tx(ctx, func(tx *Store) error {
		if ok, err := tx.tryLockCouncil(ctx, "stats-compaction"); err != nil || !ok {
			return err
		}
		if _, err := tx.exec(ctx, `
			WITH months AS (SELECT DISTINCT month FROM (SELECT month FROM stats_concern_counts
			                GROUP BY month, dimension, value HAVING count(*) > 1) d),
			gone AS (DELETE FROM stats_concern_counts s USING months m WHERE s.month = m.month RETURNING s.*)
			INSERT INTO stats_concern_counts (month, dimension, value, n, ack_late, feedback_late, anonymous, anonymous_dialogue,
			    keys, ack_late_keys, feedback_late_keys, anonymous_keys, anonymous_dialogue_keys)
			SELECT month, dimension, value, sum(n), sum(ack_late), sum(feedback_late), sum(anonymous), sum(anonymous_dialogue),
			       sum(keys), sum(ack_late_keys), sum(feedback_late_keys), sum(anonymous_keys), sum(anonymous_dialogue_keys)
			FROM gone GROUP BY 1, 2, 3
			HAVING sum(n) <> 0 OR sum(ack_late) <> 0 OR sum(feedback_late) <> 0 OR sum(anonymous) <> 0 OR sum(anonymous_dialogue) <> 0
			    OR sum(keys) <> 0 OR sum(ack_late_keys) <> 0 OR sum(feedback_late_keys) <> 0 OR sum(anonymous_keys) <> 0
			    OR sum(anonymous_dialogue_keys) <> 0`); err != nil {
			return err
		}
		_, err := tx.exec(ctx, `
			WITH months AS (SELECT DISTINCT month FROM (SELECT month FROM stats_concern_times
			                GROUP BY month, metric, hours HAVING count(*) > 1) d),
			gone AS (DELETE FROM stats_concern_times s USING months m WHERE s.month = m.month RETURNING s.*)
			INSERT INTO stats_concern_times (month, metric, hours, n, keys)
			SELECT month, metric, hours, sum(n), sum(keys) FROM gone GROUP BY 1, 2, 3 HAVING sum(n) <> 0 OR sum(keys) <> 0`)
		return err
	})
}
