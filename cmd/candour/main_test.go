package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"candour/internal/dbtest"
	"candour/internal/portaltest"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "candour-bin-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "candour")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	defer os.RemoveAll(dir)
	dbtest.Main(m)
}

type run struct {
	cmd    *exec.Cmd
	stdout *bytes.Buffer
	stderr *bytes.Buffer
}

func command(env map[string]string, args ...string) *run {
	cmd := exec.Command(binary, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	r := &run{cmd: cmd, stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	cmd.Stdout, cmd.Stderr = r.stdout, r.stderr
	return r
}

func exitCode(t *testing.T, r *run) int {
	t.Helper()
	err := r.cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0
}

func TestExitCodes(t *testing.T) {
	cases := []struct {
		name   string
		env    map[string]string
		args   []string
		code   int
		stderr string
	}{
		{"unknown command", nil, []string{"frobnicate"}, 2, "unknown command"},
		{"stray argument", nil, []string{"migrate", "now"}, 2, "unexpected argument"},
		{"bad listen address", map[string]string{"CANDOUR_LISTEN": "nonsense"}, []string{"serve"}, 1, "CANDOUR_LISTEN"},
		{"bad public URL", map[string]string{"CANDOUR_PUBLIC_URL": "ftp://x"}, []string{"serve"}, 1, "CANDOUR_PUBLIC_URL"},
		{"no PostgreSQL binaries", map[string]string{"CANDOUR_PG_BIN": "/nonexistent", "CANDOUR_DATA_DIR": t.TempDir()}, []string{"serve"}, 1, "apt-get install postgresql"},
		{"help", nil, []string{"help"}, 0, ""},
	}
	for _, tc := range cases {
		r := command(tc.env, tc.args...)
		if code := exitCode(t, r); code != tc.code || !strings.Contains(r.stderr.String(), tc.stderr) {
			t.Errorf("%s: got exit %d, stderr %q; want %d mentioning %q", tc.name, code, r.stderr, tc.code, tc.stderr)
		}
	}
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitReady(t testing.TB, base string, r *run) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if r.cmd.ProcessState != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("portal not ready at %s\nstdout: %s\nstderr: %s", base, r.stdout, r.stderr)
}

// The README's first command in miniature: serve on the embedded default, stop, start again on
// the same data, survive a crash. A start straight after kill -9 serves (it used to exit 1,
// "already running", while the killed portal's PostgreSQL was still stopping), and the
// subcommands work while the portal runs, on its server.
func TestServeEmbeddedDefault(t *testing.T) {
	dataDir, err := os.MkdirTemp("", "cnd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dataDir) })
	addr := freeAddr(t)
	env := map[string]string{"CANDOUR_DATA_DIR": dataDir, "CANDOUR_LISTEN": addr,
		"CANDOUR_POLICY_DIR": filepath.Join(portaltest.Root(), "policies")}
	base := "http://" + addr

	for i, stop := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL, syscall.SIGINT} {
		r := command(env, "serve")
		if err := r.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitReady(t, base, r)
		resp, err := http.Get(base + "/cy")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("start %d: Welsh start page: %v %v", i, resp, err)
		}
		resp.Body.Close()
		for _, args := range [][]string{{"audit", "verify"}, {"user", "list"}} {
			sub := command(env, args...)
			if code := exitCode(t, sub); code != 0 {
				t.Errorf("start %d: %v while serving: exit %d, stdout %q, stderr %q", i, args, code, sub.stdout, sub.stderr)
			}
		}
		if resp, err := http.Get(base + "/readyz"); err != nil || resp.StatusCode != 200 {
			t.Fatalf("start %d: not ready after the subcommands: %v %v", i, resp, err)
		}
		r.cmd.Process.Signal(stop)
		err = r.cmd.Wait()
		if stop != syscall.SIGKILL && err != nil {
			t.Fatalf("start %d: stop with %v: %v\nstderr: %s", i, stop, err, r.stderr)
		}
		// Read only once the process is gone: its output is written concurrently until then.
		if i == 0 && (!strings.Contains(r.stdout.String(), "dev-custodian.key") || !strings.Contains(r.stdout.String(), "dev-mo@candour.invalid")) {
			t.Errorf("first start does not say where the development custodian key is and how to sign in:\n%s", r.stdout)
		}
	}
}

// A portal killed in the middle of an evidence upload leaves no blob, chunk or attachment,
// and the reporter's receipt still opens an intact mailbox.
func TestKilledMidUploadLeavesNothing(t *testing.T) {
	t.Parallel() // each waits ~30 s for its held-open request
	killedMidUpload(t, "")
}

// The same with attachments in a blob folder: after the restart (which sweeps) the folder
// holds no file.
func TestKilledMidUploadLeavesNoBlobFile(t *testing.T) {
	t.Parallel()
	killedMidUpload(t, filepath.Join(t.TempDir(), "blobs"))
}

// blobDirFiles lists every file under dir (incoming/ included).
// blobDirFiles lists the blob files under dir: everything but the owner file, which names the
// installation the folder belongs to.
func blobDirFiles(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && path != filepath.Join(dir, "installation") {
			names = append(names, path)
		}
		return nil
	})
	return names
}

