package database_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"candour/internal/database"
	"candour/internal/dbtest"
)

// dataDir returns a short folder for an embedded server (the socket path must stay short,
// and when we run as root every ancestor must be traversable by the postgres user, which
// t.TempDir's 0700 parent is not).
func dataDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "candour-et-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func start(t *testing.T, dir string) *database.Embedded {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e, err := database.StartEmbedded(ctx, database.EmbeddedOptions{
		DataDir: dir,
		Logger:  slog.New(slog.NewTextHandler(t.Output(), nil)),
	})
	if err != nil {
		t.Fatalf("StartEmbedded: %v", err)
	}
	t.Cleanup(func() { stop(t, e) })
	return e
}

func stop(t *testing.T, e *database.Embedded) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.Stop(ctx); err != nil {
		t.Errorf("Stop: %v", err)
	}
}

// query runs q as the owner of the embedded database.
func query(t *testing.T, e *database.Embedded, q string) string {
	t.Helper()
	return queryAs(t, e.OwnerURL(), q)
}

func queryAs(t *testing.T, url, q string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := database.Open(ctx, url)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer db.Close()
	var s string
	if err := db.GetContext(ctx, &s, q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return s
}

func postmasterPID(t *testing.T, dir string) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "postgres", "postmaster.pid"))
	if err != nil {
		t.Fatalf("reading postmaster.pid: %v", err)
	}
	first, _, _ := strings.Cut(string(data), "\n")
	pid, err := strconv.Atoi(first)
	if err != nil {
		t.Fatalf("postmaster.pid: %v", err)
	}
	return pid
}

