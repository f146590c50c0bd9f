package casework_test

import (
	"context"
	"testing"
	"time"

	"candour/internal/casework"
	"candour/internal/domain"
)

// The decide clock counts 15 working days with the policy's bank holidays. A concern filed on
// Thursday 10 December 2026 has Christmas Day (25th), the Boxing Day substitute (28th) and New
// Year's Day in its span, so the decision is due on Tuesday 5 January 2027, not on the 31st. It
// is reminded, breaches the queue, stops when the concern is decided, and is counted late.
func TestDecideClockAcrossChristmas(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	mo := f.user(t, "elin.rowlands@enghraifft.example", "monitoring_officer")
	f.set(time.Date(2026, 12, 10, 10, 0, 0, 0, time.UTC)) // London is on GMT in December
	id := f.report(t, false)
	c := f.byPublicID(t, id)
	want := time.Date(2027, 1, 5, 10, 0, 0, 0, time.UTC)
	if c.DecideBy == nil || !c.DecideBy.Equal(want) {
		t.Fatalf("decide_by: got %v, want %v", c.DecideBy, want)
	}
	next := func() time.Time {
		t.Helper()
		var at time.Time
		if err := f.db.Get(&at, `SELECT next_deadline FROM concerns WHERE id = $1`, c.Serial); err != nil {
			t.Fatal(err)
		}
		return at
	}
	if got := next(); !got.Equal(c.AcknowledgeBy) {
		t.Errorf("next deadline when filed: got %v, want the acknowledge clock %v", got, c.AcknowledgeBy)
	}
	f.set(time.Date(2026, 12, 11, 9, 0, 0, 0, time.UTC))
	if err := f.cw.Acknowledge(ctx, mo, id); err != nil {
		t.Fatal(err)
	}
	if got := next(); !got.Equal(want) {
		t.Errorf("next deadline once acknowledged: got %v, want the decide clock %v", got, want)
	}

	decideMails := func(stage string) int {
		var n int
		f.db.Get(&n, `SELECT count(*) FROM notifications WHERE kind = 'reminder' AND recipient = 'elin.rowlands@enghraifft.example'
			AND dedupe_key LIKE '%:decide:`+stage+`:%'`)
		return n
	}
	f.set(want.Add(-72 * time.Hour)) // before the reminder lead
	if _, err := f.cw.SendReminders(ctx); err != nil {
		t.Fatal(err)
	}
	if n := decideMails("due_soon"); n != 0 {
		t.Fatalf("decide reminder 3 days ahead: got %d, want 0", n)
	}
	f.set(want.Add(-24 * time.Hour))
	if _, err := f.cw.SendReminders(ctx); err != nil {
		t.Fatal(err)
	}
	if n := decideMails("due_soon"); n != 1 {
		t.Fatalf("decide reminder a day ahead: got %d e-mails to the Monitoring Officer, want 1", n)
	}

	// Past the deadline and still undecided: breached in the queue and its filter, overdue in
	// the statistics.
	f.set(want.Add(time.Hour))
	page, err := f.cw.Triage(ctx, mo, casework.TriageQuery{Filter: domain.TriageFilter{Breached: true}})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 1 || !page.Items[0].DecideBreached || page.Items[0].AcknowledgeBreached {
		t.Fatalf("breached queue: got %+v, want the concern with its decide clock breached", page.Items)
	}
	december, january := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	stats, err := f.st.Stats(ctx, december, january, f.clock())
	if err != nil {
		t.Fatal(err)
	}
	if stats.DecideOverdue.N != 1 || stats.DecideLate.N != 0 {
		t.Errorf("undecided stats: got %d overdue and %d late, want 1 and 0", stats.DecideOverdue.N, stats.DecideLate.N)
	}

	// Deciding stops the clock: the queue moves on to feedback, no breach reminder follows,
	// and the statistics count it decided late.
	if err := f.cw.Decide(ctx, mo, id, casework.Decision{Action: "decline", Reason: "Already dealt with by the service."}); err != nil {
		t.Fatal(err)
	}
	if got := next(); !got.Equal(c.FeedbackBy) {
		t.Errorf("next deadline once decided: got %v, want the feedback clock %v", got, c.FeedbackBy)
	}
	f.set(want.Add(48 * time.Hour))
	if _, err := f.cw.SendReminders(ctx); err != nil {
		t.Fatal(err)
	}
	if n := decideMails("breached"); n != 0 {
		t.Errorf("decide breach reminder after the decision: got %d, want 0", n)
	}
	if stats, err = f.st.Stats(ctx, december, january, f.clock()); err != nil {
		t.Fatal(err)
	}
	if stats.DecideOverdue.N != 0 || stats.DecideLate.N != 1 {
		t.Errorf("decided stats: got %d overdue and %d late, want 0 and 1", stats.DecideOverdue.N, stats.DecideLate.N)
	}
	page, err = f.cw.Triage(ctx, mo, casework.TriageQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 1 || !page.Items[0].DecideBreached || page.Items[0].DecideLeft != want.Sub(f.clock()) {
		t.Errorf("queue after a late decision: got %+v, want the decide clock shown done late", page.Items)
	}
}

// A concern filed before the decide clock was kept has none: nothing reminded, breached or
// counted for it.
func TestNoDecideClockForOldConcerns(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	mo := f.user(t, "elin.rowlands@enghraifft.example", "monitoring_officer")
	id := f.report(t, false)
	c := f.byPublicID(t, id)
	f.db.MustExec(`UPDATE concerns SET decide_by = NULL WHERE id = $1`, c.Serial)
	if err := f.cw.Acknowledge(ctx, mo, id); err != nil {
		t.Fatal(err)
	}
	var next time.Time
	f.db.Get(&next, `SELECT next_deadline FROM concerns WHERE id = $1`, c.Serial)
	if !next.Equal(c.FeedbackBy) {
		t.Errorf("next deadline without a decide clock: got %v, want feedback %v", next, c.FeedbackBy)
	}
	f.set(c.ReceivedAt.AddDate(0, 1, 0))
	if _, err := f.cw.SendReminders(ctx); err != nil {
		t.Fatal(err)
	}
	var n int
	f.db.Get(&n, `SELECT count(*) FROM reminders WHERE clock = 'decide'`)
	if n != 0 {
		t.Errorf("decide reminders without a clock: got %d, want 0", n)
	}
	page, err := f.cw.Triage(ctx, mo, casework.TriageQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 1 || page.Items[0].DecideBreached || page.Items[0].DecideBy != nil {
		t.Errorf("queue: got %+v, want no decide clock", page.Items)
	}
}
