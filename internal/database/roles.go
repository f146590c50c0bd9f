package database

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Two roles (issue 15). The owner owns the schema and runs the migrations; the portal serves
// as a separate role that may read and write rows but has no DDL, cannot disable a trigger, and
// may only INSERT and SELECT on audit_events. So whoever gets hold of the serving connection
// (a bug, a stolen DATABASE_URL) still cannot rewrite the audit trail or change the schema.
//
// Roles belong to the whole PostgreSQL cluster, not to one database, so the serving role's name
// is configuration: it is the user of DATABASE_URL. Migrate hands it to migration 00025 in the
// servingRoleSetting run-time parameter of the owner's connections, and creates the role
// first when it is missing and the owner may create roles.

// ServingRole is the serving role of the embedded default and of docker-compose.yml.
const ServingRole = "candour_app"

// servingRoleSetting names the serving role to the migrations (see 00025_serving_role.sql).
const servingRoleSetting = "candour.serving_role"

// ErrPrivilegedRole means the portal was asked to serve as a role that could rewrite history:
// a superuser, the schema's owner, or a role with powers the serving role must not have.
var ErrPrivilegedRole = errors.New("refusing to serve as a privileged database role")

// CheckServingRole returns an error wrapping ErrPrivilegedRole, saying why, when the role db
// is connected as could alter the schema or the audit trail; nil for a least-privilege role.
func CheckServingRole(ctx context.Context, db *sqlx.DB) error {
	var r struct {
		Name        string `db:"name"`
		Super       bool   `db:"rolsuper"`
		BypassRLS   bool   `db:"rolbypassrls"`
		CreateRole  bool   `db:"rolcreaterole"`
		OwnsDB      bool   `db:"owns_db"`
		OwnedTable  string `db:"owned_table"`
		AuditChange bool   `db:"audit_change"`
	}
	// pg_has_role(..., 'MEMBER') also catches a role that can become the owner with SET ROLE.
	err := db.GetContext(ctx, &r, `
		SELECT r.rolname AS name, r.rolsuper, r.rolbypassrls, r.rolcreaterole,
			pg_has_role(current_user, d.datdba, 'MEMBER') AS owns_db,
			coalesce((SELECT c.relname::text FROM pg_class c
				WHERE c.relnamespace = 'public'::regnamespace AND pg_has_role(current_user, c.relowner, 'MEMBER')
				ORDER BY c.relname LIMIT 1), '') AS owned_table,
			coalesce((SELECT has_table_privilege(c.oid, 'UPDATE, DELETE, TRUNCATE, TRIGGER')
				FROM pg_class c WHERE c.relname = 'audit_events' AND c.relnamespace = 'public'::regnamespace), false) AS audit_change
		FROM pg_roles r, pg_database d
		WHERE r.rolname = current_user AND d.datname = current_database()`)
	if err != nil {
		return fmt.Errorf("database: checking the serving role: %w", err)
	}
	var why string
	switch {
	case r.Super:
		why = "it is a superuser"
	case r.OwnedTable != "":
		why = fmt.Sprintf("it owns table %s (it is the schema's owner)", r.OwnedTable)
	case r.OwnsDB:
		why = "it owns the database"
	case r.BypassRLS:
		why = "it has BYPASSRLS"
	case r.CreateRole:
		why = "it has CREATEROLE"
	case r.AuditChange:
		why = "it may UPDATE, DELETE, TRUNCATE or add triggers to audit_events"
	default:
		return nil
	}
	return fmt.Errorf("%w: DATABASE_URL logs in as %q and %s. Serve as a least-privilege role and migrate as the owner "+
		"(CANDOUR_MIGRATE_DATABASE_URL): see README, Database roles", ErrPrivilegedRole, r.Name, why)
}

// CreateLoginRole creates a role that logs in with password and has no other power. The
// password travels as a SCRAM verifier, so the clear text never reaches the server or its log.
func CreateLoginRole(ctx context.Context, db *sqlx.DB, name, password string) error {
	if _, err := db.ExecContext(ctx, `CREATE ROLE `+pq.QuoteIdentifier(name)+` LOGIN PASSWORD `+
		pq.QuoteLiteral(scramVerifier(password))); err != nil {
		return fmt.Errorf("database: creating role %s: %w", name, err)
	}
	return nil
}

// setPassword gives an existing role password, as a SCRAM verifier (see CreateLoginRole).
func setPassword(ctx context.Context, db *sqlx.DB, name, password string) error {
	if _, err := db.ExecContext(ctx, `ALTER ROLE `+pq.QuoteIdentifier(name)+` PASSWORD `+
		pq.QuoteLiteral(scramVerifier(password))); err != nil {
		return fmt.Errorf("database: setting the password of role %s: %w", name, err)
	}
	return nil
}

// roleExists reports whether the cluster has a role called name.
func roleExists(ctx context.Context, db *sqlx.DB, name string) (bool, error) {
	var exists bool
	if err := db.GetContext(ctx, &exists, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, name); err != nil {
		return false, fmt.Errorf("database: looking up role %s: %w", name, err)
	}
	return exists, nil
}

// ensureServingRole creates the serving role of serving (DATABASE_URL), with the password in
// it, when the cluster has none and the owner may create roles. An existing role is left as it
// is: whoever created it manages its password.
func ensureServingRole(ctx context.Context, owner *sqlx.DB, serving DSN) error {
	name := serving.Get("user")
	var self struct {
		Name      string `db:"name"`
		MayCreate bool   `db:"may"`
	}
	if err := owner.GetContext(ctx, &self, `SELECT current_user AS name, rolsuper OR rolcreaterole AS may
		FROM pg_roles WHERE rolname = current_user`); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	if self.Name == name {
		return fmt.Errorf("%w: DATABASE_URL and CANDOUR_MIGRATE_DATABASE_URL both log in as %q: "+
			"the portal must serve as a role apart from the owner", ErrPrivilegedRole, name)
	}
	exists, err := roleExists(ctx, owner, name)
	if err != nil || exists {
		return err
	}
	if !self.MayCreate {
		return fmt.Errorf("database: the serving role %q does not exist and %q may not create roles: "+
			"create it (CREATE ROLE %s LOGIN PASSWORD '…') and migrate again", name, self.Name, name)
	}
	return CreateLoginRole(ctx, owner, name, serving.Get("password"))
}

// SCRAM-SHA-256 verifier parameters: PostgreSQL's own defaults.
const (
	scramIterations = 4096
	scramSaltLen    = 16
)

// scramVerifier computes what PostgreSQL stores for a scram-sha-256 password (RFC 5802, 7677),
// in its SCRAM-SHA-256$iterations:salt$StoredKey:ServerKey form.
func scramVerifier(password string) string {
	salt := make([]byte, scramSaltLen)
	_, _ = rand.Read(salt)
	salted, err := pbkdf2.Key(sha256.New, password, salt, scramIterations, sha256.Size)
	if err != nil {
		panic(err) // only for parameters outside FIPS limits, which ours are not
	}
	mac := func(key []byte, msg string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(msg))
		return h.Sum(nil)
	}
	stored := sha256.Sum256(mac(salted, "Client Key"))
	b64 := base64.StdEncoding.EncodeToString
	return "SCRAM-SHA-256$" + fmt.Sprint(scramIterations) + ":" + b64(salt) + "$" +
		b64(stored[:]) + ":" + b64(mac(salted, "Server Key"))
}
