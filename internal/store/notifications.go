package store

import (
	"context"
	"database/sql"
	"time"

	"github.com/jmoiron/sqlx"
)

// Notification is one e-mail in the outbox: a reference and a link, nothing else.
type Notification struct {
	ID        int64         `db:"id"`
	Recipient string        `db:"recipient"`
	Kind      string        `db:"kind"`
	ConcernID sql.NullInt64 `db:"concern_id"`
	// ConcernPublicID is the concern's public id, for the link (read only).
	ConcernPublicID sql.NullString `db:"concern_public_id"`
	Reference       string         `db:"reference"`
	DedupeKey       sql.NullString `db:"dedupe_key"`
	Attempts        int            `db:"attempts"`
}

// EnqueueNotification adds n to the outbox; a second one with the same dedupe key is ignored.
func (s *Store) EnqueueNotification(ctx context.Context, n *Notification) error {
	_, err := s.q.ExecContext(ctx, `INSERT INTO notifications (recipient, kind, concern_id, reference, dedupe_key)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (dedupe_key) DO NOTHING`, n.Recipient, n.Kind, n.ConcernID, n.Reference, n.DedupeKey)
	return err
}

// ExpandRoutedOutbox turns up to limit concerns' pending "routed" e-mails into notifications and
// deletes what it expanded, in one statement (so a crash leaves either both or neither). Rows
// another instance is expanding are skipped; a concern that no longer exists is dropped.
// Safeguarding goes at once; anything else at the hour after filing, with the rest.
func (s *Store) ExpandRoutedOutbox(ctx context.Context, limit int) (int, error) {
	var n int
	err := sqlx.GetContext(ctx, s.q, &n, `WITH o AS (
			DELETE FROM routed_outbox WHERE concern_id IN (
				SELECT concern_id FROM routed_outbox ORDER BY concern_id LIMIT $1 FOR UPDATE SKIP LOCKED)
			RETURNING concern_id, recipients
		), e AS (
			INSERT INTO notifications (recipient, kind, concern_id, reference, dedupe_key, created_at, not_before)
			SELECT r.recipient, 'routed', c.id, c.reference, 'routed:' || c.id || ':' || r.recipient, c.received_at,
			       CASE WHEN c.safeguarding THEN c.received_at ELSE c.received_at + interval '1 hour' END
			FROM o JOIN concerns c ON c.id = o.concern_id, unnest(o.recipients) r (recipient)
			ON CONFLICT (dedupe_key) DO NOTHING
		)
		SELECT count(*) FROM o`, limit)
	return n, err
}

// maxAttempts stops retrying a notification the mail server keeps refusing.
const maxAttempts = 10

// DeliverNotifications locks up to limit unsent notifications (skipping any another instance
// holds), calls send for each, and records the outcome, all in one transaction.
func (s *Store) DeliverNotifications(ctx context.Context, limit int, send func(Notification) error) (sent int, err error) {
	err = s.Tx(ctx, func(tx *Store) error {
		var batch []Notification
		if err := sqlx.SelectContext(ctx, tx.q, &batch, `SELECT id, recipient, kind, concern_id,
			(SELECT c.public_id FROM concerns c WHERE c.id = n.concern_id) AS concern_public_id, reference, dedupe_key, attempts
			FROM notifications n WHERE sent_at IS NULL AND not_before <= now() AND attempts < $2
			ORDER BY not_before, id LIMIT $1 FOR UPDATE SKIP LOCKED`, limit, maxAttempts); err != nil {
			return err
		}
		for _, n := range batch {
			if serr := send(n); serr != nil {
				if _, err := tx.q.ExecContext(ctx, `UPDATE notifications SET attempts = attempts + 1, last_error = $2 WHERE id = $1`,
					n.ID, truncate(serr.Error(), 500)); err != nil {
					return err
				}
				continue
			}
			if _, err := tx.q.ExecContext(ctx, `UPDATE notifications SET sent_at = $2, attempts = attempts + 1 WHERE id = $1`,
				n.ID, time.Now().Truncate(time.Hour)); err != nil {
				return err
			}
			sent++
		}
		return nil
	})
	return sent, err
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
