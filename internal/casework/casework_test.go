package casework_test

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"candour/internal/access"
	"candour/internal/audit"
	"candour/internal/casework"
	"candour/internal/dbtest"
	"candour/internal/fault"
	"candour/internal/i18n"
	"candour/internal/intake"
	"candour/internal/intaketest"
	"candour/internal/receipt"
	"candour/internal/store"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

type fixture struct {
	db     *sqlx.DB
	st     *store.Store
	intake *intake.Service
	cw     *casework.Service
	names  *receipt.Hasher
	// ownerURL is the schema owner's connection (benchmarks turn row-level security off with it).
	ownerURL string
	now      time.Time
	mu       sync.Mutex
}

func (f *fixture) clock() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now }
func (f *fixture) set(t time.Time)  { f.mu.Lock(); defer f.mu.Unlock(); f.now = t }

func newFixture(t testing.TB) *fixture {
	t.Helper()
	return newFixtureIn(t, "")
}

// newFixtureIn is a fixture working for council slug of a fresh database ("": the default).
func newFixtureIn(t testing.TB, slug string) *fixture {
	t.Helper()
	cat, err := i18n.Load()
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{now: time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)}
	k := intaketest.New(t, intaketest.Options{Now: f.clock, MaxAttachment: 1 << 20, Council: slug})
	f.db, f.st, f.names, f.intake, f.ownerURL = k.DB, k.Store, k.Names, k.Intake, k.OwnerURL
	f.cw = casework.New(casework.Deps{Store: f.st, ServerKey: k.ServerKey, Access: access.New(k.Names), Names: k.Names,
		Catalog: cat, Policy: k.PolicyFunc(), Intake: k.Intake, Now: f.clock})
	return f
}

