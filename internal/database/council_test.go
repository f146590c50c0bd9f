package database_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"candour/internal/database"
	"candour/internal/dbtest"
)

// A transaction begun with WithCouncil is that council's from its first statement, with the
// isolation and access asked for, and the setting ends with it: the one connection the pool
// reuses carries no council afterwards, nor after a BEGIN that failed.
func TestBeginSetsTheCouncil(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db := dbtest.Open(t, dbtest.NewURL(t)) // sessions in no council, as the portal's
	db.SetMaxOpenConns(1)
	for _, opts := range []*sql.TxOptions{nil, {Isolation: sql.LevelRepeatableRead, ReadOnly: true}} {
		var done bool
		tx, err := db.BeginTxx(database.WithCouncil(ctx, 7, &done), opts)
		if err != nil {
			t.Fatal(err)
		}
		var council, isolation, readOnly string
		if err := tx.QueryRowContext(ctx, `SELECT current_setting('candour.council', true),
			current_setting('transaction_isolation'), current_setting('transaction_read_only')`).Scan(&council, &isolation, &readOnly); err != nil {
			t.Fatal(err)
		}
		want := [3]string{"7", "read committed", "off"}
		if opts != nil {
			want = [3]string{"7", "repeatable read", "on"}
		}
		if got := [3]string{council, isolation, readOnly}; !done || got != want {
			t.Errorf("%+v: got %q (set with BEGIN: %v), want %q, true", opts, got, done, want)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	after := func() string {
		t.Helper()
		var c sql.NullString
		if err := db.GetContext(ctx, &c, `SELECT NULLIF(current_setting('candour.council', true), '')`); err != nil {
			t.Fatal(err)
		}
		return c.String
	}
	if c := after(); c != "" {
		t.Errorf("after commit: council %q, want none", c)
	}
	gone, stop := context.WithCancel(ctx)
	stop()
	var done bool
	if _, err := db.BeginTxx(database.WithCouncil(gone, 7, &done), nil); err == nil || done {
		t.Fatalf("begin on a cancelled context: got %v, set %v, want an error", err, done)
	}
	if c := after(); c != "" {
		t.Errorf("after a failed begin: council %q, want none", c)
	}
}
