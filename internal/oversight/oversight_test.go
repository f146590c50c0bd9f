package oversight_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"candour/internal/dbtest"
	"candour/internal/oversight"
	"candour/internal/store"
)

var ref int

// concern inserts one concern with the given clear columns; times are offsets from received.
type concern struct {
	channel, mode, category, area, route, outcome string
	received                                      time.Time
	ack, decide, feedback, close                  time.Duration // 0: not yet
}

func insert(t *testing.T, db *sqlx.DB, c concern) int64 {
	t.Helper()
	ref++
	at := func(d time.Duration) any {
		if d == 0 {
			return nil
		}
		return c.received.Add(d)
	}
	var outcome any
	if c.outcome != "" {
		outcome = c.outcome
	}
	var id int64
	err := db.QueryRow(`INSERT INTO concerns (reference, channel, mode, service_area, category, safeguarding, status, language,
		route_rule, route_version, route, received_at, acknowledge_by, feedback_by, acknowledged_at, decided_at, feedback_at,
		closed_at, outcome) VALUES ($1, $2, $3, $4, $5, false, 'received', 'en', $6, 'test', '{}', $7, $8, $9, $10, $11, $12, $13, $14)
		RETURNING id`, dbtest.Reference(ref), c.channel, c.mode, c.area, c.category, c.route, c.received,
		c.received.Add(7*24*time.Hour), c.received.AddDate(0, 3, 0), at(c.ack), at(c.decide), at(c.feedback), at(c.close), outcome).Scan(&id)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func exec(t *testing.T, db *sqlx.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

const day = 24 * time.Hour

// TestStatsKnownAnswers seeds a year whose figures are worked out by hand and checks every
// one of them, including suppression at the threshold (4 hidden, 5 shown).
func TestStatsKnownAnswers(t *testing.T) {
	db := dbtest.New(t)
	base := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	now := time.Date(2026, 2, 1, 12, 0, 0, 0, time.UTC)

	// 10 web concerns, anonymous, misconduct in housing: acknowledged after 1..10 days
	// (8, 9 and 10 are late), decided at 20 days, fed back at 30 days, closed at 40.
	var anon []int64
	for i := 1; i <= 10; i++ {
		anon = append(anon, insert(t, db, concern{channel: "web", mode: "anonymous", category: "misconduct", area: "housing",
			route: "staff-whistleblowing", outcome: "accepted", received: base.Add(time.Duration(i) * time.Hour),
			ack: time.Duration(i) * day, decide: 20 * day, feedback: 30 * day, close: 40 * day}))
	}
	// 5 councillor concerns, open, fraud in finance: never acknowledged (overdue by now).
	for i := 0; i < 5; i++ {
		insert(t, db, concern{channel: "councillor", mode: "open", category: "fraud", area: "finance",
			route: "councillor-service-area", received: base.AddDate(0, 1, 0)})
	}
	// 4 recorded concerns, confidential, fraud in finance, acknowledged on day 2, feedback late
	// (100 days): every count of 4 must be suppressed.
	for i := 0; i < 4; i++ {
		insert(t, db, concern{channel: "recorded", mode: "confidential", category: "fraud", area: "finance",
			route: "default", outcome: "referred", received: base.AddDate(0, 2, 0), ack: 2 * day, decide: 10 * day, feedback: 100 * day})
	}
	// Outside the year: never counted.
	insert(t, db, concern{channel: "web", mode: "anonymous", category: "other", area: "housing", route: "default",
		received: time.Date(2024, 12, 31, 23, 0, 0, 0, time.UTC)})

	// Dialogue: 6 anonymous concerns with a staff and a reporter message; 2 with staff only.
	for i, id := range anon {
		switch {
		case i < 6:
			exec(t, db, `INSERT INTO messages (concern_id, author, body, created_at) VALUES ($1, 'staff', '\x00', $2), ($1, 'reporter', '\x00', $2)`, id, base.AddDate(0, 0, 3))
		case i < 8:
			exec(t, db, `INSERT INTO messages (concern_id, author, body, created_at) VALUES ($1, 'staff', '\x00', $2)`, id, base.AddDate(0, 0, 3))
		}
	}
	// Detriment: 5 reports in the year, 1 the year after.
	for i := 0; i < 5; i++ {
		exec(t, db, `INSERT INTO messages (concern_id, author, body, detriment, created_at) VALUES ($1, 'reporter', '\x00', true, $2)`, anon[i], base.AddDate(0, 1, 0))
	}
	exec(t, db, `INSERT INTO messages (concern_id, author, body, detriment, created_at) VALUES ($1, 'reporter', '\x00', true, $2)`, anon[0], now)

	// Investigations: 6 opened in the year, 5 closed; 10 allegations with findings in those that
	// reported: 3 upheld, 4 partly upheld, 3 not upheld, 2 no finding.
	exec(t, db, `INSERT INTO users (email, name, roles, language) VALUES ('mo@example.org', 'MO', '{monitoring_officer}', 'en')`)
	var inv []int64
	for i := 0; i < 6; i++ {
		var id int64
		closed := any(base.AddDate(0, 6, 0))
		if i == 5 {
			closed = nil
		}
		if err := db.QueryRow(`INSERT INTO investigations (reference, wrapped_key, title, terms_of_reference, commissioning_officer_id,
			investigating_officer_ext, due_at, status, created_at, reported_at, closed_at)
			SELECT 'I-' || $1::text, '\x00', '\x00', '\x00', id, '\x00', '2025-12-01', 'closed', $2, $3, $3 FROM users LIMIT 1 RETURNING id`,
			i, base.AddDate(0, 1, 0), closed).Scan(&id); err != nil {
			t.Fatal(err)
		}
		inv = append(inv, id)
	}
	findings := []string{"upheld", "upheld", "upheld", "partly_upheld", "partly_upheld", "partly_upheld", "partly_upheld",
		"not_upheld", "not_upheld", "not_upheld", "no_finding", "no_finding"}
	for i, f := range findings {
		exec(t, db, `INSERT INTO allegations (investigation_id, number, text, finding) VALUES ($1, $2, '\x00', $3)`, inv[i%5], i+1, f)
	}
	exec(t, db, `INSERT INTO allegations (investigation_id, number, text) VALUES ($1, 1, '\x00')`, inv[5]) // no finding yet
	// Recommendations: 5 overdue (open or in progress), 1 done, 1 not yet due.
	for i := 0; i < 5; i++ {
		exec(t, db, `INSERT INTO recommendations (investigation_id, text, owner, due_at, status) VALUES ($1, '\x00', '\x00', '2026-01-01', 'open')`, inv[0])
	}
	exec(t, db, `INSERT INTO recommendations (investigation_id, text, owner, due_at, status) VALUES ($1, '\x00', '\x00', '2026-01-01', 'done')`, inv[0])
	exec(t, db, `INSERT INTO recommendations (investigation_id, text, owner, due_at, status) VALUES ($1, '\x00', '\x00', '2026-06-01', 'open')`, inv[0])

	svc := oversight.New(store.New(db), nil)
	svc.SetClock(func() time.Time { return now })
	from := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	rep, err := svc.Figures(context.Background(), from, from.AddDate(1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}

	shown := func(name string, c oversight.Cell, want int64) {
		t.Helper()
		if v, ok := c.Shown(); !ok || v != want {
			t.Errorf("%s: got %+v, want %d shown", name, c, want)
		}
	}
	hidden := func(name string, c oversight.Cell, reason string) {
		t.Helper()
		if !c.Suppressed || c.Value != nil || c.Reason != reason {
			t.Errorf("%s: got %+v, want suppressed (%s)", name, c, reason)
		}
	}
	row := func(table, key string) oversight.Cell {
		t.Helper()
		tb := rep.Table(table)
		if tb == nil {
			t.Fatalf("no table %s", table)
		}
		for _, r := range tb.Rows {
			if r.Key == key {
				return r.Cell
			}
		}
		t.Fatalf("table %s has no row %s", table, key)
		return oversight.Cell{}
	}

	shown("received", rep.Received, 19)
	shown("channel web", row("channel", "web"), 10)
	hidden("channel recorded (4: under the threshold)", row("channel", "recorded"), oversight.ReasonSmall)
	// One small cell and a shown total: the next smallest cell goes too, or 19−10−5 = 4.
	hidden("channel councillor (secondary)", row("channel", "councillor"), oversight.ReasonSecondary)
	shown("mode anonymous", row("mode", "anonymous"), 10)
	hidden("mode confidential", row("mode", "confidential"), oversight.ReasonSmall)
	shown("category fraud", row("category", "fraud"), 9)
	shown("area finance", row("service_area", "finance"), 9)
	shown("route staff-whistleblowing", row("route", "staff-whistleblowing"), 10)
	shown("outcome accepted", row("outcome", "accepted"), 10)
	hidden("outcome pending (secondary)", row("outcome", "pending"), oversight.ReasonSecondary)
	hidden("outcome referred", row("outcome", "referred"), oversight.ReasonSmall)
	shown("outcome declined (zero is shown)", row("outcome", "declined"), 0)

	// Breaches: 8, 9 and 10 days late (3, shown as fewer than 5); 5 overdue; 4 feedback late.
	hidden("acknowledge late (3)", rep.Breaches.AcknowledgeLate, oversight.ReasonSmall)
	shown("acknowledge overdue", rep.Breaches.AcknowledgeOverdue, 5)
	hidden("feedback late (4)", rep.Breaches.FeedbackLate, oversight.ReasonSmall)
	shown("feedback overdue (the 5 never acknowledged)", rep.Breaches.FeedbackOverdue, 5)

	// Times: 14 acknowledged, after 1, 2, 2, 2, 2, 2, 3, 4 ... 10 days: percentile_cont gives a
	// median of (3+4)/2 and a 90th percentile of 8 + 0.7.
	ack := rep.Times[0]
	if ack.Metric != "acknowledge" || ack.MedianDays == nil || *ack.MedianDays != 3.5 || *ack.P90Days != 8.7 {
		t.Errorf("acknowledge times: got %+v (median %v, p90 %v), want median 3.5, p90 8.7", ack, deref(ack.MedianDays), deref(ack.P90Days))
	}
	shown("acknowledged", ack.Count, 14)
	if cl := rep.Times[3]; cl.Metric != "close" || cl.MedianDays == nil || *cl.MedianDays != 40 {
		t.Errorf("close times: got %+v, want median 40 days", cl)
	}

	// 6 of 10 anonymous concerns had a conversation; the remainder (4) is small, so the
	// numerator and the share are withheld.
	shown("anonymous", rep.AnonymousDialogue.Denominator, 10)
	hidden("anonymous dialogue", rep.AnonymousDialogue.Numerator, oversight.ReasonSecondary)
	if rep.AnonymousDialogue.Share != nil || !rep.AnonymousDialogue.Suppressed {
		t.Errorf("dialogue share: got %+v, want suppressed", rep.AnonymousDialogue)
	}
	// 7 substantiated of 12 with a finding (the allegation without one does not count).
	shown("findings", rep.Substantiation.Denominator, 12)
	shown("substantiated", rep.Substantiation.Numerator, 7)
	if s := rep.Substantiation.Share; s == nil || *s != 0.583 {
		t.Errorf("substantiation: got %v, want 0.583", deref(s))
	}
	hidden("finding not upheld (3)", row("finding", "not_upheld"), oversight.ReasonSmall)
	hidden("finding no finding (2)", row("finding", "no_finding"), oversight.ReasonSmall)
	shown("detriment", rep.DetrimentReports, 5)
	shown("investigations opened", rep.Investigations.Opened, 6)
	shown("investigations closed", rep.Investigations.Closed, 5)
	shown("recommendations overdue", rep.Investigations.RecommendationsOverdue, 5)

	// The CSV says exactly what the report says.
	var buf bytes.Buffer
	if err := oversight.WriteCSV(&buf, rep, "all", oversight.PlainLabels(5)); err != nil {
		t.Fatal(err)
	}
	records, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range records[1:] {
		got[r[0]+"/"+r[1]] = r[3]
	}
	for k, want := range map[string]string{"channel/web": "10", "channel/recorded": "fewer than 5", "summary/received": "19",
		"summary/substantiation_rate": "58.3%", "mode/anonymous": "10", "summary/anonymous_dialogue": "not shown"} {
		if got[k] != want {
			t.Errorf("CSV %s: got %q, want %q", k, got[k], want)
		}
	}
}

func deref(f *float64) any {
	if f == nil {
		return nil
	}
	return *f
}

// TestSuppression checks the rules on raw aggregates, without a database.
func TestSuppression(t *testing.T) {
	build := func(counts map[string]int64) *oversight.Report {
		f := &store.StatsFacts{}
		var total int64
		for k, n := range counts {
			f.Counts = append(f.Counts, store.StatsCount{Dimension: "category", Value: k, N: n})
			total += n
		}
		f.Counts = append(f.Counts, store.StatsCount{Dimension: "total", N: total})
		return oversight.Build(f, time.Time{}, time.Time{}.Add(day), time.Time{}, 5, nil)
	}
	tests := []struct {
		name   string
		counts map[string]int64
		want   map[string]string // key → value or "small"/"secondary"
	}{
		{"threshold", map[string]int64{"a": 5, "b": 4, "c": 20}, map[string]string{"a": "secondary", "b": "small", "c": "20"}},
		{"two small need no more", map[string]int64{"a": 3, "b": 1, "c": 20}, map[string]string{"a": "small", "b": "small", "c": "20"}},
		{"zero is shown", map[string]int64{"a": 0, "c": 20}, map[string]string{"a": "0", "c": "20"}},
		{"nothing small", map[string]int64{"a": 5, "c": 6}, map[string]string{"a": "5", "c": "6"}},
	}
	for _, tt := range tests {
		rep := build(tt.counts)
		for _, r := range rep.Table("category").Rows {
			got := ""
			if v, ok := r.Shown(); ok {
				got = strconv.FormatInt(v, 10)
			} else {
				got = r.Reason
			}
			if got != tt.want[r.Key] {
				t.Errorf("%s: %s: got %s, want %s", tt.name, r.Key, got, tt.want[r.Key])
			}
		}
	}
	// A total under the threshold is itself suppressed.
	if rep := build(map[string]int64{"a": 3}); !rep.Received.Suppressed {
		t.Errorf("total 3: got %+v, want suppressed", rep.Received)
	}
}

func TestParsePeriod(t *testing.T) {
	now := time.Date(2026, 5, 10, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		from, to, field string
	}{
		{"2025-01-01", "2025-12-31", ""},
		{"", "", ""},
		{"2025-13-01", "", "from"},
		{"", "31/12/2025", "to"},
		{"2025-06-01", "2025-05-01", "to"},
		{"1990-01-01", "2025-01-31", "to"},
		// Whole months only, or two overlapping periods would give a day's exact counts.
		{"2025-01-02", "2025-12-31", "from"},
		{"2025-01-01", "2025-12-30", "to"},
		// Months that have ended only (now is in May 2026): a running month's figures, read on
		// two days, would give the day between.
		{"2026-01-01", "2026-04-30", ""},
		{"2026-01-01", "2026-05-31", "to"},
		{"2026-05-01", "2026-05-31", "to"},
		{"2026-06-01", "2026-06-30", "to"},
	}
	for _, tt := range tests {
		from, to, err := oversight.ParsePeriod(tt.from, tt.to, now)
		if tt.field == "" {
			if err != nil || !to.After(from) {
				t.Errorf("ParsePeriod(%q, %q): got %v, %v, %v, want a period", tt.from, tt.to, from, to, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.field) {
			t.Errorf("ParsePeriod(%q, %q): got %v, want an error on %s", tt.from, tt.to, err, tt.field)
		}
	}
	from, to, _ := oversight.ParsePeriod("2025-01-01", "2025-12-31", now)
	if f, l := oversight.Dates(from, to); f != "2025-01-01" || l != "2025-12-31" {
		t.Errorf("Dates: got %s %s, want 2025-01-01 2025-12-31", f, l)
	}
	// The default is this year's months that have ended; in January, last year's.
	for _, tt := range []struct {
		now         time.Time
		first, last string
	}{
		{now, "2026-01-01", "2026-04-30"},
		{time.Date(2027, 1, 15, 12, 0, 0, 0, time.UTC), "2026-01-01", "2026-12-31"},
	} {
		from, to, err := oversight.ParsePeriod("", "", tt.now)
		if f, l := oversight.Dates(from, to); err != nil || f != tt.first || l != tt.last {
			t.Errorf("default period on %v: got %s to %s (%v), want %s to %s", tt.now, f, l, err, tt.first, tt.last)
		}
	}
}

func TestParseYearOnlyEnded(t *testing.T) {
	now := time.Date(2026, 5, 10, 12, 0, 0, 0, time.UTC)
	if y, _, _, err := oversight.ParseYear("", now); err != nil || y != 2025 {
		t.Errorf("default year: got %d %v, want 2025", y, err)
	}
	if _, _, _, err := oversight.ParseYear("2025", now); err != nil {
		t.Errorf("2025: %v", err)
	}
	for _, bad := range []string{"2026", "2027", "1999", "twenty"} {
		if _, _, _, err := oversight.ParseYear(bad, now); err == nil || !strings.Contains(err.Error(), "year") {
			t.Errorf("year %q: got %v, want an error on year", bad, err)
		}
	}
}

func TestChartIsAccessibleSVG(t *testing.T) {
	five := int64(5)
	c := oversight.Chart{ID: "chart-x", Title: `Kind <of> "concern"`, Desc: "desc & more", Labels: oversight.PlainLabels(5),
		Bars: []oversight.Bar{{Label: "=cmd", Cell: oversight.Cell{Value: &five}}, {Label: "b", Cell: oversight.Cell{Suppressed: true, Reason: oversight.ReasonSmall}}}}
	svg := string(c.SVG())
	for _, want := range []string{`role="img"`, `aria-labelledby="chart-x-title chart-x-desc"`, `<title id="chart-x-title">Kind &lt;of&gt; &#34;concern&#34;</title>`,
		`<desc id="chart-x-desc">desc &amp; more</desc>`, "fewer than 5"} {
		if !strings.Contains(svg, want) {
			t.Errorf("SVG lacks %s:\n%s", want, svg)
		}
	}
	if strings.Contains(svg, "style=") || strings.Contains(svg, "<script") {
		t.Errorf("SVG has inline style or script:\n%s", svg)
	}
	if got := oversight.SafeCell("=HYPERLINK(1)"); got != "'=HYPERLINK(1)" {
		t.Errorf("SafeCell: got %q", got)
	}
}
