package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jmoiron/sqlx"
)

// AuditEvent is one row of the append-only audit trail. Hashes are computed by internal/audit;
// the store only keeps them.
type AuditEvent struct {
	Seq        int64     `db:"seq"`
	At         time.Time `db:"at"`
	ActorID    *int64    `db:"actor_id"`
	Actor      string    `db:"actor"`
	Action     string    `db:"action"`
	ObjectType string    `db:"object_type"`
	ObjectID   string    `db:"object_id"`
	Details    []byte    `db:"details"` // JSON object of strings
	PrevHash   []byte    `db:"prev_hash"`
	Hash       []byte    `db:"hash"`
}

// auditLockKey is the pg_advisory_xact_lock key that serialises appends ("audit" in ASCII).
const auditLockKey = 0x6175646974

// LockAuditTail takes the append lock for the rest of the transaction and returns the seq and
// hash of the last event (0 and nil on an empty trail). Call it inside Tx: outside a
// transaction the lock would end with the statement.
func (s *Store) LockAuditTail(ctx context.Context) (int64, []byte, error) {
	if _, err := s.q.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, auditLockKey); err != nil {
		return 0, nil, err
	}
	var last struct {
		Seq  int64  `db:"seq"`
		Hash []byte `db:"hash"`
	}
	err := sqlx.GetContext(ctx, s.q, &last, `SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1`)
	if err = notFound(err); err == ErrNotFound {
		return 0, nil, nil
	}
	return last.Seq, last.Hash, err
}

// InsertAuditEvent appends e.
func (s *Store) InsertAuditEvent(ctx context.Context, e *AuditEvent) error {
	if len(e.Details) == 0 {
		e.Details = json.RawMessage(`{}`)
	}
	_, err := s.q.ExecContext(ctx, `INSERT INTO audit_events (seq, at, actor_id, actor, action, object_type, object_id,
		details, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		e.Seq, e.At, e.ActorID, e.Actor, e.Action, e.ObjectType, e.ObjectID, string(e.Details), e.PrevHash, e.Hash)
	return err
}

// AuditEvents returns up to limit events with seq > after, in seq order.
func (s *Store) AuditEvents(ctx context.Context, after int64, limit int) ([]AuditEvent, error) {
	var es []AuditEvent
	err := sqlx.SelectContext(ctx, s.q, &es, `SELECT seq, at, actor_id, actor, action, object_type, object_id, details,
		prev_hash, hash FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2`, after, limit)
	return es, err
}

// AuditFilter narrows the audit view. Zero fields do not filter.
type AuditFilter struct {
	ActorID    int64
	ObjectType string
	ObjectID   string
	From, To   time.Time
	Limit      int
}

// SearchAudit lists events matching f, newest first.
func (s *Store) SearchAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 200
	}
	var es []AuditEvent
	err := sqlx.SelectContext(ctx, s.q, &es, `SELECT seq, at, actor_id, actor, action, object_type, object_id, details,
		prev_hash, hash FROM audit_events
		WHERE ($1 = 0 OR actor_id = $1) AND ($2 = '' OR object_type = $2) AND ($3 = '' OR object_id = $3)
		  AND ($4::timestamptz IS NULL OR at >= $4) AND ($5::timestamptz IS NULL OR at < $5)
		ORDER BY seq DESC LIMIT $6`, f.ActorID, f.ObjectType, f.ObjectID, nullTime(f.From), nullTime(f.To), f.Limit)
	return es, err
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
