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
	"strconv"
	"sync"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"candour/internal/database"
)

// ErrNotFound is returned when a row asked for does not exist.
var ErrNotFound = errors.New("store: not found")

// Store runs one council's queries on the pool, or on one transaction inside Tx.
//
// PostgreSQL keeps each council to its own rows (row-level security, migration 00031) by the
// setting candour.council, which every transaction sets first. A query on the pool runs in a
// transaction of its own for that reason: a connection never carries a council from one use
// to the next, so nothing depends on resetting it.
type Store struct {
	db       *sqlx.DB
	q        sqlx.ExtContext
	prepared *sync.Map  // statement text -> *sqlx.Stmt, on the pool only
	files    *FileBlobs // nil: new blobs go to PostgreSQL (or s3)
	s3       *S3Blobs   // nil: no S3-compatible bucket
	council  string     // councils.id in decimal, as set_config takes it
}

// DefaultCouncil is the council of a single-council installation (and of every row from
// before there were several).
const DefaultCouncil int64 = 1

// New returns a store on db for the default council.
func New(db *sqlx.DB) *Store {
	return &Store{db: db, q: db, prepared: &sync.Map{}, council: strconv.FormatInt(DefaultCouncil, 10)}
}

// ForCouncil returns a store on the same pool that reads and writes council id's rows only.
func (s *Store) ForCouncil(id int64) *Store {
	c := *s
	c.council = strconv.FormatInt(id, 10)
	return &c
}

// Council is the id of the council this store works for.
func (s *Store) Council() int64 {
	id, _ := strconv.ParseInt(s.council, 10, 64)
	return id
}

// setCouncil makes q's transaction this store's council's.
func (s *Store) setCouncil(ctx context.Context, q sqlx.ExecerContext) error {
	if _, err := q.ExecContext(ctx, `SELECT set_config('candour.council', $1, true)`, s.council); err != nil {
		return fmt.Errorf("store: set council: %w", err)
	}
	return nil
}

// run calls fn with a queryer whose transaction is set to this store's council: the open
// transaction inside Tx, else one of its own around fn.
func (s *Store) run(ctx context.Context, fn func(q sqlx.ExtContext) error) error {
	if s.db == nil {
		return fn(s.q)
	}
	return s.Tx(ctx, func(tx *Store) error { return fn(tx.q) })
}

func (s *Store) get(ctx context.Context, dest any, query string, args ...any) error {
	return s.run(ctx, func(q sqlx.ExtContext) error { return sqlx.GetContext(ctx, q, dest, query, args...) })
}

func (s *Store) sel(ctx context.Context, dest any, query string, args ...any) error {
	return s.run(ctx, func(q sqlx.ExtContext) error { return sqlx.SelectContext(ctx, q, dest, query, args...) })
}

func (s *Store) exec(ctx context.Context, query string, args ...any) (res sql.Result, err error) {
	err = s.run(ctx, func(q sqlx.ExtContext) error {
		res, err = q.ExecContext(ctx, query, args...)
		return err
	})
	return res, err
}

// row is one row to scan, fetched when Scan is called (so that it runs in the council's
// transaction).
type row struct {
	s     *Store
	ctx   context.Context
	query string
	args  []any
}

func (s *Store) row(ctx context.Context, query string, args ...any) row {
	return row{s: s, ctx: ctx, query: query, args: args}
}

func (r row) Scan(dest ...any) error {
	return r.s.run(r.ctx, func(q sqlx.ExtContext) error { return q.QueryRowxContext(r.ctx, r.query, r.args...).Scan(dest...) })
}

// EnsureCouncil returns the id of the council named slug, adding it on its first start.
func (s *Store) EnsureCouncil(ctx context.Context, slug string) (int64, error) {
	var id int64
	err := s.get(ctx, &id, `WITH added AS (
			INSERT INTO councils (slug) VALUES ($1) ON CONFLICT (slug) DO NOTHING RETURNING id)
		SELECT id FROM added UNION ALL SELECT id FROM councils WHERE slug = $1`, slug)
	return id, err
}

// lockCouncil takes the transaction-level advisory lock named name for this store's council:
// councils never wait for each other. Inside Tx only: on the pool it would end at once.
func (s *Store) lockCouncil(ctx context.Context, name string) error {
	_, err := s.exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('candour.'||$1), $2::integer)`, name, s.council)
	return err
}

// tryLockCouncil is lockCouncil without waiting: false when another transaction holds it.
func (s *Store) tryLockCouncil(ctx context.Context, name string) (ok bool, err error) {
	err = s.get(ctx, &ok, `SELECT pg_try_advisory_xact_lock(hashtext('candour.'||$1), $2::integer)`, name, s.council)
	return ok, err
}

// beginTx begins a transaction on the pool with opts, set to this store's council.
func (s *Store) beginTx(ctx context.Context, opts *sql.TxOptions) (*sqlx.Tx, error) {
	// The council goes with BEGIN where the pool can send them together (the council is
	// digits only: FormatInt's); otherwise it is set by a statement of its own.
	beginCtx, sent := database.BeginWith(ctx, `SELECT set_config('candour.council', '`+s.council+`', true)`)
	tx, err := s.db.BeginTxx(beginCtx, opts)
	if err != nil {
		return nil, fmt.Errorf("store: begin: %w", err)
	}
	if sent() {
		return tx, nil
	}
	if err := s.setCouncil(ctx, tx); err != nil {
		_ = tx.Rollback()
		return nil, err
	}
	return tx, nil
}

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
	tx, err := s.beginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(&Store{q: tx, files: s.files, s3: s.s3, council: s.council}); err != nil {
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
		// 25006 read_only_sql_transaction: the server, or the session, went read-only under
		// us (a switchover, a full disk); database.Open drops such a connection from the pool
		// and the client's retry connects afresh, to whichever server takes writes.
		return pe.Code.Class() == "08" || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03" ||
			pe.Code == "25006"
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
