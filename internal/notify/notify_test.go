package notify_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"candour/internal/dbtest"
	"candour/internal/intake"
	"candour/internal/intaketest"
	"candour/internal/mailtest"
	"candour/internal/notify"
	"candour/internal/publicid"
	"candour/internal/store"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// quiet is a logger for runs whose log lines the test does not read.
var quiet = slog.New(slog.DiscardHandler)

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
	pki := mailtest.NewPKI(t)
	srv := mailtest.Start(t, pki, mailtest.STARTTLS)
	mailer := notify.SMTP{Addr: srv.Addr, From: "candour@enghraifft.example", RootCAs: caPool(t, pki)}

	// Two job runners at once, as with two portal instances: each message goes out once.
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := notify.Deliver(ctx, st, mailer, "https://whistle.example.gov.uk", "", notify.Openers{}, quiet); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if _, err := notify.Deliver(ctx, st, mailer, "https://whistle.example.gov.uk", "", notify.Openers{}, quiet); err != nil {
		t.Fatal(err)
	}
	got := srv.Messages()
	if len(got) != 2 {
		t.Fatalf("got %d messages, want 2", len(got))
	}
	for _, m := range got {
		if !m.TLS {
			t.Errorf("message to %s went in clear", m.To)
		}
		if !strings.Contains(m.Data, "C-ABCD-EFGH") || !strings.Contains(m.Data, "https://whistle.example.gov.uk/staff/concerns/"+concern.Public+"\r\n") ||
			!strings.Contains(m.Data, "Mewngofnodwch") {
			t.Errorf("message lacks reference, link or Welsh:\n%s", m.Data)
		}
	}
	var pending int
	db.Get(&pending, `SELECT count(*) FROM notifications WHERE sent_at IS NULL`)
	if pending != 0 {
		t.Errorf("got %d unsent, want 0", pending)
	}
}

// cancelAfterSend is a portal told to stop just after its mailer handed one e-mail over.
type cancelAfterSend struct {
	notify.Mailer
	cancel context.CancelFunc
}

func (m cancelAfterSend) Send(ctx context.Context, msg notify.Message) error {
	defer m.cancel()
	return m.Mailer.Send(ctx, msg)
}

