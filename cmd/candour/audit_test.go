package main_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"candour/internal/accounts"
	"candour/internal/audit"
	"candour/internal/checkpoint"
	"candour/internal/dbtest"
	"candour/internal/policytest"
	"candour/internal/portal"
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

// Two portals on separate machines share one database, each with its own data folder (the
// keys copied from the first, as the README asks). Every security event's notice reaches both;
// one makes its checkpoint and the other skips, so between them no trail size is checkpointed
// twice, no two checkpoints of one size differ, the last covers every event, and
// `candour audit verify` passes on each machine's folder.
func TestCheckpointsOnceAcrossMachines(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	policy := policytest.Dir(t)
	dirs := [2]string{t.TempDir(), t.TempDir()}
	start := func(i int) *portaltest.Env {
		return portaltest.Start(t, portaltest.Setting("DATABASE_URL", d.URL), portaltest.Setting("CANDOUR_MIGRATE_DATABASE_URL", d.OwnerURL),
			portaltest.Setting("CANDOUR_POLICY_DIR", policy), portaltest.Setting("CANDOUR_DATA_DIR", dirs[i]))
	}
	a := start(0)
	// As an operator copies them: modes kept (key files are refused unless private).
	if out, err := exec.Command("cp", "-a", filepath.Join(dirs[0], "keys"), dirs[1]).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	b := start(1)
	portals := []*portaltest.Env{a, b}

	type made struct {
		size int64
		root string
	}
	checkpoints := func() [2][]made {
		t.Helper()
		var out [2][]made
		for i, e := range portals {
			anchors, err := portal.AuditAnchors(e.Config, e.Policy())
			if err != nil {
				t.Fatal(err)
			}
			log, err := checkpoint.ReadFile(anchors.File, anchors.Pins)
			if err != nil {
				t.Fatalf("portal %d's checkpoint file: %v", i, err)
			}
			for _, en := range log.Entries {
				out[i] = append(out[i], made{en.Size, en.Root.String()})
			}
		}
		return out
	}
	// covered is how far the trail must be checkpointed: to its last security event (an
	// account made, a policy loaded), or to its end right after start.
	covered := func(all bool) int64 {
		var n int64
		if err := a.DB.Get(&n, `SELECT coalesce(max(seq), 0) FROM audit_events
			WHERE $1 OR action IN ('user.create', 'policy.load')`, all); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// settle waits until the newest checkpoint of either portal covers the trail as far as it
	// must and nothing more is being made.
	settle := func(all bool) [2][]made {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		last, since := checkpoints(), time.Now()
		for {
			time.Sleep(100 * time.Millisecond)
			now := checkpoints()
			if fmt.Sprint(now) != fmt.Sprint(last) {
				last, since = now, time.Now()
			}
			newest := int64(0)
			for _, f := range now {
				for _, m := range f {
					newest = max(newest, m.size)
				}
			}
			if newest >= covered(all) && time.Since(since) > time.Second {
				return now
			}
			if time.Now().After(deadline) {
				t.Fatalf("checkpoints never covered the %d events: %v", covered(all), now)
			}
		}
	}
	before := settle(true)

	for i := range 8 {
		portaltest.Account(t, portals[i%2].Portal, accounts.NewUser{Email: fmt.Sprintf("auditor%d@example.gov.uk", i), Roles: []string{"auditor"}})
	}
	after := settle(false)
	roots := map[int64]string{}
	newly := map[int64]int{}
	for i := range after {
		for j, m := range after[i] {
			if r, ok := roots[m.size]; ok && r != m.root {
				t.Errorf("two checkpoints of %d events with different roots: %s and %s", m.size, r, m.root)
			}
			roots[m.size] = m.root
			if j >= len(before[i]) {
				newly[m.size]++
			}
		}
	}
	if len(newly) == 0 {
		t.Fatal("no checkpoint after the security events: the test would prove nothing")
	}
	for size, n := range newly {
		if n > 1 {
			t.Errorf("the trail at %d events was checkpointed %d times after the security events, want once: %v", size, n, after)
		}
	}
	for i, dir := range dirs {
		r := command(map[string]string{"DATABASE_URL": d.URL, "CANDOUR_DATA_DIR": dir, "CANDOUR_POLICY_DIR": policy}, "audit", "verify")
		if code := exitCode(t, r); code != 0 || !strings.Contains(r.stdout.String(), "Audit trail intact") {
			t.Errorf("audit verify on portal %d's folder: exit %d, stdout %q, stderr %q", i, code, r.stdout, r.stderr)
		}
	}
}
