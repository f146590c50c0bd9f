package portal_test

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"fmt"
	"mime/multipart"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"candour/internal/dbtest"
	"candour/internal/portaltest"
	"candour/internal/receipt"
)

// BenchmarkFilingFlood: 32 connections file anonymous reports as fast as they are answered (the
// intake's group commit takes them in batches), while a Monitoring Officer opens the first
// page of a triage queue of 20,000 concerns 20 times a second. The floor is the same triage
// without the flood, in the same run; the same triage after the flood, on the queue it grew,
// is reported beside it. Targets: those of every flood (flood_test.go). It runs without a bound
// on filings at once and with the default of eight (CANDOUR_FILINGS_AT_ONCE), to compare them
// in one run.
func BenchmarkFilingFlood(b *testing.B) {
	for _, atOnce := range []string{"0", "8"} {
		b.Run("at_once="+atOnce, func(b *testing.B) { filingFlood(b, atOnce) })
	}
}

func filingFlood(b *testing.B, atOnce string) {
	const (
		attackers = 32
		rate      = 20 // triage pages a second
		viewers   = 4
		spell     = 10 * time.Second
	)
	e := portaltest.Start(b, portaltest.Setting("CANDOUR_LOG_LEVEL", "warn"), portaltest.Setting("CANDOUR_FILINGS_AT_ONCE", atOnce))
	dbtest.SeedConcerns(b, e.DB, 20_000, time.Now())
	mo := portaltest.NewStaff(b, e.Portal, "elin.rowlands@enghraifft.example", "monitoring_officer")
	triage := staffReader(b, e, mo.Token, "/api/v1/triage", viewers)
	quiet := quietly(rate, viewers, spell, triage)

	mem := floodBegins(b)
	var filed answers
	client := keepAlive(b, e, attackers)
	stop := unleash(attackers, func(_ int, stop <-chan struct{}) { pound(client, reportRequest(e), &filed, stop, nil) })
	time.Sleep(time.Second) // the flood is under way
	flooded := steady(rate, viewers, spell, triage)
	stop()
	mem.ended(b)
	filed.report(b, "filed_", flooded.elapsed.Seconds()+1)
	compareP99(b, "triage_", quiet, flooded)
	// The flood grew the queue; the same triage once it is over tells that cost from the flood's.
	after := steady(rate, viewers, spell, triage)
	b.ReportMetric(float64(after.p99().Microseconds())/1000, "triage_after_p99_ms")
	after.allSucceeded(b, "triage after the flood")
	quiet.allSucceeded(b, "quiet triage")
	flooded.allSucceeded(b, "triage under the flood")
	filed.only(b, "flood", http.StatusCreated, http.StatusTooManyRequests, http.StatusServiceUnavailable)
}

// staffReader returns a function that GETs path with a staff token over up to clients
// connections and wants its 200.
func staffReader(b *testing.B, e *portaltest.Env, token, path string, clients int) func() error {
	client := keepAlive(b, e, clients)
	return func() error {
		req := fasthttp.AcquireRequest()
		defer fasthttp.ReleaseRequest(req)
		req.SetRequestURI(e.URL() + path)
		req.Header.Set("Authorization", "Bearer "+token)
		return want(client, req, http.StatusOK)
	}
}

