package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ReporterNewMessage is the kind of notification that tells a reporter who left an address that
// there is a new message in their mailbox. Its row names no recipient: the address is sealed
// under the concern's data key (reporter_notices), opened only when the e-mail is sent.
const ReporterNewMessage = "reporter_new_message"

// Enrolment is the kind of notification that carries an enrolment link to an account's own
// address. The link is sealed for the recipient (sealed_link) and emptied once sent.
const Enrolment = "enrolment"

// ErrNoRecipient is what a send function returns for a notification that can never go (a
// reporter's whose concern was shredded with its address): DeliverNotifications deletes it
// instead of trying again.
var ErrNoRecipient = errors.New("store: the notification has no recipient any more")

// Notification is one e-mail in the outbox: a reference and a link, nothing else.
type Notification struct {
	ID        int64         `db:"id"`
	Recipient string        `db:"recipient"` // empty for ReporterNewMessage
	Kind      string        `db:"kind"`
	ConcernID sql.NullInt64 `db:"concern_id"`
	// ConcernPublicID is the concern's public id, for the link (read only).
	ConcernPublicID sql.NullString `db:"concern_public_id"`
	Reference       string         `db:"reference"`
	DedupeKey       sql.NullString `db:"dedupe_key"`
	Attempts        int            `db:"attempts"`
	// For ReporterNewMessage only: the concern's wrapped data key, the address sealed under it
	// (both nil once the concern is shredded) and the reporter's language.
	WrappedKey    []byte         `db:"wrapped_key"`
	SealedAddress []byte         `db:"sealed_address"`
	Language      sql.NullString `db:"language"`
	// For Enrolment only: the link, sealed with the server key for the recipient.
	SealedLink []byte `db:"sealed_link"`
	// For Checkpoint only: the signed checkpoint the e-mail carries.
	Checkpoint sql.NullString `db:"checkpoint"`
}

// Checkpoint is the kind of e-mail that gives auditors a signed checkpoint of the audit log.
const Checkpoint = "checkpoint"

// MailCheckpoint queues the signed checkpoint of size events to every active auditor, once per
// auditor and key: the caller picks the key (a day's first checkpoint, or one made after a
// security event), so auditors hold copies away from the server without a mail an hour.
func (s *Store) MailCheckpoint(ctx context.Context, signed string, size int64, key string) error {
	_, err := s.exec(ctx, `INSERT INTO notifications (recipient, kind, reference, dedupe_key, checkpoint)
		SELECT lower(email), $1, $2, $1 || ':' || $3 || ':' || lower(email), $4 FROM users
		WHERE status = 'active' AND 'auditor' = ANY(roles)
		ON CONFLICT (council_id, dedupe_key) DO NOTHING`, Checkpoint, fmt.Sprintf("audit log, %d events", size), key, signed)
	return err
}

// EnqueueNotification adds n to the outbox; a second one with the same dedupe key is ignored.
func (s *Store) EnqueueNotification(ctx context.Context, n *Notification) error {
	_, err := s.exec(ctx, `INSERT INTO notifications (recipient, kind, concern_id, reference, dedupe_key)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (council_id, dedupe_key) DO NOTHING`, n.Recipient, n.Kind, n.ConcernID, n.Reference, n.DedupeKey)
	return err
}

// ExpandRoutedOutbox turns up to limit concerns' pending "routed" e-mails into notifications and
// deletes what it expanded, in one statement (so a crash leaves either both or neither). Rows
// another instance is expanding are skipped; a concern that no longer exists is dropped.
// Safeguarding goes at once; anything else at the hour after filing, with the rest.
func (s *Store) ExpandRoutedOutbox(ctx context.Context, limit int) (int, error) {
	var n int
	err := s.get(ctx, &n, `WITH o AS (
			DELETE FROM routed_outbox WHERE concern_id IN (
				SELECT concern_id FROM routed_outbox ORDER BY concern_id LIMIT $1 FOR UPDATE SKIP LOCKED)
			RETURNING concern_id, recipients
		), e AS (
			INSERT INTO notifications (recipient, kind, concern_id, reference, dedupe_key, created_at, not_before)
			SELECT r.recipient, 'routed', c.id, c.reference, 'routed:' || c.id || ':' || r.recipient, c.received_at,
			       CASE WHEN c.safeguarding THEN c.received_at ELSE c.received_at + interval '1 hour' END
			FROM o JOIN concerns c ON c.id = o.concern_id, unnest(o.recipients) r (recipient)
			ON CONFLICT (council_id, dedupe_key) DO NOTHING
		)
		SELECT count(*) FROM o`, limit)
	return n, err
}

