package api_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"candour/internal/policytest"
	"candour/internal/portaltest"
	"candour/internal/store"
)

// startWith is start with settings of the test's own.
func startWith(t testing.TB, opts ...portaltest.Option) (*env, *portaltest.Env) {
	t.Helper()
	pe := portaltest.Start(t, opts...)
	return &env{t: t, p: pe.Portal, db: pe.DB, dataDir: pe.DataDir, st: store.New(pe.DB)}, pe
}

// upload posts a multipart body to the mailbox's evidence upload.
func upload(t *testing.T, pe *portaltest.Env, token, contentType string, body []byte) (int, string) {
	t.Helper()
	r := pe.Do(t, "POST", "/api/v1/mailbox/attachments", contentType, bytes.NewReader(body), "Authorization: Bearer "+token)
	return r.Status, string(r.Body)
}

// slowUpload is an evidence upload on its own connection whose file arrives one byte at a time.
type slowUpload struct {
	conn   net.Conn
	status chan slowAnswer
}

type slowAnswer struct {
	status     int
	retryAfter string
	body       string
}

// startSlowUpload sends the headers, the form up to the file and the file's first 9 KB at
// once (the server reads 8 KiB of a body before its handler runs), then one byte every
// interval until the server answers.
func startSlowUpload(t *testing.T, base, token string, interval time.Duration) *slowUpload {
	return startSlowUploadAt(t, base, "", token, interval, 1)
}

// startSlowUploadAt is startSlowUpload to the council at host ("": the listening address),
// sending chunk bytes every interval.
func startSlowUploadAt(t *testing.T, base, host, token string, interval time.Duration, chunk int) *slowUpload {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	if host == "" {
		host = u.Host
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	head := "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"slow.txt\"\r\nContent-Type: text/plain\r\n\r\n"
	fmt.Fprintf(conn, "POST /api/v1/mailbox/attachments HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: multipart/form-data; boundary=B\r\nContent-Length: %d\r\n\r\n%s%s", host, token, len(head)+1<<20, head, strings.Repeat("x", 9000))
	s := &slowUpload{conn: conn, status: make(chan slowAnswer, 1)}
	stop := make(chan struct{})
	go func() {
		defer close(stop)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			s.status <- slowAnswer{status: -1, body: err.Error()}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		s.status <- slowAnswer{resp.StatusCode, resp.Header.Get("Retry-After"), string(b)}
	}()
	piece := []byte(strings.Repeat("x", chunk))
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(interval):
			}
			if _, err := conn.Write(piece); err != nil {
				return
			}
		}
	}()
	return s
}

func (s *slowUpload) answer(t *testing.T, within time.Duration) slowAnswer {
	t.Helper()
	select {
	case a := <-s.status:
		return a
	case <-time.After(within):
		t.Fatalf("no answer to a slow upload within %v", within)
		return slowAnswer{}
	}
}

// errorLines are the log's ERROR records.
func errorLines(logs *portaltest.Logs) []string {
	var out []string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, `"level":"ERROR"`) {
			out = append(out, l)
		}
	}
	return out
}

// Eight slow uploads on one mailbox used to take all eight upload slots, and every other
// reporter's upload was 503 until the read timeout. Now one mailbox holds at most two: the
// other six are told at once (429, Retry-After) that this mailbox is already sending, another
// reporter's upload goes through meanwhile, and the two in progress are dropped as too slow
// once the grace period has passed (408). None of it is logged as an error.
func TestSlowUploadsOnOneMailboxLeaveRoomForOthers(t *testing.T) {
	e, pe := startWith(t, portaltest.Setting("CANDOUR_UPLOAD_MIN_RATE_KB", "1"),
		portaltest.Setting("CANDOUR_UPLOAD_GRACE", "6s"))
	_, attacker := e.report()
	_, other := e.report()

	var slow []*slowUpload
	for range 8 {
		slow = append(slow, startSlowUpload(t, e.p.URL(), attacker, time.Second))
	}
	time.Sleep(time.Second) // every one of them is past its form's headers

	ct, body := multipartFile(t, "file", "rota.txt", []byte("the real rota"))
	status, out := upload(t, pe, other, ct, body)
	if status != http.StatusCreated {
		t.Fatalf("another reporter's upload while one mailbox sends slowly: got %d %s, want 201", status, out)
	}

	var refused, dropped int
	for i, s := range slow {
		a := s.answer(t, 60*time.Second)
		switch {
		case a.status == http.StatusTooManyRequests:
			refused++
			if a.retryAfter == "" || !strings.Contains(a.body, `"uploads_per_mailbox"`) || !strings.Contains(a.body, "already sending two files") {
				t.Errorf("upload %d refused without Retry-After or a clear error: Retry-After %q, body %s", i, a.retryAfter, a.body)
			}
		case a.status == http.StatusRequestTimeout:
			dropped++
			if !strings.Contains(a.body, `"too_slow"`) {
				t.Errorf("upload %d dropped as %s, want too_slow", i, a.body)
			}
		default:
			t.Errorf("slow upload %d: got %d %s, want 429 or 408", i, a.status, a.body)
		}
	}
	if refused != 6 || dropped != 2 {
		t.Errorf("of 8 slow uploads on one mailbox: %d refused, %d dropped as too slow; want 6 and 2", refused, dropped)
	}
	onlyTheOtherStored(t, e, pe)
}