// BenchmarkReceiptGuessFlood: sixteen attackers post random receipts to open a mailbox, each
// guess on a new connection (as an attacker would, so no connection's budget slows them),
// and one more on a single connection, as fast as they are answered; meanwhile a reporter
// opens their own mailbox with their receipt 10 times a second. The floor is the same
// opening without the flood, in the same run. Targets: those of every flood, and every one of
// the reporter's openings succeeds.
func BenchmarkReceiptGuessFlood(b *testing.B) {
	const (
		fresh   = 16
		rate    = 10 // openings a second
		openers = 2
		spell   = 10 * time.Second
	)
	e := portaltest.Start(b, portaltest.Setting("CANDOUR_LOG_LEVEL", "warn"))
	mine, _ := fileAndOpen(b, e)
	reporter := keepAlive(b, e, openers)
	open := func() error {
		req := sessionRequest(e, mine)
		defer fasthttp.ReleaseRequest(req)
		return want(reporter, req, http.StatusOK)
	}
	quiet := quietly(rate, openers, spell, open)

	mem := floodBegins(b)
	// One loopback address has 28,000 ports, and a closed connection keeps its port for a
	// minute: the new connections come from sixteen addresses in turn.
	var dials atomic.Uint32
	freshClient := &fasthttp.HostClient{Addr: e.Addr(), MaxConns: fresh, Dial: func(addr string) (net.Conn, error) {
		from := &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+dials.Add(1)%16))}
		return (&net.Dialer{LocalAddr: from}).Dial("tcp", addr)
	}}
	// How many connections the single guesser needed: one, unless the portal closed it.
	var oneDials atomic.Int64
	oneClient := &fasthttp.HostClient{Addr: e.Addr(), MaxConns: 1, Dial: func(addr string) (net.Conn, error) {
		oneDials.Add(1)
		return net.Dial("tcp", addr)
	}}
	b.Cleanup(oneClient.CloseIdleConnections)
	guess := func(req *fasthttp.Request, _ int) {
		r, _ := receipt.New()
		req.SetBodyString(`{"receipt":"` + r + `"}`)
	}
	var fromNew, fromOne answers
	stopNew := unleash(fresh, func(_ int, stop <-chan struct{}) {
		req := sessionRequest(e, "")
		defer fasthttp.ReleaseRequest(req)
		req.SetConnectionClose()
		pound(freshClient, req, &fromNew, stop, guess)
	})
	stopOne := unleash(1, func(_ int, stop <-chan struct{}) {
		req := sessionRequest(e, "")
		defer fasthttp.ReleaseRequest(req)
		pound(oneClient, req, &fromOne, stop, guess)
	})
	time.Sleep(time.Second) // the flood is under way
	flooded := steady(rate, openers, spell, open)
	stopNew()
	stopOne()
	mem.ended(b)
	secs := flooded.elapsed.Seconds() + 1
	fromNew.report(b, "new_conn_guesses_", secs)
	fromOne.report(b, "one_conn_guesses_", secs)
	b.ReportMetric(float64(oneDials.Load()), "one_conn_dials")
	compareP99(b, "open_", quiet, flooded)
	b.ReportMetric(quiet.successRate(), "open_quiet_success")
	b.ReportMetric(flooded.successRate(), "open_flood_success")
	quiet.allSucceeded(b, "quiet opening")
	flooded.allSucceeded(b, "opening under the flood")
	fromNew.only(b, "guesses on new connections", 0, http.StatusUnauthorized, http.StatusTooManyRequests)
	fromOne.only(b, "guesses on one connection", http.StatusUnauthorized, http.StatusTooManyRequests)
}

// sessionRequest is a request opening a mailbox with receipt r (release it).
func sessionRequest(e *portaltest.Env, r string) *fasthttp.Request {
	req := fasthttp.AcquireRequest()
	req.SetRequestURI(e.URL() + "/api/v1/mailbox/session")
	req.Header.SetMethod("POST")
	req.Header.SetContentType("application/json")
	req.SetBodyString(`{"receipt":"` + r + `"}`)
	return req
}

