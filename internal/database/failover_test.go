package database_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"candour/internal/checkpoint"
	"candour/internal/database"
	"candour/internal/dbtest"
	"candour/internal/portal"
	"candour/internal/portaltest"
	"candour/internal/store"
)

// pgNode is one PostgreSQL server of the test's pair, on 127.0.0.1 only.
type pgNode struct {
	dir  string
	port int
	cmd  *exec.Cmd
	done chan struct{}
}

// pgPair runs a primary and a synchronous streaming standby, as a production set-up with
// pg_auto_failover or Patroni does, without the orchestrator: the test is the orchestrator.
type pgPair struct {
	t        *testing.T
	bin      string
	root     string
	cred     *syscall.Credential
	password string // the superuser's, also the standby's replication password
	primary  *pgNode
	standby  *pgNode
}

func startPair(t *testing.T, ctx context.Context) *pgPair {
	t.Helper()
	bin, err := database.FindBinaries()
	if err != nil {
		t.Fatal(err)
	}
	// Not t.TempDir: its parent is private, and PostgreSQL runs as an unprivileged user when
	// we are root.
	root, err := os.MkdirTemp("", "candour-failover-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) }) // last, after both servers are gone
	cred, err := database.ServerCredential(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	p := &pgPair{t: t, bin: bin, root: root, cred: cred, password: strconv.FormatInt(time.Now().UnixNano(), 36) + "x",
		primary: &pgNode{dir: filepath.Join(root, "primary"), port: freePort(t)},
		standby: &pgNode{dir: filepath.Join(root, "standby"), port: freePort(t)}}
	for _, n := range []*pgNode{p.primary, p.standby} {
		if cred != nil {
			if err := database.PrepareForUser(root, n.dir, cred); err != nil {
				t.Fatal(err)
			}
		} else if err := os.MkdirAll(n.dir, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	pwFile := filepath.Join(root, "pwfile")
	if err := os.WriteFile(pwFile, []byte(p.password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if cred != nil {
		if err := os.Chown(pwFile, int(cred.Uid), int(cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	p.run(ctx, "initdb", "-D", p.primary.dir, "-U", "candour", "--pwfile="+pwFile, "--auth=scram-sha-256",
		"-E", "UTF8", "--no-locale", "--no-sync")
	// A commit returns only once the standby has it: what makes a promoted standby hold every
	// acknowledged report. fsync stays off, for speed: the test loses the primary's process,
	// not its machine.
	p.start(p.primary, "-c", "synchronous_standby_names=*", "-c", "synchronous_commit=on")
	p.waitReady(ctx, p.primary)
	p.run(ctx, "pg_basebackup", "-D", p.standby.dir, "-h", "127.0.0.1", "-p", strconv.Itoa(p.primary.port),
		"-U", "candour", "-R", "-X", "stream", "--no-sync")
	// The standby has no synchronous_standby_names: once promoted it is alone, and would
	// otherwise wait forever for a standby of its own.
	p.start(p.standby)
	p.waitReady(ctx, p.standby)
	admin := p.open(ctx, p.primary, "postgres")
	deadline := time.Now().Add(20 * time.Second)
	for {
		var n int
		if err := admin.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the standby did not become synchronous%s", p.logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return p
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// run runs one of PostgreSQL's programs as the server's user, to completion.
func (p *pgPair) run(ctx context.Context, name string, args ...string) {
	p.t.Helper()
	cmd := exec.CommandContext(ctx, filepath.Join(p.bin, name), args...)
	cmd.Dir = p.root
	cmd.Env = append(database.ServerEnv(), "PGPASSWORD="+p.password)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred, Setpgid: true}
	if out, err := cmd.CombinedOutput(); err != nil {
		p.t.Fatalf("%s: %v\n%s%s", name, err, out, p.logs())
	}
}

func (p *pgPair) start(n *pgNode, extra ...string) {
	p.t.Helper()
	args := append([]string{"-D", n.dir, "-c", "listen_addresses=127.0.0.1", "-c", "port=" + strconv.Itoa(n.port),
		"-c", "unix_socket_directories=", "-c", "fsync=off"}, extra...)
	log, err := os.Create(n.dir + ".log")
	if err != nil {
		p.t.Fatal(err)
	}
	n.cmd = exec.Command(filepath.Join(p.bin, "postgres"), args...)
	n.cmd.Dir = n.dir
	n.cmd.Env = database.ServerEnv()
	n.cmd.Stdout, n.cmd.Stderr = log, log
	// Its own process group, so that kill takes the postmaster and every backend at once, as
	// a lost machine would; Pdeathsig (tied to the forking thread, hence the lock) so that a
	// crashed test leaves no server behind.
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred, Setpgid: true, Pdeathsig: syscall.SIGKILL}
	runtime.LockOSThread()
	err = n.cmd.Start()
	runtime.UnlockOSThread()
	if err != nil {
		p.t.Fatal(err)
	}
	n.done = make(chan struct{})
	go func() {
		_ = n.cmd.Wait()
		log.Close()
		close(n.done)
	}()
	p.t.Cleanup(func() { p.kill(n) })
}

// kill ends n's whole process group at once (SIGKILL): no shutdown, no goodbye to clients.
func (p *pgPair) kill(n *pgNode) {
	select {
	case <-n.done:
		return
	default:
	}
	_ = syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-n.done:
	case <-time.After(10 * time.Second):
		p.t.Errorf("postgres on port %d did not die", n.port)
	}
}

func (p *pgPair) dsn(n *pgNode, user, password, db string) string {
	return database.DSN{{"host", "127.0.0.1"}, {"port", strconv.Itoa(n.port)}, {"user", user},
		{"password", password}, {"dbname", db}, {"sslmode", "disable"}}.String()
}

// both is the DSN the portal runs with: either server, whichever takes writes.
func (p *pgPair) both(user, password, db string) string {
	return database.DSN{{"host", "127.0.0.1,127.0.0.1"},
		{"port", strconv.Itoa(p.primary.port) + "," + strconv.Itoa(p.standby.port)}, {"user", user},
		{"password", password}, {"dbname", db}, {"sslmode", "disable"},
		{"target_session_attrs", "read-write"}, {"connect_timeout", "2"}}.String()
}

func (p *pgPair) open(ctx context.Context, n *pgNode, db string) *sqlx.DB {
	p.t.Helper()
	d, err := database.Open(ctx, p.dsn(n, "candour", p.password, db))
	if err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(func() { d.Close() })
	return d
}

func (p *pgPair) waitReady(ctx context.Context, n *pgNode) {
	p.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := pq.NewConnector(p.dsn(n, "candour", p.password, "postgres"))
		if err != nil {
			p.t.Fatal(err)
		}
		conn, err := c.Connect(ctx)
		if err == nil {
			conn.Close()
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("postgres on port %d not ready: %v%s", n.port, err, p.logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *pgPair) logs() string {
	var b bytes.Buffer
	for _, n := range []*pgNode{p.primary, p.standby} {
		out, _ := os.ReadFile(n.dir + ".log")
		fmt.Fprintf(&b, "\n--- %s.log ---\n%s", n.dir, out)
	}
	return b.String()
}

// failoverPortal starts a primary with a synchronous standby, the owner and serving roles and
// the schema on them, and a portal on a DSN naming both servers with
// target_session_attrs=read-write, as production runs under pg_auto_failover or Patroni.
func failoverPortal(t *testing.T, ctx context.Context, opts ...portaltest.Option) (*pgPair, *portaltest.Env) {
	t.Helper()
	pair := startPair(t, ctx)
	admin := pair.open(ctx, pair.primary, "postgres")
	owner, serving := "candour_owner", "candour_app"
	ownerPW, servingPW := pair.password+"o", pair.password+"s"
	for _, r := range [][2]string{{owner, ownerPW}, {serving, servingPW}} {
		if err := database.CreateLoginRole(ctx, admin, r[0], r[1]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE candour OWNER `+owner); err != nil {
		t.Fatal(err)
	}
	// The owner's in the URL form pg_auto_failover prints (pg_autoctl show uri), the serving
	// role's in key=value form: both must reach whichever server is primary.
	ownerURL := fmt.Sprintf("postgres://%s:%s@127.0.0.1:%d,127.0.0.1:%d/candour?sslmode=disable&target_session_attrs=read-write",
		owner, ownerPW, pair.primary.port, pair.standby.port)
	servingURL := pair.both(serving, servingPW, "candour")
	if err := database.Migrate(ctx, ownerURL, servingURL); err != nil {
		t.Fatal(err)
	}
	e := portaltest.Start(t, append([]portaltest.Option{portaltest.Setting("DATABASE_URL", servingURL),
		portaltest.Setting("CANDOUR_MIGRATE_DATABASE_URL", ownerURL)}, opts...)...)
	return pair, e
}

// The primary dies under a steady stream of reports and the standby is promoted, as
// pg_auto_failover or Patroni would do it. The portal, on a DSN naming both servers with
// target_session_attrs=read-write, serves again without a restart; the reports it could not
// file meanwhile were told 503 with Retry-After, never 500; and every report it acknowledged
// with 201 is on the promoted server.
func TestPortalSurvivesFailover(t *testing.T) {
	t.Parallel()
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	pair, e := failoverPortal(t, ctx)
	serving, servingPW := "candour_app", pair.password+"s"
	t.Logf("primary, synchronous standby and portal up in %v", time.Since(began).Round(time.Millisecond))

	var (
		mu          sync.Mutex
		acked       []string // references answered 201
		unavailable int      // 503s
		promotedAt  time.Time
		ackedAfter  int // 201s to reports sent after the promotion
	)
	body, err := json.Marshal(map[string]any{"mode": "anonymous", "service_area": "childrens-services",
		"category": "misconduct", "summary": "Cases moved off the system before the inspection",
		"details": "Our team leader told us to close cases early.", "safeguarding": false,
		"named_people": []string{}, "identity": nil, "lang": "en"})
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 15 * time.Second}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				sent := time.Now()
				resp, err := client.Post(e.URL()+"/api/v1/reports", "application/json", bytes.NewReader(body))
				if err != nil {
					t.Errorf("filer %d: %v", w, err)
					return
				}
				out, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				switch resp.StatusCode {
				case http.StatusCreated:
					var f struct{ Reference string }
					if err := json.Unmarshal(out, &f); err != nil || f.Reference == "" {
						t.Errorf("filer %d: 201 without a reference: %s", w, out)
						return
					}
					mu.Lock()
					acked = append(acked, f.Reference)
					if !promotedAt.IsZero() && sent.After(promotedAt) {
						ackedAfter++
					}
					mu.Unlock()
				case http.StatusServiceUnavailable:
					if resp.Header.Get("Retry-After") == "" {
						t.Errorf("filer %d: 503 without Retry-After: %s", w, out)
					}
					mu.Lock()
					unavailable++
					mu.Unlock()
					time.Sleep(20 * time.Millisecond)
				default:
					t.Errorf("filer %d: got %d %s, want 201 or 503", w, resp.StatusCode, out)
					return
				}
			}
		})
	}
	// Registered first, so it runs once the filers have stopped: the portal's shutdown waits for
	// open connections, and an idle keep-alive one is open until it times out.
	defer client.CloseIdleConnections()
	defer func() { close(stop); wg.Wait() }()
	count := func() (n, after, unavail int) {
		mu.Lock()
		defer mu.Unlock()
		return len(acked), ackedAfter, unavailable
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !ok() {
			if time.Now().After(deadline) || t.Failed() {
				n, after, u := count()
				t.Fatalf("%s: not within 20s (%d acknowledged, %d after the promotion, %d unavailable)%s\n--- portal log ---\n%s",
					what, n, after, u, pair.logs(), e.Logs.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	waitFor("reports filed before the failover", func() bool { n, _, _ := count(); return n >= 20 })
	before, _, _ := count()
	killedAt := time.Now()
	pair.kill(pair.primary)
	// Time for the orchestrator to notice; the portal answers 503 meanwhile.
	waitFor("503 while there is no primary", func() bool { _, _, u := count(); return u >= 4 })
	mu.Lock()
	promotedAt = time.Now()
	mu.Unlock()
	pair.run(ctx, "pg_ctl", "promote", "-w", "-t", "20", "-D", pair.standby.dir)
	promoteTook := time.Since(promotedAt)
	waitFor("reports filed on the promoted standby", func() bool { _, after, _ := count(); return after >= 20 })
	servedAgain := time.Since(promotedAt)
	close(stop)
	wg.Wait()
	stop = make(chan struct{}) // for the deferred close
	n, after, u := count()
	t.Logf("%d reports acknowledged (%d before the kill, %d sent after the promotion), %d answered 503; "+
		"primary killed %v after start-up, promotion took %v, 20 reports filed on it %v after the promotion began",
		n, before, after, u, killedAt.Sub(began).Round(time.Millisecond), promoteTook.Round(time.Millisecond), servedAgain.Round(time.Millisecond))

	// Every acknowledged report is on the promoted server, read there directly (not through
	// the portal's pool), in the council the portal files into.
	promoted := dbtest.Open(t, dbtest.InCouncil(t, pair.dsn(pair.standby, serving, servingPW, "candour"), store.DefaultCouncil))
	mu.Lock()
	refs := append([]string(nil), acked...)
	mu.Unlock()
	var found []string
	if err := promoted.SelectContext(ctx, &found, `SELECT reference FROM concerns WHERE reference = ANY($1)`, pq.Array(refs)); err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, r := range found {
		have[r] = true
	}
	for _, r := range refs {
		if !have[r] {
			t.Errorf("report %s was acknowledged with 201 but is not on the promoted server", r)
		}
	}
	if t.Failed() {
		t.Logf("portal log:\n%s", e.Logs.String())
	}
}

// After the primary dies and the standby is promoted, the portal's audit-checkpoint listener
// lands on the promoted server without a restart, and a security event committed there still
// makes a checkpoint at once, one that covers the event.
func TestCheckpointListenerFollowsFailover(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	pair, e := failoverPortal(t, ctx)
	checkpoints := func() []int64 {
		t.Helper()
		a, err := portal.AuditAnchors(e.Config, e.Policy())
		if err != nil {
			t.Fatal(err)
		}
		log, err := checkpoint.ReadFile(a.File, a.Pins)
		if err != nil {
			t.Fatal(err)
		}
		var sizes []int64
		for _, en := range log.Entries {
			sizes = append(sizes, en.Size)
		}
		return sizes
	}
	if len(checkpoints()) == 0 {
		t.Fatal("no checkpoint at start: the test would prove nothing")
	}
	pair.kill(pair.primary)
	pair.run(ctx, "pg_ctl", "promote", "-w", "-t", "20", "-D", pair.standby.dir)
	promoted := pair.open(ctx, pair.standby, "candour")
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 20s%s\n--- portal log ---\n%s", what, pair.logs(), e.Logs.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor("the listener on the promoted server", func() bool {
		var n int
		err := promoted.GetContext(ctx, &n, `SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN %candour_audit_checkpoint%'`)
		return err == nil && n == 1
	})
	// Back, the listener makes a checkpoint of its own (a notice may have been missed): let it
	// finish, so the one after the event can only come from the event's notice.
	for n, since := len(checkpoints()), time.Now(); time.Since(since) < time.Second; {
		time.Sleep(100 * time.Millisecond)
		if m := len(checkpoints()); m != n {
			n, since = m, time.Now()
		}
	}
	before := len(checkpoints())

	e.AddCustodian(t) // a policy load: a security event
	var events int64
	owner := dbtest.Open(t, dbtest.InCouncil(t, pair.dsn(pair.standby, "candour", pair.password, "candour"), store.DefaultCouncil))
	if err := owner.GetContext(ctx, &events, `SELECT count(*) FROM audit_events`); err != nil {
		t.Fatal(err)
	}
	waitFor("a checkpoint after the security event", func() bool {
		sizes := checkpoints()
		return len(sizes) > before && sizes[len(sizes)-1] >= events
	})
}
