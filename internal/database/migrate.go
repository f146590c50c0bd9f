package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"candour/migrations"
)

// ErrSchemaBehind means the database has migrations still to apply; run `candour migrate`.
var ErrSchemaBehind = errors.New("database schema is behind")

func newProvider(db *sql.DB) (*goose.Provider, error) {
	// A session lock (pg_advisory_lock) stops two instances migrating at once.
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS,
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
	)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return p, nil
}

// Migrate applies every pending migration, each in its own transaction.
func Migrate(ctx context.Context, db *sql.DB) error {
	p, err := newProvider(db)
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	return nil
}

// EnsureCurrent returns an error wrapping ErrSchemaBehind when migrations are pending, so the
// server refuses to run on a stale schema.
func EnsureCurrent(ctx context.Context, db *sql.DB) error {
	p, err := newProvider(db)
	if err != nil {
		return err
	}
	pending, err := p.HasPending(ctx)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if !pending {
		return nil
	}
	statuses, err := p.Status(ctx)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	n := 0
	for _, s := range statuses {
		if s.State == goose.StatePending {
			n++
		}
	}
	current, err := p.GetDBVersion(ctx)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	return fmt.Errorf("%w: %d migration(s) pending (database at version %d): run `candour migrate`",
		ErrSchemaBehind, n, current)
}

// SchemaVersion returns the highest migration version applied to db (0 when none).
func SchemaVersion(ctx context.Context, db *sql.DB) (int64, error) {
	p, err := newProvider(db)
	if err != nil {
		return 0, err
	}
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("migrations: %w", err)
	}
	return v, nil
}
