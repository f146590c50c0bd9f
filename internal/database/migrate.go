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

// Migrate applies every pending migration, each in its own transaction, as the owner role of
// ownerURL (CANDOUR_MIGRATE_DATABASE_URL). The serving role is the user of servingURL
// (DATABASE_URL): it is created first when it is missing and the owner may create roles, and
// migration 00025 grants it what the portal needs and no more.
func Migrate(ctx context.Context, ownerURL, servingURL string) error {
	serving, err := ParseDSN(servingURL)
	if err != nil {
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	if serving.Get("user") == "" {
		return errors.New("DATABASE_URL names no user: it must name the serving role")
	}
	owner, err := ParseDSN(ownerURL)
	if err != nil {
		return fmt.Errorf("CANDOUR_MIGRATE_DATABASE_URL: %w", err)
	}
	db, err := Open(ctx, owner.With(servingRoleSetting, serving.Get("user")).String())
	if err != nil {
		return err
	}
	defer db.Close()
	if err := ensureServingRole(ctx, db, serving); err != nil {
		return err
	}
	return migrate(ctx, db.DB)
}

func migrate(ctx context.Context, db *sql.DB) error {
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
