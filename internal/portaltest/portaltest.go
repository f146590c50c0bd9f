// Package portaltest runs a whole Candour portal on 127.0.0.1 against a fresh test database,
// for end-to-end tests of the HTTP surfaces.
package portaltest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"
	"github.com/jmoiron/sqlx"

	"candour/internal/apicontract"
	"candour/internal/config"
	"candour/internal/dbtest"
	"candour/internal/policytest"
	"candour/internal/portal"
	"candour/internal/routing"
	"candour/internal/store"
)

// Logs collects the portal's log lines so tests can search them.
type Logs struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Root is the repository root.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Env is a running portal under test.
type Env struct {
	*portal.Portal
	// DB is for the test's own SQL, in the first council: its sessions are set to it, as the
	// portal's transactions are (the portal's own pool is Portal.DB).
	DB          *sqlx.DB
	Logs        *Logs
	DatabaseURL string // the serving role's, as the portal runs
	OwnerURL    string // the owner's: the embedded server's, or the test database's
	DataDir     string
	PolicyDir   string              // the portal's policy: the test's own copy unless it gave one
	Custodian   *age.X25519Identity // set by AddCustodian
}

// Option adjusts the configuration before start.
type Option func(env map[string]string)

// Setting sets one environment variable of the portal's configuration.
func Setting(name, value string) Option { return func(env map[string]string) { env[name] = value } }

// EmbeddedDatabase runs the portal on the PostgreSQL it starts itself when DATABASE_URL is
// unset, durable as `make run` has it, instead of on a database of the tests' shared server
// (which runs without fsync, for speed).
func EmbeddedDatabase() Option { return Setting("DATABASE_URL", "") }

