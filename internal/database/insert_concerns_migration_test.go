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
// 00038 makes the concern row a plain insert; its way down puts 00036's ON CONFLICT back.
func TestInsertConcernsMigrationDownUp(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, db, p := ownerMigrator(t) // 00037 grants to the serving role on its way up
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	want := func(step string, functions int, speculative bool) {
		t.Helper()
		var sources []string
		if err := db.SelectContext(ctx, &sources, `SELECT prosrc FROM pg_proc WHERE proname = 'insert_concerns'`); err != nil {
			t.Fatal(err)
		}
		if len(sources) != functions {
			t.Fatalf("%s: %d functions, want %d", step, len(sources), functions)
		}
		if got := functions == 1 && strings.Contains(sources[0], "ON CONFLICT (reference)"); got != speculative {
			t.Fatalf("%s: concern row inserted ON CONFLICT = %v, want %v", step, got, speculative)
		}
	}
	want("migrated", 1, false)
	steps := []struct {
		name        string
		move        func(context.Context, int64) ([]*goose.MigrationResult, error)
		to          int64
		functions   int
		speculative bool
	}{
		{"00038 down", p.DownTo, 37, 1, true},
		{"00036 down", p.DownTo, 35, 0, false},
		{"00036 up", p.UpTo, 36, 1, true},
		{"00038 up", p.UpTo, 38, 1, false},
	}
	for _, s := range steps {
		if _, err := s.move(ctx, s.to); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		want(s.name, s.functions, s.speculative)
	}
}