// DeliveryFailure is one notification the mail server did not take this time.
type DeliveryFailure struct {
	ID      int64
	Attempt int   // counting this one
	Err     error // why, as the mailer said
	GaveUp  bool  // retried for over a day: marked failed, not tried again
	Dropped bool  // it has no recipient any more (ErrNoRecipient): deleted, not tried again
}

// DeliverNotifications locks up to limit unsent notifications that are due (skipping any another
// instance holds), calls send for each, and records the outcome, all in one transaction. A
// refused one is tried again after a pause that doubles from a minute up to an hour; once it
// has been waiting for more than a day it is marked failed instead. Failures are returned so
// the caller can say so.
func (s *Store) DeliverNotifications(ctx context.Context, limit int, send func(Notification) error) (sent int, failed []DeliveryFailure, err error) {
	// The marks of what went out must outlive ctx: a shutdown that cancelled it would roll them
	// back, and the next portal would send the batch's e-mails again. Sending stops with ctx;
	// the marks are committed under a deadline of their own.
	stop := ctx
	markCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	err = s.Tx(markCtx, func(tx *Store) error {
		ctx := markCtx
		sent, failed = 0, nil
		var batch []Notification
		// A reporter's notification carries what opens its address; no other kind reads it.
		if err := tx.sel(ctx, &batch, `SELECT n.id, coalesce(n.recipient, '') AS recipient, n.kind, n.concern_id,
			c.public_id AS concern_public_id, n.reference, n.dedupe_key, n.attempts,
			CASE WHEN n.kind = '`+ReporterNewMessage+`' THEN c.wrapped_key END AS wrapped_key,
			CASE WHEN n.kind = '`+ReporterNewMessage+`' THEN c.language END AS language,
			CASE WHEN n.kind = '`+ReporterNewMessage+`' THEN
				(SELECT r.address FROM reporter_notices r WHERE r.concern_id = n.concern_id) END AS sealed_address,
			n.sealed_link, n.checkpoint
			FROM notifications n LEFT JOIN concerns c ON c.id = n.concern_id
			WHERE n.sent_at IS NULL AND n.failed_at IS NULL AND n.not_before <= now()
			ORDER BY n.not_before, n.id LIMIT $1 FOR UPDATE OF n SKIP LOCKED`, limit); err != nil {
			return err
		}
		for _, n := range batch {
			if stop.Err() != nil {
				return nil // the rest stay queued, untouched
			}
			serr := send(n)
			if serr != nil && stop.Err() != nil {
				return nil // cut off by the shutdown, not refused: tried again, not counted
			}
			if errors.Is(serr, ErrNoRecipient) {
				if _, err := tx.exec(ctx, `DELETE FROM notifications WHERE id = $1`, n.ID); err != nil {
					return err
				}
				failed = append(failed, DeliveryFailure{ID: n.ID, Attempt: n.Attempts + 1, Err: serr, Dropped: true})
				continue
			}
			if serr != nil {
				var gaveUp bool
				// created_at is kept to the hour, so 25 hours is at least a day of trying.
				if err := tx.get(ctx, &gaveUp, `UPDATE notifications SET attempts = attempts + 1, last_error = $2,
					not_before = now() + least(interval '1 minute' * power(2, least(attempts, 10)), interval '1 hour'),
					failed_at = CASE WHEN created_at < now() - interval '25 hours' THEN now() END
					WHERE id = $1 RETURNING failed_at IS NOT NULL`, n.ID, truncate(serr.Error(), 500)); err != nil {
					return err
				}
				failed = append(failed, DeliveryFailure{ID: n.ID, Attempt: n.Attempts + 1, Err: serr, GaveUp: gaveUp})
				continue
			}
			if _, err := tx.exec(ctx, `UPDATE notifications SET sent_at = $2, attempts = attempts + 1, sealed_link = NULL WHERE id = $1`,
				n.ID, time.Now().Truncate(time.Hour)); err != nil {
				return err
			}
			sent++
		}
		return nil
	})
	return sent, failed, err
}

