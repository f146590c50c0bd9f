package intake_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/jmoiron/sqlx"

	"candour/internal/dbtest"
	"candour/internal/fault"
	"candour/internal/intake"
	"candour/internal/intaketest"
	"candour/internal/receipt"
	"candour/internal/seal"
	"candour/internal/store"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

type fixture struct {
	svc       *intake.Service
	db        *sqlx.DB
	st        *store.Store
	key       *seal.ServerKey
	custodian *age.X25519Identity
}

func newFixture(t *testing.T, withCustodian bool) *fixture {
	t.Helper()
	return newFixtureWith(t, withCustodian, intaketest.Options{})
}

func newFixtureWith(t *testing.T, withCustodian bool, o intaketest.Options) *fixture {
	t.Helper()
	k := intaketest.New(t, o)
	f := &fixture{svc: k.Intake, db: k.DB, st: k.Store, key: k.ServerKey}
	if withCustodian {
		f.custodian = k.AddCustodian(t)
	}
	return f
}

func report(mode string) intake.ReportSubmission {
	r := intake.ReportSubmission{Mode: mode, ServiceArea: "childrens-services", Category: "misconduct",
		Summary: "Caseloads hidden from inspectors", Details: "The team leader told us to move cases off the system before the inspection.",
		NamedPeople: []string{"A. Manager"}, Lang: "en"}
	if mode != "anonymous" {
		r.Identity = &intake.Identity{Name: "Gwen Whistleblower", Email: "gwen@example.org", Role: "social worker"}
	}
	return r
}

func TestSubmitEachMode(t *testing.T) {
	f := newFixture(t, true)
	ctx := context.Background()
	for _, mode := range intake.Modes {
		t.Run(mode, func(t *testing.T) {
			filed, err := f.svc.Submit(ctx, report(mode))
			if err != nil {
				t.Fatal(err)
			}
			if filed.Status != "received" || filed.Decision.Rule == "" || !strings.HasPrefix(filed.Reference, "C-") {
				t.Fatalf("got %+v, want a received, routed concern", filed)
			}
			if n, ok := receipt.Normalize(filed.Receipt); !ok || len(n) != receipt.Length {
				t.Fatalf("receipt %q does not normalize", filed.Receipt)
			}
			if !filed.AcknowledgeBy.After(filed.ReceivedAt) || !filed.FeedbackBy.After(filed.AcknowledgeBy) {
				t.Errorf("clocks: received %v ack %v feedback %v", filed.ReceivedAt, filed.AcknowledgeBy, filed.FeedbackBy)
			}
			c, err := f.st.ConcernByReference(ctx, filed.Reference)
			if err != nil {
				t.Fatal(err)
			}
			// The route holder is told once the notifier has run: reference and dedupe key only.
			if _, err := f.st.ExpandRoutedOutbox(ctx, 100); err != nil {
				t.Fatal(err)
			}
			var keys []string
			if err := f.db.Select(&keys, `SELECT dedupe_key FROM notifications WHERE concern_id = $1`, c.Serial); err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf("routed:%d:elin.rowlands@enghraifft.example", c.Serial); len(keys) != 1 || keys[0] != want {
				t.Errorf("notifications: got %v, want [%s]", keys, want)
			}
			switch mode {
			case "anonymous":
				if c.IdentitySealed != nil || c.IdentityOpen != nil {
					t.Errorf("anonymous concern stores an identity")
				}
			default:
				r, err := age.Decrypt(bytes.NewReader(c.IdentitySealed), f.custodian)
				if err != nil {
					t.Fatalf("custodian cannot open the sealed identity: %v", err)
				}
				var id intake.Identity
				b, _ := io.ReadAll(r)
				if err := json.Unmarshal(b, &id); err != nil || id.Name != "Gwen Whistleblower" {
					t.Errorf("got identity %+v (%v), want Gwen Whistleblower", id, err)
				}
				other, _ := age.GenerateX25519Identity()
				if _, err := age.Decrypt(bytes.NewReader(c.IdentitySealed), other); err == nil {
					t.Errorf("another key opened the sealed identity")
				}
				if (c.IdentityOpen != nil) != (mode == "open") {
					t.Errorf("identity_open present = %v, want %v", c.IdentityOpen != nil, mode == "open")
				}
			}
		})
	}
}

