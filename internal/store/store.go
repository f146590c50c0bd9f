// Package store owns all SQL. It sees ciphertext only: it never imports seal, so plaintext
// cannot reach the database by accident.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// ErrNotFound is returned when a row asked for does not exist.
var ErrNotFound = errors.New("store: not found")

// Store runs queries on the pool, or on one transaction inside Tx.
type Store struct {
	db       *sqlx.DB
	q        sqlx.ExtContext
	prepared *sync.Map  // statement text -> *sqlx.Stmt, on the pool only
	files    *FileBlobs // nil: new blobs go to PostgreSQL
}

// New returns a store on db.
func New(db *sqlx.DB) *Store { return &Store{db: db, q: db, prepared: &sync.Map{}} }

// prepare returns a statement prepared on the pool, once per text: for the hottest statements,
// where parsing and planning each time cost as much as running them. Inside a transaction it
// returns nil; run the text instead.
func (s *Store) prepare(ctx context.Context, text string) (*sqlx.Stmt, error) {
	if s.db == nil {
		return nil, nil
	}
	if st, ok := s.prepared.Load(text); ok {
		return st.(*sqlx.Stmt), nil
	}
	st, err := s.db.PreparexContext(ctx, text)
	if err != nil {
		return nil, err
	}
	if prev, loaded := s.prepared.LoadOrStore(text, st); loaded {
		st.Close()
		return prev.(*sqlx.Stmt), nil
	}
	return st, nil
}

// Tx runs fn with a store bound to one transaction, committed when fn returns nil and rolled
// back otherwise (or if the process dies first), so a failed request leaves nothing behind.
func (s *Store) Tx(ctx context.Context, fn func(tx *Store) error) error {
	if s.db == nil {
		return fn(s) // already inside a transaction
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	if err := fn(&Store{q: tx, files: s.files}); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// IsDataError reports whether PostgreSQL refused err's statement for the data it carried (SQL
// state classes 22, data exception, and 23, integrity constraint violation), rather than for a
// timeout, a lost connection or a server in trouble: the same statement without the offending
// row would go through.
func IsDataError(err error) bool {
	var pe *pq.Error
	if !errors.As(err, &pe) {
		return false
	}
	class := pe.Code.Class()
	return class == "22" || class == "23"
}

// IsUnavailable reports whether err means PostgreSQL could not be reached or went away: a
// refused or failed dial, a broken connection, or the server shutting down or not yet
// accepting connections (SQL states 57P01-57P03, and class 08, connection exception). Trying
// again later may work; nothing is wrong with the request.
func IsUnavailable(err error) bool {
	if errors.Is(err, driver.ErrBadConn) {
		return true
	}
	var pe *pq.Error
	if errors.As(err, &pe) {
		return pe.Code.Class() == "08" || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03"
	}
	// Bodies are read through server.RequestBody, which turns the client's network errors into
	// faults: a network error left in a handler's chain is the database's.
	var ne *net.OpError
	return errors.As(err, &ne)
}

// ErrDuplicate: a row with the same unique key already exists.
var ErrDuplicate = errors.New("store: duplicate")

// duplicate turns a unique-key violation into ErrDuplicate.
func duplicate(err error) error {
	var pe *pq.Error
	if errors.As(err, &pe) && pe.Code == "23505" {
		return ErrDuplicate
	}
	return err
}

func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}
