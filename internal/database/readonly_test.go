package database_test

import (
	"context"
	"testing"
	"time"

	"candour/internal/database"
	"candour/internal/dbtest"
	"candour/internal/store"
)

// A write refused as read-only (SQLSTATE 25006, as on a primary a failover has demoted) is
// "unavailable", a 503 to try again, and its connection leaves the pool: the next query runs
// on a fresh connection, which target_session_attrs=read-write would send to the new primary.
func TestReadOnlyConnectionLeavesThePool(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db := dbtest.Open(t, dbtest.InCouncil(t, dbtest.NewURL(t), store.DefaultCouncil))
	db.SetMaxOpenConns(1) // one connection: reuse is certain unless it was dropped
	pid := func() int {
		t.Helper()
		var p int
		if err := db.GetContext(ctx, &p, `SELECT pg_backend_pid()`); err != nil {
			t.Fatal(err)
		}
		return p
	}
	before := pid()
	if again := pid(); again != before {
		t.Fatalf("a healthy connection was not reused: backend %d, then %d", before, again)
	}
	if _, err := db.ExecContext(ctx, `SET default_transaction_read_only = on`); err != nil {
		t.Fatal(err)
	}
	_, err := db.ExecContext(ctx, `INSERT INTO users (email, name, roles) VALUES ('ro@example.gov.uk', 'RO', '{monitoring_officer}')`)
	if !database.IsReadOnly(err) || !store.IsUnavailable(err) {
		t.Fatalf("write on a read-only session: got %v, want 25006, unavailable", err)
	}
	if after := pid(); after == before {
		t.Errorf("the read-only connection (backend %d) went back into the pool", before)
	}
	var ro string
	if err := db.GetContext(ctx, &ro, `SHOW transaction_read_only`); err != nil || ro != "off" {
		t.Errorf("fresh connection: transaction_read_only %q (%v), want off", ro, err)
	}

	// The same through a statement prepared on the pool, as the store's hottest statements are.
	// (Not in a transaction: lib/pq begins with BEGIN READ WRITE, which overrides the session's
	// default; a standby refuses that BEGIN itself.)
	st, err := db.PreparexContext(ctx, `INSERT INTO users (email, name, roles) VALUES ($1, 'RO', '{monitoring_officer}')`)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	before = pid()
	if _, err := db.ExecContext(ctx, `SET default_transaction_read_only = on`); err != nil {
		t.Fatal(err)
	}
	if _, err = st.ExecContext(ctx, "ro2@example.gov.uk"); !database.IsReadOnly(err) {
		t.Fatalf("prepared write on a read-only session: got %v, want 25006", err)
	}
	if after := pid(); after == before {
		t.Errorf("prepared statement: the read-only connection (backend %d) went back into the pool", before)
	}
}
