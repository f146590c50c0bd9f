package database

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lib/pq" // the driver, and its errors
)

// ErrNoBinaries means the PostgreSQL server binaries (initdb, postgres) could not be found.
var ErrNoBinaries = errors.New("PostgreSQL binaries (initdb, postgres) not found: " +
	"install PostgreSQL, e.g. apt-get install postgresql, or set DATABASE_URL")

const (
	// embeddedUser is the superuser initdb creates: it owns embeddedDB and runs the migrations.
	// The portal serves as ServingRole.
	embeddedUser = "candour"
	embeddedDB   = "candour"

	// maxSocketPath keeps the socket path well under the kernel's sun_path limit (108 bytes).
	maxSocketPath = 100
	socketName    = ".s.PGSQL.5432"

	readyTimeout = 30 * time.Second
)

// EmbeddedOptions configures a private PostgreSQL server.
type EmbeddedOptions struct {
	// DataDir holds the cluster (DataDir/postgres) and its log (DataDir/postgres.log).
	DataDir string
	// Logger receives start-up and shutdown messages; nil discards them.
	Logger *slog.Logger
	// Fsync keeps PostgreSQL's durability settings on. Tests turn it off for speed.
	Fsync bool
	// BinDir, when set, is the only directory searched for initdb and postgres.
	BinDir string
	// Share connects to the server another candour process runs on DataDir (the portal, while
	// a subcommand runs) instead of refusing to start; it is left running.
	Share bool
}

// Embedded is a PostgreSQL server running as a child process, reachable only through a Unix
// socket in its data directory.
type Embedded struct {
	log       *slog.Logger
	pgData    string
	logPath   string
	passwords passwords

	cmd     *exec.Cmd
	adopted int      // a server left by an earlier process that we took over (no cmd); 0: none
	shared  bool     // another process's server: Stop leaves it alone
	lock    *os.File // held while this process owns the server (see lockDataDir)
	logFile *os.File
	done    chan struct{} // closed when the process has exited
	waitErr error         // set before done is closed

	stopOnce sync.Once
	stopErr  error
}

// FindBinaries returns the directory that holds initdb and postgres: the first one found on
// PATH, then `pg_config --bindir`, then the highest version under /usr/lib/postgresql/*/bin.
func FindBinaries() (string, error) {
	return findBinaries(os.Getenv("PATH"), "pg_config", "/usr/lib/postgresql/*/bin")
}

func findBinaries(pathList, pgConfig, versionGlob string) (string, error) {
	// PATH: both programs must resolve to the same directory (after symlinks), so that a
	// distribution's wrapper scripts never pair with an unrelated server.
	for _, dir := range filepath.SplitList(pathList) {
		if dir == "" {
			continue
		}
		if hasBinaries(dir) {
			return resolveBinDir(dir), nil
		}
	}
	if pgConfig != "" {
		if p, err := exec.LookPath(pgConfig); err == nil {
			out, err := exec.Command(p, "--bindir").Output()
			if err == nil {
				dir := strings.TrimSpace(string(out))
				if dir != "" && hasBinaries(dir) {
					return dir, nil
				}
			}
		}
	}
	if versionGlob != "" {
		matches, _ := filepath.Glob(versionGlob)
		type cand struct {
			dir     string
			version float64
		}
		var cands []cand
		for _, m := range matches {
			v, err := strconv.ParseFloat(filepath.Base(filepath.Dir(m)), 64)
			if err != nil || !hasBinaries(m) {
				continue
			}
			cands = append(cands, cand{m, v})
		}
		sort.Slice(cands, func(i, j int) bool { return cands[i].version > cands[j].version })
		if len(cands) > 0 {
			return cands[0].dir, nil
		}
	}
	return "", ErrNoBinaries
}

// resolveBinDir follows a symlinked initdb (e.g. /usr/local/bin/initdb) to the real install
// directory when postgres lives there too; otherwise it keeps dir.
func resolveBinDir(dir string) string {
	real, err := filepath.EvalSymlinks(filepath.Join(dir, "initdb"))
	if err != nil {
		return dir
	}
	if realDir := filepath.Dir(real); hasBinaries(realDir) {
		return realDir
	}
	return dir
}

func hasBinaries(dir string) bool {
	for _, name := range []string{"initdb", "postgres"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
			return false
		}
	}
	return true
}

