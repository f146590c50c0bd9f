package database_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/pressly/goose/v3"

	"candour/internal/database"
	"candour/internal/dbtest"
	"candour/migrations"
)

// migrator runs the migrations on db one by one, for tests of a migration's way up and down.
func migrator(t *testing.T, db *sqlx.DB) *goose.Provider {
	t.Helper()
	p, err := goose.NewProvider(goose.DialectPostgres, db.DB, migrations.FS, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// ownerMigrator is an empty database, the owner's connection to it naming the serving role (as
// candour migrate does, for the migrations that grant to it), and a migrator on that connection.
func ownerMigrator(t *testing.T) (dbtest.Database, *sqlx.DB, *goose.Provider) {
	t.Helper()
	d := dbtest.NewEmpty(t)
	serving, err := database.ParseDSN(d.URL)
	if err != nil {
		t.Fatal(err)
	}
	owner, err := database.ParseDSN(d.OwnerURL)
	if err != nil {
		t.Fatal(err)
	}
	db := dbtest.Open(t, owner.With("candour.serving_role", serving.Get("user")).String())
	return d, db, migrator(t, db)
}

// 00036's way down drops the function by its whole signature, and the way up makes it again.
func TestInsertConcernsMigrationDownUp(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d := dbtest.NewDatabase(t)
	db := dbtest.Open(t, d.OwnerURL)
	p := migrator(t, db)
	exists := func() (n int) {
		t.Helper()
		if err := db.GetContext(ctx, &n, `SELECT count(*) FROM pg_proc WHERE proname = 'insert_concerns'`); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := exists(); n != 1 {
		t.Fatalf("migrated: %d functions, want 1", n)
	}
	if _, err := p.DownTo(ctx, 35); err != nil {
		t.Fatalf("down: %v", err)
	}
	if n := exists(); n != 0 {
		t.Fatalf("after down: %d functions, want none", n)
	}
	if _, err := p.UpTo(ctx, 36); err != nil {
		t.Fatalf("up again: %v", err)
	}
	if n := exists(); n != 1 {
		t.Fatalf("up again: %d functions, want 1", n)
	}
}

// 00038 makes the concern row a plain insert; its way down puts the speculative one back.
func TestInsertConcernsPlainMigrationDownUp(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d := dbtest.NewDatabase(t)
	db := dbtest.Open(t, d.OwnerURL)
	p := migrator(t, db)
	speculative := func() bool {
		t.Helper()
		var src string
		if err := db.GetContext(ctx, &src, `SELECT prosrc FROM pg_proc WHERE proname = 'insert_concerns'`); err != nil {
			t.Fatal(err)
		}
		return strings.Contains(src, "ON CONFLICT (reference)")
	}
	if speculative() {
		t.Fatal("migrated: the concern row is still inserted ON CONFLICT")
	}
	if _, err := p.DownTo(ctx, 37); err != nil {
		t.Fatalf("down: %v", err)
	}
	if !speculative() {
		t.Fatal("after down: want 00036's ON CONFLICT insert back")
	}
	if _, err := p.UpTo(ctx, 38); err != nil {
		t.Fatalf("up again: %v", err)
	}
	if speculative() {
		t.Fatal("up again: the concern row is inserted ON CONFLICT")
	}
}
