// Package dbtest gives tests a real PostgreSQL: one server per test process (TEST_DATABASE_URL,
// or an embedded server started on first use), a migrated template database, and a fresh clone
// of it for every test.
//
// Every package that uses it needs
//
//	func TestMain(m *testing.M) { dbtest.Main(m) }
//
// so the embedded server and its folder are removed when the tests end.
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"candour/internal/database"
)

type server struct {
	adminURL string // connection to a maintenance database, for CREATE/DROP DATABASE
	admin    *sqlx.DB
	template string // name of the migrated template database
	embedded *database.Embedded
	tempDir  string
}

var (
	once     sync.Once
	srv      *server
	setupErr error
)

// Main runs the tests, then stops the embedded server, removes its folder and exits.
func Main(m *testing.M) {
	code := m.Run()
	if err := teardown(); err != nil {
		fmt.Fprintln(os.Stderr, "dbtest:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// New returns a connection to a fresh, migrated database that is dropped when t ends.
func New(t testing.TB) *sqlx.DB {
	t.Helper()
	return open(t, NewURL(t))
}

// NewURL returns the connection string of a fresh, migrated database that is dropped when t
// ends, for tests that start the whole server with DATABASE_URL.
func NewURL(t testing.TB) string {
	t.Helper()
	return newDatabase(t, ready(t).template)
}

// NewEmpty returns a connection to a fresh database without any migration applied, dropped
// when t ends. For testing migrations themselves.
func NewEmpty(t testing.TB) *sqlx.DB {
	t.Helper()
	return open(t, newDatabase(t, "template0"))
}

func open(t testing.TB, dsn string) *sqlx.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := database.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func ready(t testing.TB) *server {
	t.Helper()
	once.Do(func() { srv, setupErr = setup() })
	if setupErr != nil {
		t.Fatalf("dbtest: PostgreSQL is not available: %v", setupErr)
	}
	return srv
}

// newDatabase creates a database from template and registers its removal. Cleanups run in
// reverse order, so connections opened afterwards are closed before the DROP.
func newDatabase(t testing.TB, template string) string {
	t.Helper()
	s := ready(t)
	name := "candour_test_" + randomHex()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.admin.ExecContext(ctx, `CREATE DATABASE `+name+` TEMPLATE `+template); err != nil {
		t.Fatalf("dbtest: create database from %s: %v", template, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := s.admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Errorf("dbtest: drop database %s: %v", name, err)
		}
	})
	dsn, err := withDBName(s.adminURL, name)
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	return dsn
}

func setup() (_ *server, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := &server{}
	defer func() {
		if err != nil {
			s.close()
		}
	}()

	s.adminURL = os.Getenv("TEST_DATABASE_URL")
	if s.adminURL == "" {
		// A short path: the server's Unix socket lives inside it.
		s.tempDir, err = os.MkdirTemp("", "candour-pg-")
		if err != nil {
			return nil, err
		}
		s.embedded, err = database.StartEmbedded(ctx, database.EmbeddedOptions{DataDir: s.tempDir})
		if err != nil {
			return nil, err
		}
		s.adminURL = s.embedded.URL()
	}
	s.admin, err = database.Open(ctx, s.adminURL)
	if err != nil {
		return nil, err
	}

	name := "candour_template_" + randomHex()
	if _, err := s.admin.ExecContext(ctx, `CREATE DATABASE `+name); err != nil {
		return nil, fmt.Errorf("create template database: %w", err)
	}
	s.template = name
	dsn, err := withDBName(s.adminURL, name)
	if err != nil {
		return nil, err
	}
	tdb, err := database.Open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	// Close before cloning: CREATE DATABASE ... TEMPLATE needs the template to be idle.
	defer tdb.Close()
	if err := database.Migrate(ctx, tdb.DB); err != nil {
		return nil, fmt.Errorf("migrate template database: %w", err)
	}
	return s, nil
}

func teardown() error {
	if srv == nil {
		return nil
	}
	return srv.close()
}

func (s *server) close() error {
	var errs []string
	if s.admin != nil {
		if s.template != "" && s.embedded == nil {
			// A shared server outlives us: leave it as we found it.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			if _, err := s.admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+s.template+` WITH (FORCE)`); err != nil {
				errs = append(errs, "drop template: "+err.Error())
			}
			cancel()
		}
		s.admin.Close()
	}
	if s.embedded != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := s.embedded.Stop(ctx); err != nil {
			errs = append(errs, err.Error())
		}
		cancel()
	}
	if s.tempDir != "" {
		if err := os.RemoveAll(s.tempDir); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("teardown: %s", strings.Join(errs, "; "))
	}
	return nil
}

func randomHex() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// withDBName returns dsn pointing at database name instead. It understands postgres:// URLs
// and lib/pq key=value strings.
func withDBName(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			// Don't echo dsn: it may carry a password.
			return "", fmt.Errorf("TEST_DATABASE_URL is not a valid URL")
		}
		u.Path = "/" + name
		u.RawPath = ""
		q := u.Query()
		if q.Has("dbname") {
			q.Del("dbname")
			u.RawQuery = q.Encode()
		}
		return u.String(), nil
	}
	pairs, err := parseKeyValue(dsn)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, kv := range pairs {
		if kv[0] == "dbname" {
			continue
		}
		b.WriteString(kv[0] + "=" + quote(kv[1]) + " ")
	}
	b.WriteString("dbname=" + quote(name))
	return b.String(), nil
}

// parseKeyValue splits a key=value connection string, honouring single quotes and
// backslash escapes as lib/pq does.
func parseKeyValue(s string) ([][2]string, error) {
	var out [][2]string
	r := []rune(s)
	i := 0
	skipSpace := func() {
		for i < len(r) && (r[i] == ' ' || r[i] == '\t' || r[i] == '\n') {
			i++
		}
	}
	for {
		skipSpace()
		if i >= len(r) {
			return out, nil
		}
		start := i
		for i < len(r) && r[i] != '=' && r[i] != ' ' {
			i++
		}
		key := string(r[start:i])
		skipSpace()
		if i >= len(r) || r[i] != '=' || key == "" {
			return nil, fmt.Errorf("connection string: missing \"=\" after %q", key)
		}
		i++
		skipSpace()
		var val strings.Builder
		if i < len(r) && r[i] == '\'' {
			i++
			for {
				if i >= len(r) {
					return nil, fmt.Errorf("connection string: unterminated quote in value of %q", key)
				}
				if r[i] == '\\' && i+1 < len(r) {
					val.WriteRune(r[i+1])
					i += 2
					continue
				}
				if r[i] == '\'' {
					i++
					break
				}
				val.WriteRune(r[i])
				i++
			}
		} else {
			for i < len(r) && r[i] != ' ' && r[i] != '\t' && r[i] != '\n' {
				if r[i] == '\\' && i+1 < len(r) {
					i++
				}
				val.WriteRune(r[i])
				i++
			}
		}
		out = append(out, [2]string{key, val.String()})
	}
}

func quote(v string) string {
	if v != "" && !strings.ContainsAny(v, " '\\\t\n") {
		return v
	}
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}
