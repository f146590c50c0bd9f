// Package audit keeps the tamper-evident audit trail (DESIGN §4): an append-only list of events
// in which each event carries the SHA-256 of the previous one and of its own canonical form, so
// any edit, deletion or reordering breaks the chain from that point on. Events never carry case
// content: who did what to which object, when, and short non-content details.
package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"candour/internal/store"
)

// Actors that are not staff users.
const (
	ActorReporter = "reporter"
	ActorSystem   = "system"
	ActorCLI      = "cli"
)

// Event is one thing that happened. ActorID is the staff user, when there is one.
type Event struct {
	ActorID    int64  // 0: no staff user (Actor says who)
	Actor      string // defaults to "user:<ActorID>" or "system"
	Action     string // e.g. "auth.login", "concern.read", "user.disable"
	ObjectType string // e.g. "concern", "user", "session"
	ObjectID   string
	Details    map[string]string // never case content
}

// genesis is the prev_hash of the first event.
var genesis = make([]byte, sha256.Size)

// now is the clock (tests may replace it).
var now = time.Now

// time is when e is kept as having happened. An event about a reporter's doing (the reporter
// acting, or the system acting on a concern for no staff user) keeps only the hour, like the
// rows it describes: a microsecond would date the reporter's action, and place it among staff
// events. Other events keep microseconds, PostgreSQL's precision, so the hash covers exactly
// what is stored. The trail's order is its sequence numbers, never its times.
func (e Event) time(t time.Time) time.Time {
	t = t.UTC()
	if e.Actor == ActorReporter || (e.ActorID == 0 && (e.Actor == "" || e.Actor == ActorSystem) && e.ObjectType == "concern") {
		return t.Truncate(time.Hour)
	}
	return t.Truncate(time.Microsecond)
}

// Record appends e to the trail inside st's transaction (it opens one when st is not in one),
// so the event is written if and only if the change it describes is.
func Record(ctx context.Context, st *store.Store, e Event) error {
	if e.Action == "" {
		return fmt.Errorf("audit: event without an action")
	}
	return st.Tx(ctx, func(tx *store.Store) error {
		seq, prev, err := tx.LockAuditTail(ctx)
		if err != nil {
			return fmt.Errorf("audit: lock: %w", err)
		}
		if prev == nil {
			prev = genesis
		}
		row := store.AuditEvent{
			Seq: seq + 1, At: e.time(now()), Actor: e.Actor, Action: e.Action,
			ObjectType: e.ObjectType, ObjectID: e.ObjectID, PrevHash: prev,
		}
		if e.ActorID != 0 {
			id := e.ActorID
			row.ActorID = &id
			if row.Actor == "" {
				row.Actor = fmt.Sprintf("user:%d", id)
			}
		}
		if row.Actor == "" {
			row.Actor = ActorSystem
		}
		details := e.Details
		if details == nil {
			details = map[string]string{}
		}
		if row.Details, err = json.Marshal(details); err != nil {
			return err
		}
		if row.Hash, err = Hash(&row); err != nil {
			return err
		}
		if err := tx.InsertAuditEvent(ctx, &row); err != nil {
			return fmt.Errorf("audit: append: %w", err)
		}
		if securityActions[e.Action] {
			return tx.NotifyAuditCheckpoint(ctx)
		}
		return nil
	})
}

// canonical is the hashed form of an event: fixed field order, UTC times in RFC 3339 with
// microseconds, details as a JSON object with sorted keys, hashes in hex.
type canonical struct {
	V          int               `json:"v"`
	Seq        int64             `json:"seq"`
	At         string            `json:"at"`
	ActorID    *int64            `json:"actor_id"`
	Actor      string            `json:"actor"`
	Action     string            `json:"action"`
	ObjectType string            `json:"object_type"`
	ObjectID   string            `json:"object_id"`
	Details    map[string]string `json:"details"` // encoding/json sorts map keys
	Prev       string            `json:"prev"`
}

// Canonical returns the canonical form of e (without its own hash).
func Canonical(e *store.AuditEvent) ([]byte, error) {
	details := map[string]string{}
	if len(e.Details) > 0 {
		if err := json.Unmarshal(e.Details, &details); err != nil {
			return nil, fmt.Errorf("audit: event %d: details: %w", e.Seq, err)
		}
	}
	return json.Marshal(canonical{
		V: 1, Seq: e.Seq, At: e.At.UTC().Format("2006-01-02T15:04:05.000000Z"), ActorID: e.ActorID, Actor: e.Actor,
		Action: e.Action, ObjectType: e.ObjectType, ObjectID: e.ObjectID, Details: details,
		Prev: hex.EncodeToString(e.PrevHash),
	})
}

// Hash is the SHA-256 of e's canonical form (which includes the previous hash).
func Hash(e *store.AuditEvent) ([]byte, error) {
	c, err := Canonical(e)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(c)
	return sum[:], nil
}

// Result is what Verify found.
type Result struct {
	OK       bool   `json:"ok"`
	Events   int    `json:"events"`
	FirstBad *int64 `json:"first_bad,omitempty"` // seq of the first event that does not verify
}

// batch is how many events Verify reads at a time (constant memory on a long trail).
const batch = 1000

// Verify walks the whole trail in seq order and checks that seq counts up from 1 without gaps,
// that each event names the hash of the one before it, and that each stored hash is the hash
// of the event's canonical form. It reports the first event that fails. A deleted tail cannot
// be seen by a hash chain alone: compare events with the last count you recorded elsewhere.
func Verify(ctx context.Context, st *store.Store) (ok bool, events int, firstBad *int64, err error) {
	prev := genesis
	var expect int64 = 1
	var after int64
	for {
		rows, err := st.AuditEvents(ctx, after, batch)
		if err != nil {
			return false, events, nil, fmt.Errorf("audit: read: %w", err)
		}
		for i := range rows {
			e := &rows[i]
			events++
			h, herr := Hash(e)
			if e.Seq != expect || !bytes.Equal(e.PrevHash, prev) || herr != nil || !bytes.Equal(h, e.Hash) {
				bad := e.Seq
				return false, events, &bad, nil
			}
			prev, expect, after = e.Hash, expect+1, e.Seq
		}
		if len(rows) < batch {
			return true, events, nil, nil
		}
	}
}

// Check is Verify as a Result.
func Check(ctx context.Context, st *store.Store) (Result, error) {
	ok, n, bad, err := Verify(ctx, st)
	return Result{OK: ok, Events: n, FirstBad: bad}, err
}
