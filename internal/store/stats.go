package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// StatsCount is one cell of a breakdown: how many rows have Value in Dimension.
type StatsCount struct {
	Dimension string `db:"dimension"`
	Value     string `db:"value"`
	N         int64  `db:"n"`
}

// StatsTime is the spread of one interval (received → acknowledged, decided, fed back,
// closed) over the concerns that reached that step, in seconds.
type StatsTime struct {
	Metric string          `db:"metric"`
	N      int64           `db:"n"`
	Median sql.NullFloat64 `db:"median"`
	P90    sql.NullFloat64 `db:"p90"`
}

// StatsFacts are the raw aggregates behind the statistics: counts over clear columns only.
// Nothing here is suppressed yet; internal/oversight does that in one place.
type StatsFacts struct {
	Counts          []StatsCount // dimensions: total, channel, mode, category, service_area, route, outcome, finding
	Times           []StatsTime  // metrics: acknowledge, decide, feedback, close
	AckLate         int64        // acknowledged after acknowledge_by
	AckOverdue      int64        // not acknowledged and past acknowledge_by
	FeedbackLate    int64        // fed back after feedback_by
	FeedbackOverdue int64        // not fed back and past feedback_by
	// Anonymous concerns, and those of them with a two-way conversation (at least one staff
	// and one reporter message).
	Anonymous         int64
	AnonymousDialogue int64
	// Allegations with a finding, and those upheld or partly upheld, in investigations
	// reported (or closed) in the period.
	Findings      int64
	Substantiated int64
	Detriment     int64 // messages reporting detriment, sent in the period
	// Investigations opened and closed in the period; recommendations past due and not done
	// at Now.
	InvestigationsOpened   int64
	InvestigationsClosed   int64
	RecommendationsOverdue int64
}

// statsSettings keep a statistics query to one backend process (parallel workers cost more
// to start than they save on a year of rows), skip JIT compilation, and let the percentile
// sorts run in memory.
const statsSettings = `SET LOCAL work_mem = '64MB'; SET LOCAL max_parallel_workers_per_gather = 0; SET LOCAL jit = off`

