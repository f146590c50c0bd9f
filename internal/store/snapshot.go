package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// sweepHoldSpace is the first key of the advisory lock a backup holds to keep Sweep away from
// the blob folder while it copies the files its snapshot refers to.
const sweepHoldSpace = 7261003

// Snapshot is a read-only view of the database frozen at one instant, for a backup: pg_dump
// imports it by ID, and the backup copies exactly the blob files and objects that view refers
// to. While it is open no Sweep (of the folder or of the bucket) removes one, so a blob deleted
// after the instant (retention) keeps its bytes until the copy is done.
type Snapshot struct {
	ID   string // for pg_dump --snapshot
	conn *sqlx.Conn
	tx   *sqlx.Tx
}

// OpenSnapshot opens a snapshot on a connection of its own; Close it. The sweep is held off
// before the snapshot is taken, so no file its rows point to can be removed in between.
func (st *Store) OpenSnapshot(ctx context.Context) (_ *Snapshot, err error) {
	if st.db == nil {
		return nil, errors.New("store: a snapshot needs a connection of its own, not a transaction")
	}
	conn, err := st.db.Connx(ctx)
	if err != nil {
		return nil, err
	}
	s := &Snapshot{conn: conn}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	// A session lock, taken before the transaction's snapshot: a sweep that already decided
	// to remove a file finishes first, and its row's deletion is then in our view.
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1, 0)`, sweepHoldSpace); err != nil {
		return nil, fmt.Errorf("hold off the blob sweep: %w", err)
	}
	if s.tx, err = conn.BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}); err != nil {
		return nil, err
	}
	if err := s.tx.GetContext(ctx, &s.ID, `SELECT pg_export_snapshot()`); err != nil {
		return nil, fmt.Errorf("export snapshot: %w", err)
	}
	return s, nil
}

// BlobIDs are the blobs whose bytes are kept in where ("fs": files in the blob folder, "s3":
// objects in the bucket), as of the snapshot.
func (s *Snapshot) BlobIDs(ctx context.Context, where string) ([]int64, error) {
	var ids []int64
	err := s.tx.SelectContext(ctx, &ids, `SELECT id FROM blobs WHERE store = $1 ORDER BY id`, where)
	return ids, err
}

// CouncilID is the id of council slug as of the snapshot (false: no such council).
func (s *Snapshot) CouncilID(ctx context.Context, slug string) (int64, bool, error) {
	var id int64
	err := s.tx.GetContext(ctx, &id, `SELECT id FROM councils WHERE slug = $1`, slug)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	return id, err == nil, err
}

// CouncilBlobIDs are the blobs kept in where ("fs" or "s3") that council's attachments refer
// to, as of the snapshot: a council's backup carries these and no other council's.
func (s *Snapshot) CouncilBlobIDs(ctx context.Context, council int64, where string) ([]int64, error) {
	// The snapshot's session is the owner's, bound by row-level security like any other: it
	// reads the council's attachments once set to it (for this transaction only).
	if _, err := s.tx.ExecContext(ctx, `SELECT set_config('candour.council', $1, true)`, fmt.Sprint(council)); err != nil {
		return nil, err
	}
	var ids []int64
	err := s.tx.SelectContext(ctx, &ids, `SELECT id FROM blobs WHERE store = $2
		AND id IN (SELECT blob_id FROM attachments WHERE council_id = $1) ORDER BY id`, council, where)
	return ids, err
}

// Grant is what one role may do on one table or sequence of the public schema.
type Grant struct {
	Name       string   `json:"name"`
	Sequence   bool     `json:"sequence,omitempty"`
	Privileges []string `json:"privileges"`
}

// Grants are role's privileges on the public schema's tables and sequences, as of the
// snapshot: a restore gives them to its own serving role, whatever that role is called.
func (s *Snapshot) Grants(ctx context.Context, role string) ([]Grant, error) {
	rows, err := s.tx.QueryContext(ctx, `
		SELECT c.relname, c.relkind = 'S', array_agg(a.privilege_type ORDER BY a.privilege_type)
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(c.relacl) a
		WHERE n.nspname = 'public' AND a.grantee = (SELECT oid FROM pg_roles WHERE rolname = $1)
		GROUP BY c.relname, c.relkind ORDER BY c.relname`, role)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Grant
	for rows.Next() {
		var g Grant
		if err := rows.Scan(&g.Name, &g.Sequence, pq.Array(&g.Privileges)); err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// Close ends the snapshot and lets the sweep run again.
func (s *Snapshot) Close() error {
	var errs []error
	if s.tx != nil {
		errs = append(errs, s.tx.Rollback())
	}
	// Closing the connection would release the lock too, but it goes back to the pool.
	_, err := s.conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock($1, 0)`, sweepHoldSpace)
	errs = append(errs, err, s.conn.Close())
	return errors.Join(errs...)
}

// Relations names up to limit tables, views and sequences outside PostgreSQL's own schemas:
// none means the database is empty, as a restore needs it.
func (st *Store) Relations(ctx context.Context, limit int) ([]string, error) {
	var names []string
	err := sqlx.SelectContext(ctx, st.q, &names, `
		SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%'
		  AND n.nspname NOT LIKE 'pg\_temp%' AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
		ORDER BY 1 LIMIT $1`, limit)
	return names, err
}

// RoleExists reports whether the cluster has a role of that name.
func (st *Store) RoleExists(ctx context.Context, name string) (bool, error) {
	var ok bool
	err := sqlx.GetContext(ctx, st.q, &ok, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, name)
	return ok, err
}