func killedMidUpload(t *testing.T, blobDir string) {
	url := dbtest.NewURL(t)
	addr := freeAddr(t)
	env := map[string]string{"DATABASE_URL": url, "CANDOUR_DATA_DIR": t.TempDir(), "CANDOUR_LISTEN": addr,
		"CANDOUR_POLICY_DIR": filepath.Join(portaltest.Root(), "policies")}
	if blobDir != "" {
		env["CANDOUR_BLOB_DIR"] = blobDir
	} else {
		env["CANDOUR_BLOB_STORE"] = "postgres"
	}
	base := "http://" + addr
	r := command(env, "serve")
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer r.cmd.Process.Kill()
	waitReady(t, base, r)

	body, _ := json.Marshal(map[string]any{"mode": "anonymous", "service_area": "housing", "category": "health_safety",
		"summary": "Damp flats signed off", "details": "Inspections were signed off without visits.", "lang": "en"})
	resp, err := http.Post(base+"/api/v1/reports", "application/json", bytes.NewReader(body))
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("report: %v %v", resp, err)
	}
	var filed struct{ Receipt string }
	json.NewDecoder(resp.Body).Decode(&filed)
	resp.Body.Close()
	token := func() string {
		b, _ := json.Marshal(map[string]string{"receipt": filed.Receipt})
		resp, err := http.Post(base+"/api/v1/mailbox/session", "application/json", bytes.NewReader(b))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("mailbox session: %v %v", resp, err)
		}
		defer resp.Body.Close()
		var out struct{ Token string }
		json.NewDecoder(resp.Body).Decode(&out)
		return out.Token
	}

	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	req, _ := http.NewRequest("POST", base+"/api/v1/mailbox/attachments", pr)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token())
	go func() {
		fw, _ := mw.CreateFormFile("file", "photos.zip")
		chunk := bytes.Repeat([]byte("p"), 1<<20)
		for i := 0; i < 8; i++ {
			if _, err := fw.Write(chunk); err != nil {
				return
			}
		}
		// Hold the request open, half-sent, until the server dies.
		time.Sleep(30 * time.Second)
		pw.CloseWithError(io.ErrUnexpectedEOF)
	}()
	done := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()

	db, err := sqlxOpen(url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Wait until the server is inside the upload transaction with chunks written.
	deadline := time.Now().Add(20 * time.Second)
	for {
		var writing int
		db.QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'INSERT INTO blob_chunks%'`).Scan(&writing)
		var idleInTx int
		db.QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%'`).Scan(&idleInTx)
		if writing+idleInTx > 0 && (blobDir == "" || len(blobDirFiles(t, blobDir)) > 0) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the upload never reached the database")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	r.cmd.Process.Signal(syscall.SIGKILL)
	r.cmd.Wait()
	<-done
	if blobDir != "" && len(blobDirFiles(t, blobDir)) == 0 {
		t.Fatal("no blob file was being written when the portal was killed; the test would prove nothing")
	}

	// PostgreSQL rolls back the dead connection's transaction.
	deadline = time.Now().Add(10 * time.Second)
	for {
		var blobs, chunks, atts int
		db.QueryRow(`SELECT (SELECT count(*) FROM blobs), (SELECT count(*) FROM blob_chunks), (SELECT count(*) FROM attachments)`).Scan(&blobs, &chunks, &atts)
		if blobs+chunks+atts == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the kill: %d blobs, %d chunks, %d attachments, want none", blobs, chunks, atts)
		}
		time.Sleep(100 * time.Millisecond)
	}

	r2 := command(env, "serve")
	if err := r2.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { r2.cmd.Process.Signal(syscall.SIGTERM); r2.cmd.Wait() }()
	waitReady(t, base, r2)
	req, _ = http.NewRequestWithContext(context.Background(), "GET", base+"/api/v1/mailbox", nil)
	req.Header.Set("Authorization", "Bearer "+token())
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("mailbox after restart: %v %v", resp, err)
	}
	var m struct{ Attachments []any }
	json.NewDecoder(resp.Body).Decode(&m)
	resp.Body.Close()
	if len(m.Attachments) != 0 {
		t.Errorf("got %d attachments after the interrupted upload, want 0", len(m.Attachments))
	}
	if blobDir != "" {
		if left := blobDirFiles(t, blobDir); len(left) != 0 {
			t.Errorf("blob folder after the restart's sweep: %v, want no file", left)
		}
	}
}

