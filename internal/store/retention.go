package store

import (
	"context"
	"time"

	"github.com/lib/pq"
)

// ClosedConcern is a closed, not yet shredded concern, as retention sees it.
type ClosedConcern struct {
	ID             int64      `db:"id"`
	PublicID       string     `db:"public_id"`
	Reference      string     `db:"reference"`
	Outcome        *string    `db:"outcome"`
	ClosedAt       time.Time  `db:"closed_at"`
	LastReporterAt *time.Time `db:"last_reporter_at"`
}

// ClosedBefore lists closed, unshredded concerns closed before cutoff, oldest first.
func (s *Store) ClosedBefore(ctx context.Context, cutoff time.Time, limit int) ([]ClosedConcern, error) {
	var cs []ClosedConcern
	err := s.sel(ctx, &cs, `SELECT id, public_id, reference, outcome, closed_at, last_reporter_at FROM concerns
		WHERE closed_at IS NOT NULL AND closed_at < $1 AND shredded_at IS NULL ORDER BY closed_at LIMIT $2`, cutoff, limit)
	return cs, err
}

// TryRetentionLock takes a transaction-level advisory lock so only one portal instance shreds at
// a time; false if another holds it.
func (s *Store) TryRetentionLock(ctx context.Context) (bool, error) {
	return s.tryLockCouncil(ctx, "retention")
}

// Shred crypto-shreds a concern: its wrapped data key and every ciphertext go, the attachment
// bytes go, and a tombstone row (clear columns, dates) stays with the audit events. It does
// nothing if the concern got reporter input after it closed.
func (s *Store) Shred(ctx context.Context, id int64, now time.Time) (bool, error) {
	res, err := s.exec(ctx, `UPDATE concerns SET wrapped_key = NULL, content = NULL, identity_sealed = NULL,
		identity_open = NULL, feedback = NULL, referral_note = NULL, receipt_hash = NULL, named_keys = '{}', shredded_at = $2
		WHERE id = $1 AND shredded_at IS NULL AND closed_at IS NOT NULL
		AND (last_reporter_at IS NULL OR last_reporter_at <= closed_at)`, id, now)
	if err != nil {
		return false, err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return false, err
	}
	for _, q := range []string{
		`DELETE FROM messages WHERE concern_id = $1`,
		`DELETE FROM notes WHERE concern_id = $1`,
		// The reporter's address for "new message" e-mails; its pending e-mails find none and are dropped.
		`DELETE FROM reporter_notices WHERE concern_id = $1`,
		`UPDATE concern_events SET reason = NULL WHERE concern_id = $1`,
		`UPDATE identity_requests SET reason = '', no_notice_reason = NULL, decision_reason = NULL WHERE concern_id = $1`,
		// Blob chunks go with their rows. Blob files (CANDOUR_BLOB_DIR) stay until the next
		// sweep (FileBlobs.Sweep) finds them without a row; until then they are unreadable
		// anyway, as the data key they were encrypted with is shredded above.
		`WITH gone AS (DELETE FROM attachments WHERE concern_id = $1 RETURNING blob_id)
		 DELETE FROM blobs WHERE id IN (SELECT blob_id FROM gone)`,
	} {
		if _, err := s.exec(ctx, q, id); err != nil {
			return false, err
		}
	}
	return true, nil
}

// DueClock is a concern with an open clock that is near or past its deadline.
type DueClock struct {
	ID        int64         `db:"id"`
	PublicID  string        `db:"public_id"`
	Reference string        `db:"reference"`
	Clock     string        `db:"clock"`
	Deadline  time.Time     `db:"deadline"`
	Route     []byte        `db:"route"`
	NamedKeys pq.ByteaArray `db:"named_keys"`
}

// DueClocks lists open clocks whose deadline is before horizon: acknowledgement while
// unacknowledged, the decision while undecided (concerns filed with a decide clock), feedback
// until feedback is given.
func (s *Store) DueClocks(ctx context.Context, horizon time.Time, limit int) ([]DueClock, error) {
	var ds []DueClock
	err := s.sel(ctx, &ds, `
		SELECT id, public_id, reference, 'acknowledge' AS clock, acknowledge_by AS deadline, route, named_keys FROM concerns
		WHERE acknowledged_at IS NULL AND closed_at IS NULL AND shredded_at IS NULL AND acknowledge_by < $1
		UNION ALL
		SELECT id, public_id, reference, 'decide', decide_by, route, named_keys FROM concerns
		WHERE decided_at IS NULL AND closed_at IS NULL AND shredded_at IS NULL AND decide_by < $1
		UNION ALL
		SELECT id, public_id, reference, 'feedback', feedback_by, route, named_keys FROM concerns
		WHERE feedback_at IS NULL AND closed_at IS NULL AND shredded_at IS NULL AND feedback_by < $1
		ORDER BY deadline LIMIT $2`, horizon, limit)
	return ds, err
}

// MarkReminder records that a reminder for (concern, clock, stage) went out; false if one
// already had, so two job runners never send it twice.
// ExtendFeedback restarts a concern's feedback clock at by after interim feedback, and forgets
// the feedback reminders already sent, so the new deadline is reminded in its turn. False when
// the concern is not open for it (not yet acknowledged, closed or shredded).
func (s *Store) ExtendFeedback(ctx context.Context, concernID int64, by time.Time) (bool, error) {
	var n int
	err := s.get(ctx, &n, `WITH moved AS (
			UPDATE concerns SET feedback_by = $2 -- next_deadline follows (migration 00022)
			WHERE id = $1 AND status IN ('acknowledged', 'accepted', 'referred') AND shredded_at IS NULL RETURNING id
		), forgot AS (
			DELETE FROM reminders WHERE concern_id IN (SELECT id FROM moved) AND clock = 'feedback'
		)
		SELECT count(*) FROM moved`, concernID, by)
	return n == 1, err
}

func (s *Store) MarkReminder(ctx context.Context, concernID int64, clock, stage string) (bool, error) {
	res, err := s.exec(ctx, `INSERT INTO reminders (concern_id, clock, stage) VALUES ($1, $2, $3)
		ON CONFLICT DO NOTHING`, concernID, clock, stage)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}