// NotifyHandlers tells the people handling a concern (its route holders and anyone granted
// access, minus anyone who declared a conflict) that the reporter has written (kind "reply") or
// added evidence ("evidence"): one e-mail per person, kind and hour however often the reporter
// writes, sent at the next hour like the routed mail (at once for safeguarding), so a mail log
// does not time the reporter.
func (s *Store) NotifyHandlers(ctx context.Context, concern int64, kind string, now time.Time) error {
	hour := now.UTC().Truncate(time.Hour)
	_, err := s.exec(ctx, `INSERT INTO notifications (recipient, kind, concern_id, reference, dedupe_key, created_at, not_before)
		SELECT DISTINCT lower(r.email), $2, c.id, c.reference, $2 || ':' || c.id || ':' || $3 || ':' || lower(r.email), $4::timestamptz,
		       CASE WHEN c.safeguarding THEN $4::timestamptz ELSE $4::timestamptz + interval '1 hour' END
		FROM concerns c, LATERAL (
			SELECT h->>'email' AS email FROM jsonb_array_elements(c.route->'route') h WHERE coalesce(h->>'email', '') <> ''
			UNION
			SELECT u.email FROM case_access g JOIN users u ON u.id = g.user_id
			WHERE g.concern_id = c.id AND g.revoked_at IS NULL AND u.status = 'active'
		) r
		WHERE c.id = $1 AND NOT EXISTS (SELECT 1 FROM conflicts x JOIN users u ON u.id = x.user_id
			WHERE x.concern_id = c.id AND u.email = lower(r.email))
		ON CONFLICT (council_id, dedupe_key) DO NOTHING`, concern, kind, hour.Format("2006010215"), hour)
	return err
}

// EscalateSafeguarding e-mails to, once per concern, that a safeguarding alert has been
// refused by the mail server refusals times in a row (the retry pauses double from a minute,
// so four refusals are a quarter of an hour; stored times are kept to the hour and cannot say
// it). It returns how many concerns it escalated.
func (s *Store) EscalateSafeguarding(ctx context.Context, to string, refusals int) (int, error) {
	res, err := s.exec(ctx, `INSERT INTO notifications (recipient, kind, concern_id, reference, dedupe_key)
		SELECT DISTINCT $1, 'escalation', c.id, c.reference, 'escalated:' || c.id
		FROM notifications n JOIN concerns c ON c.id = n.concern_id
		WHERE n.kind = 'routed' AND n.sent_at IS NULL AND n.attempts >= $2 AND c.safeguarding
		ON CONFLICT (council_id, dedupe_key) DO NOTHING`, to, refusals)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// MailBacklog is the staff e-mail the mail server has not taken.
type MailBacklog struct {
	Retrying     int // refused at least once, to be tried again
	Failed       int // given up on after a day
	Safeguarding int // safeguarding concerns whose alert has been refused: the hub may not know
}

// UndeliveredMail counts the mail backlog in one pass over the unsent notifications.
func (s *Store) UndeliveredMail(ctx context.Context) (MailBacklog, error) {
	var b MailBacklog
	err := s.row(ctx, `SELECT count(*) FILTER (WHERE n.failed_at IS NULL AND n.attempts > 0),
		count(*) FILTER (WHERE n.failed_at IS NOT NULL),
		count(DISTINCT n.concern_id) FILTER (WHERE n.kind = 'routed' AND n.attempts > 0 AND c.safeguarding)
		FROM notifications n LEFT JOIN concerns c ON c.id = n.concern_id WHERE n.sent_at IS NULL`).
		Scan(&b.Retrying, &b.Failed, &b.Safeguarding)
	return b, err
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