// onlyTheOtherStored checks that of all the uploads only the other reporter's file was stored,
// and that none of those refused or dropped was logged as an error.
func onlyTheOtherStored(t *testing.T, e *env, pe *portaltest.Env) {
	t.Helper()
	var n int
	if err := e.db.Get(&n, `SELECT count(*) FROM attachments`); err != nil || n != 1 {
		t.Errorf("attachments stored: %d (%v), want only the other reporter's", n, err)
	}
	if errs := errorLines(pe.Logs); len(errs) > 0 {
		t.Errorf("refused or dropped uploads logged as errors:\n%s", strings.Join(errs, "\n"))
	}
}

// An upload that keeps above the minimum rate but outlasts the read timeout is 408, not 500;
// a client that hangs up mid-upload, and the client faults of 400 and 413, are no ERROR in
// the log.
func TestUploadTimeoutAndHangUpAreClientFaults(t *testing.T) {
	e, pe := startWith(t, portaltest.Setting("CANDOUR_READ_TIMEOUT", "2s"),
		portaltest.Setting("CANDOUR_UPLOAD_MIN_RATE_KB", "0"), portaltest.Setting("CANDOUR_MAX_ATTACHMENT_MB", "1"))
	_, mbox := e.report()

	a := startSlowUpload(t, e.p.URL(), mbox, 200*time.Millisecond).answer(t, 30*time.Second)
	if a.status != http.StatusRequestTimeout || !strings.Contains(a.body, `"timeout"`) {
		t.Errorf("upload past the read timeout: got %d %s, want 408 timeout", a.status, a.body)
	}

	// Two hang-ups take this mailbox's two slots until the server has dealt with them; an
	// upload that then goes through shows it has.
	for range 2 {
		s := startSlowUpload(t, e.p.URL(), mbox, time.Hour)
		time.Sleep(200 * time.Millisecond)
		s.conn.Close()
	}
	ct, body := multipartFile(t, "file", "rota.txt", []byte("rota"))
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, out := upload(t, pe, mbox, ct, body)
		if status == http.StatusCreated {
			break
		}
		if status != http.StatusTooManyRequests || time.Now().After(deadline) {
			t.Fatalf("upload after two hang-ups: got %d %s, want 201 once their slots are free", status, out)
		}
		time.Sleep(100 * time.Millisecond)
	}

	ct, big := multipartFile(t, "file", "big.bin", make([]byte, 2<<20))
	if status, out := upload(t, pe, mbox, ct, big); status != http.StatusRequestEntityTooLarge {
		t.Errorf("file over the limit: got %d %s, want 413", status, out)
	}
	if status, out := upload(t, pe, mbox, "multipart/form-data; boundary=B", []byte("--B\r\n")); status != http.StatusBadRequest {
		t.Errorf("form without a file: got %d %s, want 400", status, out)
	}
	if errs := errorLines(pe.Logs); len(errs) > 0 {
		t.Errorf("client faults logged as errors:\n%s", strings.Join(errs, "\n"))
	}
}

