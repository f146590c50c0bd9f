package store

import (
	"context"
	"database/sql"
	"time"
)

// Message is one mailbox message; Body is ciphertext under the concern's data key.
type Message struct {
	Serial    int64         `db:"id"`
	ID        string        `db:"public_id"`
	ConcernID int64         `db:"concern_id"`
	Author    string        `db:"author"`
	UserID    sql.NullInt64 `db:"user_id"`
	Body      []byte        `db:"body"`
	Detriment bool          `db:"detriment"`
	CreatedAt time.Time     `db:"created_at"`
}

// InsertMessage stores m under the public id the caller drew (its body is bound to it) and sets
// its serial.
// A reporter's message also moves the concern's last_reporter_at, which retention respects, and
// says it is the council's turn to answer; a staff message says the council has answered, and
// tells whoever is on the reporter's side: a reporter who left an address (reporter_notices)
// that something is waiting, one e-mail per concern and hour, sent at the end of the hour; a
// councillor who raised the concern, one e-mail per message at once, reference and link only
// (the council knows who they are). Here, so that no kind of staff message (an answer, an
// acknowledgement, a decision) can forget either.
func (s *Store) InsertMessage(ctx context.Context, m *Message) error {
	return s.row(ctx, `WITH touched AS (
			UPDATE concerns SET awaiting_council = ($2 = 'reporter'),
				last_reporter_at = CASE WHEN $2 = 'reporter' THEN $6 ELSE last_reporter_at END
			WHERE id = $1 AND $2 IN ('reporter', 'staff')
		), told AS (
			INSERT INTO notifications (kind, concern_id, reference, dedupe_key, created_at, not_before)
			SELECT '`+ReporterNewMessage+`', c.id, c.reference,
				'`+ReporterNewMessage+`:' || c.id || ':' || to_char($6::timestamptz AT TIME ZONE 'UTC', 'YYYYMMDDHH24'),
				date_trunc('hour', $6::timestamptz), date_trunc('hour', $6::timestamptz) + interval '1 hour'
			FROM reporter_notices r JOIN concerns c ON c.id = r.concern_id
			WHERE r.concern_id = $1 AND $2 = 'staff' AND c.shredded_at IS NULL
			ON CONFLICT (council_id, dedupe_key) DO NOTHING
		), councillor AS (
			INSERT INTO notifications (recipient, kind, concern_id, reference, dedupe_key)
			SELECT lower(u.email), 'councillor_message', c.id, c.reference, 'councillor_message:' || CAST($7 AS uuid)
			FROM concerns c JOIN users u ON u.id = c.created_by
			WHERE c.id = $1 AND $2 = 'staff' AND u.status = 'active' AND 'councillor' = ANY(u.roles)
			ON CONFLICT (council_id, dedupe_key) DO NOTHING
		)
		INSERT INTO messages (concern_id, author, user_id, body, detriment, created_at, public_id)
		VALUES ($1, $2, $3, $4, $5, $6, CAST($7 AS uuid)) RETURNING id`, m.ConcernID, m.Author, m.UserID, m.Body, m.Detriment,
		m.CreatedAt, m.ID).Scan(&m.Serial)
}

// Messages lists a concern's messages, oldest first.
func (s *Store) Messages(ctx context.Context, concernID int64) ([]Message, error) {
	var ms []Message
	err := s.sel(ctx, &ms, `SELECT id, public_id, concern_id, author, user_id, body, detriment, created_at
		FROM messages WHERE concern_id = $1 ORDER BY id`, concernID)
	return ms, err
}

// RevokeMailboxToken records a closed mailbox token until keepUntil (its expiry, rounded up to
// the hour); expired records are cleared on the way.
func (s *Store) RevokeMailboxToken(ctx context.Context, jti string, keepUntil time.Time) error {
	_, err := s.exec(ctx, `WITH gone AS (DELETE FROM mailbox_revocations WHERE keep_until < now())
		INSERT INTO mailbox_revocations (jti, keep_until) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING`, jti, keepUntil)
	return err
}

// MailboxTokenRevoked reports whether a mailbox token was closed.
func (s *Store) MailboxTokenRevoked(ctx context.Context, jti string) (bool, error) {
	var revoked bool
	err := s.get(ctx, &revoked, `SELECT EXISTS (SELECT 1 FROM mailbox_revocations WHERE jti = $1)`, jti)
	return revoked, err
}
