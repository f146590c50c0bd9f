package routing

import (
	"encoding/json"
	"testing"
	"time"
)

func at(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.ParseInLocation("2006-01-02 15:04", s, london)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestDeadlines(t *testing.T) {
	c := samplePolicy(t).Clocks
	tests := []struct {
		name  string
		clock Clock
		from  string
		want  string // Europe/London wall clock
	}{
		{"acknowledge: 7 days", ClockAcknowledge, "2026-06-10 09:15", "2026-06-17 09:15"},
		{"acknowledge: 7 days across the spring clock change keeps the wall clock", ClockAcknowledge, "2026-03-25 10:00", "2026-04-01 10:00"},
		{"acknowledge: 7 days across the autumn clock change", ClockAcknowledge, "2026-10-22 16:30", "2026-10-29 16:30"},
		{"decide: 15 working days over Christmas 2026 and New Year", ClockDecide, "2026-12-17 09:30", "2027-01-12 09:30"},
		{"decide: received on Saturday counts from Monday", ClockDecide, "2026-06-13 11:00", "2026-07-03 11:00"},
		{"decide: over Easter 2026", ClockDecide, "2026-04-02 14:00", "2026-04-27 14:00"},
		{"decide: over the spring clock change", ClockDecide, "2026-03-20 17:00", "2026-04-14 17:00"},
		{"feedback: 3 months", ClockFeedback, "2026-05-14 08:00", "2026-08-14 08:00"},
		{"feedback: 3 months from 30 November ends on 28 February", ClockFeedback, "2026-11-30 12:00", "2027-02-28 12:00"},
		{"safeguarding: 24 hours elapsed across the spring clock change", ClockSafeguarding, "2026-03-28 12:00", "2026-03-29 13:00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := c.Deadline(tt.clock, at(t, tt.from))
			if want := at(t, tt.want); !got.Equal(want) {
				t.Errorf("got %s, want %s", got, want)
			}
			if got.Location().String() != "Europe/London" {
				t.Errorf("location: got %s, want Europe/London", got.Location())
			}
		})
	}
}

func TestWorkingDaysChristmas2026(t *testing.T) {
	cal := samplePolicy(t).Calendar
	one := Period{1, WorkingDays}
	tests := []struct{ from, want string }{
		{"2026-12-23 10:00", "2026-12-24 10:00"},
		{"2026-12-24 10:00", "2026-12-29 10:00"}, // Fri 25 Christmas, weekend, Mon 28 Boxing Day (substitute)
		{"2026-12-25 10:00", "2026-12-29 10:00"},
		{"2026-12-31 10:00", "2027-01-04 10:00"}, // Fri 1 January
		{"2027-03-25 10:00", "2027-03-30 10:00"}, // Good Friday 26 March, Easter Monday 29 March 2027 (and the clock change)
	}
	for _, tt := range tests {
		if got, want := cal.Add(at(t, tt.from), one), at(t, tt.want); !got.Equal(want) {
			t.Errorf("1 working day from %s: got %s, want %s", tt.from, got, want)
		}
	}
	for _, day := range []string{"2026-12-25 12:00", "2026-12-26 12:00", "2026-12-27 12:00", "2026-12-28 12:00", "2027-01-01 12:00"} {
		if cal.IsWorkingDay(at(t, day)) {
			t.Errorf("IsWorkingDay(%s): got true, want false", day)
		}
	}
	if !cal.IsWorkingDay(at(t, "2026-12-29 12:00")) {
		t.Errorf("IsWorkingDay(2026-12-29): got false, want true")
	}
	if n := len(cal.BankHolidays()); n != 24 {
		t.Errorf("bank holidays 2025-2027: got %d, want 24", n)
	}
}

func TestDecisionClocks(t *testing.T) {
	p := samplePolicy(t)
	d, err := p.Decide(Facts{Channel: "web", Mode: "anonymous", Safeguarding: true})
	if err != nil {
		t.Fatal(err)
	}
	if d.Clocks.Acknowledge.String() != "24 hours" || d.Clocks.Feedback.String() != "3 months" {
		t.Errorf("safeguarding clocks: got %+v, want acknowledge 24 hours (rule override), feedback 3 months", d.Clocks)
	}
	from := at(t, "2026-03-28 12:00")
	if got, want := d.Clocks.Deadline(ClockAcknowledge, from), at(t, "2026-03-29 13:00"); !got.Equal(want) {
		t.Errorf("decision acknowledge deadline: got %s, want %s", got, want)
	}
	if got, want := p.Deadline(ClockAcknowledge, from), at(t, "2026-04-04 12:00"); !got.Equal(want) {
		t.Errorf("policy acknowledge deadline: got %s, want %s", got, want)
	}
	if p.Clocks.Acknowledge.String() != "7 days" {
		t.Errorf("policy clocks changed by a decision: got %v", p.Clocks.Acknowledge)
	}
	b, err := json.Marshal(d.Clocks)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"acknowledge":"24 hours","decide":"15 working days","feedback":"3 months","safeguarding":"24 hours"}`; string(b) != want {
		t.Errorf("json: got %s, want %s", b, want)
	}
	var back Clocks
	if err := json.Unmarshal(b, &back); err != nil || back.Decide != (Period{15, WorkingDays}) {
		t.Errorf("json round trip: got %+v, %v", back, err)
	}
}

func TestParsePeriod(t *testing.T) {
	for in, want := range map[string]Period{
		"7 days": {7, Days}, "7 calendar days": {7, Days}, "15 working days": {15, WorkingDays},
		"1 working day": {1, WorkingDays}, "3 Months": {3, Months}, "24 hours": {24, Hours},
		"1 year": {1, Years}, "2 weeks": {2, Weeks},
	} {
		got, err := ParsePeriod(in)
		if err != nil || got != want {
			t.Errorf("ParsePeriod(%q): got %v, %v, want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "7", "days", "-1 days", "7 fortnights", "seven days"} {
		if _, err := ParsePeriod(in); err == nil {
			t.Errorf("ParsePeriod(%q): got nil error, want one", in)
		}
	}
	if s := (Period{1, WorkingDays}).String(); s != "1 working day" {
		t.Errorf("String: got %q, want %q", s, "1 working day")
	}
}

func FuzzParsePeriod(f *testing.F) {
	for _, s := range []string{"7 days", "15 working days", "3 months", "1 year", "", "x y z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePeriod(s)
		if err != nil {
			return
		}
		back, err := ParsePeriod(p.String())
		if err != nil || back != p {
			t.Errorf("ParsePeriod(%q) = %v; round trip got %v, %v", s, p, back, err)
		}
	})
}

// Period.In says a period in the units the start page promises in, or that it cannot.
func TestPeriodIn(t *testing.T) {
	for _, c := range []struct {
		p    Period
		unit Unit
		n    int
		ok   bool
	}{
		{Period{7, Days}, Days, 7, true},
		{Period{2, Weeks}, Days, 14, true},
		{Period{15, WorkingDays}, Days, 0, false},
		{Period{24, Hours}, Days, 0, false},
		{Period{3, Months}, Months, 3, true},
		{Period{1, Years}, Months, 12, true},
		{Period{90, Days}, Months, 0, false},
	} {
		if n, ok := c.p.In(c.unit); n != c.n || ok != c.ok {
			t.Errorf("%v in %s: got %d %v, want %d %v", c.p, c.unit, n, ok, c.n, c.ok)
		}
	}
}
