package main_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"candour/internal/database"
	"candour/internal/portaltest"
	"candour/internal/proctree"
)

// The external scenario's shape: as many connections as the measurement, each side
// run for loadSeconds, twice, in turns.
const (
	loadClients = 64
	loadSeconds = 15
	loadRounds  = 2
	warmSeconds = 3
)

// BenchmarkExternalFiling measures filing as a reporter's browser meets it, with every part a
// process of its own: the built binary serving on its durable embedded PostgreSQL (no
// DATABASE_URL: fsync and synchronous commit on), wrk at 64 connections POSTing the API's
// anonymous report, and the floor, pgbench at 64 clients doing plain INSERTs of a row the
// average size of a filed concern (random bytes, which nothing compresses) into the same
// server. Floor and portal take turns, twice each, so a slow spell of the shared machine
// falls on both. Targets (issue 20): throughput ≥ 0.9 of the floor's, p99 ≤ 1.5× the floor's.
//
// Beside the figures, each side logs what explains them: where PostgreSQL's backends were
// (pg_stat_activity sampled every 10 ms), the WAL and checkpoint counters, the portal's
// collector (GODEBUG=gctrace=1) and the CPU each process spent per operation.
func BenchmarkExternalFiling(b *testing.B) {
	wrk := loadTool(b, "wrk")
	binDir, err := database.FindBinaries()
	if err != nil {
		b.Fatal(err)
	}
	pgbench := filepath.Join(binDir, "pgbench")
	if _, err := os.Stat(pgbench); err != nil {
		pgbench = loadTool(b, "pgbench")
	}

	p := startLoadPortal(b)
	owner := p.ownerDB(b)
	// LOAD_PG_SETTINGS="commit_delay=100 ..." tries the server with other settings (those a
	// reload applies).
	for _, kv := range strings.Fields(os.Getenv("LOAD_PG_SETTINGS")) {
		name, value, _ := strings.Cut(kv, "=")
		if _, err := owner.Exec(`ALTER SYSTEM SET ` + name + ` = '` + value + `'`); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := owner.Exec(`SELECT pg_reload_conf()`); err != nil {
		b.Fatal(err)
	}

	// The portal warms up (pool, prepared statements, data keys) and files the concerns whose
	// average row the floor's row copies.
	if _, err := p.wrk(b, wrk, warmSeconds); err != nil {
		b.Fatal(err)
	}
	var rowSize, payloadSize int
	if err := owner.QueryRow(`SELECT avg(pg_column_size(c.*))::int,
		avg(pg_column_size(c.*))::int - pg_column_size(ROW(0::bigint, '1000000000'::text, ''::bytea, now()))
		FROM concerns c`).Scan(&rowSize, &payloadSize); err != nil {
		b.Fatal(err)
	}
	// Concerns keep their rows whole (migration 00014), so the floor's table does too: the
	// same bytes written the same way, rather than a floor paying for TOAST the portal avoids.
	if _, err := owner.Exec(`CREATE TABLE bench_floor (id bigserial PRIMARY KEY, reference text, payload bytea,
		created_at timestamptz DEFAULT now()) WITH (toast_tuple_target = 8160)`); err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, payloadSize)
	rand.Read(payload)
	script := filepath.Join(b.TempDir(), "floor.sql")
	if err := os.WriteFile(script, []byte("\\set ref random(1, 2000000000)\n"+
		"INSERT INTO bench_floor (reference, payload) VALUES (:ref, '\\x"+hex.EncodeToString(payload)+"');\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	floor := &pgbenchRun{bin: pgbench, script: script, dsn: p.ownerURL, logDir: b.TempDir()}
	if _, err := floor.run(warmSeconds, false); err != nil {
		b.Fatal(err)
	}

	var floors, portals []loadResult
	b.ResetTimer()
	for round := 1; round <= loadRounds; round++ {
		f := p.observe(b, owner, func() (loadResult, error) { return floor.run(loadSeconds, true) })
		floors = append(floors, f)
		loadLog("round %d floor:  %s", round, f)
		w := p.observe(b, owner, func() (loadResult, error) { return p.wrk(b, wrk, loadSeconds) })
		portals = append(portals, w)
		loadLog("round %d portal: %s", round, w)
	}
	b.StopTimer()
	fl, po := combine(floors), combine(portals)
	b.ReportMetric(float64(rowSize), "row_bytes")
	b.ReportMetric(fl.perSec, "floor_inserts/s")
	b.ReportMetric(fl.p99ms, "floor_p99_ms")
	b.ReportMetric(po.perSec, "portal_reports/s")
	b.ReportMetric(po.p99ms, "portal_p99_ms")
	b.ReportMetric(po.perSec/fl.perSec, "throughput_ratio")
	b.ReportMetric(po.p99ms/fl.p99ms, "p99_ratio")
	// When both sides keep the two cores busy, throughput is the cores' time over the CPU one
	// operation takes of every process (load generator, portal, PostgreSQL): this ratio is the
	// throughput ratio the code's CPU allows, whatever else the machine is doing.
	b.ReportMetric(fl.cpuPerOp(), "floor_cpu_us/op")
	b.ReportMetric(po.cpuPerOp(), "portal_cpu_us/op")
	b.ReportMetric(fl.cpuPerOp()/po.cpuPerOp(), "cpu_ratio")
}

// cpuPerOp is the CPU, in µs, that all three processes spent per operation.
func (r loadResult) cpuPerOp() float64 {
	return (r.loadCPU + r.portalCPU + r.pgCPU) / float64(r.ops) * 1e6
}

// loadLog prints a side's figures and the evidence beside them as they come: a benchmark's
// own log is cut short.
func loadLog(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

// loadTool finds a program the benchmark drives; make bench installs it when missing.
func loadTool(b *testing.B, name string) string {
	path, err := exec.LookPath(name)
	if err != nil {
		b.Fatalf("%s is not installed: run make bench, which installs it", name)
	}
	return path
}

// loadResult is one side's run: what the load generator counted and what the server showed
// meanwhile.
type loadResult struct {
	ops          int
	seconds      float64
	perSec       float64
	p50ms, p99ms float64
	failed       int
	loadCPU      float64 // seconds of the load generator's CPU

	portalCPU, pgCPU float64 // seconds, over the run
	// Seconds the portal's threads and PostgreSQL's processes spent runnable but waiting for
	// a core (the kernel's schedstat): the share of the latency the machine, not the code, adds.
	portalQueued, pgQueued float64
	gc                     gcTotals
	waits                  map[string]int // pg_stat_activity samples, by where a backend was
	samples                int
	stats                  map[string]float64 // deltas of pg_stat counters
}

func (r loadResult) String() string {
	var s strings.Builder
	fmt.Fprintf(&s, "%.0f/s, p50 %.1f ms, p99 %.1f ms, %d ops, %d failed; CPU µs/op: load generator %.0f, portal %.0f, postgres %.0f",
		r.perSec, r.p50ms, r.p99ms, r.ops, r.failed, r.loadCPU/float64(r.ops)*1e6, r.portalCPU/float64(r.ops)*1e6, r.pgCPU/float64(r.ops)*1e6)
	fmt.Fprintf(&s, "; waiting for a core, µs/op: portal %.0f, postgres %.0f", r.portalQueued/float64(r.ops)*1e6, r.pgQueued/float64(r.ops)*1e6)
	if r.gc.count > 0 {
		fmt.Fprintf(&s, "; Go GC: %d cycles, %.2f ms stop-the-world in all (longest %.2f ms), %.0f ms CPU of which %.0f ms assists",
			r.gc.count, r.gc.stwMs, r.gc.maxStwMs, r.gc.cpuMs, r.gc.assistMs)
	}
	keys := make([]string, 0, len(r.stats))
	for k := range r.stats {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s.WriteString("\n\tpg_stat per op:")
	for _, k := range keys {
		fmt.Fprintf(&s, " %s %.3g", k, r.stats[k]/float64(r.ops))
	}
	type wait struct {
		where string
		n     int
	}
	var ws []wait
	for k, n := range r.waits {
		ws = append(ws, wait{k, n})
	}
	sort.Slice(ws, func(i, j int) bool { return ws[i].n > ws[j].n })
	fmt.Fprintf(&s, "\n\tbackends busy, on average over %d samples:", r.samples)
	for i, w := range ws {
		if i == 10 {
			break
		}
		fmt.Fprintf(&s, " %s %.2f;", w.where, float64(w.n)/float64(r.samples))
	}
	return s.String()
}

// combine adds a side's rounds: operations over seconds, and the mean of the rounds' p99 (the
// load generators report percentiles per run).
func combine(rs []loadResult) loadResult {
	var out loadResult
	for _, r := range rs {
		out.ops += r.ops
		out.seconds += r.seconds
		out.p99ms += r.p99ms / float64(len(rs))
		out.loadCPU += r.loadCPU
		out.portalCPU += r.portalCPU
		out.pgCPU += r.pgCPU
	}
	out.perSec = float64(out.ops) / out.seconds
	return out
}

// loadPortal is the built binary serving on a fresh embedded database.
type loadPortal struct {
	run      *run
	base     string
	dataDir  string
	ownerURL string
	trace    *gcTrace
}

func startLoadPortal(b *testing.B) *loadPortal {
	// Short: the embedded server's socket lives in it.
	dataDir, err := os.MkdirTemp("", "cnd-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dataDir) })
	addr := freeAddr(b)
	p := &loadPortal{base: "http://" + addr, dataDir: dataDir, trace: &gcTrace{}}
	p.run = command(map[string]string{"CANDOUR_DATA_DIR": dataDir, "CANDOUR_LISTEN": addr,
		"CANDOUR_POLICY_DIR": filepath.Join(portaltest.Root(), "policies"), "GODEBUG": "gctrace=1"}, "serve")
	// LOAD_PORTAL_ENV="GOGC=300 ..." tries the portal with other settings, same run otherwise.
	for _, kv := range strings.Fields(os.Getenv("LOAD_PORTAL_ENV")) {
		p.run.cmd.Env = append(p.run.cmd.Env, kv)
	}
	p.run.cmd.Stderr = p.trace
	if err := p.run.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		p.run.cmd.Process.Signal(syscall.SIGTERM)
		p.run.cmd.Wait()
	})
	waitReady(b, p.base, p.run)
	// The portal's own server, shared: the benchmark reads its statistics as the owner.
	emb, err := database.StartEmbedded(context.Background(), database.EmbeddedOptions{DataDir: dataDir, Fsync: true, Share: true})
	if err != nil {
		b.Fatal(err)
	}
	p.ownerURL = emb.OwnerURL()
	return p
}

func (p *loadPortal) ownerDB(b *testing.B) *sqlx.DB {
	db, err := sqlxOpen(p.ownerURL)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

// reportBody is the anonymous report every request files: the body of the in-process
// benchmark (internal/portal BenchmarkAnonymousSubmission), a usual size.
func reportBody() []byte {
	body, _ := json.Marshal(map[string]any{"mode": "anonymous", "service_area": "childrens-services", "category": "misconduct",
		"summary": "Cases closed early to meet targets", "details": strings.Repeat("Cases were closed early to hit the target. ", 40),
		"lang": "en"})
	return body
}

// wrkScript POSTs body and, at the end, prints one line of the counts and percentiles (µs).
const wrkScript = `wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[%s]==]
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %%d %%d %%d %%d %%d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), e.connect + e.read + e.write + e.status + e.timeout))
end
`

var wrkResult = regexp.MustCompile(`(?m)^RESULT (\d+) (\d+) (\d+) (\d+) (\d+)$`)

// wrk files reports at the portal for seconds from loadClients connections.
func (p *loadPortal) wrk(b *testing.B, bin string, seconds int) (loadResult, error) {
	script := filepath.Join(b.TempDir(), "report.lua")
	if err := os.WriteFile(script, fmt.Appendf(nil, wrkScript, reportBody()), 0o644); err != nil {
		return loadResult{}, err
	}
	cmd := exec.Command(bin, "-t2", fmt.Sprintf("-c%d", loadClients), fmt.Sprintf("-d%ds", seconds), "--timeout", "10s",
		"-s", script, p.base+"/api/v1/reports")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return loadResult{}, fmt.Errorf("wrk: %v\n%s", err, out)
	}
	m := wrkResult.FindSubmatch(out)
	if m == nil {
		return loadResult{}, fmt.Errorf("wrk printed no result:\n%s", out)
	}
	n := func(i int) float64 { v, _ := strconv.ParseFloat(string(m[i]), 64); return v }
	r := loadResult{ops: int(n(1)), seconds: n(2) / 1e6, p50ms: n(3) / 1e3, p99ms: n(4) / 1e3, failed: int(n(5)),
		loadCPU: (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()}
	r.perSec = float64(r.ops) / r.seconds
	if r.failed > 0 {
		return r, fmt.Errorf("wrk: %d of %d requests failed", r.failed, r.ops)
	}
	return r, nil
}

// pgbenchRun is the floor: pgbench running script through the portal's PostgreSQL.
type pgbenchRun struct {
	bin, script, dsn, logDir string
	runs                     int
}

var pgbenchTPS = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)

func (f *pgbenchRun) run(seconds int, logged bool) (loadResult, error) {
	d, err := database.ParseDSN(f.dsn)
	if err != nil {
		return loadResult{}, err
	}
	conninfo, password := d.ForLibpq()
	f.runs++
	prefix := filepath.Join(f.logDir, fmt.Sprintf("floor%d", f.runs))
	args := []string{"-n", "-M", "prepared", "-c", strconv.Itoa(loadClients), "-j", "2", "-T", strconv.Itoa(seconds), "-f", f.script}
	if logged {
		args = append(args, "--log", "--log-prefix="+prefix)
	}
	cmd := exec.Command(f.bin, append(args, conninfo)...)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+password)
	cmd.Dir = f.logDir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return loadResult{}, fmt.Errorf("pgbench: %v\n%s", err, out)
	}
	r := loadResult{seconds: float64(seconds), loadCPU: (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()}
	if m := pgbenchTPS.FindSubmatch(out); m != nil {
		r.perSec, _ = strconv.ParseFloat(string(m[1]), 64)
	} else {
		return r, fmt.Errorf("pgbench printed no tps:\n%s", out)
	}
	if !logged {
		return r, nil
	}
	// Each transaction's line: client, number, latency in µs, script, epoch s, µs.
	logs, _ := filepath.Glob(prefix + ".*")
	var lat []float64
	for _, name := range logs {
		data, err := os.ReadFile(name)
		if err != nil {
			return r, err
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) < 3 {
				continue
			}
			us, err := strconv.ParseFloat(f[2], 64)
			if err != nil { // "failed" or "skipped" in place of a latency
				r.failed++
				continue
			}
			lat = append(lat, us)
		}
		os.Remove(name)
	}
	if len(lat) == 0 {
		return r, fmt.Errorf("pgbench logged no transaction:\n%s", out)
	}
	sort.Float64s(lat)
	r.ops = len(lat)
	r.p50ms, r.p99ms = lat[len(lat)/2]/1e3, lat[len(lat)*99/100]/1e3
	r.seconds = float64(r.ops) / r.perSec // pgbench's own rate, without connection set-up
	if r.failed > 0 {
		return r, fmt.Errorf("pgbench: %d transactions failed", r.failed)
	}
	return r, nil
}

// observe runs one side and records, beside its result, what PostgreSQL and the portal
// process did meanwhile.
func (p *loadPortal) observe(b *testing.B, owner *sqlx.DB, side func() (loadResult, error)) loadResult {
	before := pgCounters(b, owner)
	gc0 := p.trace.totals()
	portal0, pg0 := proctree.CPU(p.run.cmd.Process.Pid)
	stop := make(chan struct{})
	var waits map[string]int
	var samples int
	var sampled sync.WaitGroup
	sampled.Add(1)
	queued := newRunQueueWait(p.run.cmd.Process.Pid)
	go func() {
		defer sampled.Done()
		waits, samples = sampleWaits(owner, stop, queued)
	}()
	r, err := side()
	close(stop)
	sampled.Wait()
	if err != nil {
		b.Fatal(err)
	}
	portal1, pg1 := proctree.CPU(p.run.cmd.Process.Pid)
	r.portalCPU, r.pgCPU = portal1-portal0, pg1-pg0
	r.gc = p.trace.totals().minus(gc0)
	r.waits, r.samples = waits, samples
	r.portalQueued, r.pgQueued = queued.totals()
	after := pgCounters(b, owner)
	r.stats = map[string]float64{}
	for k, v := range after {
		r.stats[k] = v - before[k]
	}
	return r
}

// pgCounters reads the server's cumulative counters that bear on a durable INSERT's latency:
// WAL written and flushed, checkpoints, commits, autovacuum runs.
func pgCounters(b *testing.B, db *sqlx.DB) map[string]float64 {
	// Backends report their counters at most once a second; a short wait lets the last
	// second's reach the views.
	time.Sleep(1100 * time.Millisecond)
	var c struct {
		Records, FPI, Bytes, BuffersFull, Writes, Syncs float64
		CheckpointsTimed, CheckpointsReq, BackendFsync  float64
		Commits, Autovacuums, Autoanalyzes              float64
	}
	if err := db.QueryRow(`SELECT w.wal_records, w.wal_fpi, w.wal_bytes, w.wal_buffers_full, w.wal_write, w.wal_sync,
		g.checkpoints_timed, g.checkpoints_req, g.buffers_backend_fsync, d.xact_commit,
		(SELECT coalesce(sum(autovacuum_count), 0) FROM pg_stat_user_tables),
		(SELECT coalesce(sum(autoanalyze_count), 0) FROM pg_stat_user_tables)
		FROM pg_stat_wal w, pg_stat_bgwriter g, pg_stat_database d WHERE d.datname = current_database()`).Scan(
		&c.Records, &c.FPI, &c.Bytes, &c.BuffersFull, &c.Writes, &c.Syncs,
		&c.CheckpointsTimed, &c.CheckpointsReq, &c.BackendFsync, &c.Commits, &c.Autovacuums, &c.Autoanalyzes); err != nil {
		b.Fatal(err)
	}
	return map[string]float64{"wal_records": c.Records, "wal_fpi": c.FPI, "wal_bytes": c.Bytes, "wal_buffers_full": c.BuffersFull,
		"wal_write": c.Writes, "wal_sync": c.Syncs, "checkpoints": c.CheckpointsTimed + c.CheckpointsReq,
		"backend_fsync": c.BackendFsync, "commits": c.Commits, "autovacuum": c.Autovacuums, "autoanalyze": c.Autoanalyzes}
}

// sampleWaits counts, every 10 ms until stop, where each busy backend of the server is: a wait
// event (e.g. IO:WALSync, LWLock:WALWrite, Lock:transactionid), "CPU" when active and
// waiting on nothing, or "idle in transaction" when the client holds a transaction open.
func sampleWaits(db *sqlx.DB, stop <-chan struct{}, queued *runQueueWait) (map[string]int, int) {
	waits := map[string]int{}
	samples := 0
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			queued.sample()
			return waits, samples
		case <-tick.C:
		}
		if samples%10 == 0 {
			queued.sample()
		}
		rows, err := db.Query(`SELECT backend_type, state, coalesce(wait_event_type || ':' || wait_event, '')
			FROM pg_stat_activity WHERE pid <> pg_backend_pid()`)
		if err != nil {
			continue
		}
		samples++
		for rows.Next() {
			var kind, wait string
			var state *string
			if rows.Scan(&kind, &state, &wait) != nil {
				continue
			}
			switch {
			case kind == "client backend" && state != nil && *state == "active":
				if wait == "" {
					wait = "CPU"
				}
				waits[wait]++
			case kind == "client backend" && state != nil && strings.HasPrefix(*state, "idle in transaction"):
				waits["idle in transaction"]++
			case kind != "client backend" && !strings.HasPrefix(wait, "Activity:"):
				// A background process at work: the WAL writer flushing, the checkpointer
				// writing, an autovacuum worker.
				if wait == "" {
					wait = "CPU"
				}
				waits[kind+" "+wait]++
			}
		}
		rows.Close()
	}
}