// A portal stopping in the middle of a batch keeps the mark of what it sent, so the portal
// that carries on sends each e-mail once: before, the shutdown rolled the marks back and the
// batch went out again.
func TestShutdownMidBatchSendsEachOnce(t *testing.T) {
	db := dbtest.New(t)
	st := store.New(db)
	dbtest.SeedConcerns(t, db, 1, time.Now())
	var concern int64
	if err := db.Get(&concern, `SELECT id FROM concerns`); err != nil {
		t.Fatal(err)
	}
	recipients := []string{"elin.rowlands@enghraifft.example", "sioned.parry@enghraifft.example", "gareth.evans@enghraifft.example"}
	for _, to := range recipients {
		n := &store.Notification{Recipient: to, Kind: "routed", Reference: "C-ABCD-EFGH"}
		n.ConcernID.Int64, n.ConcernID.Valid = concern, true
		if err := st.EnqueueNotification(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
	pki := mailtest.NewPKI(t)
	srv := mailtest.Start(t, pki, mailtest.STARTTLS)
	mailer := notify.SMTP{Addr: srv.Addr, From: "candour@enghraifft.example", RootCAs: caPool(t, pki)}

	stopping, cancel := context.WithCancel(context.Background())
	if _, err := notify.Deliver(stopping, st, cancelAfterSend{mailer, cancel}, "https://whistle.example.gov.uk", "", notify.Openers{}, quiet); err != nil {
		t.Fatal(err)
	}
	var sent, tried int
	db.Get(&sent, `SELECT count(*) FROM notifications WHERE sent_at IS NOT NULL`)
	db.Get(&tried, `SELECT count(*) FROM notifications WHERE sent_at IS NULL AND attempts > 0`)
	if len(srv.Messages()) != 1 || sent != 1 || tried != 0 {
		t.Fatalf("after the stop: %d at the server, %d marked sent, %d counted as failed; want 1, 1, 0", len(srv.Messages()), sent, tried)
	}
	if _, err := notify.Deliver(context.Background(), st, mailer, "https://whistle.example.gov.uk", "", notify.Openers{}, quiet); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, m := range srv.Messages() {
		got[m.To]++
	}
	for _, to := range recipients {
		if got[to] != 1 {
			t.Errorf("%s got %d e-mails, want 1 (all: %v)", to, got[to], got)
		}
	}
}

func caPool(t *testing.T, pki *mailtest.PKI) *x509.CertPool {
	t.Helper()
	pool, err := notify.LoadCAs(pki.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	return pool
}

// Each TLS mode against a real server: STARTTLS (with AUTH over it), implicit TLS, and plain
// to a relay on this machine.
func TestSMTPModes(t *testing.T) {
	ctx := context.Background()
	pki := mailtest.NewPKI(t)
	msg := notify.Message{To: "elin.rowlands@enghraifft.example", Subject: "Candour C-ABCD-EFGH", Body: "Sign in to read it."}
	for _, c := range []struct {
		name   string
		mode   mailtest.Mode
		mailer notify.SMTP
		user   string
		tls    bool
	}{
		{"starttls", mailtest.STARTTLS, notify.SMTP{RootCAs: caPool(t, pki)}, "", true},
		{"starttls with auth", mailtest.STARTTLS, notify.SMTP{RootCAs: caPool(t, pki), Username: "relay-user", Password: "relay-secret"}, "relay-user", true},
		{"implicit tls", mailtest.ImplicitTLS, notify.SMTP{TLS: notify.ImplicitTLS, RootCAs: caPool(t, pki)}, "", true},
		{"plain to a local relay", mailtest.PlainOnly, notify.SMTP{TLS: notify.Plain}, "", false},
	} {
		srv := mailtest.Start(t, pki, c.mode)
		c.mailer.Addr, c.mailer.From, c.mailer.Timeout = srv.Addr, "candour@enghraifft.example", 10*time.Second
		if err := c.mailer.Send(ctx, msg); err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		got := srv.Messages()
		if len(got) != 1 || got[0].TLS != c.tls || got[0].User != c.user || got[0].To != msg.To ||
			!strings.Contains(got[0].Data, "Subject: Candour C-ABCD-EFGH") {
			t.Errorf("%s: server got %+v", c.name, got)
		}
	}
}

// What a careless client would get through, refused: a certificate nobody vouches for, a
// server that does not offer STARTTLS, and AUTH over a connection in clear.
func TestSMTPRefusesWhatIsNotSafe(t *testing.T) {
	ctx := context.Background()
	pki := mailtest.NewPKI(t)
	msg := notify.Message{To: "elin.rowlands@enghraifft.example", Subject: "Candour C-ABCD-EFGH", Body: "x"}
	tlsServer := mailtest.Start(t, pki, mailtest.STARTTLS)
	plainServer := mailtest.Start(t, pki, mailtest.PlainOnly)
	other := mailtest.NewPKI(t) // another authority: its roots do not vouch for this server
	for _, c := range []struct {
		name   string
		mailer notify.SMTP
		want   string
	}{
		{"unknown authority", notify.SMTP{Addr: tlsServer.Addr, RootCAs: caPool(t, other)}, "certificate"},
		{"system roots only", notify.SMTP{Addr: tlsServer.Addr}, "certificate"},
		{"implicit tls to a starttls port", notify.SMTP{Addr: tlsServer.Addr, TLS: notify.ImplicitTLS, RootCAs: caPool(t, pki)}, ""},
		{"no starttls offered", notify.SMTP{Addr: plainServer.Addr, RootCAs: caPool(t, pki)}, "does not offer STARTTLS"},
		{"auth in clear", notify.SMTP{Addr: plainServer.Addr, TLS: notify.Plain, Username: "relay-user", Password: "relay-secret"}, "not encrypted"},
	} {
		c.mailer.From, c.mailer.Timeout = "candour@enghraifft.example", 5*time.Second
		err := c.mailer.Send(ctx, msg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want a refusal mentioning %q", c.name, err, c.want)
		}
	}
	if n := len(tlsServer.Messages()) + len(plainServer.Messages()); n != 0 {
		t.Errorf("%d messages got through", n)
	}
}

// A refused e-mail is logged with its id and reason and tried again after a pause that grows;
// after a day of refusals it is marked failed and logged as an error, never dropped in silence.
// When the server takes it, it goes.
func TestFailedSendIsRetriedThenMarkedFailed(t *testing.T) {
	db := dbtest.New(t)
	st := store.New(db)
	ctx := context.Background()
	if err := st.EnqueueNotification(ctx, &store.Notification{Recipient: "a@example.org", Kind: "routed", Reference: "C-AAAA-BBBB"}); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	pki := mailtest.NewPKI(t)
	srv := mailtest.Start(t, pki, mailtest.STARTTLS)
	// A wrong certificate is a delivery failure like any other.
	wrongCA := notify.SMTP{Addr: srv.Addr, From: "x@example.org", RootCAs: caPool(t, mailtest.NewPKI(t)), Timeout: 5 * time.Second}
	if n, err := notify.Deliver(ctx, st, wrongCA, "http://x", "", notify.Openers{}, log); err != nil || n != 0 {
		t.Fatalf("got %d %v, want 0 sent and no error", n, err)
	}
	var id, attempts int
	var lastErr string
	var wait float64
	row := `SELECT id, attempts, last_error, extract(epoch FROM not_before - now()) FROM notifications`
	if err := db.QueryRow(row).Scan(&id, &attempts, &lastErr, &wait); err != nil {
		t.Fatal(err)
	}
	if attempts != 1 || !strings.Contains(lastErr, "certificate") || wait < 50 || wait > 70 {
		t.Errorf("after one refusal: attempts %d, error %q, next try in %.0f s; want 1, the reason, about a minute", attempts, lastErr, wait)
	}
	if !strings.Contains(logs.String(), `"notification":`+strconv.Itoa(id)) || !strings.Contains(logs.String(), "certificate") {
		t.Errorf("the refusal is not logged with the id and reason:\n%s", logs.String())
	}
	// Not due yet: the next run leaves it alone.
	if n, _ := notify.Deliver(ctx, st, wrongCA, "http://x", "", notify.Openers{}, log); n != 0 {
		t.Errorf("retried before its time")
	}
	// The pause doubles: due again, refused again, two minutes.
	db.MustExec(`UPDATE notifications SET not_before = now()`)
	notify.Deliver(ctx, st, wrongCA, "http://x", "", notify.Openers{}, log)
	if err := db.QueryRow(row).Scan(&id, &attempts, &lastErr, &wait); err != nil || attempts != 2 || wait < 110 || wait > 130 {
		t.Errorf("after two refusals: attempts %d, next try in %.0f s (%v); want 2 and about two minutes", attempts, wait, err)
	}
	// Still refused a day on: marked failed, logged as an error, never tried again.
	db.MustExec(`UPDATE notifications SET not_before = now(), created_at = now() - interval '26 hours'`)
	logs.Reset()
	notify.Deliver(ctx, st, wrongCA, "http://x", "", notify.Openers{}, log)
	var failed bool
	db.QueryRow(`SELECT failed_at IS NOT NULL FROM notifications`).Scan(&failed)
	if !failed || !strings.Contains(logs.String(), `"level":"ERROR"`) {
		t.Errorf("after a day: failed %v, log %s; want marked failed and an error line", failed, logs.String())
	}
	if b, err := st.UndeliveredMail(ctx); err != nil || b.Retrying != 0 || b.Failed != 1 {
		t.Errorf("undelivered: %d retrying, %d failed (%v); want 0 and 1", b.Retrying, b.Failed, err)
	}
	good := notify.SMTP{Addr: srv.Addr, From: "x@example.org", RootCAs: caPool(t, pki)}
	db.MustExec(`UPDATE notifications SET not_before = now()`)
	if n, _ := notify.Deliver(ctx, st, good, "http://x", "", notify.Openers{}, log); n != 0 || len(srv.Messages()) != 0 {
		t.Errorf("a failed notification was tried again")
	}
	// A fresh one goes through the good server at once.
	if err := st.EnqueueNotification(ctx, &store.Notification{Recipient: "b@example.org", Kind: "routed", Reference: "C-CCCC-DDDD"}); err != nil {
		t.Fatal(err)
	}
	if n, err := notify.Deliver(ctx, st, good, "http://x", "", notify.Openers{}, log); err != nil || n != 1 || len(srv.Messages()) != 1 {
		t.Errorf("delivery over verified STARTTLS: got %d %v, %d at the server; want 1", n, err, len(srv.Messages()))
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
	if _, err := notify.Deliver(ctx, k.Store, bag, "https://whistle.example.gov.uk", "", notify.Openers{}, quiet); err != nil {
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

// The reporter's reply and evidence reach the people handling the concern as an e-mail that
// says only that they wrote, once an hour however often they write, at the next hour (a
// safeguarding concern's at once), over STARTTLS to a real server.
func TestReporterRepliesReachHandlers(t *testing.T) {
	ctx := context.Background()
	k := intaketest.New(t, intaketest.Options{})
	file := func(safeguarding bool) string {
		filed, err := k.Intake.Submit(ctx, intake.ReportSubmission{Mode: "anonymous", ServiceArea: "childrens-services",
			Category: "safeguarding", Summary: "A child left alone", Details: "Seen twice.", Safeguarding: safeguarding, Lang: "en"})
		if err != nil {
			t.Fatal(err)
		}
		return filed.Reference
	}
	routine, urgent := file(false), file(true)
	for _, ref := range []string{routine, urgent} {
		for _, body := range []string{"Unique phrase larch-compass.", "And again, magpie-harbour."} {
			if err := k.Intake.Reply(ctx, ref, body, true); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := k.Intake.AddAttachment(ctx, ref, "reporter", "rota.csv", strings.NewReader("a,b\n")); err != nil {
			t.Fatal(err)
		}
	}
	type row struct {
		Recipient, Kind, Reference string
		Later                      bool `db:"later"`
	}
	var rows []row
	if err := k.DB.Select(&rows, `SELECT recipient, kind, reference, not_before > now() AS later FROM notifications
		WHERE kind IN ('reply', 'evidence') ORDER BY reference, kind, recipient`); err != nil {
		t.Fatal(err)
	}
	per := map[string]int{}
	for _, r := range rows {
		per[r.Reference+" "+r.Kind+" "+r.Recipient]++
		if r.Later != (r.Reference == routine) {
			t.Errorf("%s %s to %s: held to the next hour %v; want held only for the routine concern", r.Reference, r.Kind, r.Recipient, r.Later)
		}
	}
	for key, n := range per {
		if n != 1 {
			t.Errorf("%s: %d e-mails, want one however often the reporter writes", key, n)
		}
	}
	for _, want := range []string{urgent + " reply safeguarding@enghraifft.example", urgent + " evidence safeguarding@enghraifft.example",
		routine + " reply"} {
		found := false
		for key := range per {
			found = found || strings.HasPrefix(key, want)
		}
		if !found {
			t.Errorf("no e-mail %q among %v", want, per)
		}
	}

	pki := mailtest.NewPKI(t)
	srv := mailtest.Start(t, pki, mailtest.STARTTLS)
	mailer := notify.SMTP{Addr: srv.Addr, From: "candour@enghraifft.example", RootCAs: caPool(t, pki)}
	if _, err := notify.Deliver(ctx, k.Store, mailer, "https://whistle.example.gov.uk", "", notify.Openers{}, quiet); err != nil {
		t.Fatal(err)
	}
	var replies int
	for _, m := range srv.Messages() {
		if strings.Contains(m.Data, "larch-compass") || strings.Contains(m.Data, "magpie-harbour") || strings.Contains(m.Data, "rota.csv") {
			t.Errorf("an e-mail carries what the reporter wrote:\n%s", m.Data)
		}
		if strings.Contains(m.Data, "The reporter has written on concern "+urgent) {
			replies++
		}
		if strings.Contains(m.Data, routine) {
			t.Errorf("the routine concern's e-mail went before its hour")
		}
	}
	if replies == 0 {
		t.Errorf("no reply e-mail for the safeguarding concern at the mail server")
	}
}

// fileWithNotice files an open report with an address for notices and has a member of staff
// write to the reporter two hours ago, so the notice is due; it returns the concern's serial.
func fileWithNotice(t *testing.T, k *intaketest.Kit, address string) int64 {
	t.Helper()
	ctx := context.Background()
	filed, err := k.Intake.Submit(ctx, intake.ReportSubmission{Mode: "open", ServiceArea: "finance", Category: "fraud",
		Summary: "Invoices split", Details: "Twice a month.", Identity: &intake.Identity{Name: "Wren Hollis"}, Lang: "en",
		NoticeEmail: address})
	if err != nil {
		t.Fatal(err)
	}
	c, err := k.Store.ConcernByReference(ctx, filed.Reference)
	if err != nil {
		t.Fatal(err)
	}
	m := &store.Message{ID: publicid.New(), ConcernID: c.Serial, Author: "staff", Body: []byte("sealed"), CreatedAt: time.Now().Add(-2 * time.Hour).Truncate(time.Hour)}
	if err := k.Store.InsertMessage(ctx, m); err != nil {
		t.Fatal(err)
	}
	return c.Serial
}

// A notice whose concern was shredded before it went has no address left: it is dropped, logged
// by id, never sent and never tried again, while a notice for a concern still kept goes.
func TestReporterNoticeAfterShredIsDropped(t *testing.T) {
	ctx := context.Background()
	k := intaketest.New(t, intaketest.Options{})
	k.AddCustodian(t)
	kept := fileWithNotice(t, k, "kept.reporter@example.org")
	shredded := fileWithNotice(t, k, "gone.reporter@example.org")
	k.DB.MustExec(`UPDATE concerns SET status = 'closed', closed_at = now() - interval '8 years' WHERE id = $1`, shredded)
	if ok, err := k.Store.Shred(ctx, shredded, time.Now()); err != nil || !ok {
		t.Fatalf("shred: %v %v", ok, err)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	pki := mailtest.NewPKI(t)
	srv := mailtest.Start(t, pki, mailtest.STARTTLS)
	mailer := notify.SMTP{Addr: srv.Addr, From: "candour@enghraifft.example", RootCAs: caPool(t, pki)}
	for range 2 {
		if _, err := notify.Deliver(ctx, k.Store, mailer, "https://whistle.example.gov.uk", "", notify.Openers{Address: k.Intake.NoticeAddress}, log); err != nil {
			t.Fatal(err)
		}
	}
	got := srv.Messages()
	if len(got) != 1 || got[0].To != "kept.reporter@example.org" {
		t.Errorf("got %+v, want one e-mail, to the reporter whose concern is kept", got)
	}
	var left []string
	if err := k.DB.Select(&left, `SELECT CASE WHEN concern_id = $1 THEN 'kept' ELSE 'shredded' END || ' sent ' || (sent_at IS NOT NULL)
		FROM notifications WHERE kind = 'reporter_new_message'`, kept); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(left, []string{"kept sent true"}) {
		t.Errorf("notices left: %v, want the kept one, sent, and the shredded one gone", left)
	}
	if strings.Count(logs.String(), "shredded") != 1 || strings.Contains(logs.String(), "gone.reporter") {
		t.Errorf("want one log line saying the notice was dropped for shredding, without the address:\n%s", logs.String())
	}
	var notices int
	k.DB.Get(&notices, `SELECT count(*) FROM reporter_notices WHERE concern_id = $1`, shredded)
	if notices != 0 {
		t.Errorf("the shredded concern still has its sealed address")
	}
}

// refusing is a mail server that refuses every recipient, quoting the address as many do.
type refusing struct{}

func (refusing) Send(_ context.Context, m notify.Message) error {
	return errors.New("notify: RCPT TO: 550 5.1.1 <" + strings.ToUpper(m.To) + ">: Recipient address rejected")
}

// A refusal that quotes a reporter's address is logged and stored without it.
func TestReporterAddressNotInRefusal(t *testing.T) {
	ctx := context.Background()
	k := intaketest.New(t, intaketest.Options{})
	k.AddCustodian(t)
	fileWithNotice(t, k, "wren.hollis@example.org")
	var logs bytes.Buffer
	if _, err := notify.Deliver(ctx, k.Store, refusing{}, "http://x", "", notify.Openers{Address: k.Intake.NoticeAddress}, slog.New(slog.NewJSONHandler(&logs, nil))); err != nil {
		t.Fatal(err)
	}
	var lastErr string
	if err := k.DB.Get(&lastErr, `SELECT last_error FROM notifications WHERE kind = 'reporter_new_message'`); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(lastErr, "Recipient address rejected") || !strings.Contains(logs.String(), "Recipient address rejected") {
		t.Fatalf("the refusal is not recorded: %q, log %s", lastErr, logs.String())
	}
	for _, where := range []string{lastErr, logs.String()} {
		if strings.Contains(strings.ToLower(where), "wren.hollis") {
			t.Errorf("the refusal keeps the reporter's address: %s", where)
		}
	}
}