// mailboxAt files an anonymous report with the council at host ("": the only one) and opens
// its mailbox, as a reporter does, and returns the mailbox token.
func mailboxAt(t *testing.T, pe *portaltest.Env, host string) string {
	t.Helper()
	var headers []string
	if host != "" {
		headers = append(headers, "Host: "+host)
	}
	r := portaltest.DoJSON(t, pe.URL(), "POST", "/api/v1/reports", map[string]any{"mode": "anonymous", "service_area": "housing",
		"category": "other", "summary": "Evidence to follow", "details": "See the files.", "lang": "en"}, headers...)
	var filed struct{ Receipt string }
	if r.Status != http.StatusCreated || json.Unmarshal(r.Body, &filed) != nil {
		t.Fatalf("filing: got %d %s, want 201", r.Status, r.Body)
	}
	r = portaltest.DoJSON(t, pe.URL(), "POST", "/api/v1/mailbox/session", map[string]string{"receipt": filed.Receipt}, headers...)
	var opened struct{ Token string }
	if r.Status != http.StatusOK || json.Unmarshal(r.Body, &opened) != nil {
		t.Fatalf("opening the mailbox: got %d %s, want 200", r.Status, r.Body)
	}
	return opened.Token
}

// answered waits up to within for the one of uploads the server answers first, and fails
// the test if a second is answered too.
func answered(t *testing.T, uploads []*slowUpload, within time.Duration) slowAnswer {
	t.Helper()
	deadline := time.After(within)
	var got []slowAnswer
	for len(got) == 0 {
		for _, s := range uploads {
			select {
			case a := <-s.status:
				got = append(got, a)
			default:
			}
		}
		select {
		case <-deadline:
			t.Fatalf("no slot-holder answered within %v", within)
		case <-time.After(50 * time.Millisecond):
		}
	}
	time.Sleep(500 * time.Millisecond) // any other the server dropped would have been answered
	for _, s := range uploads {
		select {
		case a := <-s.status:
			got = append(got, a)
		default:
		}
	}
	if len(got) != 1 {
		t.Fatalf("%d slot-holders answered (%+v), want one: the slot for one newcomer", len(got), got)
	}
	return got[0]
}

// Filing a report is free, so an attacker can open as many mailboxes as they like. Eight of
// them, each sending one file at just over the minimum rate, used to hold every upload slot,
// and every other reporter's upload was 503 until the grace period ran out. Now, while every
// slot is taken, an upload slower than the contended rate loses its slot to a newcomer: the
// other reporter's file is stored (201), exactly one slow upload is dropped (408 too_slow,
// saying why), and the other seven go on.
func TestSlowMailboxesCannotHoldEveryUploadSlot(t *testing.T) {
	e, pe := startWith(t, portaltest.Setting("CANDOUR_UPLOAD_MIN_RATE_KB", "1"),
		portaltest.Setting("CANDOUR_UPLOAD_GRACE", "2m"))
	var slow []*slowUpload
	for range 8 {
		// 160 bytes every 125 ms: 1.25 KiB a second, above the minimum of 1.
		slow = append(slow, startSlowUploadAt(t, e.p.URL(), "", mailboxAt(t, pe, ""), 125*time.Millisecond, 160))
	}
	time.Sleep(1500 * time.Millisecond) // every one holds a slot, and has been waited for long enough to be judged

	ct, body := multipartFile(t, "file", "rota.txt", []byte("the real rota"))
	if status, out := upload(t, pe, mailboxAt(t, pe, ""), ct, body); status != http.StatusCreated {
		t.Fatalf("another reporter's upload while eight mailboxes hold every slot: got %d %s, want 201", status, out)
	}
	a := answered(t, slow, 10*time.Second)
	if a.status != http.StatusRequestTimeout || !strings.Contains(a.body, `"too_slow"`) || !strings.Contains(a.body, "too slowly to keep its place") {
		t.Errorf("the slot-holder that made room: got %d %s, want 408 too_slow saying why", a.status, a.body)
	}
	onlyTheOtherStored(t, e, pe)
}