// Reports filed at the same moment share one INSERT. Each receipt must still open its own
// concern, holding its own words and sealed identity: a mix-up inside a batch would hand one
// reporter's case to another.
func TestConcurrentReportsEachOpenTheirOwn(t *testing.T) {
	f := newFixture(t, true)
	k := f.svc
	ctx := context.Background()
	const reporters = 120
	type result struct {
		i     int
		filed *intake.Filed
		err   error
	}
	results := make(chan result, reporters)
	var wg sync.WaitGroup
	for i := range reporters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := report(intake.Modes[i%len(intake.Modes)])
			r.Details = fmt.Sprintf("Reporter %d saw it happen.", i)
			if r.Identity != nil {
				r.Identity.Name = fmt.Sprintf("Reporter %d", i)
			}
			filed, err := k.Submit(ctx, r)
			results <- result{i, filed, err}
		}()
	}
	wg.Wait()
	close(results)
	refs := map[string]bool{}
	for res := range results {
		if res.err != nil {
			t.Fatalf("reporter %d: %v", res.i, res.err)
		}
		if refs[res.filed.Reference] {
			t.Fatalf("reference %s given twice", res.filed.Reference)
		}
		refs[res.filed.Reference] = true
		tok, err := k.OpenMailbox(ctx, res.filed.Receipt, 1)
		if err != nil {
			t.Fatalf("reporter %d: receipt does not open: %v", res.i, err)
		}
		if ref, err := k.MailboxReference(ctx, tok); err != nil || ref != res.filed.Reference {
			t.Fatalf("reporter %d: receipt opens %q (%v), want their own %q", res.i, ref, err, res.filed.Reference)
		}
		c, err := f.st.ConcernByReference(ctx, res.filed.Reference)
		if err != nil {
			t.Fatal(err)
		}
		dk, err := f.key.UnwrapDataKey(c.WrappedKey)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := dk.Open(intake.ConcernPlace("concerns", c.ID, "content"), c.Content)
		if want := fmt.Sprintf("Reporter %d saw it happen.", res.i); err != nil || !strings.Contains(string(plain.Plain), want) || plain.Unbound {
			t.Fatalf("reporter %d: concern holds %q (unbound %v, %v), want their own words, bound", res.i, plain.Plain, plain.Unbound, err)
		}
		if c.IdentitySealed != nil {
			r, err := age.Decrypt(bytes.NewReader(c.IdentitySealed), f.custodian)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(r)
			if want := fmt.Sprintf(`"Reporter %d"`, res.i); !strings.Contains(string(b), want) {
				t.Fatalf("reporter %d: sealed identity is %s", res.i, b)
			}
		}
	}
}

func TestConfidentialNeedsACustodian(t *testing.T) {
	f := newFixture(t, false)
	_, err := f.svc.Submit(context.Background(), report("confidential"))
	fe, ok := fault.As(err)
	if !ok || fe.Kind != fault.Invalid || fe.Fields["mode"] != "identity.no_custodians" {
		t.Fatalf("got %v, want a mode field error saying no custodians", err)
	}
	if _, err := f.svc.Submit(context.Background(), report("anonymous")); err != nil {
		t.Fatalf("anonymous without custodians: got %v, want it filed", err)
	}
}