func (f *fixture) user(t testing.TB, email string, roles ...string) *store.User {
	t.Helper()
	u := &store.User{Email: email, Name: email, Roles: roles, Language: "en", Status: "active"}
	if err := f.st.InsertUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

func (f *fixture) report(t testing.TB, safeguarding bool, named ...string) string {
	t.Helper()
	filed, err := f.intake.Submit(context.Background(), intake.ReportSubmission{Mode: "anonymous", ServiceArea: "housing",
		Category: "health_safety", Summary: "Damp flats", Details: "Signed off without visits.", Safeguarding: safeguarding,
		NamedPeople: named, Lang: "en"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := f.st.ConcernByReference(context.Background(), filed.Reference)
	if err != nil {
		t.Fatal(err)
	}
	return c.ID
}

// byPublicID loads a concern row by the public id the use cases take.
func (f *fixture) byPublicID(t testing.TB, id string) *store.Concern {
	t.Helper()
	facts, err := f.st.CaseFactsByPublicID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	c, err := f.st.ConcernByID(context.Background(), facts.ConcernID)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTriageOrderPagingAndExclusion(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	mo := f.user(t, "elin.rowlands@enghraifft.example", "monitoring_officer")
	var ids []string
	for i := 0; i < 7; i++ {
		f.set(f.now.Add(time.Hour))
		ids = append(ids, f.report(t, i == 4))
	}
	// One names the Monitoring Officer: it must not appear in her queue at all.
	namingMO := f.report(t, false, "elin.rowlands@enghraifft.example")

	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		page, err := f.cw.Triage(ctx, mo, casework.TriageQuery{Limit: 3, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			got = append(got, it.ID)
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
		if pages > 5 {
			t.Fatal("paging does not end")
		}
	}
	// Safeguarding first (24-hour clock), then oldest acknowledgement deadline first.
	want := []string{ids[4], ids[0], ids[1], ids[2], ids[3], ids[5], ids[6]}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
		if got[i] == namingMO {
			t.Fatalf("the concern naming the Monitoring Officer is in her queue")
		}
	}
	deputy := f.user(t, "owain.bevan@enghraifft.example", "deputy_monitoring_officer")
	page, err := f.cw.Triage(ctx, deputy, casework.TriageQuery{Limit: 50})
	if err != nil || len(page.Items) != 8 {
		t.Fatalf("deputy's queue: got %d items (%v), want all 8", len(page.Items), err)
	}
	// A service lead of another area sees nothing; a breached filter finds the late one.
	lead := f.user(t, "someone@enghraifft.example", "service_lead")
	if page, err := f.cw.Triage(ctx, lead, casework.TriageQuery{}); err != nil || len(page.Items) != 0 {
		t.Fatalf("an unrelated service lead: got %v %v, want an empty queue", page, err)
	}
	f.set(f.now.Add(30 * time.Hour))
	page, _ = f.cw.Triage(ctx, mo, casework.TriageQuery{Filter: store.TriageFilter{Breached: true}})
	if len(page.Items) != 1 || page.Items[0].ID != ids[4] || !page.Items[0].AcknowledgeBreached {
		t.Errorf("breached filter: got %+v, want the safeguarding concern past its 24 hours", page.Items)
	}
	if _, err := f.cw.Triage(ctx, mo, casework.TriageQuery{Cursor: "not-a-cursor!"}); err == nil {
		t.Errorf("a forged cursor was accepted")
	}
}

func TestRemindersGoOnceWithTwoRunners(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := f.byPublicID(t, f.report(t, false))

	count := func(stage string) (reminders, mails int) {
		f.db.Get(&reminders, `SELECT count(*) FROM reminders WHERE concern_id = $1 AND stage = $2`, c.Serial, stage)
		f.db.Get(&mails, `SELECT count(*) FROM notifications WHERE kind = 'reminder' AND dedupe_key LIKE '%:' || $1 || ':%'`, stage)
		return
	}
	runTwice := func() {
		var wg sync.WaitGroup
		for i := 0; i < 2; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := f.cw.SendReminders(ctx); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	runTwice() // nothing due yet
	if r, _ := count("due_soon"); r != 0 {
		t.Fatalf("reminder before it was due")
	}
	f.set(c.AcknowledgeBy.Add(-24 * time.Hour))
	runTwice()
	runTwice()
	if r, m := count("due_soon"); r != 1 || m != 1 {
		t.Fatalf("due soon: got %d reminders and %d mails, want 1 reminder and 1 mail (the route holder is the MO)", r, m)
	}
	f.set(c.AcknowledgeBy.Add(time.Hour))
	runTwice()
	if r, _ := count("breached"); r != 1 {
		t.Fatalf("breached: got %d reminders, want 1", r)
	}
	var body string
	f.db.Get(&body, `SELECT string_agg(reference || kind || recipient, ' ') FROM notifications`)
	if body == "" {
		t.Fatal("no notifications")
	}
}

// Interim feedback restarts the feedback clock, and the new deadline is reminded in its turn:
// the reminders already sent for the old one do not silence it.
func TestInterimFeedbackIsRemindedAgain(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	mo := f.user(t, "elin.rowlands@enghraifft.example", "monitoring_officer")
	id := f.report(t, false)
	if err := f.cw.Acknowledge(ctx, mo, id); err != nil {
		t.Fatal(err)
	}
	c := f.byPublicID(t, id)
	feedbackMails := func() int {
		var n int
		f.db.Get(&n, `SELECT count(*) FROM notifications WHERE kind = 'reminder' AND dedupe_key LIKE '%:feedback:due_soon:%'`)
		return n
	}
	f.set(c.FeedbackBy.Add(-24 * time.Hour))
	if _, err := f.cw.SendReminders(ctx); err != nil {
		t.Fatal(err)
	}
	if n := feedbackMails(); n != 1 {
		t.Fatalf("feedback due soon: %d reminder e-mails, want 1", n)
	}
	by, err := f.cw.InterimFeedback(ctx, mo, id, "We are still looking into it.")
	if err != nil {
		t.Fatal(err)
	}
	if !by.After(c.FeedbackBy) {
		t.Fatalf("new feedback date %s is not after the old %s", by, c.FeedbackBy)
	}
	f.set(by.Add(-24 * time.Hour))
	if _, err := f.cw.SendReminders(ctx); err != nil {
		t.Fatal(err)
	}
	if n := feedbackMails(); n != 2 {
		t.Errorf("the new feedback deadline: %d reminder e-mails in all, want 2", n)
	}
}

func TestRetentionShredsExactlyTheExpired(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	old := f.report(t, false)
	recent := f.report(t, false)
	wroteAfter := f.report(t, false)
	declined := f.report(t, false)
	wrapped := map[string][]byte{}
	for _, id := range []string{old, recent, wroteAfter, declined} {
		c := f.byPublicID(t, id)
		wrapped[id] = c.WrappedKey
	}
	now := f.clock()
	close := func(id string, closed time.Time, outcome string) {
		if _, err := f.db.Exec(`UPDATE concerns SET status = 'closed', outcome = $2, closed_at = $3 WHERE public_id = $1`, id, outcome, closed); err != nil {
			t.Fatal(err)
		}
	}
	close(old, now.AddDate(-7, 0, 0), "accepted")
	close(recent, now.AddDate(-1, 0, 0), "accepted")
	close(wroteAfter, now.AddDate(-7, 0, 0), "accepted")
	close(declined, now.AddDate(-2, 0, 0), "declined") // declined concerns are kept 1 year
	f.db.Exec(`UPDATE concerns SET last_reporter_at = $2 WHERE public_id = $1`, wroteAfter, now.AddDate(-1, 0, 0))

	n, err := f.cw.ApplyRetention(ctx)
	if err != nil || n != 2 {
		t.Fatalf("got %d shredded (%v), want 2 (the old accepted and the declined)", n, err)
	}
	for id, want := range map[string]bool{old: true, recent: false, wroteAfter: false, declined: true} {
		var shredded bool
		var content []byte
		f.db.QueryRow(`SELECT shredded_at IS NOT NULL, content FROM concerns WHERE public_id = $1`, id).Scan(&shredded, &content)
		if shredded != want || (want && content != nil) {
			t.Errorf("concern %s: shredded %v (content kept %v), want %v", id, shredded, content != nil, want)
		}
	}
	// Nothing is left to decrypt: the concern row holds no key and no ciphertext, its messages
	// are gone, and the audit trail still verifies.
	var msgs int
	f.db.Get(&msgs, `SELECT count(*) FROM messages WHERE concern_id = (SELECT id FROM concerns WHERE public_id = $1)`, old)
	if msgs != 0 {
		t.Errorf("%d messages survive shredding", msgs)
	}
	mo := f.user(t, "mo@enghraifft.example", "monitoring_officer")
	if _, err := f.cw.Concern(ctx, mo, old); err == nil {
		t.Errorf("a shredded concern still opens")
	}
	res, err := audit.Check(ctx, f.st)
	if err != nil || !res.OK {
		t.Errorf("audit after shredding: %+v %v", res, err)
	}
	var events int
	f.db.Get(&events, `SELECT count(*) FROM audit_events WHERE action = 'concern.shred'`)
	if events != 2 {
		t.Errorf("got %d shred events, want 2", events)
	}
	if again, _ := f.cw.ApplyRetention(ctx); again != 0 {
		t.Errorf("second run shredded %d more", again)
	}
}

// Several portals run the retention job on one database: whichever run takes the lock shreds,
// the others skip, and each expired concern is shredded and audited exactly once.
func TestRetentionOnceAcrossPortals(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const expired, portals = 12, 4
	for i := 0; i < expired; i++ {
		id := f.report(t, false)
		if _, err := f.db.Exec(`UPDATE concerns SET status = 'closed', outcome = 'accepted', closed_at = $2 WHERE public_id = $1`,
			id, f.clock().AddDate(-7, 0, 0)); err != nil {
			t.Fatal(err)
		}
	}
	counts := make([]int, portals)
	var wg sync.WaitGroup
	for i := range counts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := f.cw.ApplyRetention(ctx)
			if err != nil {
				t.Error(err)
			}
			counts[i] = n
		}()
	}
	wg.Wait()
	total := 0
	for _, n := range counts {
		total += n
	}
	var events int
	if err := f.db.Get(&events, `SELECT count(*) FROM audit_events WHERE action = 'concern.shred'`); err != nil {
		t.Fatal(err)
	}
	if total != expired || events != expired {
		t.Errorf("runs shredded %v (%d in all) with %d shred events, want %d of each", counts, total, events, expired)
	}
	if res, err := audit.Check(ctx, f.st); err != nil || !res.OK {
		t.Errorf("audit after concurrent retention runs: %+v %v", res, err)
	}
}

// An investigation carries its concerns' substance: a Monitoring Officer named in a linked
// concern cannot open it, and a concern naming the investigating officer cannot be linked.
func TestInvestigationHonoursExclusion(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	mo := f.user(t, "elin.rowlands@enghraifft.example", "monitoring_officer")
	deputy := f.user(t, "owain.bevan@enghraifft.example", "deputy_monitoring_officer")
	inv := f.user(t, "huw.pritchard@enghraifft.example", "investigator")
	namesMO := f.report(t, false, "elin.rowlands@enghraifft.example")
	namesInvestigator := f.report(t, false, "huw.pritchard@enghraifft.example")

	created, err := f.cw.CreateInvestigation(ctx, deputy, casework.NewInvestigation{Title: "Depot", TermsOfReference: "ToR",
		InvestigatingOfficer: inv.Email, DueAt: "2027-03-31"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.cw.Investigation(ctx, mo, created.ID); err != nil {
		t.Fatalf("before any link: %v", err)
	}
	if err := f.cw.LinkConcern(ctx, deputy, created.ID, namesMO); err != nil {
		t.Fatal(err)
	}
	if _, err := f.cw.Investigation(ctx, mo, created.ID); !fault.Is(err, fault.NotFound) {
		t.Errorf("MO named in a linked concern: got %v, want not found", err)
	}
	if _, err := f.cw.Investigation(ctx, deputy, created.ID); err != nil {
		t.Errorf("deputy: got %v, want the investigation", err)
	}
	if err := f.cw.LinkConcern(ctx, deputy, created.ID, namesInvestigator); !fault.Is(err, fault.Conflict) {
		t.Errorf("link a concern naming the investigating officer: got %v, want conflict", err)
	}
	// Not even its reference in their list: the named MO's list leaves it out, the deputy's has it.
	listed := func(u *store.User, id string) bool {
		t.Helper()
		invs, err := f.cw.Investigations(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		for _, inv := range invs {
			if inv.ID == id {
				return true
			}
		}
		return false
	}
	if listed(mo, created.ID) || !listed(deputy, created.ID) {
		t.Errorf("listed for the named MO = %v (want false), for the deputy = %v (want true)",
			listed(mo, created.ID), listed(deputy, created.ID))
	}
	// A declared conflict on a linked concern takes it out of the declarer's list too.
	other, err := f.cw.CreateInvestigation(ctx, mo, casework.NewInvestigation{Title: "Fleet", TermsOfReference: "ToR",
		InvestigatingOfficer: inv.Email, DueAt: "2027-03-31"})
	if err != nil {
		t.Fatal(err)
	}
	plain := f.report(t, false)
	if err := f.cw.LinkConcern(ctx, mo, other.ID, plain); err != nil {
		t.Fatal(err)
	}
	if !listed(deputy, other.ID) || !listed(mo, other.ID) {
		t.Fatal("an investigation nobody is excluded from is missing from a list")
	}
	if err := f.cw.DeclareConflict(ctx, deputy, plain, "My brother manages the fleet."); err != nil {
		t.Fatal(err)
	}
	if listed(deputy, other.ID) || !listed(mo, other.ID) {
		t.Errorf("after the deputy's conflict: listed for the deputy = %v (want false), for the MO = %v (want true)",
			listed(deputy, other.ID), listed(mo, other.ID))
	}
}

// Retention with attachments in a blob folder: the shredded concern's blob rows go with it,
// and the next sweep removes their files; the kept concern's file stays.
func TestRetentionThenSweepRemovesBlobFiles(t *testing.T) {
	cat, err := i18n.Load()
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{now: time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)}
	blobDir := t.TempDir()
	k := intaketest.New(t, intaketest.Options{Now: f.clock, MaxAttachment: 1 << 20, BlobDir: blobDir})
	f.db, f.st, f.names, f.intake = k.DB, k.Store, k.Names, k.Intake
	f.cw = casework.New(casework.Deps{Store: f.st, ServerKey: k.ServerKey, Access: access.New(k.Names), Names: k.Names,
		Catalog: cat, Policy: k.PolicyFunc(), Intake: k.Intake, Now: f.clock})
	ctx := context.Background()
	old, kept := f.report(t, false), f.report(t, false)
	for _, id := range []string{old, kept} {
		c := f.byPublicID(t, id)
		if _, err := f.intake.AddAttachment(ctx, c.Reference, "reporter", "minutes.pdf", strings.NewReader(strings.Repeat("minutes ", 10000))); err != nil {
			t.Fatal(err)
		}
	}
	fb, err := store.OpenFileBlobs(blobDir, false)
	if err != nil {
		t.Fatal(err)
	}
	count := func() int {
		entries, _ := os.ReadDir(blobDir)
		n := 0
		for _, e := range entries {
			if e.Type().IsRegular() {
				n++
			}
		}
		return n
	}
	if n := count(); n != 2 {
		t.Fatalf("got %d blob files, want 2", n)
	}
	// Closed seven years ago, the reporter's last input (the file) before that.
	if _, err := f.db.Exec(`UPDATE concerns SET status = 'closed', outcome = 'accepted', closed_at = $2, last_reporter_at = $3 WHERE public_id = $1`,
		old, f.clock().AddDate(-7, 0, 0), f.clock().AddDate(-8, 0, 0)); err != nil {
		t.Fatal(err)
	}
	if n, err := f.cw.ApplyRetention(ctx); err != nil || n != 1 {
		t.Fatalf("retention: %d shredded (%v), want 1", n, err)
	}
	if n, err := fb.Sweep(ctx, store.New(f.db), 0); err != nil || n != 1 {
		t.Errorf("sweep: removed %d (%v), want 1", n, err)
	}
	if n := count(); n != 1 {
		t.Errorf("got %d blob files after retention and sweep, want 1 (the kept concern's)", n)
	}
}