// Stats aggregates the concerns received in [from, to) and the casework of the period. now is
// the moment clocks and recommendations are judged against. It reads clear columns only and
// never touches content.
//
// The work runs on two connections at once: the counts on one, the handling-time percentiles
// (which sort) on the other. The second imports the first's snapshot, so every figure
// describes the same moment and the tables add up. Call it on the pool, not inside Tx.
func (s *Store) Stats(ctx context.Context, from, to, now time.Time) (*StatsFacts, error) {
	if s.db == nil {
		return nil, errors.New("store: Stats needs the pool, not a transaction")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	counts, err := s.db.BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer counts.Rollback()
	var snapshot string
	if err := counts.GetContext(ctx, &snapshot, `SELECT pg_export_snapshot()`); err != nil {
		return nil, err
	}
	if _, err := counts.ExecContext(ctx, statsSettings); err != nil {
		return nil, err
	}
	f := &StatsFacts{}
	times := make(chan error, 1)
	go func() { times <- s.statsTimes(ctx, snapshot, from, to, f) }()
	err = statsCounts(ctx, counts, from, to, now, f)
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
func (s *Store) statsTimes(ctx context.Context, snapshot string, from, to time.Time, f *StatsFacts) error {
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
	if _, err := tx.ExecContext(ctx, statsSettings); err != nil {
		return err
	}
	return sqlx.SelectContext(ctx, tx, &f.Times, `
		WITH t AS (
		  SELECT count(acknowledged_at) AS ack_n, count(decided_at) AS decide_n,
		         count(feedback_at) AS feedback_n, count(closed_at) AS close_n,
		         percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY date_part('epoch', acknowledged_at - received_at)) AS ack,
		         percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY date_part('epoch', decided_at - received_at)) AS decide,
		         percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY date_part('epoch', feedback_at - received_at)) AS feedback,
		         percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY date_part('epoch', closed_at - received_at)) AS close
		  FROM concerns
		  WHERE received_at >= $1 AND received_at < $2)
		SELECT 'acknowledge' AS metric, ack_n AS n, ack[1] AS median, ack[2] AS p90 FROM t
		UNION ALL SELECT 'decide', decide_n, decide[1], decide[2] FROM t
		UNION ALL SELECT 'feedback', feedback_n, feedback[1], feedback[2] FROM t
		UNION ALL SELECT 'close', close_n, close[1], close[2] FROM t`, from, to)
}

// statsCounts fills everything but f.Times.
func statsCounts(ctx context.Context, tx *sqlx.Tx, from, to, now time.Time, f *StatsFacts) error {
	// Every breakdown and the clock breaches in one pass: group by all the dimensions at
	// once (a few thousand groups), then roll that small result up each way.
	var rows []struct {
		StatsCount
		AckLate         int64 `db:"ack_late"`
		AckOverdue      int64 `db:"ack_overdue"`
		FeedbackLate    int64 `db:"feedback_late"`
		FeedbackOverdue int64 `db:"feedback_overdue"`
		Anonymous       int64 `db:"anonymous"`
	}
	if err := sqlx.SelectContext(ctx, tx, &rows, `
		WITH g AS (
		  SELECT channel, mode, category, service_area, route_rule, coalesce(outcome, 'pending') AS outcome,
		         count(*) AS n,
		         count(*) FILTER (WHERE acknowledged_at > acknowledge_by) AS ack_late,
		         count(*) FILTER (WHERE acknowledged_at IS NULL AND acknowledge_by < $3) AS ack_overdue,
		         count(*) FILTER (WHERE feedback_at > feedback_by) AS feedback_late,
		         count(*) FILTER (WHERE feedback_at IS NULL AND feedback_by < $3) AS feedback_overdue
		  FROM concerns
		  WHERE received_at >= $1 AND received_at < $2
		  GROUP BY 1, 2, 3, 4, 5, 6)
		SELECT CASE
		         WHEN GROUPING(channel) = 0 THEN 'channel'
		         WHEN GROUPING(mode) = 0 THEN 'mode'
		         WHEN GROUPING(category) = 0 THEN 'category'
		         WHEN GROUPING(service_area) = 0 THEN 'service_area'
		         WHEN GROUPING(route_rule) = 0 THEN 'route'
		         WHEN GROUPING(outcome) = 0 THEN 'outcome'
		         ELSE 'total' END AS dimension,
		       coalesce(channel, mode, category, service_area, route_rule, outcome, '') AS value,
		       coalesce(sum(n), 0)::bigint AS n,
		       coalesce(sum(ack_late), 0)::bigint AS ack_late, coalesce(sum(ack_overdue), 0)::bigint AS ack_overdue,
		       coalesce(sum(feedback_late), 0)::bigint AS feedback_late,
		       coalesce(sum(feedback_overdue), 0)::bigint AS feedback_overdue,
		       coalesce(sum(n) FILTER (WHERE mode = 'anonymous'), 0)::bigint AS anonymous
		FROM g
		GROUP BY GROUPING SETS ((channel), (mode), (category), (service_area), (route_rule), (outcome), ())`,
		from, to, now); err != nil {
		return err
	}
	for _, r := range rows {
		if r.Dimension == "total" {
			f.AckLate, f.AckOverdue, f.FeedbackLate, f.FeedbackOverdue = r.AckLate, r.AckOverdue, r.FeedbackLate, r.FeedbackOverdue
			f.Anonymous = r.Anonymous
		}
		f.Counts = append(f.Counts, r.StatsCount)
	}
	var other struct {
		AnonymousDialogue      int64 `db:"anonymous_dialogue"`
		Findings               int64 `db:"findings"`
		Substantiated          int64 `db:"substantiated"`
		Detriment              int64 `db:"detriment"`
		InvestigationsOpened   int64 `db:"investigations_opened"`
		InvestigationsClosed   int64 `db:"investigations_closed"`
		RecommendationsOverdue int64 `db:"recommendations_overdue"`
	}
	// Findings count in the period their investigation reported (or closed, if it closed
	// without a report).
	if err := sqlx.GetContext(ctx, tx, &other, `
		SELECT
		  (SELECT count(*) FROM (
		     SELECT m.concern_id FROM messages m JOIN concerns c ON c.id = m.concern_id
		     WHERE c.mode = 'anonymous' AND c.received_at >= $1 AND c.received_at < $2
		       AND m.author IN ('staff', 'reporter')
		     GROUP BY m.concern_id
		     HAVING bool_or(m.author = 'staff') AND bool_or(m.author = 'reporter')) d) AS anonymous_dialogue,
		  (SELECT count(*) FROM allegations a JOIN investigations i ON i.id = a.investigation_id
		     WHERE a.finding IS NOT NULL
		       AND coalesce(i.reported_at, i.closed_at) >= $1 AND coalesce(i.reported_at, i.closed_at) < $2) AS findings,
		  (SELECT count(*) FROM allegations a JOIN investigations i ON i.id = a.investigation_id
		     WHERE a.finding IN ('upheld', 'partly_upheld')
		       AND coalesce(i.reported_at, i.closed_at) >= $1 AND coalesce(i.reported_at, i.closed_at) < $2) AS substantiated,
		  (SELECT count(*) FROM messages WHERE detriment AND created_at >= $1 AND created_at < $2) AS detriment,
		  (SELECT count(*) FROM investigations WHERE created_at >= $1 AND created_at < $2) AS investigations_opened,
		  (SELECT count(*) FROM investigations WHERE closed_at >= $1 AND closed_at < $2) AS investigations_closed,
		  (SELECT count(*) FROM recommendations
		     WHERE due_at < ($3::timestamptz AT TIME ZONE 'Europe/London')::date AND status <> 'done') AS recommendations_overdue`,
		from, to, now); err != nil {
		return err
	}
	f.AnonymousDialogue, f.Findings, f.Substantiated, f.Detriment = other.AnonymousDialogue, other.Findings, other.Substantiated, other.Detriment
	f.InvestigationsOpened, f.InvestigationsClosed, f.RecommendationsOverdue = other.InvestigationsOpened, other.InvestigationsClosed, other.RecommendationsOverdue
	var findings []StatsCount
	if err := sqlx.SelectContext(ctx, tx, &findings, `
		SELECT 'finding' AS dimension, a.finding AS value, count(*) AS n
		FROM allegations a JOIN investigations i ON i.id = a.investigation_id
		WHERE a.finding IS NOT NULL
		  AND coalesce(i.reported_at, i.closed_at) >= $1 AND coalesce(i.reported_at, i.closed_at) < $2
		GROUP BY a.finding`, from, to); err != nil {
		return err
	}
	f.Counts = append(f.Counts, findings...)
	return nil
}
