package store

import (
	"context"
	"database/sql"
	"time"

	"github.com/jmoiron/sqlx"
)

// Lifecycle columns of a concern beyond the intake row.
type Lifecycle struct {
	AcknowledgedAt *time.Time `db:"acknowledged_at"`
	DecidedAt      *time.Time `db:"decided_at"`
	ClosedAt       *time.Time `db:"closed_at"`
	Outcome        *string    `db:"outcome"`
	ReferredTo     *string    `db:"referred_to"`
	ReferredEmail  *string    `db:"referred_email"`
	// The referral's outcome as its holder recorded it; the note is sealed.
	ReferralOutcome   *string    `db:"referral_outcome"`
	ReferralOutcomeAt *time.Time `db:"referral_outcome_at"`
	ReferralNote      []byte     `db:"referral_note"`
	Feedback          []byte     `db:"feedback"`
	FeedbackAt        *time.Time `db:"feedback_at"`
	ShreddedAt        *time.Time `db:"shredded_at"`
}

// ConcernLifecycle loads the lifecycle columns of a concern.
func (s *Store) ConcernLifecycle(ctx context.Context, id int64) (*Lifecycle, error) {
	var l Lifecycle
	err := s.get(ctx, &l, `SELECT acknowledged_at, decided_at, closed_at, outcome, referred_to,
		referred_email, referral_outcome, referral_outcome_at, referral_note, feedback, feedback_at, shredded_at
		FROM concerns WHERE id = $1`, id)
	return &l, notFound(err)
}

// Transition moves a concern from one of the statuses in from to status to, in one UPDATE
// that checks the current status, so two officers acting at once cannot both succeed. It
// reports false when the concern was not in an allowed status. set holds extra assignments
// ("column = value" pairs with their values) written in the same statement.
func (s *Store) Transition(ctx context.Context, id int64, from []string, to string, set map[string]any) (bool, error) {
	q := `UPDATE concerns SET status = :to`
	args := map[string]any{"id": id, "to": to, "from": from}
	for col, v := range set {
		switch col { // allow-list: column names are never input
		// next_deadline is not among them: the trigger of migration 00022 keeps it.
		case "acknowledged_at", "decided_at", "closed_at", "outcome", "referred_to", "referred_email", "feedback", "feedback_at":
			q += ", " + col + " = :" + col
			args[col] = v
		default:
			panic("store: Transition: unknown column " + col)
		}
	}
	q += ` WHERE id = :id AND status IN (:from) AND shredded_at IS NULL`
	q, list, err := sqlx.Named(q, args)
	if err != nil {
		return false, err
	}
	q, list, err = sqlx.In(q, list...)
	if err != nil {
		return false, err
	}
	res, err := s.exec(ctx, s.q.Rebind(q), list...)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// ConcernEvent is one lifecycle step; Reason is ciphertext under the concern's data key.
type ConcernEvent struct {
	ID        int64         `db:"id"`
	ConcernID int64         `db:"concern_id"`
	UserID    sql.NullInt64 `db:"user_id"`
	UserName  *string       `db:"user_name"`
	Action    string        `db:"action"`
	Reason    []byte        `db:"reason"`
	CreatedAt time.Time     `db:"created_at"`
}

// InsertConcernEvent records a lifecycle step.
func (s *Store) InsertConcernEvent(ctx context.Context, e *ConcernEvent) error {
	return s.get(ctx, &e.ID, `INSERT INTO concern_events (concern_id, user_id, action, reason)
		VALUES ($1, $2, $3, $4) RETURNING id`, e.ConcernID, e.UserID, e.Action, e.Reason)
}

// ConcernEvents lists a concern's history, oldest first, with the actor's name.
func (s *Store) ConcernEvents(ctx context.Context, concernID int64) ([]ConcernEvent, error) {
	var es []ConcernEvent
	err := s.sel(ctx, &es, `SELECT e.id, e.concern_id, e.user_id, u.name AS user_name, e.action,
		e.reason, e.created_at FROM concern_events e LEFT JOIN users u ON u.id = e.user_id
		WHERE e.concern_id = $1 ORDER BY e.id`, concernID)
	return es, err
}

// Note is a staff note on a concern; Body is ciphertext.
type Note struct {
	ID        int64     `db:"id"`
	ConcernID int64     `db:"concern_id"`
	UserID    int64     `db:"user_id"`
	UserName  string    `db:"user_name"`
	Personal  bool      `db:"personal"`
	Body      []byte    `db:"body"`
	CreatedAt time.Time `db:"created_at"`
}

// InsertNote stores n.
func (s *Store) InsertNote(ctx context.Context, n *Note) error {
	return s.get(ctx, &n.ID, `INSERT INTO notes (concern_id, user_id, personal, body)
		VALUES ($1, $2, $3, $4) RETURNING id`, n.ConcernID, n.UserID, n.Personal, n.Body)
}

// NotesFor lists the internal notes of a concern and viewer's own personal notes; other
// people's personal notes never leave the database.
func (s *Store) NotesFor(ctx context.Context, concernID, viewerID int64) ([]Note, error) {
	var ns []Note
	err := s.sel(ctx, &ns, `SELECT n.id, n.concern_id, n.user_id, u.name AS user_name, n.personal,
		n.body, n.created_at FROM notes n JOIN users u ON u.id = n.user_id
		WHERE n.concern_id = $1 AND (NOT n.personal OR n.user_id = $2) ORDER BY n.id`, concernID, viewerID)
	return ns, err
}

// RecordReferralOutcome stores what came of a referral, once: false if the concern is not
// referred and waiting for one (already recorded, closed, shredded).
func (s *Store) RecordReferralOutcome(ctx context.Context, id int64, outcome string, note []byte, at time.Time) (bool, error) {
	res, err := s.exec(ctx, `UPDATE concerns SET referral_outcome = $2, referral_note = $3, referral_outcome_at = $4
		WHERE id = $1 AND status = 'referred' AND referral_outcome IS NULL AND shredded_at IS NULL`, id, outcome, note, at)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// NotifyMonitoringOfficers e-mails every active Monitoring Officer and deputy about a concern
// (kind says what happened), except anyone excluded from it by a declared conflict.
func (s *Store) NotifyMonitoringOfficers(ctx context.Context, concern int64, kind string) error {
	_, err := s.exec(ctx, `INSERT INTO notifications (recipient, kind, concern_id, reference, dedupe_key)
		SELECT lower(u.email), $2, c.id, c.reference, $2 || ':' || c.id || ':' || lower(u.email)
		FROM concerns c, users u
		WHERE c.id = $1 AND u.status = 'active'
		AND u.roles && ARRAY['monitoring_officer', 'deputy_monitoring_officer']
		AND NOT EXISTS (SELECT 1 FROM conflicts x WHERE x.concern_id = c.id AND x.user_id = u.id)
		ON CONFLICT (council_id, dedupe_key) DO NOTHING`, concern, kind)
	return err
}
