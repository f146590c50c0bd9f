package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Concern is a concern row: clear columns for routing and the queue, ciphertext for the rest.
type Concern struct {
	ID                 int64          `db:"id"`
	Reference          string         `db:"reference"`
	Channel            string         `db:"channel"`
	Mode               string         `db:"mode"`
	ServiceArea        string         `db:"service_area"`
	Category           string         `db:"category"`
	Safeguarding       bool           `db:"safeguarding"`
	Status             string         `db:"status"`
	Language           string         `db:"language"`
	ReceiptHash        []byte         `db:"receipt_hash"`
	WrappedKey         []byte         `db:"wrapped_key"`
	Content            []byte         `db:"content"`
	IdentitySealed     []byte         `db:"identity_sealed"`
	IdentityRecipients pq.StringArray `db:"identity_recipients"`
	IdentityOpen       []byte         `db:"identity_open"`
	NamedKeys          pq.ByteaArray  `db:"named_keys"`
	RouteRule          string         `db:"route_rule"`
	RouteVersion       string         `db:"route_version"`
	Route              []byte         `db:"route"`
	ReceivedAt         time.Time      `db:"received_at"`
	AcknowledgeBy      time.Time      `db:"acknowledge_by"`
	FeedbackBy         time.Time      `db:"feedback_by"`
	CreatedBy          sql.NullInt64  `db:"created_by"`
}

const concernColumns = `id, reference, channel, mode, service_area, category, safeguarding, status, language,
	receipt_hash, wrapped_key, content, identity_sealed, identity_recipients, identity_open, named_keys,
	route_rule, route_version, route, received_at, acknowledge_by, feedback_by, created_by`

