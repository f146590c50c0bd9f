// Package database opens the PostgreSQL pool, runs the goose migrations and, when no
// DATABASE_URL is configured, starts a private PostgreSQL server from the machine's binaries.
package database

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq" // the driver, registered as "postgres"
)

// Pool sizes for Open. Idle connections are kept up to the open limit: with fewer, every dip in
// load closed connections that the next burst opened again (a new server process each, about
// one triage request in fifty with 16 staff at once, issue 20).
const (
	maxOpenConns    = 20
	maxIdleConns    = maxOpenConns
	connMaxLifetime = 30 * time.Minute
)

// Open connects to PostgreSQL at url (a postgres:// URL or a lib/pq key=value string) and
// checks the connection. Errors never include url, which may carry a password.
//
// url may name several servers (host=a,b port=5432,5432 target_session_attrs=read-write):
// lib/pq (since 1.11) tries them in order and keeps the first that takes writes, so after a
// failover new connections find the promoted server without a restart.
func Open(ctx context.Context, url string) (*sqlx.DB, error) {
	dsn, err := withBinaryParameters(url)
	if err != nil {
		return nil, fmt.Errorf("database: open: not a postgres:// URL or key=value string")
	}
	connector, err := pq.NewConnector(dsn)
	if err != nil {
		return nil, fmt.Errorf("database: open: %w", err)
	}
	// "postgres" keeps sqlx's $1 placeholders, as sqlx.Open("postgres") had them.
	db := sqlx.NewDb(sql.OpenDB(readOnlyConnector{connector}), "postgres")
	db.SetMaxOpenConns(maxOpenConns)
	db.SetMaxIdleConns(maxIdleConns)
	db.SetConnMaxLifetime(connMaxLifetime)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("database: connect: %w", err)
	}
	return db, nil
}

// withBinaryParameters turns on lib/pq's binary_parameters: []byte arguments (ciphertext, which
// is most of what Candour writes) go as raw bytes instead of hex text at twice the size, and a
// query with arguments goes in one round trip instead of a Parse/Describe round trip first.
func withBinaryParameters(url string) (string, error) {
	if strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://") {
		d, err := ParseDSN(url)
		if err != nil {
			return "", err
		}
		url = d.String()
	}
	return url + " binary_parameters=yes", nil
}
