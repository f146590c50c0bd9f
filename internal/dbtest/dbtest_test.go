package dbtest

import (
	"context"
	"testing"
	"time"

	"candour/internal/database"
)

func TestMain(m *testing.M) { Main(m) }

func TestNewIsMigratedAndIsolated(t *testing.T) {
	t.Parallel()
	a, b := New(t), New(t)
	if _, err := a.Exec(`INSERT INTO users (email, name) VALUES ('a@example.org', 'A')`); err != nil {
		t.Fatalf("insert into a migrated database: %v", err)
	}
	var n int
	if err := b.Get(&n, `SELECT count(*) FROM users`); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("users in the other database: got %d, want 0", n)
	}
}

func TestNewURL(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := database.Open(ctx, NewURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := database.EnsureCurrent(ctx, db.DB); err != nil {
		t.Errorf("EnsureCurrent: got %v, want nil", err)
	}
}

func TestNewEmpty(t *testing.T) {
	t.Parallel()
	db := Open(t, NewEmpty(t).OwnerURL)
	var n int
	if err := db.Get(&n, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("tables in an empty database: got %d, want 0", n)
	}
}
