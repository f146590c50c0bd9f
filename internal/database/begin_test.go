package database_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"candour/internal/database"
	"candour/internal/dbtest"
)

// A statement sent with BEGIN runs inside the transaction it opens: its local setting is seen
// there and gone after; commit and rollback work as after lib/pq's own BEGIN; a refused
// statement leaves no transaction behind on the connection.
func TestBeginWith(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db := dbtest.Open(t, dbtest.NewURL(t))
	db.SetMaxOpenConns(1) // every step on the same connection
	setting := func(q interface {
		GetContext(context.Context, any, string, ...any) error
	}, name string) string {
		t.Helper()
		var v string
		if err := q.GetContext(ctx, &v, `SELECT coalesce(current_setting($1, true), '')`, name); err != nil {
			t.Fatal(err)
		}
		return v
	}

	bctx, sent := database.BeginWith(ctx, `SELECT set_config('candour.probe', 'inside', true)`)
	tx, err := db.BeginTxx(bctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !sent() {
		t.Fatal("sent() = false after a default begin on the pool, want true")
	}
	if got := setting(tx, "candour.probe"); got != "inside" {
		t.Errorf("in the transaction: got %q, want %q", got, "inside")
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := setting(db, "candour.probe"); got != "" {
		t.Errorf("after commit: got %q, want it gone with the transaction", got)
	}

	// A session setting changed inside is undone by the rollback: it was one transaction.
	bctx, _ = database.BeginWith(ctx, `SELECT set_config('candour.session', 'changed', false)`)
	tx, err = db.BeginTxx(bctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if got := setting(db, "candour.session"); got != "" {
		t.Errorf("after rollback: got %q, want the change undone", got)
	}

	bctx, sent = database.BeginWith(ctx, `SELECT 1/0`)
	if _, err := db.BeginTxx(bctx, nil); err == nil {
		t.Fatal("begin with a failing statement: got no error")
	}
	var open int
	if err := db.GetContext(ctx, &open, `SELECT count(*) FROM pg_stat_activity WHERE pid = pg_backend_pid() AND xact_start IS NOT NULL AND xact_start < statement_timestamp()`); err != nil || open != 0 {
		t.Errorf("after a refused begin: %d transactions left open (%v), want none", open, err)
	}

	// Other options go through lib/pq's own BEGIN; the caller runs the statement itself.
	bctx, sent = database.BeginWith(ctx, `SELECT set_config('candour.probe', 'inside', true)`)
	tx, err = db.BeginTxx(bctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if sent() {
		t.Error("sent() = true for a read-only begin, want false")
	}
	if got := setting(tx, "candour.probe"); got != "" {
		t.Errorf("read-only transaction: got %q, want the statement not run", got)
	}
}