// A deployment's councils share the upload slots. When one council's mailboxes hold every
// slot, even at a rate that would keep them (the contended rate is off here), a reporter of
// another council still gets one: a council holding more than its share loses its slowest
// upload to a council holding less. A newcomer of the flooded council itself gets no slot
// that way (503).
func TestOneCouncilsUploadsCannotShutOutAnother(t *testing.T) {
	_, pe := startWith(t, portaltest.Setting("CANDOUR_POLICY_DIR", policytest.Deployment(t, "north", "south")),
		portaltest.Setting("CANDOUR_UPLOAD_MIN_RATE_KB", "1"), portaltest.Setting("CANDOUR_UPLOAD_GRACE", "2m"),
		portaltest.Setting("CANDOUR_UPLOAD_CONTENDED_RATE_KB", "0"))
	north, south := pe.CouncilBySlug("north").Policy().Council.Hosts[0], pe.CouncilBySlug("south").Policy().Council.Hosts[0]
	var flood []*slowUpload
	for range 8 {
		flood = append(flood, startSlowUploadAt(t, pe.URL(), north, mailboxAt(t, pe, north), 125*time.Millisecond, 160))
	}
	time.Sleep(1500 * time.Millisecond)

	ct, body := multipartFile(t, "file", "rota.txt", []byte("the real rota"))
	r := pe.Do(t, "POST", "/api/v1/mailbox/attachments", ct, bytes.NewReader(body), "Authorization: Bearer "+mailboxAt(t, pe, north), "Host: "+north)
	if r.Status != http.StatusServiceUnavailable || !strings.Contains(string(r.Body), `"uploads_busy"`) {
		t.Errorf("north's own newcomer while north holds every slot: got %d %s, want 503 uploads_busy", r.Status, r.Body)
	}
	r = pe.Do(t, "POST", "/api/v1/mailbox/attachments", ct, bytes.NewReader(body), "Authorization: Bearer "+mailboxAt(t, pe, south), "Host: "+south)
	if r.Status != http.StatusCreated {
		t.Fatalf("south's reporter while north holds every slot: got %d %s, want 201", r.Status, r.Body)
	}
	if a := answered(t, flood, 10*time.Second); a.status != http.StatusRequestTimeout || !strings.Contains(a.body, `"too_slow"`) {
		t.Errorf("north's upload that made room: got %d %s, want 408 too_slow", a.status, a.body)
	}
}

// Filing is free and needs no account, so filings are served a few at a time (here one) and
// the rest wait their turn. An attacker holding the one turn with a report whose body never
// ends makes the next filing wait, then refused with 503 busy and Retry-After, in the
// reporter's language, not queued for ever; a reporter opening their mailbox meanwhile is
// served at once; and when the held filing ends the next is served.
func TestFilingsWaitTheirTurn(t *testing.T) {
	_, pe := startWith(t, portaltest.Setting("CANDOUR_FILINGS_AT_ONCE", "1"))
	mailbox := mailboxAt(t, pe, "")

	// A report padded past the 8 KiB the server reads before its handler runs, the rest held back.
	report, _ := json.Marshal(anonymousReport())
	body := append(report, bytes.Repeat([]byte(" "), 20_000)...)
	conn, err := net.Dial("tcp", pe.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /api/v1/reports HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
		pe.Addr(), len(body))
	conn.Write(body[:10_000])
	time.Sleep(300 * time.Millisecond) // its handler holds the one turn

	waited := make(chan portaltest.Response, 1)
	go func() {
		b, _ := json.Marshal(anonymousReport())
		waited <- pe.Do(t, "POST", "/api/v1/reports", "application/json", bytes.NewReader(b), "Accept-Language: cy")
	}()
	r := pe.Do(t, "GET", "/api/v1/mailbox", "", nil, "Authorization: Bearer "+mailbox)
	if r.Status != http.StatusOK {
		t.Errorf("a reporter's mailbox while filings are held: got %d %s, want 200", r.Status, r.Body)
	}
	select {
	case r = <-waited:
	case <-time.After(30 * time.Second):
		t.Fatal("a filing waiting its turn was never answered")
	}
	if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" || !strings.Contains(string(r.Body), `"busy"`) ||
		!strings.Contains(string(r.Body), "Mae llawer o adroddiadau") {
		t.Errorf("a filing that waited too long: got %d (Retry-After %q) %s, want 503 busy in Welsh with Retry-After",
			r.Status, r.Header.Get("Retry-After"), r.Body)
	}

	conn.Write(body[10_000:])
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("the held filing once its body came: got %d, want 201", resp.StatusCode)
	}
	b, _ := json.Marshal(anonymousReport())
	if r := pe.Do(t, "POST", "/api/v1/reports", "application/json", bytes.NewReader(b)); r.Status != http.StatusCreated {
		t.Errorf("the next filing: got %d %s, want 201", r.Status, r.Body)
	}
}