// StartEmbedded initialises (once) and starts a private PostgreSQL server in opts.DataDir and
// waits until it accepts connections.
func StartEmbedded(ctx context.Context, opts EmbeddedOptions) (*Embedded, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.DataDir == "" {
		return nil, errors.New("embedded postgres: no data directory")
	}
	dataDir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, fmt.Errorf("embedded postgres: data directory: %w", err)
	}

	binDir := opts.BinDir
	if binDir != "" {
		if !hasBinaries(binDir) {
			return nil, fmt.Errorf("embedded postgres: %s: %w", binDir, ErrNoBinaries)
		}
	} else if binDir, err = FindBinaries(); err != nil {
		return nil, fmt.Errorf("embedded postgres: %w", err)
	}

	pgData := filepath.Join(dataDir, "postgres")
	if sock := filepath.Join(pgData, socketName); len(sock) >= maxSocketPath {
		return nil, fmt.Errorf("embedded postgres: socket path %s is %d bytes, the limit is %d: "+
			"choose a shorter data directory", sock, len(sock), maxSocketPath-1)
	}

	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("embedded postgres: %w", err)
	}

	cred, err := serverCredential(log)
	if err != nil {
		return nil, err
	}
	if cred != nil {
		if err := prepareForUser(dataDir, pgData, cred); err != nil {
			return nil, err
		}
	} else if err := os.MkdirAll(pgData, 0o700); err != nil {
		return nil, fmt.Errorf("embedded postgres: %w", err)
	}

	logPath := filepath.Join(dataDir, "postgres.log")
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("embedded postgres: log file: %w", err)
	}
	e := &Embedded{
		log:     log,
		pgData:  pgData,
		logPath: logPath,
		logFile: logFile,
	}
	ok := false
	defer func() {
		if !ok {
			logFile.Close()
		}
	}()
	if e.passwords, err = readOrCreatePasswords(dataDir); err != nil {
		return nil, err
	}

	switch e.lock, err = lockDataDir(dataDir); {
	case errors.Is(err, errInUse) && opts.Share:
		if err := e.share(ctx); err != nil {
			return nil, err
		}
		ok = true
		return e, nil
	case errors.Is(err, errInUse):
		pid, _ := e.postmaster()
		return nil, fmt.Errorf("embedded postgres: already running, pid %d, data directory %s, for another candour process", pid, e.pgData)
	case err != nil:
		return nil, err
	}
	defer func() {
		if !ok {
			e.lock.Close()
		}
	}()
	if adopted, err := e.takeOver(ctx); err != nil {
		return nil, err
	} else if adopted {
		if err := e.ready(ctx, cred); err != nil {
			_ = e.Stop(context.Background())
			return nil, err
		}
		ok = true
		log.Info("embedded postgres left running by an earlier process: using it", "data_dir", pgData, "pid", e.adopted)
		return e, nil
	}

	if _, err := os.Stat(filepath.Join(pgData, "PG_VERSION")); errors.Is(err, fs.ErrNotExist) {
		if err := e.initdb(ctx, binDir, cred, opts.Fsync, dataDir); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("embedded postgres: %w", err)
	}

	// After a crash the dead server's processes may still be letting go of their shared
	// memory for a moment (the kernel tears them down asynchronously); postgres then refuses to
	// start. Try again for a few seconds before giving up.
	for attempt := 1; ; attempt++ {
		if err := e.clearStalePID(); err != nil {
			return nil, err
		}
		if err := e.start(binDir, cred, opts.Fsync); err != nil {
			return nil, err
		}
		err := e.waitReady(ctx)
		if err == nil {
			break
		}
		if !errors.Is(err, errSharedMemoryBusy) || attempt == 20 {
			_ = e.Stop(context.Background())
			return nil, err
		}
		// The refused server has exited already: nothing to stop before the next attempt.
		log.Warn("old server's shared memory still in use; retrying", "attempt", attempt)
		time.Sleep(250 * time.Millisecond)
	}
	if err := e.ready(ctx, cred); err != nil {
		_ = e.Stop(context.Background())
		return nil, err
	}
	ok = true
	log.Info("embedded postgres ready", "data_dir", pgData, "pid", e.cmd.Process.Pid)
	return e, nil
}

// ready makes a running server fit to serve: passwords required, the database there.
func (e *Embedded) ready(ctx context.Context, cred *syscall.Credential) error {
	if err := e.requirePasswords(ctx, cred); err != nil {
		return err
	}
	return e.ensureDatabase(ctx)
}

// URL returns the connection string the portal serves with: ServingRole on the candour
// database, with its password.
func (e *Embedded) URL() string {
	return e.dsn(ServingRole, e.passwords.serving, embeddedDB)
}

// OwnerURL returns the connection string of the superuser that owns the candour database and
// runs the migrations, with its password.
func (e *Embedded) OwnerURL() string {
	return e.dsn(embeddedUser, e.passwords.owner, embeddedDB)
}