func TestValidation(t *testing.T) {
	f := newFixture(t, true)
	long := strings.Repeat("x", intake.MaxSummary+1)
	cases := []struct {
		name  string
		edit  func(r *intake.ReportSubmission)
		field string
		key   string
	}{
		{"no mode", func(r *intake.ReportSubmission) { r.Mode = "" }, "mode", "field.choice"},
		{"unknown area", func(r *intake.ReportSubmission) { r.ServiceArea = "moon-base" }, "service_area", "field.choice"},
		{"unknown category", func(r *intake.ReportSubmission) { r.Category = "gossip" }, "category", "field.choice"},
		{"empty summary", func(r *intake.ReportSubmission) { r.Summary = "  " }, "summary", "field.required"},
		{"long summary", func(r *intake.ReportSubmission) { r.Summary = long }, "summary", "field.too_long"},
		{"summary with newline", func(r *intake.ReportSubmission) { r.Summary = "a\nb" }, "summary", "field.control"},
		{"bad utf8", func(r *intake.ReportSubmission) { r.Details = "ok \xff" }, "details", "field.encoding"},
		{"long details", func(r *intake.ReportSubmission) { r.Details = strings.Repeat("ŵ", intake.MaxDetails+1) }, "details", "field.too_long"},
		{"too many names", func(r *intake.ReportSubmission) { r.NamedPeople = make([]string, 21) }, "named_people", "field.too_many"},
		{"identity when anonymous", func(r *intake.ReportSubmission) { r.Identity = &intake.Identity{Name: "x"} }, "identity", "identity.refused_anonymous"},
		{"bad language", func(r *intake.ReportSubmission) { r.Lang = "fr" }, "lang", "field.choice"},
	}
	for _, tc := range cases {
		r := report("anonymous")
		tc.edit(&r)
		_, err := f.svc.Submit(context.Background(), r)
		fe, ok := fault.As(err)
		if !ok || fe.Fields[tc.field] != tc.key {
			t.Errorf("%s: got %v (%v), want %s=%s", tc.name, err, fe, tc.field, tc.key)
		}
	}
	r := report("open")
	r.Identity.Email = "not an email"
	_, err := f.svc.Submit(context.Background(), r)
	if fe, ok := fault.As(err); !ok || fe.Fields["identity.email"] != "field.email" {
		t.Errorf("bad email: got %v, want identity.email=field.email", err)
	}
	var n int
	if err := f.db.Get(&n, `SELECT count(*) FROM concerns`); err != nil || n != 0 {
		t.Errorf("got %d concerns after only invalid submissions, want 0", n)
	}
}

