package portal_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"candour/internal/portaltest"
)

// The flood benchmarks (issue 18) share one shape: a victim's operation measured at a steady
// rate while the portal is quiet, then again while attackers send as fast as they are
// answered, in the same run; the process's memory across the flood; and the flood's own
// answers by status. The targets, for every flood: peak RSS ≤ 256 MiB, RSS back under 150
// MiB within 30 s after the flood, the victim's p99 under the flood ≤ 2× its quiet p99.

// rssCalm is the RSS the process must fall back under after a flood, and rssSettle how long it
// has to.
const (
	rssCalm   = 150 << 20
	rssSettle = 30 * time.Second
)

// floodMemory measures the process's memory across a flood.
type floodMemory struct{ before int64 }

// floodBegins collects what the quiet phase left, clears the peak and starts the timer: call
// it just before the attackers start.
func floodBegins(b *testing.B) *floodMemory {
	runtime.GC()
	debug.FreeOSMemory()
	m := &floodMemory{before: vm("VmRSS")}
	if err := peakRSSReset(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	return m
}

// ended stops the timer once the attackers have stopped, waits (up to rssSettle) for the RSS
// to fall back under rssCalm and reports: RSS before, peak, seconds to fall back (0 when it
// never rose past; rssSettle when it did not fall back in time) and RSS at the end.
func (m *floodMemory) ended(b *testing.B) {
	b.StopTimer()
	stopped := time.Now()
	peak := vm("VmHWM")
	var back time.Duration
	if peak >= rssCalm {
		back = rssSettle
		for time.Since(stopped) < rssSettle {
			if vm("VmRSS") < rssCalm {
				back = time.Since(stopped)
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	b.ReportMetric(float64(m.before)/(1<<20), "rss_before_MiB")
	b.ReportMetric(float64(peak)/(1<<20), "peak_rss_MiB")
	b.ReportMetric(back.Seconds(), "s_to_rss_under_150MiB")
	b.ReportMetric(float64(vm("VmRSS"))/(1<<20), "rss_after_MiB")
	// What of the RSS at the end is heap the runtime holds free (not yet given back to the
	// system), and what is live: they tell a leak from memory the runtime is slow to return.
	free := []metrics.Sample{{Name: "/memory/classes/heap/free:bytes"}, {Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(free)
	b.ReportMetric(float64(free[0].Value.Uint64())/(1<<20), "heap_free_after_MiB")
	b.ReportMetric(float64(free[1].Value.Uint64())/(1<<20), "heap_objects_after_MiB")
}

// answers counts a flood's answers by status; status 0 counts requests that got no answer
// (the connection failed or was cut).
type answers [600]atomic.Int64

func (a *answers) add(status int) { a[status%len(a)].Add(1) }

// report reports each status seen as answers a second over secs, as prefix+"<status>/s"
// (prefix+"no_answer/s" for status 0).
func (a *answers) report(b *testing.B, prefix string, secs float64) {
	for status := range a {
		if n := a[status].Load(); n > 0 {
			name := fmt.Sprint(status)
			if status == 0 {
				name = "no_answer"
			}
			b.ReportMetric(float64(n)/secs, prefix+name+"/s")
		}
	}
}

// only fails the benchmark for any answer with a status not in want.
func (a *answers) only(b *testing.B, what string, want ...int) {
	for status := range a {
		n := a[status].Load()
		if n > 0 && !contains(want, status) {
			b.Errorf("%s: %d answers with status %d, want only %v", what, n, status, want)
		}
	}
}

func contains(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// unleash starts n attackers, attacker(i, stop) each, and returns a function that stops them
// and waits for them. An attacker loops until stop is closed.
func unleash(n int, attacker func(i int, stop <-chan struct{})) (stop func()) {
	ch := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			attacker(i, ch)
		}()
	}
	return func() {
		close(ch)
		wg.Wait()
	}
}

// pound sends req on client as fast as it is answered until stop is closed, counting the
// answers in got. vary, when not nil, changes the request before each send (k counts sends).
// A request that gets no answer is counted as status 0 and, after a short pause (a failing
// dial must not spin), sent again.
func pound(client *fasthttp.HostClient, req *fasthttp.Request, got *answers, stop <-chan struct{}, vary func(req *fasthttp.Request, k int)) {
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	for k := 0; ; k++ {
		select {
		case <-stop:
			return
		default:
		}
		if vary != nil {
			vary(req, k)
		}
		if err := client.Do(req, resp); err != nil {
			got.add(0)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		got.add(resp.StatusCode())
	}
}

// steady calls fn at rate a second over clients for d, each on its own schedule (a slow answer
// does not slow the arrivals after it), and returns their latencies, failed calls included
// (counted in failed).
func steady(rate, clients int, d time.Duration, fn func() error) *phase {
	var p phase
	var mu sync.Mutex
	var wg sync.WaitGroup
	interval := time.Duration(clients) * time.Second / time.Duration(rate)
	start := time.Now()
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			var errs []error
			for next := start.Add(interval * time.Duration(c) / time.Duration(clients)); next.Sub(start) < d; next = next.Add(interval) {
				time.Sleep(time.Until(next))
				t0 := time.Now()
				if err := fn(); err != nil {
					errs = append(errs, err)
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			p.lat = append(p.lat, lat...)
			p.errs = append(p.errs, errs...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	p.elapsed, p.ops = time.Since(start), len(p.lat)
	return &p
}

// quietly is a victim's floor: fn warmed up for two seconds, then measured as steady does.
func quietly(rate, clients int, d time.Duration, fn func() error) *phase {
	steady(rate, clients, 2*time.Second, fn)
	return steady(rate, clients, d, fn)
}

// keepAlive is a client of up to n kept-alive connections to e, closed when the benchmark
// ends (idle ones would hold the portal's shutdown until its timeout).
func keepAlive(b *testing.B, e *portaltest.Env, n int) *fasthttp.HostClient {
	client := &fasthttp.HostClient{Addr: e.Addr(), MaxConns: n}
	b.Cleanup(client.CloseIdleConnections)
	return client
}

// allSucceeded fails the benchmark when any of the phase's calls failed.
func (p *phase) allSucceeded(b *testing.B, what string) {
	if len(p.errs) > 0 {
		b.Errorf("%s: %d of %d failed, the first: %v", what, len(p.errs), p.ops, p.errs[0])
	}
}

// successRate is the share of the phase's calls that succeeded.
func (p *phase) successRate() float64 { return 1 - float64(len(p.errs))/float64(p.ops) }

// compareP99 reports a victim's p99 quiet and under the flood, and their ratio, under prefix.
func compareP99(b *testing.B, prefix string, quiet, flooded *phase) {
	b.ReportMetric(float64(quiet.p99().Microseconds())/1000, prefix+"quiet_p99_ms")
	b.ReportMetric(float64(flooded.p99().Microseconds())/1000, prefix+"flood_p99_ms")
	b.ReportMetric(float64(flooded.p99())/float64(quiet.p99()), prefix+"p99_ratio")
}

// together runs the functions at once and waits for them all.
func together(fns ...func()) {
	var wg sync.WaitGroup
	for _, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn()
		}()
	}
	wg.Wait()
}

// errStatus is a victim's call answered with a status it did not want.
type errStatus int

func (e errStatus) Error() string { return fmt.Sprintf("status %d", int(e)) }

// want sends req on client and wants status.
func want(client *fasthttp.HostClient, req *fasthttp.Request, status int) error {
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	if err := client.Do(req, resp); err != nil {
		return err
	}
	if resp.StatusCode() != status {
		return errStatus(resp.StatusCode())
	}
	return nil
}

// fileAndOpen files an anonymous report and opens its mailbox, as a reporter does, and returns
// the receipt and the mailbox token.
func fileAndOpen(b *testing.B, e *portaltest.Env) (receipt, token string) {
	r := portaltest.DoJSON(b, e.URL(), "POST", "/api/v1/reports", map[string]string{"mode": "anonymous",
		"service_area": "housing", "category": "other", "summary": "Evidence", "details": "See the file.", "lang": "en"})
	var filed struct{ Receipt string }
	if err := json.Unmarshal(r.Body, &filed); r.Status != http.StatusCreated || err != nil {
		b.Fatalf("filing: got %d %s, want 201", r.Status, r.Body)
	}
	r = portaltest.DoJSON(b, e.URL(), "POST", "/api/v1/mailbox/session", map[string]string{"receipt": filed.Receipt})
	var opened struct{ Token string }
	if err := json.Unmarshal(r.Body, &opened); r.Status != http.StatusOK || err != nil {
		b.Fatalf("opening the mailbox: got %d %s, want 200", r.Status, r.Body)
	}
	return filed.Receipt, opened.Token
}

// isStatus reports whether err is a victim's call answered with status.
func isStatus(err error, status int) bool {
	var s errStatus
	return errors.As(err, &s) && int(s) == status
}
