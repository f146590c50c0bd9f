package database_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/lib/pq"

	"candour/internal/database"
	"candour/internal/dbtest"
	"candour/internal/store"
)

// Issue 15, attack 1: the serving role tries each way of rewriting history or changing the
// schema, and PostgreSQL refuses every one for want of privilege. The events stay as they were.
func TestServingRoleCannotTamper(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	d := dbtest.NewDatabase(t)
	app := dbtest.Open(t, dbtest.InCouncil(t, d.URL, store.DefaultCouncil))
	// What the audit code does: the chain's advisory lock, the last hash, an insert.
	tx := app.MustBeginTx(ctx, nil)
	tx.MustExecContext(ctx, `SELECT pg_advisory_xact_lock(1)`)
	var last int
	if err := tx.GetContext(ctx, &last, `SELECT count(*) FROM audit_events`); err != nil {
		t.Fatal(err)
	}
	tx.MustExecContext(ctx, `INSERT INTO audit_events (seq, at, actor, action, prev_hash, hash)
		VALUES (1, now(), 'system', 'test', decode(repeat('00', 32), 'hex'), sha256('one'))`)
	if err := tx.Commit(); err != nil {
		t.Fatalf("the serving role appending an event: %v", err)
	}

	for _, q := range []string{
		`ALTER TABLE audit_events DISABLE TRIGGER USER`,
		`ALTER TABLE audit_events DISABLE TRIGGER ALL`,
		`UPDATE audit_events SET action = 'rewritten'`,
		`DELETE FROM audit_events`,
		`TRUNCATE audit_events`,
		`DROP TABLE audit_events`,
		`DROP TRIGGER audit_events_no_change ON audit_events`,
		`CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$`,
		`ALTER TABLE audit_events OWNER TO CURRENT_USER`,
		`SET session_replication_role = replica`,
		`CREATE TABLE shadow (v text)`,
		`CREATE SCHEMA shadow`,
		`ALTER TABLE concerns ADD COLUMN note text`,
		`CREATE INDEX concerns_extra ON concerns (id)`,
		`CREATE FUNCTION noop() RETURNS int LANGUAGE sql AS 'SELECT 1'`,
		`CREATE TRIGGER spy AFTER INSERT ON concerns FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()`,
		`ALTER ROLE CURRENT_USER SUPERUSER`,
		`ALTER ROLE CURRENT_USER BYPASSRLS`,
		`CREATE ROLE accomplice`,
		`DELETE FROM goose_db_version`,
		`UPDATE audit_tree SET hash = hash`,
		`DELETE FROM audit_tree`,
		`TRUNCATE audit_tree`,
		`ALTER TABLE audit_tree DISABLE TRIGGER USER`,
	} {
		_, err := app.ExecContext(ctx, q)
		// The append-only trigger raises insufficient_privilege too: it must not be what refused.
		var pqErr *pq.Error
		if !errors.As(err, &pqErr) || pqErr.Code != "42501" || strings.Contains(pqErr.Message, "append-only") {
			t.Errorf("%s: got %v, want refused for want of privilege", q, err)
		}
	}
	var n int
	var action string
	if err := app.QueryRowContext(ctx, `SELECT count(*), max(action) FROM audit_events`).Scan(&n, &action); err != nil || n != 1 || action != "test" {
		t.Errorf("events after the attempts: %d, action %q (%v), want the one event as written", n, action, err)
	}
}

// The portal serves only as a least-privilege role: the superuser, the owner and roles with
// powers over other roles or row security are refused, each with the reason.
func TestCheckServingRole(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	d := dbtest.NewDatabase(t)
	super := dbtest.Open(t, d.SuperuserURL)
	// Roles belong to the server: give each a name of this test's database, and drop it after.
	dsn, err := database.ParseDSN(d.URL)
	if err != nil {
		t.Fatal(err)
	}
	extra := func(attr string) string {
		name := dsn.Get("dbname") + "_" + strings.ToLower(attr)
		if err := database.CreateLoginRole(ctx, super, name, "pw-"+attr); err != nil {
			t.Fatal(err)
		}
		super.MustExecContext(ctx, `ALTER ROLE `+name+` `+attr)
		t.Cleanup(func() { super.Exec(`DROP ROLE ` + name) })
		return dsn.With("user", name).With("password", "pw-"+attr).String()
	}
	cases := []struct {
		name, url, want string
	}{
		{"serving role", d.URL, ""},
		{"superuser", d.SuperuserURL, "it is a superuser"},
		{"owner", d.OwnerURL, "owns table"},
		{"CREATEROLE", extra("CREATEROLE"), "CREATEROLE"},
		{"BYPASSRLS", extra("BYPASSRLS"), "BYPASSRLS"},
	}
	for _, tc := range cases {
		db := dbtest.Open(t, tc.url)
		err := database.CheckServingRole(ctx, db)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: got %v, want nil", tc.name, err)
			}
			continue
		}
		if !errors.Is(err, database.ErrPrivilegedRole) || !strings.Contains(err.Error(), tc.want) ||
			!strings.Contains(err.Error(), "CANDOUR_MIGRATE_DATABASE_URL") || strings.Contains(err.Error(), "pw-") {
			t.Errorf("%s: got %v, want ErrPrivilegedRole saying %q and naming the owner's setting", tc.name, err, tc.want)
		}
	}
}

// Migrating with the owner's URL as the serving one too is refused before anything is granted.
func TestMigrateRefusesOneRoleForBoth(t *testing.T) {
	t.Parallel()
	d := dbtest.NewEmpty(t)
	err := database.Migrate(context.Background(), d.OwnerURL, d.OwnerURL)
	if !errors.Is(err, database.ErrPrivilegedRole) {
		t.Errorf("got %v, want ErrPrivilegedRole", err)
	}
}