func TestMailboxConversation(t *testing.T) {
	f := newFixture(t, true)
	ctx := context.Background()
	filed, err := f.svc.Submit(ctx, report("anonymous"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.OpenMailbox(ctx, "K7QM-2XWP-TRHD-9CFA-NBEZ", 1); !fault.Is(err, fault.Unauthorized) {
		t.Fatalf("wrong receipt: got %v, want Unauthorized", err)
	}
	if _, err := f.svc.OpenMailbox(ctx, "nonsense", 1); !fault.Is(err, fault.Unauthorized) {
		t.Fatalf("malformed receipt: got %v, want Unauthorized", err)
	}
	// The reporter types it back in lower case with spaces: it still opens.
	typed := strings.ToLower(strings.ReplaceAll(filed.Receipt, "-", " "))
	tok, err := f.svc.OpenMailbox(ctx, typed, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := f.svc.MailboxReference(ctx, tok)
	if err != nil || ref != filed.Reference {
		t.Fatalf("got %q %v, want %q", ref, err, filed.Reference)
	}
	if err := f.svc.Reply(ctx, ref, "March, before the inspection.", false); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Reply(ctx, ref, "My rota was changed after I reported.", true); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Reply(ctx, ref, "", false); !fault.Is(err, fault.Invalid) {
		t.Errorf("empty reply: got %v, want Invalid", err)
	}
	evidence := bytes.Repeat([]byte("caseload spreadsheet "), 20000)
	att, err := f.svc.AddAttachment(ctx, ref, "reporter", "../../etc/passwd\x00\u202e.xlsx", bytes.NewReader(evidence))
	if err != nil {
		t.Fatal(err)
	}
	if att.Name != "../../etc/passwd.xlsx" || att.Size != int64(len(evidence)) {
		t.Errorf("got %q size %d, want harmless display name and %d bytes", att.Name, att.Size, len(evidence))
	}
	m, err := f.svc.Mailbox(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Messages) != 2 || m.Messages[0].From != "you" || m.Messages[0].Detriment || !m.Messages[1].Detriment {
		t.Fatalf("got messages %+v, want a reply, then a detriment report (council messages are casework's, tested there)", m.Messages)
	}
	if m.Summary != "Caseloads hidden from inspectors" || len(m.Attachments) != 1 {
		t.Fatalf("got %+v", m)
	}
	name, size, r, err := f.svc.OpenAttachment(ctx, ref, att.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, evidence) || size != int64(len(evidence)) || name != att.Name {
		t.Fatalf("attachment round trip: got %d bytes (%v), want %d", len(got), err, len(evidence))
	}
}

type failingReader struct {
	n   int
	err error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, r.err
	}
	k := min(len(p), r.n)
	for i := range p[:k] {
		p[i] = 'x'
	}
	r.n -= k
	return k, nil
}

func countLeftovers(t *testing.T, db *sqlx.DB) (blobs, chunks, atts int) {
	t.Helper()
	if err := db.QueryRow(`SELECT (SELECT count(*) FROM blobs), (SELECT count(*) FROM blob_chunks), (SELECT count(*) FROM attachments)`).Scan(&blobs, &chunks, &atts); err != nil {
		t.Fatal(err)
	}
	return
}

func TestInterruptedUploadLeavesNothing(t *testing.T) {
	t.Run("postgres", func(t *testing.T) { interruptedUploadLeavesNothing(t, "") })
	t.Run("files", func(t *testing.T) { interruptedUploadLeavesNothing(t, t.TempDir()) })
}

func interruptedUploadLeavesNothing(t *testing.T, blobDir string) {
	f := newFixtureWith(t, true, intaketest.Options{BlobDir: blobDir})
	ctx := context.Background()
	filed, err := f.svc.Submit(ctx, report("anonymous"))
	if err != nil {
		t.Fatal(err)
	}
	// The connection drops after 3 MiB (three chunks already written in the transaction).
	cut := errors.New("connection reset")
	if _, err := f.svc.AddAttachment(ctx, filed.Reference, "reporter", "big.pdf", &failingReader{n: 3 << 20, err: cut}); !errors.Is(err, cut) {
		t.Fatalf("got %v, want the read error", err)
	}
	// A truncated multipart body ends in io.ErrUnexpectedEOF: an error, never a short file.
	if _, err := f.svc.AddAttachment(ctx, filed.Reference, "reporter", "cut.pdf", &failingReader{n: 2<<20 + 5, err: io.ErrUnexpectedEOF}); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("got %v, want io.ErrUnexpectedEOF", err)
	}
	// Over the limit: refused, nothing kept.
	if _, err := f.svc.AddAttachment(ctx, filed.Reference, "reporter", "huge.bin", &failingReader{n: 9 << 20, err: io.EOF}); !fault.Is(err, fault.TooLarge) {
		t.Fatalf("got %v, want TooLarge", err)
	}
	// The request's context is cancelled mid-upload (client gone, server shutting down).
	cctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	go func() {
		pw.Write(bytes.Repeat([]byte("y"), 1<<20+10))
		cancel()
		time.Sleep(50 * time.Millisecond)
		pw.CloseWithError(context.Canceled)
	}()
	if _, err := f.svc.AddAttachment(cctx, filed.Reference, "reporter", "c.bin", pr); err == nil {
		t.Fatal("cancelled upload succeeded")
	}
	if b, c, a := countLeftovers(t, f.db); b+c+a != 0 {
		t.Fatalf("got %d blobs, %d chunks, %d attachments after failed uploads, want none", b, c, a)
	}
	// A failed upload removes its own file at once; the sweep is for killed processes.
	if blobDir != "" {
		var left []string
		filepath.WalkDir(blobDir, func(path string, d os.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				left = append(left, path)
			}
			return nil
		})
		if len(left) != 0 {
			t.Errorf("files left after failed uploads: %v", left)
		}
	}
}