// BenchmarkUploadFlood: sixteen mailboxes each upload 3 MB evidence files on two connections
// as fast as they are answered, and two more each try to hold both their upload slots with
// files arriving at just over the minimum rate (they lose them to the fast ones, 408, being
// under the contended rate); meanwhile another reporter uploads the same file three times a
// second and reports are filed 100 times a second. The floors are the same uploads and filing
// without the flood, in the same run. Targets: those of every flood; the other reporter's
// uploads are refused (503 uploads_busy) while fast uploads take every slot, and the share that
// succeeds is reported.
func BenchmarkUploadFlood(b *testing.B) {
	const (
		mailboxes = 16
		slow      = 2 // mailboxes holding their slots
		fileSize  = 3 << 20
		rate      = 3 // the other reporter's uploads a second
		uploaders = 2
		filing    = 100 // reports a second
		filers    = 8
		spell     = 10 * time.Second
	)
	e := portaltest.Start(b, portaltest.Setting("CANDOUR_LOG_LEVEL", "warn"))
	file := make([]byte, fileSize)
	rand.Read(file)
	contentType, body := evidenceBody(file)
	upload := func(client *fasthttp.HostClient, token string) func() error {
		return func() error {
			req := evidenceRequest(e, token, contentType, body)
			defer fasthttp.ReleaseRequest(req)
			return want(client, req, http.StatusCreated)
		}
	}
	_, victim := fileAndOpen(b, e)
	reporter := keepAlive(b, e, uploaders)
	uploadOwn := upload(reporter, victim)
	submit := reportFiler(b, e, filers)
	var quietUploads, quietFiling, floodUploads, floodFiling *phase
	victims := func(uploads, filed **phase, d time.Duration) {
		together(func() { *uploads = steady(rate, uploaders, d, uploadOwn) },
			func() { *filed = steady(filing, filers, d, submit) })
	}
	victims(&quietUploads, &quietFiling, 2*time.Second) // warm up
	victims(&quietUploads, &quietFiling, spell)
	tokens := make([]string, mailboxes+slow)
	for i := range tokens {
		_, tokens[i] = fileAndOpen(b, e)
	}

	mem := floodBegins(b)
	var fast, held answers
	client := keepAlive(b, e, 2*mailboxes)
	stopFast := unleash(2*mailboxes, func(i int, stop <-chan struct{}) {
		req := evidenceRequest(e, tokens[i/2], contentType, body)
		defer fasthttp.ReleaseRequest(req)
		pound(client, req, &fast, stop, nil)
	})
	stopSlow := unleash(2*slow, func(i int, stop <-chan struct{}) {
		for {
			select {
			case <-stop:
				return
			default:
			}
			held.add(trickle(e, tokens[mailboxes+i/2], stop))
		}
	})
	time.Sleep(time.Second) // the flood is under way
	victims(&floodUploads, &floodFiling, spell)
	stopFast()
	stopSlow()
	mem.ended(b)
	secs := floodUploads.elapsed.Seconds() + 1
	fast.report(b, "fast_uploads_", secs)
	b.ReportMetric(float64(fast[http.StatusCreated].Load())*fileSize/(1<<20)/secs, "fast_stored_MB/s")
	held.report(b, "slow_uploads_", secs)
	compareP99(b, "upload_", quietUploads, floodUploads)
	b.ReportMetric(quietUploads.successRate(), "upload_quiet_success")
	b.ReportMetric(floodUploads.successRate(), "upload_flood_success")
	compareP99(b, "filing_", quietFiling, floodFiling)
	quietUploads.allSucceeded(b, "quiet uploads")
	quietFiling.allSucceeded(b, "quiet filing")
	floodFiling.allSucceeded(b, "filing under the flood")
	for _, err := range floodUploads.errs {
		if !isStatus(err, http.StatusServiceUnavailable) {
			b.Errorf("upload under the flood: %v, want 201 or 503", err)
			break
		}
	}
}

// evidenceBody is a multipart form holding file as an evidence upload, and its content type.
func evidenceBody(file []byte) (contentType string, body []byte) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", "evidence.bin")
	fw.Write(file)
	mw.Close()
	return mw.FormDataContentType(), buf.Bytes()
}

// evidenceRequest is an upload of body to the mailbox of token (release it). The body is not
// copied: every uploader shares one.
func evidenceRequest(e *portaltest.Env, token, contentType string, body []byte) *fasthttp.Request {
	req := fasthttp.AcquireRequest()
	req.SetRequestURI(e.URL() + "/api/v1/mailbox/attachments")
	req.Header.SetMethod("POST")
	req.Header.SetContentType(contentType)
	req.Header.Set("Authorization", "Bearer "+token)
	req.SetBodyRaw(body)
	return req
}

// trickle uploads a 1 MiB file to the mailbox of token at 5 KiB a second, just over the
// minimum rate of 4, so it holds an upload slot until stop is closed or the portal answers;
// it returns the status of the answer (0: none came before stop).
func trickle(e *portaltest.Env, token string, stop <-chan struct{}) int {
	conn, err := net.Dial("tcp", e.Addr())
	if err != nil {
		return 0
	}
	defer conn.Close()
	head := "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"slow.txt\"\r\nContent-Type: text/plain\r\n\r\n"
	// The portal reads the first 8 KiB of a body before its handler runs: send 9,000 at once.
	fmt.Fprintf(conn, "POST /api/v1/mailbox/attachments HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: multipart/form-data; boundary=B\r\nContent-Length: %d\r\n\r\n%s%s",
		e.Addr(), token, len(head)+1<<20, head, strings.Repeat("x", 9000))
	answered := make(chan int, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			answered <- 0
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	chunk := []byte(strings.Repeat("x", 640))
	tick := time.NewTicker(125 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return 0
		case status := <-answered:
			return status
		case <-tick.C:
			conn.Write(chunk)
		}
	}
}
