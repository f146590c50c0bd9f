package portal_test

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"candour/internal/portaltest"
)

// BenchmarkSignInFlood: eight connections send wrong sign-ins as fast as they are answered,
// each to a new address every time, so no budget slows them and every one admitted costs a
// 64 MiB argon2id hash (the worst case for memory), while reports are filed at a steady rate.
// The floor is the same filing without the flood, in the same run. Targets: peak RSS ≤ 256
// MiB, RSS back under 150 MiB within 30 s after the flood, report p99 under the flood ≤ 2×
// the quiet p99. About a minute.
func BenchmarkSignInFlood(b *testing.B) {
	const (
		attackers = 8
		rate      = 100 // reports a second, steady: a busy council sees a few a day
		filers    = 8
		spell     = 10 * time.Second
		settle    = 30 * time.Second
	)
	// Request log lines would pile up in the harness's in-memory log, not the portal's memory.
	e := portaltest.Start(b, portaltest.Setting("CANDOUR_LOG_LEVEL", "warn"))
	submit := reportFiler(b, e, filers)
	steady(b, rate, filers, 2*time.Second, submit) // warm up
	quiet := steady(b, rate, filers, spell, submit)

	runtime.GC()
	debug.FreeOSMemory()
	rssBefore := vm("VmRSS")
	if err := peakRSSReset(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	stop := make(chan struct{})
	var answered [600]atomic.Int64 // by status
	var wg sync.WaitGroup
	client := &fasthttp.HostClient{Addr: e.Addr(), MaxConns: attackers}
	b.Cleanup(client.CloseIdleConnections)
	for i := range attackers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI(e.URL() + "/api/v1/auth/login")
			req.Header.SetMethod("POST")
			req.Header.SetContentType("application/json")
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				req.SetBodyString(fmt.Sprintf(`{"email":"guess-%d-%d@example.gov.uk","password":"wrong password %d"}`, i, k, k))
				if err := client.Do(req, resp); err != nil {
					b.Error(err)
					return
				}
				answered[resp.StatusCode()%600].Add(1)
			}
		}()
	}
	time.Sleep(time.Second) // the flood is under way
	flooded := steady(b, rate, filers, spell, submit)
	close(stop)
	wg.Wait()
	b.StopTimer()
	ended := time.Now()
	peak := vm("VmHWM")
	back := settle
	for time.Since(ended) < settle {
		if vm("VmRSS") < 150<<20 {
			back = time.Since(ended)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	floodSecs := flooded.elapsed.Seconds() + 1
	b.ReportMetric(float64(rssBefore)/(1<<20), "rss_before_MiB")
	b.ReportMetric(float64(peak)/(1<<20), "peak_rss_MiB")
	b.ReportMetric(back.Seconds(), "s_to_rss_under_150MiB")
	b.ReportMetric(float64(vm("VmRSS"))/(1<<20), "rss_after_MiB")
	b.ReportMetric(float64(answered[401].Load())/floodSecs, "checked_signins/s")
	b.ReportMetric(float64(answered[429].Load())/floodSecs, "refused_signins/s")
	b.ReportMetric(float64(quiet.p99().Microseconds())/1000, "quiet_p99_ms")
	b.ReportMetric(float64(flooded.p99().Microseconds())/1000, "flood_p99_ms")
	b.ReportMetric(float64(flooded.p99())/float64(quiet.p99()), "p99_ratio")
	for status := range answered {
		if n := answered[status].Load(); n > 0 && status != 401 && status != 429 {
			b.Errorf("flood: %d answers with status %d, want only 401 and 429", n, status)
		}
	}
}

// steady files reports at rate a second over clients for d, each on its own schedule (a slow
// answer does not slow the arrivals after it), and returns their latencies.
func steady(b *testing.B, rate, clients int, d time.Duration, fn func() error) *phase {
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
			for next := start.Add(interval * time.Duration(c) / time.Duration(clients)); next.Sub(start) < d; next = next.Add(interval) {
				time.Sleep(time.Until(next))
				t0 := time.Now()
				if err := fn(); err != nil {
					b.Error(err)
					return
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			p.lat = append(p.lat, lat...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	p.elapsed, p.ops = time.Since(start), len(p.lat)
	return &p
}
