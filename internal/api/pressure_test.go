package api_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

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
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	head := "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"slow.txt\"\r\nContent-Type: text/plain\r\n\r\n"
	fmt.Fprintf(conn, "POST /api/v1/mailbox/attachments HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: multipart/form-data; boundary=B\r\nContent-Length: %d\r\n\r\n%s%s", u.Host, token, len(head)+1<<20, head, strings.Repeat("x", 9000))
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
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(interval):
			}
			if _, err := conn.Write([]byte("x")); err != nil {
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
	var n int
	if err := e.db.Get(&n, `SELECT count(*) FROM attachments`); err != nil || n != 1 {
		t.Errorf("attachments stored: %d (%v), want only the other reporter's", n, err)
	}
	if errs := errorLines(pe.Logs); len(errs) > 0 {
		t.Errorf("refused and dropped uploads logged as errors:\n%s", strings.Join(errs, "\n"))
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
