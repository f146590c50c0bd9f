package main_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"candour/internal/audit"
	"candour/internal/dbtest"
	"candour/internal/portaltest"
	"candour/internal/store"
)

// The database owner deletes the newest audit events, with triggers off, after an auditor kept
// a copy of the checkpoint file: `candour audit verify --checkpoint COPY` says how many are
// missing and exits 1, and so does a plain verify, whose own file the owner cannot reach.
func TestAuditVerifyCatchesATruncatedTail(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := dbtest.NewDatabase(t)
	data := t.TempDir()
	env := map[string]string{"DATABASE_URL": d.URL, "CANDOUR_DATA_DIR": data,
		"CANDOUR_POLICY_DIR": filepath.Join(portaltest.Root(), "policies")}
	st := store.New(dbtest.Open(t, d.URL))
	for i := range 6 {
		if err := audit.Record(ctx, st, audit.Event{Action: "test.step", ObjectType: "test", ObjectID: string(rune('a' + i))}); err != nil {
			t.Fatal(err)
		}
	}
	r := command(env, "audit", "verify")
	if code := exitCode(t, r); code != 0 || !strings.Contains(r.stdout.String(), "Audit trail intact: 6 events") {
		t.Fatalf("before: exit %d, stdout %q, stderr %q", code, r.stdout, r.stderr)
	}
	kept, err := os.ReadFile(filepath.Join(data, "audit", "checkpoints"))
	if err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(t.TempDir(), "auditors-copy")
	if err := os.WriteFile(copyPath, kept, 0o600); err != nil {
		t.Fatal(err)
	}

	owner := dbtest.Open(t, dbtest.InCouncil(t, d.SuperuserURL, store.DefaultCouncil))
	conn, err := owner.Connx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"SET session_replication_role = replica", "DELETE FROM audit_events WHERE seq > 4",
		"DELETE FROM audit_tree", "SET session_replication_role = origin"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	conn.Close()

	for _, args := range [][]string{{"audit", "verify", "--checkpoint", copyPath}, {"audit", "verify"}} {
		r := command(env, args...)
		if code := exitCode(t, r); code != 1 || !strings.Contains(r.stdout.String(), "2 events are missing since the checkpoint of 6 events") {
			t.Errorf("%v after the tail was cut: exit %d, stdout %q; want 1 and 2 events missing", args, code, r.stdout)
		}
	}
}
