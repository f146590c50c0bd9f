package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"candour/internal/auth"
	"candour/internal/dbtest"
	"candour/internal/mailtest"
	"candour/internal/policytest"
	"candour/internal/portaltest"
	"candour/internal/store"
)

// farm is two portal processes of the real binary on one database and one data folder, with
// haproxy round-robin in front, all on 127.0.0.1.
type farm struct {
	t       *testing.T
	env     map[string]string // shared by both portals; CANDOUR_LISTEN is set per portal
	addrs   [2]string
	portals [2]*run
	lb      string // http://127.0.0.1:port of haproxy
	haproxy *exec.Cmd
	logs    *bytes.Buffer
}

func haproxyBinary(t *testing.T) string {
	if p, err := exec.LookPath("haproxy"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/haproxy"); err == nil { // root's PATH only; make system-deps installs it
		return "/usr/sbin/haproxy"
	}
	t.Fatal("haproxy is not installed: run make system-deps")
	return ""
}

// startPortal starts portal i and waits until it answers /readyz itself.
func (f *farm) startPortal(i int) {
	f.t.Helper()
	env := map[string]string{"CANDOUR_LISTEN": f.addrs[i]}
	for k, v := range f.env {
		env[k] = v
	}
	r := command(env, "serve")
	if err := r.cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	f.portals[i] = r
	waitReady(f.t, "http://"+f.addrs[i], r)
}

// stopPortal sends SIGTERM and waits for the graceful exit.
func (f *farm) stopPortal(i int) {
	f.t.Helper()
	r := f.portals[i]
	r.cmd.Process.Signal(syscall.SIGTERM)
	if err := r.cmd.Wait(); err != nil {
		f.t.Fatalf("portal %d on SIGTERM: %v\nstderr: %s", i+1, err, r.stderr)
	}
	f.portals[i] = nil
}

// haproxyConfig balances round-robin over both portals. A connection refused by a portal that is
// stopping is retried on the other (retries, redispatch) before the health check, every 100 ms,
// takes it out. Only connection failures are retried: a report is not idempotent, and a request
// that reached a portal may have been filed. One connection per request (server close) so no
// request is sent on a kept-alive connection the portal is closing. X-Portal names
// the portal that answered.
func haproxyConfig(listen string, addrs [2]string) string {
	return fmt.Sprintf(`global
	maxconn 256
defaults
	mode http
	timeout connect 1s
	timeout client 30s
	timeout server 30s
	retries 3
	option redispatch 1
	option http-server-close
	retry-on conn-failure
frontend portals
	bind %s
	default_backend portals
backend portals
	balance roundrobin
	option httpchk GET /healthz
	http-check expect status 200
	default-server check inter 100ms fall 1 rise 1
	http-response set-header X-Portal %%s
	server p1 %s
	server p2 %s
`, listen, addrs[0], addrs[1])
}

// startHAProxy runs haproxy in the foreground on a free port (its configuration cannot bind port
// 0, so a port taken meanwhile is retried with another) and waits until both portals are up in it.
func (f *farm) startHAProxy(bin string) {
	f.t.Helper()
	dir := f.t.TempDir()
	for attempt := 0; attempt < 5; attempt++ {
		listen := freeAddr(f.t)
		cfg := filepath.Join(dir, "haproxy.cfg")
		if err := os.WriteFile(cfg, []byte(haproxyConfig(listen, f.addrs)), 0o600); err != nil {
			f.t.Fatal(err)
		}
		cmd := exec.Command(bin, "-f", cfg, "-db")
		logs := &bytes.Buffer{}
		cmd.Stdout, cmd.Stderr = logs, logs
		if err := cmd.Start(); err != nil {
			f.t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		f.lb, f.haproxy, f.logs = "http://"+listen, cmd, logs
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			select {
			case <-exited:
				deadline = time.Time{} // could not bind: try another port
				continue
			default:
			}
			if seen := f.answering(4); seen["p1"] && seen["p2"] {
				f.t.Cleanup(func() { cmd.Process.Kill(); <-exited })
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		cmd.Process.Kill()
		<-exited
	}
	f.t.Fatalf("haproxy did not start with both portals up:\n%s", f.logs)
}

// answering asks haproxy's /healthz n times and says which portals answered.
func (f *farm) answering(n int) map[string]bool {
	seen := map[string]bool{}
	for range n {
		resp, err := http.Get(f.lb + "/healthz")
		if err != nil {
			return seen
		}
		resp.Body.Close()
		if resp.StatusCode == 200 {
			seen[resp.Header.Get("X-Portal")] = true
		}
	}
	return seen
}

// waitDown waits until haproxy's health check has taken portal name out: only the other answers.
func (f *farm) waitDown(name string) {
	f.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if seen := f.answering(4); !seen[name] && len(seen) == 1 {
			return
		}
	}
	f.t.Fatalf("haproxy never took %s out:\n%s", name, f.logs)
}

// waitUp waits until haproxy sends requests to portal name again after its restart.
func (f *farm) waitUp(name string) {
	f.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if f.answering(2)[name] {
			return
		}
	}
	f.t.Fatalf("haproxy never took %s back:\n%s", name, f.logs)
}