func writePID(t *testing.T, dir string, pid int) {
	t.Helper()
	// The rest of a real file follows the pid; only the pid matters here.
	content := strconv.Itoa(pid) + "\n" + filepath.Join(dir, "postgres") + "\n"
	if err := os.WriteFile(filepath.Join(dir, "postgres", "postmaster.pid"), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestEmbedded walks one data folder through a life: first start, restart, a second server
// on the same folder, a crash, and stale pid files. One initdb serves every step.
func TestEmbedded(t *testing.T) {
	t.Parallel()
	dir := dataDir(t)

	e := start(t, dir)
	if got, want := query(t, e, `SELECT current_user || '/' || current_database()`), "candour/candour"; got != want {
		t.Errorf("owner user/database: got %q, want %q", got, want)
	}
	if got, want := queryAs(t, e.URL(), `SELECT current_user || '/' || current_database()`), "candour_app/candour"; got != want {
		t.Errorf("serving user/database: got %q, want %q", got, want)
	}
	requiresPasswords(t, dir, e)
	if got := query(t, e, `SHOW listen_addresses`); got != "" {
		t.Errorf("listen_addresses: got %q, want empty (Unix socket only)", got)
	}
	query(t, e, `CREATE TABLE kept (v text); INSERT INTO kept VALUES ('still here'); SELECT 'ok'`)
	if _, err := os.Stat(filepath.Join(dir, "postgres.log")); err != nil {
		t.Errorf("postgres.log: %v", err)
	}
	stop(t, e)
	stop(t, e) // idempotent

	t.Log("restart on the same folder reuses the data")
	e = start(t, dir)
	if got, want := query(t, e, `SELECT v FROM kept`), "still here"; got != want {
		t.Errorf("after restart: got %q, want %q", got, want)
	}

	t.Log("a second server on the same folder is refused")
	_, err := database.StartEmbedded(context.Background(), database.EmbeddedOptions{DataDir: dir})
	if err == nil || !strings.Contains(err.Error(), "already running, pid "+strconv.Itoa(postmasterPID(t, dir))) {
		t.Errorf("second start: got %v, want an \"already running, pid N\" error", err)
	}

	t.Log("crash: kill -9 leaves postmaster.pid behind")
	if err := syscall.Kill(postmasterPID(t, dir), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	stop(t, e) // reaps the killed process
	postmasterPID(t, dir)
	e = start(t, dir)
	if got, want := query(t, e, `SELECT v FROM kept`), "still here"; got != want {
		t.Errorf("after crash: got %q, want %q", got, want)
	}
	stop(t, e)

	t.Log("stale pid file naming a live process that is not postgres")
	sleeper := exec.Command("sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { sleeper.Process.Kill(); sleeper.Wait() }()
	writePID(t, dir, sleeper.Process.Pid)
	e = start(t, dir)
	stop(t, e)

	t.Log("stale pid file naming a dead process")
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	writePID(t, dir, dead.Process.Pid)
	e = start(t, dir)
	if got, want := query(t, e, `SELECT v FROM kept`), "still here"; got != want {
		t.Errorf("after stale pid: got %q, want %q", got, want)
	}
	stop(t, e)

	t.Log("a server that fails to start reports the end of its log")
	conf, err := os.OpenFile(filepath.Join(dir, "postgres", "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	conf.WriteString("\nbogus_candour_setting = 1\n")
	conf.Close()
	_, err = database.StartEmbedded(context.Background(), database.EmbeddedOptions{DataDir: dir})
	t.Logf("broken config: %v", err)
	if err == nil || !strings.Contains(err.Error(), "bogus_candour_setting") {
		t.Errorf("start with a broken config: got %v, want an error quoting postgres.log", err)
	}
}

// The server a portal runs on by default keeps every commit durable and spaces its
// checkpoints out; the tests' server, without fsync, keeps PostgreSQL's checkpoint defaults.
func TestEmbeddedDurableSettings(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e, err := database.StartEmbedded(ctx, database.EmbeddedOptions{DataDir: dataDir(t), Fsync: true})
	if err != nil {
		t.Fatalf("StartEmbedded: %v", err)
	}
	t.Cleanup(func() { stop(t, e) })
	for setting, want := range map[string]string{"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on",
		"checkpoint_timeout": "15min", "max_wal_size": "2GB"} {
		if got := query(t, e, `SHOW `+setting); got != want {
			t.Errorf("%s: got %q, want %q", setting, got, want)
		}
	}
}

// TestEmbeddedDiesWithParent starts a server from a helper process, kills the helper with
// SIGKILL (no chance to clean up) and expects the server to follow it.
func TestEmbeddedDiesWithParent(t *testing.T) {
	if dir := os.Getenv("CANDOUR_TEST_EMBEDDED_HELPER"); dir != "" {
		e, err := database.StartEmbedded(context.Background(), database.EmbeddedOptions{DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		_ = e
		os.Stdout.WriteString("ready\n")
		time.Sleep(time.Minute)
		return
	}
	t.Parallel()
	dir := dataDir(t)
	helper := exec.Command(os.Args[0], "-test.run=^TestEmbeddedDiesWithParent$")
	helper.Env = append(os.Environ(), "CANDOUR_TEST_EMBEDDED_HELPER="+dir)
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, _ := out.Read(buf)
	if !strings.Contains(string(buf[:n]), "ready") {
		helper.Process.Kill()
		helper.Wait()
		t.Fatalf("helper: got %q, want ready", buf[:n])
	}
	pid := postmasterPID(t, dir)
	helper.Process.Kill()
	helper.Wait()
	deadline := time.Now().Add(20 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("postgres pid %d still alive 20s after its parent died, want it gone", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestEmbeddedNoBinaries(t *testing.T) {
	t.Parallel()
	_, err := database.StartEmbedded(context.Background(), database.EmbeddedOptions{
		DataDir: dataDir(t),
		BinDir:  t.TempDir(), // holds no initdb or postgres
	})
	if !errors.Is(err, database.ErrNoBinaries) {
		t.Fatalf("got %v, want ErrNoBinaries", err)
	}
	for _, want := range []string{"apt-get install postgresql", "DATABASE_URL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("got %q, want it to mention %q", err, want)
		}
	}
}

func TestEmbeddedSocketPathTooLong(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(dataDir(t), strings.Repeat("d", 90))
	_, err := database.StartEmbedded(context.Background(), database.EmbeddedOptions{DataDir: dir})
	if err == nil || !strings.Contains(err.Error(), "socket path") {
		t.Errorf("got %v, want a socket path error", err)
	}
}

// A private (0700) folder above the data: as root the server runs as another user, who cannot
// pass through it, so start-up must name the folder; as anyone else the server runs as us and
// starts.
func TestEmbeddedAncestorNotTraversable(t *testing.T) {
	t.Parallel()
	locked := filepath.Join(dataDir(t), "locked")
	if err := os.Mkdir(locked, 0o700); err != nil {
		t.Fatal(err)
	}
	emb, err := database.StartEmbedded(context.Background(), database.EmbeddedOptions{
		DataDir: filepath.Join(locked, "data"),
	})
	if os.Geteuid() != 0 {
		if err != nil {
			t.Fatalf("as an ordinary user: got %v, want the server to start", err)
		}
		emb.Stop(context.Background())
		return
	}
	if err == nil || !strings.Contains(err.Error(), locked+" is not traversable") {
		t.Errorf("got %v, want an error naming %s", err, locked)
	}
}

func TestOpenHidesPassword(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := database.Open(ctx, "postgres://someone:s3cretpw@127.0.0.1:1/x?sslmode=disable&connect_timeout=2")
	if err == nil {
		t.Fatal("got nil error, want a connection error")
	}
	if strings.Contains(err.Error(), "s3cretpw") {
		t.Errorf("got %q, want no password in the error", err)
	}
}

// Open sends []byte arguments as binary: they must reach bytea columns byte for byte, from a
// key=value string and from a postgres:// URL alike.
func TestOpenSendsBytesIntact(t *testing.T) {
	t.Parallel()
	kv := dbtest.NewURL(t)
	ctx := context.Background()
	for _, dsn := range []string{kv, kvToURL(t, kv)} {
		db, err := database.Open(ctx, dsn)
		if err != nil {
			t.Fatalf("%s: %v", dsn, err)
		}
		want := []byte{0, 1, 2, 0xff, '\\', 'x', 0}
		var got []byte
		if err := db.Get(&got, `SELECT $1::bytea`, want); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: bytea round trip = %v (%v), want %v", dsn, got, err, want)
		}
		db.Close()
	}
	if _, err := database.Open(ctx, "postgres://someone:s3cret@[::1"); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("malformed URL: err = %v, want an error without the password", err)
	}
}

// kvToURL rewrites dbtest's "host=/socket/dir user=u dbname=d ..." as a postgres:// URL.
func kvToURL(t *testing.T, kv string) string {
	q := url.Values{}
	var user, db string
	for _, f := range strings.Fields(kv) {
		k, v, _ := strings.Cut(f, "=")
		v = strings.Trim(v, "'")
		switch k {
		case "user":
			user = v
		case "dbname":
			db = v
		default:
			q.Set(k, v)
		}
	}
	if user == "" || db == "" {
		t.Fatalf("cannot turn %q into a URL: want user= and dbname=", kv)
	}
	return "postgres://" + url.User(user).String() + "@/" + db + "?" + q.Encode()
}

// requiresPasswords checks that each role of the embedded server gets in with the password in
// its key file, and no connection gets in without one.
func requiresPasswords(t *testing.T, dir string, e *database.Embedded) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, url := range []string{e.OwnerURL(), e.URL()} {
		dsn, err := database.ParseDSN(url)
		if err != nil {
			t.Fatal(err)
		}
		role := dsn.Get("user")
		file := filepath.Join(dir, "keys", map[string]string{"candour": "db-owner.password", "candour_app": "db-serving.password"}[role])
		fi, err := os.Stat(file)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v, mode %v, want a 0600 key file", file, err, fi)
		}
		b, _ := os.ReadFile(file)
		if got := strings.TrimSpace(string(b)); got != dsn.Get("password") || len(got) < 40 {
			t.Errorf("%s: the URL's password is not the key file's, or is short", role)
		}
		for _, tc := range []struct {
			name, password string
			ok             bool
		}{{"the key file's password", dsn.Get("password"), true}, {"no password", "", false}, {"a wrong password", "guess", false}} {
			db, err := database.Open(ctx, dsn.With("password", tc.password).String())
			if err == nil {
				db.Close()
			}
			if (err == nil) != tc.ok {
				t.Errorf("%s with %s: got err=%v, want connected=%v", role, tc.name, err, tc.ok)
			}
		}
	}
	hba, err := os.ReadFile(filepath.Join(dir, "postgres", "pg_hba.conf"))
	if err != nil || strings.Contains(string(hba), "trust") || !strings.Contains(string(hba), "scram-sha-256") {
		t.Errorf("pg_hba.conf: %v\n%s\nwant scram-sha-256 only", err, hba)
	}
}

// A data folder made before passwords (initdb --auth=trust, no serving role, no key files) is
// converted on its next start, and its data stays.
func TestEmbeddedUpgradeFromTrust(t *testing.T) {
	t.Parallel()
	dir := dataDir(t)
	e := start(t, dir)
	query(t, e, `CREATE TABLE kept (v text); INSERT INTO kept VALUES ('from before'); SELECT 'ok'`)
	// What initdb --auth=trust wrote, and a cluster where only the superuser exists, without a password.
	query(t, e, `DROP ROLE candour_app; ALTER ROLE candour PASSWORD NULL; SELECT 'ok'`)
	stop(t, e)
	trust := "# TYPE  DATABASE        USER            ADDRESS                 METHOD\n" +
		"local   all             all                                     trust\n" +
		"host    all             all             127.0.0.1/32            trust\n" +
		"host    all             all             ::1/128                 trust\n" +
		"local   replication     all                                     trust\n"
	hbaPath := filepath.Join(dir, "postgres", "pg_hba.conf")
	if err := os.WriteFile(hbaPath, []byte(trust), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"db-owner.password", "db-serving.password"} {
		if err := os.Remove(filepath.Join(dir, "keys", f)); err != nil {
			t.Fatal(err)
		}
	}

	e = start(t, dir)
	requiresPasswords(t, dir, e)
	if got, want := queryAs(t, e.URL(), `SELECT current_user`), "candour_app"; got != want {
		t.Errorf("serving role after the upgrade: got %q, want %q", got, want)
	}
	if got, want := query(t, e, `SELECT v FROM kept`), "from before"; got != want {
		t.Errorf("data after the upgrade: got %q, want %q", got, want)
	}
	stop(t, e)
	e = start(t, dir) // and the converted folder starts again as it is
	requiresPasswords(t, dir, e)
}

// A server left running on the folder by a process that is gone (or started by hand) is
// adopted, not refused: the next start serves at once. While a process owns the server,
// another start is refused, but a subcommand's (Share) uses it and leaves it running.
func TestEmbeddedTakesOverServerLeftRunning(t *testing.T) {
	dir := dataDir(t)
	left := start(t, dir)
	query(t, left, `CREATE TABLE kept (v text); INSERT INTO kept VALUES ('adopted'); SELECT 'ok'`)
	pid := postmasterPID(t, dir)
	database.LetGo(left)

	e := start(t, dir)
	if got := postmasterPID(t, dir); got != pid {
		t.Errorf("postmaster after the take-over: pid %d, want the one left running, %d", got, pid)
	}
	if got := query(t, e, `SELECT v FROM kept`); got != "adopted" {
		t.Errorf("after the take-over: got %q, want %q", got, "adopted")
	}

	if _, err := database.StartEmbedded(context.Background(), database.EmbeddedOptions{DataDir: dir}); err == nil ||
		!strings.Contains(err.Error(), "already running") {
		t.Errorf("a second owner while the first runs: got %v, want already running", err)
	}
	shared, err := database.StartEmbedded(context.Background(), database.EmbeddedOptions{DataDir: dir, Share: true})
	if err != nil {
		t.Fatalf("sharing the running server: %v", err)
	}
	if got := query(t, shared, `SELECT v FROM kept`); got != "adopted" {
		t.Errorf("through the shared server: got %q", got)
	}
	stop(t, shared)
	if got := query(t, e, `SELECT v FROM kept`); got != "adopted" {
		t.Errorf("after the sharer stopped: got %q, want the server still up", got)
	}

	stop(t, e)
	if _, err := os.Stat(filepath.Join(dir, "postgres", "postmaster.pid")); !os.IsNotExist(err) {
		t.Errorf("after stopping the adopted server its postmaster.pid is still there (%v)", err)
	}
}
