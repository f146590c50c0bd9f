package database

import (
	"context"
	"database/sql/driver"
)

// beginWith is a statement to send in the same message as BEGIN, and whether it was.
type beginWith struct {
	statement string
	sent      bool
}

type beginWithKey struct{}

// BeginWith returns a context whose next transaction, begun on a pool from Open with default
// options, runs statement (simple SQL, no parameters) in the message that opens it, and a
// function that reports whether it did; where it did not, run the statement yourself. The
// store sets each transaction's council this way: one round trip fewer for every
// transaction, which under load is time a filing's batch waits to be scheduled again
// (docs/performance.md).
func BeginWith(ctx context.Context, statement string) (context.Context, func() bool) {
	b := &beginWith{statement: statement}
	return context.WithValue(ctx, beginWithKey{}, b), func() bool { return b.sent }
}

// beginWith opens a transaction with BEGIN and b's statement in one simple-query message, READ
// WRITE as lib/pq's own BEGIN is (so a session set read-only refuses it at once, as before).
// lib/pq's connection is its own transaction: it follows the server's transaction status, so
// its Commit and Rollback work as after its own BEGIN.
func (c *readOnlyConn) beginWith(ctx context.Context, b *beginWith) (driver.Tx, error) {
	tx, ok := c.Conn.(driver.Tx)
	if !ok {
		return c.pq().BeginTx(ctx, driver.TxOptions{})
	}
	if _, err := c.pq().ExecContext(ctx, "BEGIN READ WRITE; "+b.statement, nil); err != nil {
		// A statement refused after BEGIN leaves a failed transaction open: end it. When BEGIN
		// itself did not get through, lib/pq knows there is none and this does nothing.
		_ = tx.Rollback()
		return nil, c.note(err)
	}
	b.sent = true
	return tx, nil
}
