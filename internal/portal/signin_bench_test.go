package portal_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"candour/internal/portaltest"
)

// BenchmarkSignInFlood: eight connections send wrong sign-ins as fast as they are answered,
// each to a new address every time, so no budget slows them and every one admitted costs a
// 64 MiB argon2id hash (the worst case for memory), while reports are filed at a steady rate.
// The floor is the same filing without the flood, in the same run. Targets: those of every
// flood (flood_test.go). About a minute.
func BenchmarkSignInFlood(b *testing.B) {
	const (
		attackers = 8
		rate      = 100 // reports a second, steady: a busy council sees a few a day
		filers    = 8
		spell     = 10 * time.Second
	)
	// Request log lines would pile up in the harness's in-memory log, not the portal's memory.
	e := portaltest.Start(b, portaltest.Setting("CANDOUR_LOG_LEVEL", "warn"))
	submit := reportFiler(b, e, filers)
	quiet := quietly(rate, filers, spell, submit)

	mem := floodBegins(b)
	var answered answers
	client := keepAlive(b, e, attackers)
	stop := unleash(attackers, func(i int, stop <-chan struct{}) {
		req := fasthttp.AcquireRequest()
		defer fasthttp.ReleaseRequest(req)
		req.SetRequestURI(e.URL() + "/api/v1/auth/login")
		req.Header.SetMethod("POST")
		req.Header.SetContentType("application/json")
		pound(client, req, &answered, stop, func(req *fasthttp.Request, k int) {
			req.SetBodyString(fmt.Sprintf(`{"email":"guess-%d-%d@example.gov.uk","password":"wrong password %d"}`, i, k, k))
		})
	})
	time.Sleep(time.Second) // the flood is under way
	flooded := steady(rate, filers, spell, submit)
	stop()
	mem.ended(b)
	floodSecs := flooded.elapsed.Seconds() + 1
	b.ReportMetric(float64(answered[401].Load())/floodSecs, "checked_signins/s")
	b.ReportMetric(float64(answered[429].Load())/floodSecs, "refused_signins/s")
	compareP99(b, "", quiet, flooded)
	quiet.allSucceeded(b, "quiet filing")
	flooded.allSucceeded(b, "filing under the flood")
	answered.only(b, "flood", 401, 429)
}
