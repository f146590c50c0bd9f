package portal_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"candour/internal/portaltest"
)

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPolicyReload(t *testing.T) {
	dir := t.TempDir()
	copyDir(t, filepath.Join(portaltest.Root(), "policies"), dir)
	e := portaltest.Start(t, portaltest.Setting("CANDOUR_POLICY_DIR", dir))
	ctx := context.Background()
	before := e.Policy().Version

	routing := filepath.Join(dir, "routing.yaml")
	good, _ := os.ReadFile(routing)
	broken := strings.Replace(string(good), "safeguarding == true", "safeguarding == ", 1)
	if broken == string(good) {
		broken = string(good) + "\n  - id: [\n"
	}
	os.WriteFile(routing, []byte(broken), 0o644)
	err := e.ReloadPolicy(ctx)
	if err == nil || !strings.Contains(err.Error(), "routing.yaml:") {
		t.Fatalf("broken policy: got %v, want an error naming routing.yaml:line", err)
	}
	if e.Policy().Version != before {
		t.Fatalf("a bad reload replaced the policy in force")
	}

	os.WriteFile(routing, append(good, []byte("\n# reviewed by the Monitoring Officer\n")...), 0o644)
	if err := e.ReloadPolicy(ctx); err != nil {
		t.Fatal(err)
	}
	after := e.Policy().Version
	if after == before {
		t.Fatalf("version unchanged after editing the policy")
	}
	var n int
	if err := e.DB.Get(&n, `SELECT count(*) FROM audit_events WHERE action = 'policy.load' AND object_id = $1`, after); err != nil || n != 1 {
		t.Errorf("got %d policy.load events for %s (%v), want 1", n, after, err)
	}
}