// InsertConcern stores c with the "routed" e-mails to notify in one statement (so one round
// trip, and atomic without a transaction), and sets c.ID. It reports false, storing nothing,
// when c.Reference is already taken; the caller draws another.
func (s *Store) InsertConcern(ctx context.Context, c *Concern, notify []string) (bool, error) {
	q := `WITH c AS (
		INSERT INTO concerns (reference, channel, mode, service_area, category, safeguarding, status,
		language, receipt_hash, wrapped_key, content, identity_sealed, identity_recipients, identity_open,
		named_keys, route_rule, route_version, route, received_at, acknowledge_by, feedback_by, created_by, next_deadline)
		VALUES (:reference, :channel, :mode, :service_area, :category, :safeguarding, :status, :language,
		:receipt_hash, :wrapped_key, :content, :identity_sealed, :identity_recipients, :identity_open,
		:named_keys, :route_rule, :route_version, :route, :received_at, :acknowledge_by, :feedback_by, :created_by, :acknowledge_by)
		ON CONFLICT (reference) DO NOTHING
		RETURNING id, reference
	), n AS (
		INSERT INTO notifications (recipient, kind, concern_id, reference, dedupe_key, not_before)
		SELECT r, 'routed', c.id, c.reference, 'routed::' || c.id || '::' || r,
		       -- Safeguarding cannot wait; anything else goes at the next hour with the rest.
		       CASE WHEN CAST(:safeguarding AS boolean) THEN now() ELSE date_trunc('hour', now()) + interval '1 hour' END
		FROM c, unnest(CAST(:notify AS text[])) r
		ON CONFLICT (dedupe_key) DO NOTHING
	)
	SELECT id FROM c`
	args := map[string]any{"notify": pq.StringArray(notify)}
	for k, v := range map[string]any{"reference": c.Reference, "channel": c.Channel, "mode": c.Mode, "service_area": c.ServiceArea,
		"category": c.Category, "safeguarding": c.Safeguarding, "status": c.Status, "language": c.Language,
		"receipt_hash": c.ReceiptHash, "wrapped_key": c.WrappedKey, "content": c.Content, "identity_sealed": c.IdentitySealed,
		"identity_recipients": c.IdentityRecipients, "identity_open": c.IdentityOpen, "named_keys": c.NamedKeys,
		"route_rule": c.RouteRule, "route_version": c.RouteVersion, "route": c.Route, "received_at": c.ReceivedAt,
		"acknowledge_by": c.AcknowledgeBy, "feedback_by": c.FeedbackBy, "created_by": c.CreatedBy} {
		args[k] = v
	}
	// sqlx reads '::' in a named query as one literal ':' (the dedupe key is routed:<id>:<email>).
	q, list, err := sqlx.Named(q, args)
	if err != nil {
		return false, err
	}
	err = sqlx.GetContext(ctx, s.q, &c.ID, s.q.Rebind(q), list...)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// ConcernByReceiptHash finds the concern a receipt opens.
func (s *Store) ConcernByReceiptHash(ctx context.Context, hash []byte) (*Concern, error) {
	var c Concern
	err := sqlx.GetContext(ctx, s.q, &c, `SELECT `+concernColumns+` FROM concerns WHERE receipt_hash = $1`, hash)
	return &c, notFound(err)
}

// ConcernByReference finds a concern by its public reference.
func (s *Store) ConcernByReference(ctx context.Context, ref string) (*Concern, error) {
	var c Concern
	err := sqlx.GetContext(ctx, s.q, &c, `SELECT `+concernColumns+` FROM concerns WHERE reference = $1`, ref)
	return &c, notFound(err)
}

// ConcernByID finds a concern by id.
func (s *Store) ConcernByID(ctx context.Context, id int64) (*Concern, error) {
	var c Concern
	err := sqlx.GetContext(ctx, s.q, &c, `SELECT `+concernColumns+` FROM concerns WHERE id = $1`, id)
	return &c, notFound(err)
}

// QueueRow is a concern as the triage queue lists it: clear columns only.
type QueueRow struct {
	ID            int64     `db:"id"`
	Reference     string    `db:"reference"`
	Channel       string    `db:"channel"`
	Mode          string    `db:"mode"`
	ServiceArea   string    `db:"service_area"`
	Category      string    `db:"category"`
	Safeguarding  bool      `db:"safeguarding"`
	Status        string    `db:"status"`
	RouteRule     string    `db:"route_rule"`
	ReceivedAt    time.Time `db:"received_at"`
	AcknowledgeBy time.Time `db:"acknowledge_by"`
	FeedbackBy    time.Time `db:"feedback_by"`
}

// Queue lists open concerns, most urgent first: safeguarding, then the nearest acknowledgement
// clock.
func (s *Store) Queue(ctx context.Context, limit int) ([]QueueRow, error) {
	var rows []QueueRow
	err := sqlx.SelectContext(ctx, s.q, &rows, `SELECT id, reference, channel, mode, service_area, category,
		safeguarding, status, route_rule, received_at, acknowledge_by, feedback_by
		FROM concerns WHERE status <> 'closed' AND wrapped_key IS NOT NULL
		ORDER BY safeguarding DESC, acknowledge_by, id LIMIT $1`, limit)
	return rows, err
}

// ConcernsCreatedBy lists the concerns a staff user raised (a councillor's own), newest first.
func (s *Store) ConcernsCreatedBy(ctx context.Context, userID int64) ([]QueueRow, error) {
	var rows []QueueRow
	err := sqlx.SelectContext(ctx, s.q, &rows, `SELECT id, reference, channel, mode, service_area, category,
		safeguarding, status, route_rule, received_at, acknowledge_by, feedback_by
		FROM concerns WHERE created_by = $1 ORDER BY id DESC LIMIT 200`, userID)
	return rows, err
}

// RecordApproval says whether a recorded concern's written record was approved by the reporter.
func (s *Store) RecordApproval(ctx context.Context, id int64) (*time.Time, error) {
	var at *time.Time
	err := sqlx.GetContext(ctx, s.q, &at, `SELECT record_approved_at FROM concerns WHERE id = $1`, id)
	return at, notFound(err)
}

// ApproveRecord marks a recorded concern's record approved; false if it was not awaiting approval.
func (s *Store) ApproveRecord(ctx context.Context, id int64, at time.Time) (bool, error) {
	res, err := s.q.ExecContext(ctx, `UPDATE concerns SET record_approved_at = $2, last_reporter_at = $2
		WHERE id = $1 AND channel = 'recorded' AND record_approved_at IS NULL`, id, at)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}