// The portal will not serve as the superuser or as the owner of the schema: one line on stderr
// says why, and the exit code is 3. The escape hatch serves, and warns.
func TestServeRefusesPrivilegedRole(t *testing.T) {
	t.Parallel()
	d := dbtest.NewDatabase(t)
	env := func(url string) map[string]string {
		return map[string]string{"DATABASE_URL": url, "CANDOUR_DATA_DIR": t.TempDir(), "CANDOUR_LISTEN": freeAddr(t),
			"CANDOUR_POLICY_DIR": filepath.Join(portaltest.Root(), "policies")}
	}
	for _, tc := range []struct{ name, url, why string }{
		{"superuser", d.SuperuserURL, "is a superuser"},
		{"owner", d.OwnerURL, "owns table"},
	} {
		r := command(env(tc.url), "serve")
		code := exitCode(t, r)
		lines := strings.Split(strings.TrimSpace(r.stderr.String()), "\n")
		last := lines[len(lines)-1]
		if code != 3 || !strings.Contains(last, tc.why) || !strings.Contains(last, "refusing to serve") {
			t.Errorf("%s: got exit %d, last line %q; want 3 and a line saying it %s", tc.name, code, last, tc.why)
		}
	}

	e := env(d.OwnerURL)
	e["CANDOUR_INSECURE_DB_ROLE"] = "allow"
	r := command(e, "serve")
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitReady(t, "http://"+e["CANDOUR_LISTEN"], r)
	r.cmd.Process.Signal(syscall.SIGTERM)
	r.cmd.Wait()
	if !strings.Contains(r.stderr.String(), "INSECURE: CANDOUR_INSECURE_DB_ROLE=allow") {
		t.Errorf("escape hatch: stderr %q, want a loud warning", r.stderr)
	}
}

// `candour migrate` needs the owner's URL, and migrates an empty database with it, granting the
// serving role of DATABASE_URL.
func TestMigrateCommandUsesOwner(t *testing.T) {
	t.Parallel()
	d := dbtest.NewEmpty(t)
	r := command(map[string]string{"DATABASE_URL": d.URL}, "migrate")
	if code := exitCode(t, r); code != 1 || !strings.Contains(r.stderr.String(), "CANDOUR_MIGRATE_DATABASE_URL") {
		t.Errorf("without the owner's URL: exit %d, stderr %q; want 1 naming CANDOUR_MIGRATE_DATABASE_URL", code, r.stderr)
	}
	r = command(map[string]string{"DATABASE_URL": d.URL, "CANDOUR_MIGRATE_DATABASE_URL": d.OwnerURL}, "migrate")
	if code := exitCode(t, r); code != 0 {
		t.Fatalf("migrate: exit %d, stderr %s", code, r.stderr)
	}
	db, err := sqlxOpen(d.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.Get(&n, `SELECT count(*) FROM concerns`); err != nil {
		t.Errorf("the serving role reading a migrated table: %v", err)
	}
}
