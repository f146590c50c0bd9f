package portal_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"strconv"
	"syscall"
	"testing"
	"time"

	"candour/internal/portaltest"
)

// BenchmarkSignInFlood: wrk, a process of its own at the lowest CPU priority, sends wrong
// sign-ins on eight connections as fast as they are answered, each for a new account, so no
// budget slows them and every one admitted costs a 64 MiB argon2id hash (the worst case for
// memory), while reports are filed at a steady rate. The floor is the same filing without the
// flood, in the same run. Targets: those of every flood (flood_test.go). About a minute.
//
// An attacker's CPU is on their own machine: run in this process, the attacker's loop took
// most of the two cores from the portal, and the filing p99 measured that, not the portal.
// At nice 19, wrk takes only the cycles the portal leaves. The portal's cost of each answer is
// this process's CPU over the flood, less the quiet filing's rate, per answer.
//
// SIGNIN_FLOOD_CPUPROFILE=file writes a CPU profile of this process over the flood alone.
func BenchmarkSignInFlood(b *testing.B) {
	const (
		attackers = 8
		rate      = 100 // reports a second, steady: a busy council sees a few a day
		filers    = 8
		spell     = 10 * time.Second
	)
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		b.Fatal("wrk is not installed: run make bench, which installs it")
	}
	script := filepath.Join(b.TempDir(), "signin.lua")
	if err := os.WriteFile(script, []byte(signInScript), 0o644); err != nil {
		b.Fatal(err)
	}
	// Request log lines would pile up in the harness's in-memory log, not the portal's memory.
	e := portaltest.Start(b, portaltest.Setting("CANDOUR_LOG_LEVEL", "warn"))
	submit := reportFiler(b, e, filers)
	cpu0 := processCPU()
	quiet := quietly(rate, filers, spell, submit)
	quietCPUPerSec := (processCPU() - cpu0).Seconds() / (quiet.elapsed.Seconds() + 2) // with the warm-up

	if path := os.Getenv("SIGNIN_FLOOD_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			b.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	mem := floodBegins(b)
	floodFor := spell + 2*time.Second // from a second before the filing to a second after
	attack := exec.Command("nice", "-n", "19", wrk, "-t1", fmt.Sprintf("-c%d", attackers),
		fmt.Sprintf("-d%ds", int(floodFor.Seconds())), "--timeout", "10s", "-s", script, e.URL()+"/api/v1/auth/login")
	out := make(chan []byte, 1)
	cpu0, began := processCPU(), time.Now()
	go func() {
		o, err := attack.CombinedOutput()
		if err != nil {
			o = fmt.Appendf(o, "\nwrk: %v", err)
		}
		out <- o
	}()
	time.Sleep(time.Second) // the flood is under way
	flooded := steady(rate, filers, spell, submit)
	result := <-out
	cpu, took := processCPU()-cpu0, time.Since(began)
	pprof.StopCPUProfile()
	mem.ended(b)

	m := signInResult.FindSubmatch(result)
	if m == nil {
		b.Fatalf("wrk printed no result:\n%s", result)
	}
	n := func(i int) float64 { v, _ := strconv.ParseFloat(string(m[i]), 64); return v }
	requests, secs, checked, refused, other := n(1), n(2)/1e6, n(3), n(4), n(5)
	b.ReportMetric(requests, "wrk_requests")
	b.ReportMetric(checked/secs, "checked_signins/s")
	b.ReportMetric(refused/secs, "refused_signins/s")
	floodCPU := cpu.Seconds() - quietCPUPerSec*took.Seconds()
	b.ReportMetric(cpu.Seconds()/took.Seconds(), "portal_flood_cores")
	b.ReportMetric(quietCPUPerSec, "portal_quiet_cores")
	if answered := checked + refused; answered > 0 {
		b.ReportMetric(floodCPU/answered*1e6, "portal_cpu_µs/signin")
	}
	compareP99(b, "", quiet, flooded)
	quiet.allSucceeded(b, "quiet filing")
	flooded.allSucceeded(b, "filing under the flood")
	if other > 0 {
		b.Errorf("flood: %v answers neither 401 nor 429, or errors", other)
	}
}

// signInScript sends each request for a new account and counts the answers by status; at the
// end it prints requests, duration (µs), 401s, 429s and everything else (errors included).
// One thread (-t1), so its counters are the whole count.
const signInScript = `wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil,
    string.format('{"email":"guess-%d@example.gov.uk","password":"wrong %d"}', n, n))
end
checked, refused, other = 0, 0, 0
response = function(status)
  if status == 401 then checked = checked + 1
  elseif status == 429 then refused = refused + 1
  else other = other + 1 end
end
local threads = {}
setup = function(thread) table.insert(threads, thread) end
done = function(summary)
  local t = threads[1]
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d\n", summary.requests, summary.duration,
    t:get("checked"), t:get("refused"), t:get("other") + e.connect + e.read + e.write + e.timeout))
end
`

var signInResult = regexp.MustCompile(`(?m)^RESULT (\d+) (\d+) (\d+) (\d+) (\d+)$`)

// processCPU is the CPU time this process (the portal, and the in-process victim) has used.
func processCPU() time.Duration {
	var u syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &u)
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}