// do sends a request through haproxy and returns the status, the portal that answered and the body.
func (f *farm) do(method, path, body string, headers ...string) (int, string, []byte) {
	f.t.Helper()
	var rd *strings.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	var req *http.Request
	var err error
	if rd != nil {
		req, err = http.NewRequest(method, f.lb+path, rd)
		req.Header.Set("Content-Type", "application/json")
	} else {
		req, err = http.NewRequest(method, f.lb+path, nil)
	}
	if err != nil {
		f.t.Fatal(err)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	resp, err := http.DefaultTransport.RoundTrip(req) // redirects are answers here, not followed
	if err != nil {
		f.t.Fatalf("%s %s through haproxy: %v", method, path, err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, resp.Header.Get("X-Portal"), b.Bytes()
}

const safeguardingReport = `{"mode":"anonymous","service_area":"childrens-services","category":"safeguarding",` +
	`"summary":"A child left alone at night","details":"Seen through the window, %d.","safeguarding":true,` +
	`"named_people":[],"identity":null,"lang":"en"}`

// fileReport files a safeguarding report through haproxy (its e-mails go at once, not at the
// hour) and returns the status, the portal that took it, the reference and the receipt.
func (f *farm) fileReport(n int) (status int, portal string, filed struct{ Reference, Receipt string }) {
	status, portal, body := f.do("POST", "/api/v1/reports", fmt.Sprintf(safeguardingReport, n))
	if status == http.StatusCreated {
		json.Unmarshal(body, &filed)
	}
	return status, portal, filed
}

// Two portals behind haproxy on one database and one data folder: a staff session (API bearer
// and web cookie) and a reporter's mailbox session are honoured by both, each routed e-mail goes
// exactly once though both run the outbox, checkpoints are not doubled and the audit log
// verifies, and a rolling restart loses none of the reports a client files meanwhile.
func TestTwoPortalsBehindHAProxy(t *testing.T) {
	t.Parallel()
	bin := haproxyBinary(t)
	began := time.Now()
	d := dbtest.NewDatabase(t)
	pki := mailtest.NewPKI(t)
	mail := mailtest.Start(t, pki, mailtest.STARTTLS)
	root := t.TempDir()
	f := &farm{t: t, addrs: [2]string{freeAddr(t), freeAddr(t)}, env: map[string]string{
		"DATABASE_URL": d.URL, "CANDOUR_MIGRATE_DATABASE_URL": d.OwnerURL,
		// One data folder: both portals use the same data, receipt, signing, device and audit log
		// keys, and the audit checkpoint file, whose file lock serialises their checkpoints.
		"CANDOUR_DATA_DIR": filepath.Join(root, "data"), "CANDOUR_BLOB_DIR": filepath.Join(root, "blobs"),
		"CANDOUR_POLICY_DIR": policytest.Dir(t), "CANDOUR_SMTP_ADDR": mail.Addr, "CANDOUR_SMTP_CA_FILE": pki.CAFile,
		// Both portals are one site: the same public address (its port is haproxy's, known only
		// later; the host is what the host check and the audit origin read).
		"CANDOUR_PUBLIC_URL": "http://127.0.0.1", "CANDOUR_SHUTDOWN_TIMEOUT": "10s"}}
	// The first start creates the keys; the second finds them.
	f.startPortal(0)
	f.startPortal(1)
	t.Cleanup(func() {
		for _, r := range f.portals {
			if r != nil {
				r.cmd.Process.Signal(syscall.SIGTERM)
				r.cmd.Wait()
			}
		}
	})
	f.startHAProxy(bin)
	t.Logf("two portals and haproxy up after %s", time.Since(began).Round(time.Millisecond))

	// An auditor, so each checkpoint is e-mailed (and a doubled one would show).
	add := command(f.env, "user", "add", "--email", "auditor@example.gov.uk", "--name", "Awen Auditor",
		"--role", "auditor", "--password-stdin", "--json")
	add.cmd.Stdin = strings.NewReader(portaltest.Password + "\n")
	if code := exitCode(t, add); code != 0 {
		t.Fatalf("user add auditor: exit %d: %s", code, add.stderr)
	}
	mo := command(f.env, "user", "add", "--email", "mo@example.gov.uk", "--name", "Morgan Officer",
		"--role", "monitoring_officer", "--password-stdin", "--json")
	mo.cmd.Stdin = strings.NewReader(portaltest.Password + "\n")
	if code := exitCode(t, mo); code != 0 {
		t.Fatalf("user add: exit %d: %s", code, mo.stderr)
	}
	var created struct {
		TOTP string `json:"totp_secret"`
	}
	json.Unmarshal(mo.stdout.Bytes(), &created)
	code, err := auth.CodeAt(created.TOTP, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	status, _, body := f.do("POST", "/api/v1/auth/login", fmt.Sprintf(`{"email":"mo@example.gov.uk","password":%q,"totp":%q}`, portaltest.Password, code))
	var login struct{ Token string }
	if json.Unmarshal(body, &login); status != 200 || login.Token == "" {
		t.Fatalf("sign in through haproxy: %d %s", status, body)
	}

	status, _, filed := f.fileReport(0)
	if status != 201 {
		t.Fatalf("file: %d", status)
	}
	status, _, body = f.do("POST", "/api/v1/mailbox/session", fmt.Sprintf(`{"receipt":%q}`, filed.Receipt))
	var box struct{ Token string }
	if json.Unmarshal(body, &box); status != 200 || box.Token == "" {
		t.Fatalf("mailbox session: %d %s", status, body)
	}

	// Round-robin: consecutive requests alternate, so each session is used on both portals.
	for _, s := range []struct {
		name, path, header string
	}{
		{"staff API bearer", "/api/v1/triage", "Authorization: Bearer " + login.Token},
		{"staff web cookie", "/staff", "Cookie: candour_staff=" + login.Token},
		{"reporter's mailbox", "/api/v1/mailbox", "Authorization: Bearer " + box.Token},
	} {
		served := map[string]int{}
		for range 4 {
			status, portal, body := f.do("GET", s.path, "", s.header)
			if status != 200 {
				t.Errorf("%s on %s: got %d %.200s", s.name, portal, status, body)
			}
			served[portal]++
		}
		if served["p1"] != 2 || served["p2"] != 2 {
			t.Errorf("%s: answered by %v, want 2 each by p1 and p2", s.name, served)
		}
	}

	// Rolling restart while a client files reports continuously through haproxy.
	var (
		mu       sync.Mutex
		statuses = map[int]int{}
		byPortal = map[string]int{}
		refs     = []string{filed.Reference}
		failures []string
	)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for n := 1; ; n++ {
			select {
			case <-stop:
				return
			case <-time.After(25 * time.Millisecond): // a steady client, not a flood: the outbox sends 50 a round
			}
			req, _ := http.NewRequest("POST", f.lb+"/api/v1/reports", strings.NewReader(fmt.Sprintf(safeguardingReport, n)))
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			mu.Lock()
			if err != nil {
				failures = append(failures, err.Error())
			} else {
				var out struct{ Reference string }
				json.NewDecoder(resp.Body).Decode(&out)
				resp.Body.Close()
				statuses[resp.StatusCode]++
				byPortal[resp.Header.Get("X-Portal")]++
				if resp.StatusCode == 201 {
					refs = append(refs, out.Reference)
				}
			}
			mu.Unlock()
		}
	}()
	restartBegan := time.Now()
	for i, name := range []string{"p1", "p2"} {
		f.stopPortal(i)
		f.waitDown(name)
		time.Sleep(200 * time.Millisecond) // reports keep coming while only one portal serves
		f.startPortal(i)
		f.waitUp(name)
	}
	time.Sleep(300 * time.Millisecond) // a few reports on both again
	close(stop)
	<-done
	t.Logf("rolling restart in %s: statuses %v, by portal %v", time.Since(restartBegan).Round(time.Millisecond), statuses, byPortal)
	if len(failures) > 0 || len(statuses) != 1 || statuses[201] == 0 {
		t.Errorf("during the rolling restart: statuses %v, errors %v; want only 201s\nhaproxy:\n%s", statuses, failures, f.logs)
	}

	// Every routed e-mail of every report reaches the mail server exactly once, though both
	// portals (and the restarted ones) run the outbox every 5 s.
	db := dbtest.Open(t, dbtest.InCouncil(t, d.OwnerURL, store.DefaultCouncil))
	ctx := context.Background()
	var stuck []string
	// Pending: concerns whose routed e-mails are not yet made (each outbox round makes them)
	// and e-mails not yet sent.
	unsent := func() (n int) {
		db.GetContext(ctx, &n, `SELECT (SELECT count(*) FROM routed_outbox) + (SELECT count(*) FROM notifications WHERE sent_at IS NULL)`)
		return n
	}
	mailWait := time.Now()
	for deadline := time.Now().Add(20 * time.Second); unsent() > 0 && time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
	}
	if n := unsent(); n > 0 {
		db.SelectContext(ctx, &stuck, `SELECT kind || ' to ' || recipient || ': ' || coalesce(last_error, '') FROM notifications WHERE sent_at IS NULL`)
		t.Fatalf("%d e-mails still unsent after 20 s, e.g. %.10v", n, stuck)
	}
	var want []struct{ Recipient, Reference string }
	if err := db.SelectContext(ctx, &want, `SELECT recipient, reference FROM notifications WHERE kind = 'routed' ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	perReport := map[string]int{}
	for _, w := range want {
		perReport[w.Reference]++
	}
	for _, ref := range refs {
		if perReport[ref] == 0 {
			t.Errorf("report %s has no routed e-mail", ref)
		}
	}
	time.Sleep(5500 * time.Millisecond) // one more outbox round of each portal: a doubled send would arrive now
	got := mail.Messages()
	t.Logf("%d routed e-mails for %d reports, outbox drained in %s", len(want), len(refs), time.Since(mailWait).Round(time.Millisecond))
	for _, w := range want {
		n := 0
		for _, m := range got {
			if m.To == w.Recipient && strings.Contains(m.Data, w.Reference) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("report %s reached %s %d times, want once", w.Reference, w.Recipient, n)
		}
	}
	// Both portals make a checkpoint on every security event (each hears the NOTIFY) and at
	// start; the dedupe key keeps one e-mail per checkpoint and reason, which must go once.
	var checkpoints []string
	db.SelectContext(ctx, &checkpoints, `SELECT dedupe_key FROM notifications WHERE kind = 'checkpoint'`)
	toAuditor := 0
	for _, m := range got {
		if m.To == "auditor@example.gov.uk" {
			toAuditor++
		}
	}
	if len(checkpoints) == 0 || toAuditor != len(checkpoints) {
		t.Errorf("auditor got %d checkpoint e-mails for %d checkpoints %v, want one each", toAuditor, len(checkpoints), checkpoints)
	}

	verify := command(f.env, "audit", "verify")
	if code := exitCode(t, verify); code != 0 || !strings.Contains(verify.stdout.String(), "Audit trail intact") {
		t.Errorf("audit verify after two portals: exit %d, stdout %s, stderr %s", code, verify.stdout, verify.stderr)
	}
	t.Logf("whole test %s", time.Since(began).Round(time.Millisecond))
}
