package database

import (
	"context"
	"database/sql/driver"
	"errors"
	"sync/atomic"

	"github.com/lib/pq"
)

// readOnlyConnector hands out connections that leave the pool once the server has refused a
// write as read-only (SQLSTATE 25006). target_session_attrs=read-write checks a server only
// when connecting: a connection to a primary later set read-only (default_transaction_read_only,
// as operators do to stop writes before a switchover or on a full disk) would otherwise stay
// pooled and fail every write that draws it, while a new connection would find a primary.
type readOnlyConnector struct{ driver.Connector }

func (c readOnlyConnector) Connect(ctx context.Context) (driver.Conn, error) {
	cn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &readOnlyConn{Conn: cn}, nil
}

// pqConn is what lib/pq's connection implements and database/sql looks for; forwarding each
// keeps lib/pq's behaviour (its own argument conversion, contexts, bad-connection checks).
type pqConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.NamedValueChecker
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

type readOnlyConn struct {
	driver.Conn
	readOnly atomic.Bool
}

var _ pqConn = (*readOnlyConn)(nil)

// IsReadOnly reports whether err is PostgreSQL refusing a write because the server, or the
// session, is read-only: a standby, or a primary on its way out.
func IsReadOnly(err error) bool {
	var pe *pq.Error
	return errors.As(err, &pe) && pe.Code == "25006"
}

func (c *readOnlyConn) note(err error) error {
	if IsReadOnly(err) {
		c.readOnly.Store(true)
	}
	return err
}

func (c *readOnlyConn) pq() pqConn { return c.Conn.(pqConn) }

func (c *readOnlyConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if b, ok := ctx.Value(beginWithKey{}).(*beginWith); ok && opts == (driver.TxOptions{}) {
		return c.beginWith(ctx, b)
	}
	tx, err := c.pq().BeginTx(ctx, opts)
	return tx, c.note(err)
}

func (c *readOnlyConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	s, err := c.pq().PrepareContext(ctx, query)
	if err != nil {
		return nil, c.note(err)
	}
	// The store files reports through a prepared statement: its refusal must count too.
	// (lib/pq's COPY statement has no context methods; it is left as it is.)
	if ps, ok := s.(pqStmt); ok {
		return &readOnlyStmt{pqStmt: ps, conn: c}, nil
	}
	return s, nil
}

type pqStmt interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
}

type readOnlyStmt struct {
	pqStmt
	conn *readOnlyConn
}

func (s *readOnlyStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	r, err := s.pqStmt.ExecContext(ctx, args)
	return r, s.conn.note(err)
}

func (s *readOnlyStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	r, err := s.pqStmt.QueryContext(ctx, args)
	return r, s.conn.note(err)
}

func (c *readOnlyConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	r, err := c.pq().ExecContext(ctx, query, args)
	return r, c.note(err)
}

func (c *readOnlyConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	r, err := c.pq().QueryContext(ctx, query, args)
	return r, c.note(err)
}

func (c *readOnlyConn) CheckNamedValue(nv *driver.NamedValue) error {
	return c.pq().CheckNamedValue(nv)
}

func (c *readOnlyConn) Ping(ctx context.Context) error { return c.pq().Ping(ctx) }

func (c *readOnlyConn) ResetSession(ctx context.Context) error {
	if c.readOnly.Load() {
		return driver.ErrBadConn
	}
	return c.pq().ResetSession(ctx)
}

func (c *readOnlyConn) IsValid() bool { return !c.readOnly.Load() && c.pq().IsValid() }