// runQueueWait follows, from /proc/*/task/*/schedstat, how long each thread of a process tree
// waited to run. Sampled, so a backend that exits between samples loses its last moments.
type runQueueWait struct {
	root        int
	first, last map[int]float64 // by thread: the wait when first and last seen, in seconds
	self        map[int]bool    // threads of root itself
}

func newRunQueueWait(root int) *runQueueWait {
	q := &runQueueWait{root: root, first: map[int]float64{}, last: map[int]float64{}, self: map[int]bool{}}
	q.sample()
	for tid := range q.first {
		q.first[tid] = q.last[tid] // only what comes after the start counts
	}
	return q
}

func (q *runQueueWait) sample() {
	for _, pid := range proctree.Tree(q.root) {
		tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		for _, t := range tasks {
			tid, _ := strconv.Atoi(t.Name())
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/schedstat", pid, tid))
			f := strings.Fields(string(b))
			if err != nil || len(f) < 2 {
				continue
			}
			ns, _ := strconv.ParseFloat(f[1], 64)
			if _, seen := q.first[tid]; !seen {
				q.first[tid] = 0 // born during the run: all of its wait counts
			}
			q.last[tid] = ns / 1e9
			q.self[tid] = pid == q.root
		}
	}
}

// totals is the wait since the start, of the root's threads and of its descendants'.
func (q *runQueueWait) totals() (self, descendants float64) {
	for tid, last := range q.last {
		if q.self[tid] {
			self += last - q.first[tid]
		} else {
			descendants += last - q.first[tid]
		}
	}
	return self, descendants
}

