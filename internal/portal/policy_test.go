package portal_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"candour/internal/policytest"
	"candour/internal/portaltest"
)

func TestPolicyReload(t *testing.T) {
	dir := policytest.Dir(t)
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

// Every load of the policy is audited with the custodian set it pins, so an auditor sees each
// change to who identities are sealed to.
func TestPolicyLoadAuditsTheCustodianSet(t *testing.T) {
	e := portaltest.Start(t)
	sets := func() []string {
		var out []string
		if err := e.DB.Select(&out, `SELECT details->>'custodians' || ':' || (details->>'custodian_set') FROM audit_events
			WHERE action = 'policy.load' ORDER BY seq`); err != nil {
			t.Fatal(err)
		}
		return out
	}
	e.AddCustodian(t)
	e.AddCustodian(t)
	got := sets()
	if len(got) != 3 || !strings.HasPrefix(got[0], "0:") || !strings.HasPrefix(got[1], "1:") || !strings.HasPrefix(got[2], "2:") ||
		got[1] == got[2] {
		t.Errorf("policy loads audited as %v, want none, one and two custodians, each set told apart", got)
	}
}

// A council that lists its host names answers only on them: a request for any other name (a
// stray DNS record, a Host header a client chose) gets a plain 404 naming nothing, on the pages
// and the API alike, while the health checks answer whatever the name.
func TestUnknownHostGetsAPlain404(t *testing.T) {
	dir := policytest.Dir(t)
	f, err := os.OpenFile(filepath.Join(dir, "council.yaml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("hosts: [whistle.enghraifft.example]\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	e := portaltest.Start(t, portaltest.Setting("CANDOUR_POLICY_DIR", dir))
	get := func(host, path string) (int, string) {
		req, err := http.NewRequest("GET", e.URL()+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, path := range []string{"/", "/cy/report", "/api/v1/service-areas", "/staff/login"} {
		if status, body := get("portal.elsewhere.example", path); status != http.StatusNotFound || body != "Not found\n" {
			t.Errorf("%s on an unknown host: got %d %q, want a plain 404", path, status, body)
		}
		if status, _ := get("Whistle.Enghraifft.Example:443", path); status != http.StatusOK {
			t.Errorf("%s on the council's host: got %d, want 200", path, status)
		}
	}
	if status, _ := get("portal.elsewhere.example", "/healthz"); status != http.StatusOK {
		t.Errorf("/healthz on any host: got %d", status)
	}
}
