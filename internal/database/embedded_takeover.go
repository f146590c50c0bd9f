package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// errInUse: another live process holds the data folder's lock, so the server there is theirs.
var errInUse = errors.New("embedded postgres: data directory in use by another process")

// lockDataDir takes the lock that says which process owns the embedded server of dataDir. The
// kernel lets go of it when the process dies, however it dies, so a server still running with
// the lock free was left behind (its portal was killed, or someone started it by hand) and may
// be taken over; one running with the lock held is another portal's, and must be left alone.
func lockDataDir(dataDir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dataDir, "embedded.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("embedded postgres: lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errInUse
		}
		return nil, fmt.Errorf("embedded postgres: lock: %w", err)
	}
	return f, nil
}

// postmaster is the live server of our data folder, from postmaster.pid: its pid and status
// ("ready", "starting", "stopping"); pid 0 when none runs.
func (e *Embedded) postmaster() (pid int, status string) {
	data, err := os.ReadFile(filepath.Join(e.pgData, "postmaster.pid"))
	if err != nil {
		return 0, ""
	}
	lines := strings.Split(string(data), "\n")
	pid, err = strconv.Atoi(strings.TrimSpace(lines[0]))
	if err != nil || pid <= 0 || !e.isOurPostgres(pid) {
		return 0, ""
	}
	if len(lines) > 7 {
		status = strings.TrimSpace(lines[7]) // PM_STATUS, line 8
	}
	return pid, status
}

// answers reports whether the server accepts the owner's connections within a second.
func (e *Embedded) answers(ctx context.Context) bool {
	db, err := sql.Open("postgres", e.adminURL())
	if err != nil {
		return false
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return db.PingContext(ctx) == nil
}

// share uses the server another candour process runs, as a client: a subcommand while the
// portal serves.
func (e *Embedded) share(ctx context.Context) error {
	if pid, _ := e.postmaster(); pid == 0 || !e.answers(ctx) {
		return fmt.Errorf("embedded postgres: another candour process holds %s, but its server does not answer", e.pgData)
	}
	e.shared = true
	return nil
}

// leftBehindWait is how long a server left behind gets to finish stopping before it is told
// to stop at once; a portal killed with kill -9 takes its server down with it (Pdeathsig), and
// that takes a second or two.
const leftBehindWait = 10 * time.Second

// takeOver deals with a server left running on our data folder by a process that no longer
// holds the lock: one that is up and answers is adopted (reports true); one on its way down
// (its portal was killed) or not answering is waited for, then stopped, so a new one can start.
func (e *Embedded) takeOver(ctx context.Context) (bool, error) {
	pid, status := e.postmaster()
	if pid == 0 {
		return false, nil
	}
	if status == "ready" && e.answers(ctx) {
		e.adopted = pid
		return true, nil
	}
	e.log.Warn("embedded postgres left by an earlier process is stopping; waiting for it", "pid", pid, "status", status)
	if gone(pid, leftBehindWait) {
		return false, nil
	}
	_ = syscall.Kill(pid, syscall.SIGINT) // fast shutdown
	if gone(pid, leftBehindWait) {
		return false, nil
	}
	return false, fmt.Errorf("embedded postgres: already running, pid %d, data directory %s, and it does not stop", pid, e.pgData)
}

// stopAdopted stops a server we took over: it is not our child, so it is watched through /proc.
func (e *Embedded) stopAdopted(ctx context.Context) error {
	_ = syscall.Kill(e.adopted, syscall.SIGINT)
	for !gone(e.adopted, 100*time.Millisecond) {
		if ctx.Err() != nil {
			e.log.Warn("embedded postgres did not stop in time, killing it")
			_ = syscall.Kill(e.adopted, syscall.SIGKILL)
			return fmt.Errorf("embedded postgres: killed after shutdown timed out: %w", ctx.Err())
		}
	}
	e.log.Info("embedded postgres stopped")
	return nil
}

// gone waits up to d for process pid to exit and reports whether it has.
func gone(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		// A zombie (exited, not yet reaped by its parent) still has a /proc entry; its state
		// is Z.
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return true
		}
		if i := strings.LastIndexByte(string(stat), ')'); i > 0 && strings.HasPrefix(string(stat[i:]), ") Z") {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}
