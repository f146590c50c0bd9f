// Package dbtest gives tests a real PostgreSQL: one server per test process (TEST_DATABASE_URL,
// a superuser's connection, or an embedded server started on first use), a migrated template
// database, and a fresh clone of it for every test.
//
// Each test process has its own pair of roles, as production has (issue 15): an owner that owns
// the databases and runs the migrations, and a least-privilege serving role. New and NewURL
// connect as the serving role, so every test runs with the privileges the portal has.
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
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"candour/internal/database"
	"candour/internal/store"
)

type server struct {
	adminURL string // a superuser's connection, for roles and CREATE/DROP DATABASE
	admin    *sqlx.DB
	owner    role
	serving  role
	roles    []string // created, to drop from a shared server
	template string   // name of the migrated template database
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

type role struct{ name, password string }

// Database is a fresh test database and how to reach it as each of its roles.
type Database struct {
	URL          string // the serving role, as the portal connects (DATABASE_URL)
	OwnerURL     string // the owner, who runs the migrations (CANDOUR_MIGRATE_DATABASE_URL)
	SuperuserURL string // the server's superuser: for playing an attacker who has it
}

// New returns a connection, as the serving role, to a fresh, migrated database that is
// dropped when t ends. Its sessions are in the default council, so a test's own SQL sees the
// rows the store writes there; the store sets its council per transaction either way.
func New(t testing.TB) *sqlx.DB {
	t.Helper()
	return Open(t, InCouncil(t, NewURL(t), store.DefaultCouncil))
}

// InCouncil returns dsn with every session set to council id (row-level security, migration
// 00031): for a test's own SQL, and for playing someone who sets it on purpose. The portal
// never connects like this: it sets the council per transaction.
func InCouncil(t testing.TB, dsn string, id int64) string {
	t.Helper()
	d, err := database.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return d.With("options", "-c candour.council="+strconv.FormatInt(id, 10)).String()
}

// NewURL returns the serving role's connection string of a fresh, migrated database that is
// dropped when t ends, for tests that start the whole server with DATABASE_URL.
func NewURL(t testing.TB) string {
	t.Helper()
	return NewDatabase(t).URL
}

// NewDatabase returns a fresh, migrated database, dropped when t ends.
func NewDatabase(t testing.TB) Database {
	t.Helper()
	return newDatabase(t, ready(t).template)
}

// NewEmpty returns a fresh database without any migration applied, dropped when t ends. For
// testing migrations themselves.
func NewEmpty(t testing.TB) Database {
	t.Helper()
	return newDatabase(t, "template0")
}

// Open connects to dsn and closes the connection when t ends.
func Open(t testing.TB, dsn string) *sqlx.DB {
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

// newDatabase creates a database from template, owned by the owner role, and registers its
// removal. Cleanups run in reverse order, so connections opened afterwards are closed before
// the DROP.
func newDatabase(t testing.TB, template string) Database {
	t.Helper()
	s := ready(t)
	name := "candour_test_" + randomHex()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.admin.ExecContext(ctx, `CREATE DATABASE `+name+` TEMPLATE `+template+` OWNER `+s.owner.name); err != nil {
		t.Fatalf("dbtest: create database from %s: %v", template, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := s.admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Errorf("dbtest: drop database %s: %v", name, err)
		}
	})
	d, err := s.database(name)
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	return d
}

// database returns the connection strings of database name.
func (s *server) database(name string) (Database, error) {
	admin, err := database.ParseDSN(s.adminURL)
	if err != nil {
		return Database{}, fmt.Errorf("TEST_DATABASE_URL: %w", err)
	}
	admin = admin.With("dbname", name)
	as := func(r role) string { return admin.With("user", r.name).With("password", r.password).String() }
	return Database{URL: as(s.serving), OwnerURL: as(s.owner), SuperuserURL: admin.String()}, nil
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
		s.adminURL = s.embedded.OwnerURL()
	}
	s.admin, err = database.Open(ctx, s.adminURL)
	if err != nil {
		return nil, err
	}

	// Roles belong to the whole server, which TEST_DATABASE_URL may share with other test
	// processes: each process makes its own pair.
	suffix := randomHex()
	s.owner = role{"candour_test_owner_" + suffix, randomHex()}
	s.serving = role{"candour_test_app_" + suffix, randomHex()}
	for _, r := range []role{s.owner, s.serving} {
		if err := database.CreateLoginRole(ctx, s.admin, r.name, r.password); err != nil {
			return nil, err
		}
		s.roles = append(s.roles, r.name)
	}

	name := "candour_template_" + suffix
	if _, err := s.admin.ExecContext(ctx, `CREATE DATABASE `+name+` OWNER `+s.owner.name); err != nil {
		return nil, fmt.Errorf("create template database: %w", err)
	}
	s.template = name
	d, err := s.database(name)
	if err != nil {
		return nil, err
	}
	if err := database.Migrate(ctx, d.OwnerURL, d.URL); err != nil {
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
		if s.embedded == nil {
			// A shared server outlives us: leave it as we found it.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			if s.template != "" {
				if _, err := s.admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+s.template+` WITH (FORCE)`); err != nil {
					errs = append(errs, "drop template: "+err.Error())
				}
			}
			for _, r := range s.roles {
				if _, err := s.admin.ExecContext(ctx, `DROP ROLE IF EXISTS `+r); err != nil {
					errs = append(errs, "drop role: "+err.Error())
				}
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