// Nothing stored about a report says more precisely than the hour when it was filed: not the
// received time, not the deadlines counted from it, not the e-mail telling its route holders.
func TestNoExactFilingTime(t *testing.T) {
	filedAt := time.Date(2026, 3, 4, 14, 23, 41, 123456789, time.UTC)
	k := intaketest.New(t, intaketest.Options{Now: func() time.Time { return filedAt }})
	filed, err := k.Intake.Submit(context.Background(), report("anonymous"))
	if err != nil {
		t.Fatal(err)
	}
	var stamps []time.Time
	if err := k.DB.Select(&stamps, `SELECT received_at FROM concerns UNION ALL SELECT acknowledge_by FROM concerns
		UNION ALL SELECT feedback_by FROM concerns UNION ALL SELECT next_deadline FROM concerns
		UNION ALL SELECT created_at FROM notifications`); err != nil {
		t.Fatal(err)
	}
	for _, ts := range append(stamps, filed.ReceivedAt, filed.AcknowledgeBy, filed.FeedbackBy) {
		if ts.Minute() != 0 || ts.Second() != 0 || ts.Nanosecond() != 0 {
			t.Errorf("stored time %v is more precise than the hour", ts)
		}
	}
}

// Each upload holds a database connection until its file has arrived. Past MaxUploads at once,
// the next is turned away at once (nothing stored) instead of taking the pool from everyone
// else; once one finishes, uploads go through again.
func TestSlowUploadsCannotTakeThePool(t *testing.T) {
	f := newFixture(t, false)
	ctx := context.Background()
	// One concern each: a concern holds at most MaxUploadsPerMailbox slots.
	refs := make([]string, intake.MaxUploads+1)
	for i := range refs {
		filed, err := f.svc.Submit(ctx, report("anonymous"))
		if err != nil {
			t.Fatal(err)
		}
		refs[i] = filed.Reference
	}
	writers := make([]*io.PipeWriter, intake.MaxUploads)
	errs := make(chan error, intake.MaxUploads)
	for i := range writers {
		pr, pw := io.Pipe()
		writers[i] = pw
		go func() {
			_, err := f.svc.AddAttachment(ctx, refs[i], "reporter", "slow.pdf", pr)
			errs <- err
		}()
		pw.Write([]byte("%PDF")) // the upload is under way: it holds its slot
	}
	filed := struct{ Reference string }{refs[intake.MaxUploads]}
	var err error
	_, err = f.svc.AddAttachment(ctx, filed.Reference, "reporter", "one-too-many.pdf", strings.NewReader("x"))
	if !fault.Is(err, fault.Unavailable) {
		t.Fatalf("upload past the limit: got %v, want Unavailable", err)
	}
	// Meanwhile a report still files: the pool is not exhausted.
	if _, err := f.svc.Submit(ctx, report("anonymous")); err != nil {
		t.Fatalf("filing while uploads hold their connections: %v", err)
	}
	writers[0].Close()
	if err := <-errs; err != nil {
		t.Fatalf("slow upload: %v", err)
	}
	if _, err := f.svc.AddAttachment(ctx, filed.Reference, "reporter", "next.pdf", strings.NewReader("x")); err != nil {
		t.Fatalf("after one finished: %v", err)
	}
	for _, w := range writers[1:] {
		w.Close()
	}
	for range writers[1:] {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := f.db.Get(&n, `SELECT count(*) FROM attachments`); err != nil || n != intake.MaxUploads+1 {
		t.Fatalf("attachments stored: %d (%v), want %d", n, err, intake.MaxUploads+1)
	}
}

// The notice address is sealed under the concern's data key, opens only as an address, and
// cannot be passed off by moving another of the concern's ciphertexts into its place.
func TestNoticeAddressSealed(t *testing.T) {
	f := newFixture(t, true)
	ctx := context.Background()
	r := report("open")
	r.NoticeEmail = "wren.hollis@example.org"
	filed, err := f.svc.Submit(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	var row struct {
		ID       string `db:"public_id"`
		Wrapped  []byte `db:"wrapped_key"`
		Address  []byte `db:"address"`
		Identity []byte `db:"identity_open"`
	}
	if err := f.db.Get(&row, `SELECT c.public_id, c.wrapped_key, n.address, c.identity_open FROM concerns c
		JOIN reporter_notices n ON n.concern_id = c.id WHERE c.reference = $1`, filed.Reference); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(row.Address, []byte("wren.hollis")) {
		t.Fatalf("the address is stored in clear")
	}
	if got, err := f.svc.NoticeAddress(row.ID, row.Wrapped, row.Address); err != nil || got != r.NoticeEmail {
		t.Errorf("got %q %v, want %q", got, err, r.NoticeEmail)
	}
	if got, err := f.svc.NoticeAddress(row.ID, row.Wrapped, row.Identity); err == nil || strings.Contains(err.Error(), "Gwen") {
		t.Errorf("the open identity passed off as the address: got %q %v, want a refusal that does not quote it", got, err)
	}
	// Without an address, nothing is kept.
	anon, err := f.svc.Submit(ctx, report("anonymous"))
	if err != nil {
		t.Fatal(err)
	}
	var n int
	f.db.Get(&n, `SELECT count(*) FROM reporter_notices n JOIN concerns c ON c.id = n.concern_id WHERE c.reference = $1`, anon.Reference)
	if n != 0 {
		t.Errorf("an anonymous report has a notice row")
	}
}

// The attack: whoever can write a users row adds a custodian holding their own key, hoping
// later identities are sealed to it too. Identities go to exactly the custodians pinned in the
// policy; the development custodian only while none is pinned, and never after.
func TestIdentitySealedToThePinnedSetOnly(t *testing.T) {
	ctx := context.Background()
	k := intaketest.New(t, intaketest.Options{})
	key := func() (*age.X25519Identity, string) {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			t.Fatal(err)
		}
		return id, id.Recipient().String()
	}
	rogue, rogueR := key()
	if err := k.Store.InsertUser(ctx, &store.User{Email: "rogue@example.gov.uk", Name: "Rogue", Roles: []string{"custodian"},
		AgeRecipient: &rogueR, Language: "en"}); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Intake.Submit(ctx, report("confidential")); !fault.Is(err, fault.Invalid) {
		t.Fatalf("nothing pinned, a custodian only in the database: got %v, want no_custodians", err)
	}

	dev, devR := key()
	svc := intake.New(intake.Deps{Store: k.Store, Policy: k.PolicyFunc(), ServerKey: k.ServerKey, Receipts: k.Names,
		Throttle: receipt.NewThrottle(600, 600, 50), Tokens: k.Tokens, MaxAttachment: 1 << 20, DevCustodian: devR})
	sealedTo := func() ([]string, []byte) {
		t.Helper()
		filed, err := svc.Submit(ctx, report("confidential"))
		if err != nil {
			t.Fatal(err)
		}
		c, err := k.Store.ConcernByReference(ctx, filed.Reference)
		if err != nil {
			t.Fatal(err)
		}
		return c.IdentityRecipients, c.IdentitySealed
	}
	opens := func(sealed []byte, id age.Identity) bool {
		r, err := age.Decrypt(bytes.NewReader(sealed), id)
		if err != nil {
			return false
		}
		_, err = io.ReadAll(r)
		return err == nil
	}
	rs, sealed := sealedTo()
	if len(rs) != 1 || rs[0] != devR || !opens(sealed, dev) || opens(sealed, rogue) {
		t.Errorf("nothing pinned: sealed to %v, want the development custodian alone", rs)
	}

	pinned := k.AddCustodian(t)
	rs, sealed = sealedTo()
	if len(rs) != 1 || rs[0] != pinned.Recipient().String() || !opens(sealed, pinned) || opens(sealed, dev) || opens(sealed, rogue) {
		t.Errorf("a custodian pinned: sealed to %v, want exactly the pinned custodian", rs)
	}
}

// The attack: one guesser hammers the receipt form with random receipts, from many
// connections. With the portal's limits, a reporter opening their own mailbox from their own
// connection still gets in, and the guesser's own connection is told to wait.
func TestGuessingReceiptsLocksNobodyElseOut(t *testing.T) {
	ctx := context.Background()
	k := intaketest.New(t, intaketest.Options{})
	svc := intake.New(intake.Deps{Store: k.Store, Policy: k.PolicyFunc(), ServerKey: k.ServerKey, Receipts: k.Names,
		Throttle: receipt.NewThrottle(2, 10, 10), Tokens: k.Tokens, MaxAttachment: 1 << 20})
	filed, err := svc.Submit(ctx, report("anonymous"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		g, err := receipt.New()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.OpenMailbox(ctx, g, uint64(1000+i/10)); !fault.Is(err, fault.Unauthorized) {
			t.Fatalf("guess %d: got %v, want the one answer for a wrong receipt", i, err)
		}
	}
	if _, err := svc.OpenMailbox(ctx, filed.Receipt, 1); err != nil {
		t.Errorf("after 300 guesses, the reporter's own receipt: %v", err)
	}
	for range 10 {
		svc.OpenMailbox(ctx, "nonsense", 2)
	}
	if _, err := svc.OpenMailbox(ctx, filed.Receipt, 2); !fault.Is(err, fault.TooMany) {
		t.Errorf("a connection that just failed 10 times: got %v, want 429 too_many_attempts", err)
	}
}

// One mailbox cannot fill the store for everyone: a concern's evidence is capped in total size
// and in number, an upload past either is refused whole (nothing stored), and two uploads at
// once cannot both slip under the quota.
func TestMailboxQuota(t *testing.T) {
	ctx := context.Background()
	k := intaketest.New(t, intaketest.Options{})
	svc := intake.New(intake.Deps{Store: k.Store, Policy: k.PolicyFunc(), ServerKey: k.ServerKey, Receipts: k.Names,
		Throttle: receipt.NewThrottle(600, 600, 50), Tokens: k.Tokens, MaxAttachment: 1000, MailboxQuota: 2500})
	filed, err := svc.Submit(ctx, report("anonymous"))
	if err != nil {
		t.Fatal(err)
	}
	add := func(n int) error {
		_, err := svc.AddAttachment(ctx, filed.Reference, "reporter", "rota.csv", bytes.NewReader(make([]byte, n)))
		return err
	}
	if err := add(1001); !fault.Is(err, fault.TooLarge) {
		t.Fatalf("a file over the per-file limit: got %v, want too large", err)
	}
	// Two 1,000-byte uploads at once with 2,500 bytes of room: both fit. Then 500 is left.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = add(1000) }()
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("two uploads within the quota: %v", errs)
	}
	var fe *fault.Error
	if err := add(600); !errors.As(err, &fe) || fe.Code != "mailbox_full" {
		t.Fatalf("an upload past the quota: got %v, want mailbox_full", err)
	}
	if err := add(500); err != nil {
		t.Fatalf("an upload that exactly fills the quota: %v", err)
	}
	var files int
	var total int64
	if err := k.DB.QueryRow(`SELECT count(*), sum(size) FROM attachments`).Scan(&files, &total); err != nil || files != 3 || total != 2500 {
		t.Errorf("stored %d files, %d bytes (%v); want 3 and 2,500: nothing of a refused upload", files, total, err)
	}
}
