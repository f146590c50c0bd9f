package notify_test

import (
	"bufio"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"candour/internal/dbtest"
	"candour/internal/intake"
	"candour/internal/intaketest"
	"candour/internal/notify"
	"candour/internal/store"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// smtpServer is a minimal in-process SMTP server that records what it receives.
type smtpServer struct {
	ln   net.Listener
	mu   sync.Mutex
	mail []string // one entry per message: envelope + data
}

func startSMTP(t *testing.T) *smtpServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(conn)
		}
	}()
	return s
}

func (s *smtpServer) serve(conn net.Conn) {
	defer conn.Close()
	r := bufio.NewReader(conn)
	say := func(line string) { conn.Write([]byte(line + "\r\n")) }
	say("220 test ESMTP")
	var msg strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			say("250 test")
		case strings.HasPrefix(cmd, "MAIL FROM"), strings.HasPrefix(cmd, "RCPT TO"):
			msg.WriteString(strings.TrimSpace(line) + "\n")
			say("250 ok")
		case cmd == "DATA":
			say("354 go ahead")
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				msg.WriteString(l)
			}
			s.mu.Lock()
			s.mail = append(s.mail, msg.String())
			s.mu.Unlock()
			msg.Reset()
			say("250 queued")
		case cmd == "QUIT":
			say("221 bye")
			return
		default:
			say("250 ok")
		}
	}
}

func (s *smtpServer) messages() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.mail...)
}

func TestOutboxDeliversOnceWithoutContent(t *testing.T) {
	db := dbtest.New(t)
	st := store.New(db)
	ctx := context.Background()
	// The notification carries the reference; the link names the concern by its public id.
	dbtest.SeedConcerns(t, db, 1, time.Now())
	var concern struct {
		Serial int64  `db:"id"`
		Public string `db:"public_id"`
	}
	if err := db.Get(&concern, `SELECT id, public_id FROM concerns`); err != nil {
		t.Fatal(err)
	}
	for _, to := range []string{"elin.rowlands@enghraifft.example", "sioned.parry@enghraifft.example"} {
		n := &store.Notification{Recipient: to, Kind: "routed", Reference: "C-ABCD-EFGH"}
		n.ConcernID.Int64, n.ConcernID.Valid = concern.Serial, true
		n.DedupeKey.String, n.DedupeKey.Valid = "routed:test:"+to, true
		if err := st.EnqueueNotification(ctx, n); err != nil {
			t.Fatal(err)
		}
		// The same notification again is ignored.
		if err := st.EnqueueNotification(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	srv := startSMTP(t)
	mailer := notify.SMTP{Addr: srv.ln.Addr().String(), From: "candour@enghraifft.example"}

	// Two job runners at once, as with two portal instances: each message goes out once.
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := notify.Deliver(ctx, st, mailer, "https://whistle.example.gov.uk"); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if _, err := notify.Deliver(ctx, st, mailer, "https://whistle.example.gov.uk"); err != nil {
		t.Fatal(err)
	}
	got := srv.messages()
	if len(got) != 2 {
		t.Fatalf("got %d messages, want 2", len(got))
	}
	for _, m := range got {
		if !strings.Contains(m, "C-ABCD-EFGH") || !strings.Contains(m, "https://whistle.example.gov.uk/staff/concerns/"+concern.Public+"\r\n") ||
			!strings.Contains(m, "Mewngofnodwch") {
			t.Errorf("message lacks reference, link or Welsh:\n%s", m)
		}
	}
	var pending int
	db.Get(&pending, `SELECT count(*) FROM notifications WHERE sent_at IS NULL`)
	if pending != 0 {
		t.Errorf("got %d unsent, want 0", pending)
	}
}

func TestFailedSendIsRetried(t *testing.T) {
	db := dbtest.New(t)
	st := store.New(db)
	ctx := context.Background()
	if err := st.EnqueueNotification(ctx, &store.Notification{Recipient: "a@example.org", Kind: "routed", Reference: "C-AAAA-BBBB"}); err != nil {
		t.Fatal(err)
	}
	down := notify.SMTP{Addr: "127.0.0.1:1", From: "x@example.org"}
	if n, err := notify.Deliver(ctx, st, down, "http://x"); err != nil || n != 0 {
		t.Fatalf("got %d %v, want 0 sent and no error", n, err)
	}
	var attempts int
	var lastErr string
	db.QueryRow(`SELECT attempts, last_error FROM notifications`).Scan(&attempts, &lastErr)
	if attempts != 1 || lastErr == "" {
		t.Errorf("got attempts %d error %q, want 1 and the reason", attempts, lastErr)
	}
	srv := startSMTP(t)
	if n, err := notify.Deliver(ctx, st, notify.SMTP{Addr: srv.ln.Addr().String(), From: "x@example.org"}, "http://x"); err != nil || n != 1 {
		t.Fatalf("retry: got %d %v, want 1 sent", n, err)
	}
}

// mailbag records what would have been sent.
type mailbag struct {
	mu   sync.Mutex
	sent []notify.Message
}

func (m *mailbag) Send(_ context.Context, msg notify.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, msg)
	return nil
}

// From a filed report to the route holder's inbox: a safeguarding report is e-mailed on the
// notifier's next run, an ordinary one waits for the hour after filing, and neither says more
// than the reference.
func TestFiledReportReachesRouteHolder(t *testing.T) {
	ctx := context.Background()
	k := intaketest.New(t, intaketest.Options{})
	report := func(safeguarding bool, details string) string {
		filed, err := k.Intake.Submit(ctx, intake.ReportSubmission{Mode: "anonymous", ServiceArea: "childrens-services",
			Category: "safeguarding", Summary: "A child left alone", Details: details, Safeguarding: safeguarding, Lang: "en"})
		if err != nil {
			t.Fatal(err)
		}
		return filed.Reference
	}
	urgent := report(true, "Unique phrase kestrel-lantern.")
	routine := report(false, "Another unique phrase heron-anchor.")
	bag := &mailbag{}
	if _, err := notify.Deliver(ctx, k.Store, bag, "https://whistle.example.gov.uk"); err != nil {
		t.Fatal(err)
	}
	if len(bag.sent) == 0 {
		t.Fatal("no e-mail for a safeguarding report")
	}
	for _, m := range bag.sent {
		if !strings.Contains(m.Subject, urgent) || strings.Contains(m.Subject+m.Body, routine) {
			t.Errorf("sent %q: want only the safeguarding report %s now", m.Subject, urgent)
		}
		if strings.Contains(m.Body, "kestrel-lantern") || strings.Contains(m.Body, "A child left alone") {
			t.Errorf("e-mail carries the concern's content:\n%s", m.Body)
		}
	}
	var waiting int
	if err := k.DB.Get(&waiting, `SELECT count(*) FROM notifications n JOIN concerns c ON c.id = n.concern_id
		WHERE c.reference = $1 AND n.sent_at IS NULL AND n.not_before > now()`, routine); err != nil || waiting == 0 {
		t.Fatalf("the ordinary report's e-mails: %d waiting for the hour (%v), want some", waiting, err)
	}
}