func (e *Embedded) adminURL() string {
	return e.dsn(embeddedUser, e.passwords.owner, "postgres")
}

func (e *Embedded) dsn(user, password, db string) string {
	return DSN{{"host", e.pgData}, {"user", user}, {"password", password}, {"dbname", db}, {"sslmode", "disable"}}.String()
}

// Stop shuts the server down (fast shutdown), waiting until ctx is done before killing it.
// Calling Stop again returns the first result.
func (e *Embedded) Stop(ctx context.Context) error {
	e.stopOnce.Do(func() {
		switch {
		case e.shared:
		case e.adopted != 0:
			e.stopErr = e.stopAdopted(ctx)
		default:
			e.stopErr = e.stop(ctx)
		}
		e.logFile.Close()
		if e.lock != nil {
			e.lock.Close() // only once the server is down: the next process may start its own
		}
	})
	return e.stopErr
}

func (e *Embedded) stop(ctx context.Context) error {
	if e.cmd == nil || e.cmd.Process == nil {
		return nil
	}
	select {
	case <-e.done:
		return nil // already gone (crashed or killed)
	default:
	}
	// SIGINT is PostgreSQL's "fast" shutdown: roll back open transactions and exit.
	_ = e.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-e.done:
		e.log.Info("embedded postgres stopped")
		return nil
	case <-ctx.Done():
	}
	e.log.Warn("embedded postgres did not stop in time, killing it")
	_ = syscall.Kill(-e.cmd.Process.Pid, syscall.SIGKILL)
	_ = e.cmd.Process.Kill()
	<-e.done
	return fmt.Errorf("embedded postgres: killed after shutdown timed out: %w", ctx.Err())
}

func (e *Embedded) initdb(ctx context.Context, binDir string, cred *syscall.Credential, fsync bool, dataDir string) error {
	// A half-finished initdb leaves files that make the next one refuse to run. The folder is
	// ours alone, and it holds no cluster (no PG_VERSION), so start it afresh.
	entries, err := os.ReadDir(e.pgData)
	if err != nil {
		return fmt.Errorf("embedded postgres: %w", err)
	}
	for _, ent := range entries {
		if err := os.RemoveAll(filepath.Join(e.pgData, ent.Name())); err != nil {
			return fmt.Errorf("embedded postgres: clearing incomplete cluster: %w", err)
		}
	}

	e.log.Info("initialising embedded postgres", "data_dir", e.pgData)
	pwFile, err := e.passwords.ownerFileFor(dataDir, cred)
	if err != nil {
		return err
	}
	defer os.Remove(pwFile)
	args := []string{"-D", e.pgData, "-U", embeddedUser, "--pwfile=" + pwFile, "--auth=" + passwordAuth,
		"-E", "UTF8", "--no-locale"}
	if !fsync {
		args = append(args, "--no-sync")
	}
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "initdb"), args...)
	cmd.Dir = filepath.Dir(e.pgData)
	cmd.Env = serverEnv()
	cmd.Stdout = e.logFile
	cmd.Stderr = e.logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("embedded postgres: initdb: %w%s", err, e.logTail())
	}
	return nil
}

func (e *Embedded) start(binDir string, cred *syscall.Credential, fsync bool) error {
	args := []string{
		"-D", e.pgData,
		"-c", "listen_addresses=",
		"-c", "unix_socket_directories=" + e.pgData,
		"-c", "unix_socket_permissions=0700",
	}
	if fsync {
		args = append(args, durableWriteSettings...)
	} else {
		args = append(args,
			"-c", "fsync=off",
			"-c", "synchronous_commit=off",
			"-c", "full_page_writes=off")
	}
	cmd := exec.Command(filepath.Join(binDir, "postgres"), args...)
	cmd.Dir = e.pgData
	cmd.Env = serverEnv()
	cmd.Stdout = e.logFile
	cmd.Stderr = e.logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: cred,
		Setpgid:    true,
		// Die with us. The signal is tied to the thread that forks, so pin it.
		Pdeathsig: syscall.SIGTERM,
	}
	runtime.LockOSThread()
	err := cmd.Start()
	runtime.UnlockOSThread()
	if err != nil {
		return fmt.Errorf("embedded postgres: start: %w", err)
	}
	e.cmd = cmd
	e.done = make(chan struct{})
	go func() {
		e.waitErr = cmd.Wait()
		close(e.done)
	}()
	return nil
}

