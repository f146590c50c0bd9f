package database

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"candour/internal/keyfile"
)

// The embedded default asks every connection for a password (issue 15): a folder created with
// trust auth let any local process that reached the socket log in as the superuser. Each role's
// password lives in a key file beside the portal's other keys (CANDOUR_DATA_DIR/keys, 0600), and
// pg_hba.conf accepts only scram-sha-256. A folder made before this, with trust, is converted
// on its next start: passwords set, pg_hba.conf rewritten, configuration reloaded.

// passwordAuth is the only method pg_hba.conf allows.
const passwordAuth = "scram-sha-256"

// hbaConf is the whole pg_hba.conf of the embedded default. The server listens on no TCP port
// (listen_addresses is empty), so only the Unix socket needs a line.
const hbaConf = `# Written by Candour: every connection to the embedded PostgreSQL gives its role's password
# (CANDOUR_DATA_DIR/keys/db-*.password). The server listens on its Unix socket only.
# TYPE  DATABASE  USER  METHOD
local   all       all   ` + passwordAuth + `
`

// passwords are the two roles' passwords and where they are kept.
type passwords struct {
	owner, serving         string
	ownerPath, servingPath string
}

// EmbeddedPasswordFiles are the owner's and the serving role's password files, relative to the
// data folder: they belong to the cluster in it (a restore keeps the new cluster's, not the
// backup's).
var EmbeddedPasswordFiles = []string{filepath.Join("keys", "db-owner.password"), filepath.Join("keys", "db-serving.password")}

func readOrCreatePasswords(dataDir string) (passwords, error) {
	p := passwords{
		ownerPath:   filepath.Join(dataDir, EmbeddedPasswordFiles[0]),
		servingPath: filepath.Join(dataDir, EmbeddedPasswordFiles[1]),
	}
	for _, f := range []struct {
		path string
		into *string
	}{{p.ownerPath, &p.owner}, {p.servingPath, &p.serving}} {
		b, err := keyfile.ReadOrCreate(f.path, func() ([]byte, error) {
			raw := make([]byte, 32)
			if _, err := rand.Read(raw); err != nil {
				return nil, err
			}
			return []byte(base64.RawURLEncoding.EncodeToString(raw) + "\n"), nil
		})
		if err != nil {
			return p, fmt.Errorf("embedded postgres: database password: %w", err)
		}
		if *f.into = strings.TrimSpace(string(b)); *f.into == "" {
			return p, fmt.Errorf("embedded postgres: %s is empty", f.path)
		}
	}
	return p, nil
}

// ownerFileFor writes the owner's password where initdb (running as cred's user when we are
// root) can read it, and returns the path; the caller removes it after initdb.
func (p passwords) ownerFileFor(dataDir string, cred *syscall.Credential) (string, error) {
	f, err := os.CreateTemp(dataDir, ".initdb-pw-*")
	if err != nil {
		return "", fmt.Errorf("embedded postgres: %w", err)
	}
	_, err = f.WriteString(p.owner + "\n")
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err == nil && cred != nil {
		err = os.Chown(f.Name(), int(cred.Uid), int(cred.Gid))
	}
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("embedded postgres: initdb password file: %w", err)
	}
	return f.Name(), nil
}

// requirePasswords makes sure both roles log in with their key file's password and that
// nothing else gets in: it converts a trust-auth folder, creates the serving role when
// missing, and sets its password from the key file on every start.
func (e *Embedded) requirePasswords(ctx context.Context, cred *syscall.Credential) error {
	hbaPath := filepath.Join(e.pgData, "pg_hba.conf")
	current, err := os.ReadFile(hbaPath)
	if err != nil {
		return fmt.Errorf("embedded postgres: %w", err)
	}
	// Anything but our file is converted: a folder from before passwords (trust), and a fresh
	// initdb's file, which also allows TCP and replication connections we never make.
	convert := string(current) != hbaConf
	admin, err := Open(ctx, e.adminURL())
	if err != nil {
		return fmt.Errorf("embedded postgres: %w", err)
	}
	defer admin.Close()
	if convert {
		if trusts(string(current)) {
			e.log.Warn("embedded postgres trusted every local connection: setting passwords and requiring them",
				"pg_hba", hbaPath, "passwords", filepath.Dir(e.passwords.ownerPath))
		}
		if err := setPassword(ctx, admin, embeddedUser, e.passwords.owner); err != nil {
			return err
		}
	}
	exists, err := roleExists(ctx, admin, ServingRole)
	switch {
	case err != nil:
		return err
	case exists:
		err = setPassword(ctx, admin, ServingRole, e.passwords.serving)
	default:
		err = CreateLoginRole(ctx, admin, ServingRole, e.passwords.serving)
	}
	if err != nil || !convert {
		return err
	}
	if err := writeHBA(hbaPath, cred); err != nil {
		return fmt.Errorf("embedded postgres: %w", err)
	}
	if _, err := admin.ExecContext(ctx, `SELECT pg_reload_conf()`); err != nil {
		return fmt.Errorf("embedded postgres: reloading pg_hba.conf: %w", err)
	}
	return e.waitPasswordRequired(ctx)
}

// trusts reports whether a pg_hba.conf has a rule that lets connections in without a password.
func trusts(hba string) bool {
	for _, line := range strings.Split(hba, "\n") {
		rule, _, _ := strings.Cut(line, "#")
		if fields := strings.Fields(rule); len(fields) > 0 && fields[len(fields)-1] == "trust" {
			return true
		}
	}
	return false
}

// writeHBA replaces pg_hba.conf atomically, owned by the server's user.
func writeHBA(path string, cred *syscall.Credential) error {
	tmp := path + ".candour-new"
	if err := os.WriteFile(tmp, []byte(hbaConf), 0o600); err != nil {
		return err
	}
	if cred != nil {
		if err := os.Chown(tmp, int(cred.Uid), int(cred.Gid)); err != nil {
			os.Remove(tmp)
			return err
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// waitPasswordRequired waits until the reloaded server refuses a connection without a password
// (the postmaster applies a reload asynchronously), so nothing started after us gets in on the
// old rules.
func (e *Embedded) waitPasswordRequired(ctx context.Context) error {
	noPassword := DSN{{"host", e.pgData}, {"user", ServingRole}, {"dbname", "postgres"}, {"sslmode", "disable"}}.String()
	deadline := time.Now().Add(10 * time.Second)
	for {
		db, err := Open(ctx, noPassword)
		if err != nil {
			return nil
		}
		db.Close()
		if time.Now().After(deadline) {
			return errors.New("embedded postgres: still accepts connections without a password after reloading pg_hba.conf")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
