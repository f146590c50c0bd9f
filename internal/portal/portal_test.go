package portal_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"candour/internal/config"
	"candour/internal/database"
	"candour/internal/dbtest"
	"candour/internal/portal"
	"candour/internal/portaltest"

	"github.com/jmoiron/sqlx"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func repoRoot() string { return portaltest.Root() }

// start runs a portal on 127.0.0.1 with an ephemeral port against databaseURL.
func start(t *testing.T, databaseURL string) (*portal.Portal, *portaltest.Logs) {
	t.Helper()
	e := portaltest.Start(t, portaltest.Setting("DATABASE_URL", databaseURL))
	return e.Portal, e.Logs
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestSecurityHeadersEverywhere(t *testing.T) {
	p, logs := start(t, dbtest.NewURL(t))
	for _, path := range []string{"/", "/cy", "/accessibility", "/no-such-page?secret=query", "/api/v1/no-such-thing", "/healthz"} {
		resp, body := get(t, p.URL()+path)
		h := resp.Header
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{"script-src 'self' 'nonce-", "frame-ancestors 'none'", "default-src 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") {
			t.Errorf("%s: CSP allows inline code: %q", path, csp)
		}
		// Without CANDOUR_ONION_URL there is no onion service to offer.
		if got := h.Get("Onion-Location"); got != "" {
			t.Errorf("%s: Onion-Location %q without an onion address", path, got)
		}
		for name, want := range map[string]string{
			"X-Content-Type-Options": "nosniff",
			"Referrer-Policy":        "no-referrer",
			"Cache-Control":          "no-store",
		} {
			if got := h.Get(name); got != want {
				t.Errorf("%s: %s = %q, want %q", path, name, got, want)
			}
		}
		if strings.HasPrefix(path, "/api/") {
			var e struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			if resp.StatusCode != 404 || json.Unmarshal([]byte(body), &e) != nil || e.Error.Code != "not_found" {
				t.Errorf("%s: got %d %s, want 404 JSON error", path, resp.StatusCode, body)
			}
		}
	}
	resp, body := get(t, p.URL()+"/")
	if resp.StatusCode != 200 || len(resp.Header.Values("Set-Cookie")) != 0 {
		t.Errorf("start page: got %d with cookies %v, want 200 and no cookie", resp.StatusCode, resp.Header.Values("Set-Cookie"))
	}
	// The nonce differs per request and is the one on the page's script tag.
	resp2, _ := get(t, p.URL()+"/")
	if resp.Header.Get("Content-Security-Policy") == resp2.Header.Get("Content-Security-Policy") {
		t.Errorf("CSP nonce repeated across requests")
	}
	nonce := strings.SplitN(strings.SplitN(resp.Header.Get("Content-Security-Policy"), "'nonce-", 2)[1], "'", 2)[0]
	if !strings.Contains(body, `nonce="`+nonce+`"`) {
		t.Errorf("start page script does not carry the CSP nonce %q", nonce)
	}
	if out := logs.String(); strings.Contains(out, "127.0.0.1") || strings.Contains(out, "secret=query") || strings.Contains(out, "Go-http-client") {
		t.Errorf("request log records client address, query or user agent:\n%s", out)
	}
	if !strings.Contains(logs.String(), `"route"`) {
		t.Errorf("no request log lines at all:\n%s", logs.String())
	}
}

// A database outage is the database's fault, not ours and not the client's: every request
// that needs it is 503 with Retry-After (not 500 internal), the log says once that it began
// and once that it ended (not an ERROR per request), readiness follows it, and the portal
// serves again when PostgreSQL is back, without a restart.
func TestDatabaseOutage(t *testing.T) {
	dir, err := os.MkdirTemp("", "candour-ready-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ctx := context.Background()
	emb, err := database.StartEmbedded(ctx, database.EmbeddedOptions{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emb.Stop(context.Background()) })
	// Serving as the embedded server's serving role, migrated as its owner.
	e := portaltest.Start(t, portaltest.Setting("DATABASE_URL", emb.URL()),
		portaltest.Setting("CANDOUR_MIGRATE_DATABASE_URL", emb.OwnerURL()))
	p := e.Portal
	report := map[string]any{"mode": "anonymous", "service_area": "childrens-services", "category": "misconduct",
		"summary": "Cases moved off the system", "details": "Our team leader told us to close cases early.",
		"safeguarding": false, "named_people": []string{}, "identity": nil, "lang": "en"}
	filed := portaltest.DoJSON(t, p.URL(), "POST", "/api/v1/reports", report)
	var receipt struct{ Receipt string }
	if err := json.Unmarshal(filed.Body, &receipt); filed.Status != 201 || err != nil {
		t.Fatalf("filing before the outage: got %d %s", filed.Status, filed.Body)
	}

	if resp, _ := get(t, p.URL()+"/readyz"); resp.StatusCode != 200 {
		t.Fatalf("readyz: got %d, want 200", resp.StatusCode)
	}
	if err := emb.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		for _, r := range []portaltest.Response{
			portaltest.DoJSON(t, p.URL(), "POST", "/api/v1/reports", report),
			portaltest.DoJSON(t, p.URL(), "POST", "/api/v1/mailbox/session", map[string]string{"receipt": receipt.Receipt}),
			portaltest.DoJSON(t, p.URL(), "POST", "/api/v1/auth/login", map[string]string{"email": "mo@example.gov.uk", "password": "not this one"}),
		} {
			if r.Status != 503 || r.Header.Get("Retry-After") == "" || !strings.Contains(string(r.Body), `"unavailable"`) {
				t.Errorf("with the database down: got %d, Retry-After %q, %s; want 503 unavailable with Retry-After",
					r.Status, r.Header.Get("Retry-After"), r.Body)
			}
		}
		if resp, _ := get(t, p.URL()+"/readyz"); resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("readyz with the database down: got %d, want 503 with Retry-After", resp.StatusCode)
		}
	}
	if resp, _ := get(t, p.URL()+"/healthz"); resp.StatusCode != 200 {
		t.Fatalf("healthz with the database down: got %d, want 200 (the process is alive)", resp.StatusCode)
	}
	if n := strings.Count(e.Logs.String(), "database unavailable"); n != 1 {
		t.Errorf("the outage is in the log %d times, want once:\n%s", n, e.Logs)
	}
	if n := strings.Count(e.Logs.String(), "request failed"); n != 0 {
		t.Errorf("%d requests refused during the outage logged as failures, want none:\n%s", n, e.Logs)
	}

	emb2, err := database.StartEmbedded(ctx, database.EmbeddedOptions{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emb2.Stop(context.Background()) })
	if emb2.URL() != emb.URL() {
		t.Fatalf("restart moved the socket: %q vs %q", emb2.URL(), emb.URL())
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(e.Logs.String(), "database available again") {
		if time.Now().After(deadline) {
			t.Fatalf("the end of the outage is not in the log:\n%s", e.Logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if resp, _ := get(t, p.URL()+"/readyz"); resp.StatusCode != 200 {
		t.Fatalf("readyz after the database came back: got %d, want 200 without a restart", resp.StatusCode)
	}
	if r := portaltest.DoJSON(t, p.URL(), "POST", "/api/v1/reports", report); r.Status != 201 {
		t.Errorf("filing after the outage: got %d %s, want 201", r.Status, r.Body)
	}
	if n := strings.Count(e.Logs.String(), "database available again"); n != 1 {
		t.Errorf("the end of the outage is in the log %d times, want once", n)
	}
}

func TestRefusesSchemaBehind(t *testing.T) {
	d := dbtest.NewDatabase(t)
	url := d.URL
	if _, err := dbtest.Open(t, d.OwnerURL).Exec(`DELETE FROM goose_db_version WHERE version_id = (SELECT max(version_id) FROM goose_db_version)`); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"DATABASE_URL": url, "CANDOUR_DATA_DIR": t.TempDir(), "CANDOUR_LISTEN": "127.0.0.1:0",
		"CANDOUR_AUTO_MIGRATE": "false", "CANDOUR_POLICY_DIR": filepath.Join(repoRoot(), "policies")}
	cfg, err := config.Parse(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	_, err = portal.Start(context.Background(), cfg, portal.NewLogger(cfg, io.Discard))
	if !errors.Is(err, database.ErrSchemaBehind) {
		t.Fatalf("got %v, want ErrSchemaBehind", err)
	}
}

// A big body is refused before any handler reads it, on every route but the evidence uploads:
// nobody, signed in or not, can make the server hold megabytes of a form in memory. The request
// announces 2 MiB and sends 16 KiB of it: the 413 must come back without the rest.
func TestBigBodiesRefusedEarly(t *testing.T) {
	p, _ := start(t, dbtest.NewURL(t))
	for _, path := range []string{"/staff/login", "/cy/report", "/mailbox", "/api/v1/auth/login", "/api/v1/reports"} {
		conn, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		// The server reads the first 8 KiB before routing; send a little more than that.
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\nx=%s",
			path, p.Addr(), 2<<20, strings.Repeat("a", 16<<10))
		status, err := bufio.NewReader(conn).ReadString('\n')
		conn.Close()
		if err != nil || !strings.HasPrefix(status, "HTTP/1.1 413") {
			t.Errorf("%s: got %q (%v), want 413 before the body is sent", path, status, err)
		}
	}
}

// A request refused early with a body of a declared, modest length has the rest of its body
// read and dropped: the client, still sending, reads the answer instead of a reset connection,
// and the connection goes on to carry the next request (not the old body parsed as one).
func TestRefusedBodyIsDrainedAndTheConnectionKept(t *testing.T) {
	p, _ := start(t, dbtest.NewURL(t))
	conn, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	body := strings.Repeat("x", 300<<10) // over the JSON limit, under the body limit
	go fmt.Fprintf(conn, "POST /api/v1/reports HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"+
		"GET /api/v1/service-areas HTTP/1.1\r\nHost: %s\r\n\r\n", p.Addr(), len(body), body, p.Addr())
	r := bufio.NewReader(conn)
	for _, want := range []int{413, 200} {
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatalf("want %d: %v", want, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("got %d, want %d", resp.StatusCode, want)
		}
	}
}

// councilSQL is a connection for a test's own SQL in p's first council (the portal's pool sets
// its council per transaction; this one's sessions are set to it).
func councilSQL(t testing.TB, p *portal.Portal) *sqlx.DB {
	t.Helper()
	if db, ok := councilDBs.Load(p); ok {
		return db.(*sqlx.DB)
	}
	db := dbtest.Open(t, dbtest.InCouncil(t, p.ServingURL(), p.Council.ID))
	councilDBs.Store(p, db)
	return db
}

var councilDBs sync.Map // *portal.Portal -> *sqlx.DB