// Start runs a portal on a fresh database and stops it when the test ends.
func Start(t testing.TB, opts ...Option) *Env {
	t.Helper()
	e := &Env{Logs: &Logs{}}
	// No balancer is in front of a test's portal: waiting for one to notice it stopping would
	// only slow every test's cleanup.
	env := map[string]string{"CANDOUR_LISTEN": "127.0.0.1:0", "CANDOUR_SHUTDOWN_DRAIN": "0s"}
	// The runtime's memory limit is the process's, and a test process runs many portals at
	// once: at a deployment's default their heaps together sit at the limit and the collector
	// never stops (the portal tests took 311 s rather than 224, and a mail test timed out).
	// A benchmark runs one portal at a time, with the default it measures.
	if _, bench := t.(*testing.B); !bench {
		env["CANDOUR_MEMORY_LIMIT_MB"] = "0"
	}
	for _, o := range opts {
		o(env)
	}
	if _, set := env["CANDOUR_POLICY_DIR"]; !set {
		env["CANDOUR_POLICY_DIR"] = policytest.Dir(t) // AddCustodian pins custodians in it
	}
	e.PolicyDir = env["CANDOUR_POLICY_DIR"]
	url, urlSet := env["DATABASE_URL"]
	embedded := urlSet && url == ""
	if embedded {
		delete(env, "DATABASE_URL")
	} else if !urlSet {
		// Served as the least-privilege role, migrated (a no-op: the template is current) as
		// the owner, as a council's portal runs.
		d := dbtest.NewDatabase(t)
		env["DATABASE_URL"], env["CANDOUR_MIGRATE_DATABASE_URL"] = d.URL, d.OwnerURL
	}
	if dir, set := env["CANDOUR_DATA_DIR"]; set {
		e.DataDir = dir
	} else if embedded {
		// PostgreSQL runs as an unprivileged user when we are root, and must reach its folder:
		// t.TempDir's parent is private, a folder directly under the temp dir is not.
		dir, err := os.MkdirTemp("", "candour-portal-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) }) // runs last, after the portal's shutdown
		e.DataDir = dir
	} else {
		e.DataDir = t.TempDir()
	}
	env["CANDOUR_DATA_DIR"] = e.DataDir
	e.DatabaseURL = env["DATABASE_URL"]
	cfg, err := config.Parse(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	p, err := portal.Start(context.Background(), cfg, portal.NewLogger(cfg, e.Logs))
	if err != nil {
		t.Fatal(err)
	}
	e.Portal = p
	e.OwnerURL = p.OwnerURL()
	e.DB = dbtest.Open(t, dbtest.InCouncil(t, p.ServingURL(), p.Council.ID))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := p.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return e
}

// AddCustodian pins a custodian with a fresh age identity in the portal's policy, gives them a
// custodian account, and returns the identity.
func (e *Env) AddCustodian(t testing.TB) *age.X25519Identity {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	r := id.Recipient().String()
	email := "custodian-" + strconv.Itoa(len(e.Policy().Custodians)+1) + "@example.gov.uk"
	PinCustodian(t, e.Portal, email, r)
	u := &store.User{Email: email, Name: "Cara Custodian", Roles: []string{"custodian"}, AgeRecipient: &r, Language: "en"}
	if err := store.New(e.DB).InsertUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	e.Custodian = id
	return id
}

// PinCustodian pins recipient in the portal's policy as a council does (custodians.yaml, then a
// reload), so identities are sealed to it. The portal must run on a policy of the test's own.
func PinCustodian(t testing.TB, p *portal.Portal, email, recipient string) {
	t.Helper()
	policytest.Pin(t, p.PolicyDir, routing.Custodian{Name: "Custodian " + email, Email: email, Recipient: recipient})
	if err := p.ReloadPolicy(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// Response is a finished HTTP exchange.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Do sends a request to the portal. Headers are "Name: value" strings. An API request and its
// response are checked against the OpenAPI document (apicontract).
func (e *Env) Do(t testing.TB, method, path, contentType string, body io.Reader, headers ...string) Response {
	t.Helper()
	return send(t, e.URL(), method, path, contentType, body, headers...)
}

// DoJSON sends in as JSON (nil: no body) to the portal at base, as Do does.
func DoJSON(t testing.TB, base, method, path string, in any, headers ...string) Response {
	t.Helper()
	var body io.Reader
	contentType := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		body, contentType = bytes.NewReader(b), "application/json"
	}
	return send(t, base, method, path, contentType, body, headers...)
}

func send(t testing.TB, base, method, path, contentType string, body io.Reader, headers ...string) Response {
	t.Helper()
	req, err := http.NewRequest(method, base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		switch k = strings.TrimSpace(k); {
		case k == "":
		case strings.EqualFold(k, "Host"): // a council's name on a deployment of several
			req.Host = strings.TrimSpace(v)
		default:
			req.Header.Set(k, strings.TrimSpace(v))
		}
	}
	resp, b := apicontract.Do(t, http.DefaultClient, req)
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// Unseal opens an armored age file, such as a sealed identity a custodian downloads, with the
// custodian's key, as `age -d -i key.txt` would. The whole stream must read without error.
func Unseal(t testing.TB, armored string, id age.Identity) string {
	t.Helper()
	r, err := age.Decrypt(armor.NewReader(strings.NewReader(armored)), id)
	if err != nil {
		t.Fatalf("open the sealed file: %v", err)
	}
	plain, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read the sealed file: %v", err)
	}
	return string(plain)
}

// SendEvidence sends the pending upload id (POST /mailbox/attachments answered it) to the
// council, as a reporter does once they have seen what cleaning found: until then staff
// cannot see it. auth is the mailbox's "Authorization: Bearer ..." header.
func SendEvidence(t testing.TB, base, auth, id string) {
	t.Helper()
	if r := DoJSON(t, base, "POST", "/api/v1/mailbox/evidence/"+id+"/send", map[string]bool{}, auth); r.Status != http.StatusOK {
		t.Fatalf("sending evidence %s: got %d %s, want 200", id, r.Status, r.Body)
	}
}
