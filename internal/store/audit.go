package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/lib/pq"
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

// LockAuditTail takes the append lock for the rest of the transaction and returns the seq and
// hash of the last event (0 and nil on an empty trail). Call it inside Tx: outside a
// transaction the lock would end with the statement.
func (s *Store) LockAuditTail(ctx context.Context) (int64, []byte, error) {
	if err := s.lockCouncil(ctx, "audit"); err != nil {
		return 0, nil, err
	}
	var last struct {
		Seq  int64  `db:"seq"`
		Hash []byte `db:"hash"`
	}
	err := s.get(ctx, &last, `SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1`)
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
	_, err := s.exec(ctx, `INSERT INTO audit_events (seq, at, actor_id, actor, action, object_type, object_id,
		details, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		e.Seq, e.At, e.ActorID, e.Actor, e.Action, e.ObjectType, e.ObjectID, string(e.Details), e.PrevHash, e.Hash)
	return err
}

// AuditEvents returns up to limit events with seq > after, in seq order.
func (s *Store) AuditEvents(ctx context.Context, after int64, limit int) ([]AuditEvent, error) {
	var es []AuditEvent
	err := s.sel(ctx, &es, `SELECT seq, at, actor_id, actor, action, object_type, object_id, details,
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
	err := s.sel(ctx, &es, `SELECT seq, at, actor_id, actor, action, object_type, object_id, details,
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

// LockAuditTree takes the tree lock for the rest of the transaction and returns how many
// stored hashes the tree has.
func (s *Store) LockAuditTree(ctx context.Context) (int64, error) {
	// One process extends a council's tree at a time, so two never insert the same hashes.
	if err := s.lockCouncil(ctx, "audit-tree"); err != nil {
		return 0, err
	}
	var n int64
	err := s.get(ctx, &n, `SELECT count(*) FROM audit_tree`)
	return n, err
}

// AuditSizes are the number of events in the trail and of hashes stored in its tree.
func (s *Store) AuditSizes(ctx context.Context) (events, stored int64, err error) {
	var n struct {
		Events int64 `db:"events"`
		Stored int64 `db:"stored"`
	}
	err = s.get(ctx, &n, `SELECT (SELECT coalesce(max(seq), 0) FROM audit_events) AS events,
		(SELECT count(*) FROM audit_tree) AS stored`)
	return n.Events, n.Stored, err
}

// AuditTreeHashes returns the stored hashes at indexes, in that order; a missing one is an error.
func (s *Store) AuditTreeHashes(ctx context.Context, indexes []int64) ([][]byte, error) {
	var rows []struct {
		Idx  int64  `db:"idx"`
		Hash []byte `db:"hash"`
	}
	if err := s.sel(ctx, &rows, `SELECT idx, hash FROM audit_tree WHERE idx = ANY($1)`,
		pq.Array(indexes)); err != nil {
		return nil, err
	}
	byIdx := make(map[int64][]byte, len(rows))
	for _, r := range rows {
		byIdx[r.Idx] = r.Hash
	}
	out := make([][]byte, len(indexes))
	for i, idx := range indexes {
		h, ok := byIdx[idx]
		if !ok {
			return nil, fmt.Errorf("store: audit tree hash %d: %w", idx, ErrNotFound)
		}
		out[i] = h
	}
	return out, nil
}

// InsertAuditTreeHashes appends stored hashes starting at index from (insert only: the tree is
// never rewritten).
func (s *Store) InsertAuditTreeHashes(ctx context.Context, from int64, hashes [][]byte) error {
	if len(hashes) == 0 {
		return nil
	}
	_, err := s.exec(ctx, `INSERT INTO audit_tree (idx, hash)
		SELECT $1 + n - 1, h FROM unnest($2::bytea[]) WITH ORDINALITY AS t(h, n)`, from, pq.Array(hashes))
	return err
}

// NotifyAuditCheckpoint asks every portal for a checkpoint of this store's council's log once
// the transaction commits (PostgreSQL delivers NOTIFY on commit and drops it on rollback).
func (s *Store) NotifyAuditCheckpoint(ctx context.Context) error {
	_, err := s.exec(ctx, `SELECT pg_notify($1, $2)`, AuditCheckpointChannel, s.council)
	return err
}

// listenRetry is the longest pause between two attempts to reconnect the listener.
const listenRetry = 5 * time.Second

// AuditCheckpointChannel is the LISTEN channel of NotifyAuditCheckpoint.
const AuditCheckpointChannel = "candour_audit_checkpoint"

// WatchAuditCheckpoints calls fn with the council's id each time a NotifyAuditCheckpoint
// commits, and with 0 after a lost connection comes back (one may have been missed, for any
// council), until ctx ends. LISTEN needs a connection of its own, hence the URL (key=value:
// lib/pq's listener reads a URL of several servers wrongly).
//
// After a failover the listener lands where the pool does: the URL's servers are tried in
// turn and, with target_session_attrs=read-write, only the promoted primary is taken (a
// standby would refuse LISTEN anyway). It tries again at most listenRetry after the last
// failure, so a checkpoint is made soon after the new primary appears.
func WatchAuditCheckpoints(ctx context.Context, url string, fn func(council int64)) error {
	l := pq.NewListener(url, time.Second, listenRetry, nil)
	defer l.Close()
	if err := l.Listen(AuditCheckpointChannel); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case n := <-l.Notify:
			var council int64
			if n != nil {
				council, _ = strconv.ParseInt(n.Extra, 10, 64)
			}
			fn(council)
		case <-time.After(90 * time.Second):
			_ = l.Ping()
		}
	}
}