// durableWriteSettings space checkpoints out. After each checkpoint the first change to every
// page writes the whole page to the WAL again, and filings touch many random index pages: with
// PostgreSQL's defaults (a checkpoint every 5 minutes or 1 GB of WAL) a burst of filings wrote
// up to 0.15 full pages per report and its commits waited behind the checkpoint's fsyncs (make
// bench, BenchmarkExternalFiling; docs/performance.md). Durability is untouched: every commit
// is still flushed; a crash replays at most this much WAL before the portal starts.
var durableWriteSettings = []string{
	"-c", "checkpoint_timeout=15min",
	"-c", "max_wal_size=2GB",
}

// errSharedMemoryBusy: a crashed server's memory is still attached; starting again shortly works.
var errSharedMemoryBusy = errors.New("embedded postgres: shared memory of a previous server still in use")

func (e *Embedded) exitedDuringStart() error {
	tail := e.logTail()
	if strings.Contains(tail, "pre-existing shared memory block") {
		return fmt.Errorf("%w%s", errSharedMemoryBusy, tail)
	}
	return fmt.Errorf("embedded postgres exited during start-up (%v)%s", e.waitErr, tail)
}

// waitReady polls until the server accepts connections, the process exits, or 30s pass.
func (e *Embedded) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	db, err := sql.Open("postgres", e.adminURL())
	if err != nil {
		return fmt.Errorf("embedded postgres: %w", err)
	}
	defer db.Close()
	var lastErr error
	for {
		select {
		case <-e.done:
			return e.exitedDuringStart()
		default:
		}
		pingCtx, pingCancel := context.WithTimeout(ctx, time.Second)
		lastErr = db.PingContext(pingCtx)
		pingCancel()
		if lastErr == nil {
			return nil
		}
		// A refused password will not be accepted by waiting: say which key file is wrong.
		var pqErr *pq.Error
		if errors.As(lastErr, &pqErr) && pqErr.Code.Class() == "28" {
			return fmt.Errorf("embedded postgres refused the owner's password from %s (was it replaced?): %w",
				e.passwords.ownerPath, lastErr)
		}
		select {
		case <-e.done:
			return e.exitedDuringStart()
		case <-ctx.Done():
			return fmt.Errorf("embedded postgres not ready: %w (last error: %v)%s", ctx.Err(), lastErr, e.logTail())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// ensureDatabase creates the candour database when it is missing. Doing it on every start
// (not only after initdb) repairs a first start that was interrupted in between.
func (e *Embedded) ensureDatabase(ctx context.Context) error {
	db, err := sql.Open("postgres", e.adminURL())
	if err != nil {
		return fmt.Errorf("embedded postgres: %w", err)
	}
	defer db.Close()
	var exists bool
	if err := db.QueryRowContext(ctx,
		`SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, embeddedDB).Scan(&exists); err != nil {
		return fmt.Errorf("embedded postgres: checking database: %w", err)
	}
	if exists {
		return nil
	}
	if _, err := db.ExecContext(ctx, `CREATE DATABASE `+embeddedDB); err != nil {
		return fmt.Errorf("embedded postgres: creating database: %w", err)
	}
	e.log.Info("created database", "name", embeddedDB)
	return nil
}

// clearStalePID removes a postmaster.pid left by a crash, refuses to start next to a live
// server, and gets rid of orphaned backends of a dead postmaster (they hold shared memory that
// would stop a new one from starting).
func (e *Embedded) clearStalePID() error {
	pidFile := filepath.Join(e.pgData, "postmaster.pid")
	data, err := os.ReadFile(pidFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("embedded postgres: %w", err)
	default:
		first, _, _ := strings.Cut(string(data), "\n")
		pid, convErr := strconv.Atoi(strings.TrimSpace(first))
		if convErr == nil && pid > 0 && e.isOurPostgres(pid) {
			return fmt.Errorf("embedded postgres: already running, pid %d, data directory %s", pid, e.pgData)
		}
		if err := os.Remove(pidFile); err != nil {
			return fmt.Errorf("embedded postgres: removing stale postmaster.pid: %w", err)
		}
		e.log.Warn("removed stale postmaster.pid (previous server did not shut down cleanly)",
			"stale_pid", strings.TrimSpace(first))
	}

	orphans := e.orphans()
	if len(orphans) == 0 {
		return nil
	}
	e.log.Warn("waiting for orphaned postgres processes to exit", "pids", orphans)
	deadline := time.Now().Add(5 * time.Second)
	for len(orphans) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		orphans = e.orphans()
	}
	for _, pid := range orphans {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	for len(orphans) > 0 && time.Now().Before(deadline.Add(5*time.Second)) {
		time.Sleep(100 * time.Millisecond)
		orphans = e.orphans()
	}
	if len(orphans) > 0 {
		return fmt.Errorf("embedded postgres: orphaned server processes %v still use %s", orphans, e.pgData)
	}
	return nil
}

// isOurPostgres reports whether pid is a live postgres process working on our data directory.
func (e *Embedded) isOurPostgres(pid int) bool {
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || !bytes.Contains(cmdline, []byte("postgres")) {
		return false // no such process, or something else reused the pid
	}
	if cwd, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/cwd"); err == nil {
		return samePath(cwd, e.pgData)
	}
	return bytes.Contains(cmdline, []byte(e.pgData))
}

// orphans lists postgres child processes ("postgres: ..." titles) still working in our data
// directory. Called only when no live postmaster owns it.
func (e *Embedded) orphans() []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, ent := range entries {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + ent.Name() + "/cmdline")
		if err != nil || !bytes.HasPrefix(cmdline, []byte("postgres: ")) {
			continue
		}
		cwd, err := os.Readlink("/proc/" + ent.Name() + "/cwd")
		if err == nil && samePath(cwd, e.pgData) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func samePath(a, b string) bool {
	if a == b {
		return true
	}
	ra, err1 := filepath.EvalSymlinks(a)
	rb, err2 := filepath.EvalSymlinks(b)
	return err1 == nil && err2 == nil && ra == rb
}

// logTail returns the last lines of postgres.log, formatted to follow an error message.
func (e *Embedded) logTail() string {
	f, err := os.Open(e.logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	const tailBytes = 4096
	fi, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(0, fi.Size()-tailBytes)
	buf := make([]byte, fi.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(buf), "\n"), "\n")
	if off > 0 && len(lines) > 1 {
		lines = lines[1:] // drop the partial first line
	}
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return "\n--- last lines of " + e.logPath + " ---\n" + strings.Join(lines, "\n")
}

// serverCredential returns the unprivileged user to run PostgreSQL as when we are root (it
// refuses to run as root), or nil otherwise.
func serverCredential(log *slog.Logger) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	var lastErr error
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			lastErr = err
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil {
			lastErr = fmt.Errorf("user %s has a non-numeric uid or gid", name)
			continue
		}
		log.Debug("running embedded postgres as unprivileged user", "user", name)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
	}
	return nil, fmt.Errorf("embedded postgres: running as root, but no unprivileged user "+
		"(postgres or nobody) to run PostgreSQL as: %v", lastErr)
}

// prepareForUser lets cred's user reach and own the cluster folder: every ancestor of dataDir
// must already be traversable, dataDir itself is made traversable (0711) and pgData is owned
// by the user.
func prepareForUser(dataDir, pgData string, cred *syscall.Credential) error {
	for dir := filepath.Dir(dataDir); ; dir = filepath.Dir(dir) {
		fi, err := os.Stat(dir)
		if err != nil {
			return fmt.Errorf("embedded postgres: %w", err)
		}
		if !canTraverse(fi, cred) {
			return fmt.Errorf("embedded postgres: %s is not traversable by uid %d, which runs "+
				"PostgreSQL: allow it (chmod o+x %s) or choose another data directory", dir, cred.Uid, dir)
		}
		if dir == filepath.Dir(dir) {
			break
		}
	}
	fi, err := os.Stat(dataDir)
	if err != nil {
		return fmt.Errorf("embedded postgres: %w", err)
	}
	if !canTraverse(fi, cred) {
		if err := os.Chmod(dataDir, fi.Mode().Perm()|0o711); err != nil {
			return fmt.Errorf("embedded postgres: %w", err)
		}
	}

	if err := os.MkdirAll(pgData, 0o700); err != nil {
		return fmt.Errorf("embedded postgres: %w", err)
	}
	fi, err = os.Stat(pgData)
	if err != nil {
		return fmt.Errorf("embedded postgres: %w", err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid == cred.Uid && st.Gid == cred.Gid {
		return nil
	}
	err = filepath.WalkDir(pgData, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, int(cred.Uid), int(cred.Gid))
	})
	if err != nil {
		return fmt.Errorf("embedded postgres: giving the cluster to uid %d: %w", cred.Uid, err)
	}
	return nil
}

func canTraverse(fi fs.FileInfo, cred *syscall.Credential) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return true
	}
	perm := fi.Mode().Perm()
	switch {
	case st.Uid == cred.Uid:
		return perm&0o100 != 0
	case st.Gid == cred.Gid:
		return perm&0o010 != 0
	default:
		return perm&0o001 != 0
	}
}

// serverEnv is our environment without PG* variables, which would steer initdb and postgres.
func serverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PG") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LC_ALL=C")
}
