package database_test

import (
	"context"
	"errors"
	"io/fs"
	"strconv"
	"strings"
	"testing"
	"time"

	"candour/internal/database"
	"candour/internal/dbtest"
	"candour/migrations"
)

// latestMigration is the version of the newest file in migrations/ and how many there are.
func latestMigration(t *testing.T) (int64, int) {
	t.Helper()
	files, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("migrations: %v, %d files", err, len(files))
	}
	var latest int64
	for _, f := range files {
		prefix, _, _ := strings.Cut(f, "_")
		v, err := strconv.ParseInt(prefix, 10, 64)
		if err != nil {
			t.Fatalf("migration %s: %v", f, err)
		}
		latest = max(latest, v)
	}
	return latest, len(files)
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d := dbtest.NewEmpty(t)
	db := dbtest.Open(t, d.OwnerURL).DB
	latest, count := latestMigration(t)

	err := database.EnsureCurrent(ctx, db)
	if !errors.Is(err, database.ErrSchemaBehind) {
		t.Fatalf("EnsureCurrent on an empty database: got %v, want ErrSchemaBehind", err)
	}
	if want := strconv.Itoa(count) + " migration(s) pending"; !strings.Contains(err.Error(), want) {
		t.Errorf("EnsureCurrent: got %q, want it to say %q", err, want)
	}

	if err := database.Migrate(ctx, d.OwnerURL, d.URL); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	v, err := database.SchemaVersion(ctx, db)
	if err != nil || v != latest {
		t.Fatalf("version after Migrate: got %d (%v), want %d", v, err, latest)
	}
	if err := database.EnsureCurrent(ctx, db); err != nil {
		t.Errorf("EnsureCurrent after Migrate: got %v, want nil", err)
	}

	var rows int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM goose_db_version`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if err := database.Migrate(ctx, d.OwnerURL, d.URL); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	v, err = database.SchemaVersion(ctx, db)
	if err != nil || v != latest {
		t.Errorf("version after second Migrate: got %d (%v), want %d", v, err, latest)
	}
	var rowsAfter int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM goose_db_version`).Scan(&rowsAfter); err != nil {
		t.Fatal(err)
	}
	if rowsAfter != rows {
		t.Errorf("goose_db_version rows after a second Migrate: got %d, want %d", rowsAfter, rows)
	}
}
