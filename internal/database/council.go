package database

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"strconv"
)

// councilBegin asks BeginTx to set the transaction's council (row-level security, migration
// 00031) with its BEGIN, and records whether it did.
type councilBegin struct {
	council int64
	done    *bool
}

type councilKey struct{}

// WithCouncil returns ctx for beginning a transaction of council on a pool from Open: BEGIN
// and set_config('candour.council', ..., true) go to the server as one simple query, in one
// round trip instead of two. *done reports whether that happened; when it did not (another
// driver, isolation options lib/pq would spell differently), the caller sets the council
// itself.
func WithCouncil(ctx context.Context, council int64, done *bool) context.Context {
	return context.WithValue(ctx, councilKey{}, councilBegin{council: council, done: done})
}

// beginMode is what follows BEGIN for opts, as lib/pq spells it; ok is false for an isolation
// level this does not know.
func beginMode(opts driver.TxOptions) (mode string, ok bool) {
	switch sql.IsolationLevel(opts.Isolation) {
	case sql.LevelDefault:
	case sql.LevelReadCommitted:
		mode = " ISOLATION LEVEL READ COMMITTED"
	case sql.LevelRepeatableRead:
		mode = " ISOLATION LEVEL REPEATABLE READ"
	case sql.LevelSerializable:
		mode = " ISOLATION LEVEL SERIALIZABLE"
	default:
		return "", false
	}
	if opts.ReadOnly {
		return mode + " READ ONLY", true
	}
	return mode + " READ WRITE", true
}

// beginInCouncil begins the transaction and sets its council in one round trip. Without
// arguments lib/pq sends the text as a simple query, which may hold two statements; the
// council is an integer, so spelling it into the text is safe. lib/pq's connection is its own
// driver.Tx (its Commit and Rollback check the transaction status the server reported).
func (c *readOnlyConn) beginInCouncil(ctx context.Context, opts driver.TxOptions, cb councilBegin) (driver.Tx, error) {
	mode, ok := beginMode(opts)
	tx, isTx := c.Conn.(driver.Tx)
	if !ok || !isTx {
		return c.pq().BeginTx(ctx, opts)
	}
	q := "BEGIN" + mode + "; SELECT set_config('candour.council', '" + strconv.FormatInt(cb.council, 10) + "', true)"
	if _, err := c.pq().ExecContext(ctx, q, nil); err != nil {
		// A BEGIN that went through must not go back to the pool open: roll it back, and if
		// there was none lib/pq marks the connection bad, so the pool drops it.
		_ = tx.Rollback()
		return nil, c.note(err)
	}
	*cb.done = true
	return tx, nil
}