// gcTrace takes the portal's stderr and totals the collector's cycles from its gctrace lines:
// gc 7 @2.1s 3%: 0.02+1.9+0.03 ms clock, 0.05+0.4/1.6/0+0.07 ms cpu, ...
type gcTrace struct {
	mu      sync.Mutex
	partial []byte
	sum     gcTotals
	other   bytes.Buffer // the rest, for a failure message
}

type gcTotals struct {
	count                            int
	stwMs, maxStwMs, cpuMs, assistMs float64
}

func (t gcTotals) minus(u gcTotals) gcTotals {
	return gcTotals{t.count - u.count, t.stwMs - u.stwMs, t.maxStwMs, t.cpuMs - u.cpuMs, t.assistMs - u.assistMs}
}

var gcLine = regexp.MustCompile(`^gc \d+ @[0-9.]+s \d+%: ([0-9.]+)\+([0-9.]+)\+([0-9.]+) ms clock, ([0-9.]+)\+([0-9.]+)/([0-9.]+)/([0-9.]+)\+([0-9.]+) ms cpu`)

func (t *gcTrace) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.partial = append(t.partial, b...)
	for {
		i := bytes.IndexByte(t.partial, '\n')
		if i < 0 {
			break
		}
		line := t.partial[:i]
		if m := gcLine.FindSubmatch(line); m != nil {
			f := make([]float64, len(m))
			for j := 1; j < len(m); j++ {
				f[j], _ = strconv.ParseFloat(string(m[j]), 64)
			}
			stw := max(f[1], f[3])
			t.sum.count++
			t.sum.stwMs += f[1] + f[3]
			t.sum.maxStwMs = max(t.sum.maxStwMs, stw)
			t.sum.cpuMs += f[4] + f[5] + f[6] + f[7] + f[8]
			t.sum.assistMs += f[5]
		} else if t.other.Len() < 1<<16 {
			t.other.Write(line)
			t.other.WriteByte('\n')
		}
		t.partial = t.partial[i+1:]
	}
	return len(b), nil
}

// totals is the sum so far; the longest pause is reset, so it is the longest since the last call.
func (t *gcTrace) totals() gcTotals {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.sum
	t.sum.maxStwMs = 0
	return s
}
