package routing

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // Europe/London must resolve even in a bare container
)

// Unit is the unit of a Period.
type Unit string

// The units a policy may use.
const (
	Hours       Unit = "hours"
	Days        Unit = "days" // calendar days
	WorkingDays Unit = "working days"
	Weeks       Unit = "weeks"
	Months      Unit = "months"
	Years       Unit = "years"
)

// Period is a length of time as a council writes it: "7 days",
// "15 working days", "3 months", "24 hours". It is text in JSON.
type Period struct {
	N    int
	Unit Unit
}

// In is p as a whole number of unit (Days or Months), for telling people; false when p is
// counted in something no fixed number of them describes (hours or working days; days for a
// period in months).
func (p Period) In(unit Unit) (int, bool) {
	n, ok := map[Unit]map[Unit]int{Days: {Days: 1, Weeks: 7}, Months: {Months: 1, Years: 12}}[unit][p.Unit]
	return p.N * n, ok
}

var unitNames = map[string]Unit{
	"hour": Hours, "hours": Hours,
	"day": Days, "days": Days, "calendar day": Days, "calendar days": Days,
	"working day": WorkingDays, "working days": WorkingDays,
	"week": Weeks, "weeks": Weeks,
	"month": Months, "months": Months,
	"year": Years, "years": Years,
}

// ParsePeriod reads "N unit", where unit is hours, days (or calendar days),
// working days, weeks, months or years (singular or plural).
func ParsePeriod(s string) (Period, error) {
	fields := strings.Fields(strings.ToLower(s))
	if len(fields) < 2 {
		return Period{}, fmt.Errorf("period %q: want a number and a unit, e.g. \"15 working days\"", s)
	}
	n, err := strconv.Atoi(fields[0])
	if err != nil || n < 0 {
		return Period{}, fmt.Errorf("period %q: %q is not a whole number of zero or more", s, fields[0])
	}
	u, ok := unitNames[strings.Join(fields[1:], " ")]
	if !ok {
		return Period{}, fmt.Errorf("period %q: unknown unit %q (want hours, days, working days, weeks, months or years)", s, strings.Join(fields[1:], " "))
	}
	return Period{N: n, Unit: u}, nil
}

// String gives the period as ParsePeriod reads it, e.g. "1 year", "15 working days".
func (p Period) String() string {
	if p.Unit == "" {
		return ""
	}
	u := string(p.Unit)
	if p.N == 1 {
		u = strings.TrimSuffix(u, "s")
	}
	return strconv.Itoa(p.N) + " " + u
}

// IsZero reports whether the period is unset.
func (p Period) IsZero() bool { return p.Unit == "" }

// MarshalText implements encoding.TextMarshaler.
func (p Period) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *Period) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*p = Period{}
		return nil
	}
	v, err := ParsePeriod(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// BankHoliday is one non-working day from clocks.yaml.
type BankHoliday struct {
	Date   string // YYYY-MM-DD
	Name   string
	NameCy string
}

// Calendar knows the council's time zone and bank holidays, and adds periods
// to instants.
type Calendar struct {
	loc      *time.Location
	holidays map[int]BankHoliday // key: yyyymmdd
	list     []BankHoliday
}

var london = mustLoadLocation("Europe/London")

func mustLoadLocation(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// NewCalendar builds a calendar for a time zone and a list of bank holidays.
func NewCalendar(loc *time.Location, holidays []BankHoliday) (*Calendar, error) {
	if loc == nil {
		loc = london
	}
	c := &Calendar{loc: loc, holidays: make(map[int]BankHoliday, len(holidays))}
	for _, h := range holidays {
		d, err := time.ParseInLocation(time.DateOnly, h.Date, loc)
		if err != nil {
			return nil, fmt.Errorf("bank holiday %q: want a date as YYYY-MM-DD", h.Date)
		}
		if wd := d.Weekday(); wd == time.Saturday || wd == time.Sunday {
			return nil, fmt.Errorf("bank holiday %s (%s) falls on a %s: list the substitute weekday instead", h.Date, h.Name, wd)
		}
		k := dayKey(d)
		if _, dup := c.holidays[k]; dup {
			return nil, fmt.Errorf("bank holiday %s is listed twice", h.Date)
		}
		c.holidays[k] = h
		c.list = append(c.list, h)
	}
	sort.Slice(c.list, func(i, j int) bool { return c.list[i].Date < c.list[j].Date })
	return c, nil
}

func dayKey(t time.Time) int {
	y, m, d := t.Date()
	return y*10000 + int(m)*100 + d
}

// Location is the council's time zone (Europe/London by default).
func (c *Calendar) Location() *time.Location { return c.loc }

// BankHolidays lists the bank holidays in date order.
func (c *Calendar) BankHolidays() []BankHoliday { return append([]BankHoliday(nil), c.list...) }

// IsWorkingDay reports whether t's date, in the council's time zone, is a
// Monday to Friday that is not a bank holiday.
func (c *Calendar) IsWorkingDay(t time.Time) bool {
	t = t.In(c.loc)
	if wd := t.Weekday(); wd == time.Saturday || wd == time.Sunday {
		return false
	}
	_, holiday := c.holidays[dayKey(t)]
	return !holiday
}

// Add returns the instant p after from.
//
// Hours are elapsed time. Days, weeks, months and years are calendar
// arithmetic in the council's time zone, keeping the wall-clock time across a
// change to or from summer time; a month that has no such day ends on its last
// day (31 January + 1 month = 28 or 29 February). N working days is the same
// wall-clock time on the Nth working day after from's date: a concern received
// on Christmas Eve 2026 has day 1 on 29 December.
func (c *Calendar) Add(from time.Time, p Period) time.Time {
	if p.Unit == Hours {
		return from.Add(time.Duration(p.N) * time.Hour).In(c.loc)
	}
	t := from.In(c.loc)
	y, m, d := t.Date()
	hh, mm, ss := t.Clock()
	ns := t.Nanosecond()
	switch p.Unit {
	case Days:
		return time.Date(y, m, d+p.N, hh, mm, ss, ns, c.loc)
	case Weeks:
		return time.Date(y, m, d+7*p.N, hh, mm, ss, ns, c.loc)
	case Months:
		return addMonths(t, p.N, c.loc)
	case Years:
		return addMonths(t, 12*p.N, c.loc)
	case WorkingDays:
		day := time.Date(y, m, d, 12, 0, 0, 0, c.loc) // noon: never in a DST gap
		for n := 0; n < p.N; {
			day = day.AddDate(0, 0, 1)
			if c.IsWorkingDay(day) {
				n++
			}
		}
		y, m, d = day.Date()
		return time.Date(y, m, d, hh, mm, ss, ns, c.loc)
	}
	return t
}

func addMonths(t time.Time, n int, loc *time.Location) time.Time {
	y, m, d := t.Date()
	hh, mm, ss := t.Clock()
	first := time.Date(y, m+time.Month(n), 1, 12, 0, 0, 0, loc)
	last := first.AddDate(0, 1, -1).Day()
	if d > last {
		d = last
	}
	return time.Date(first.Year(), first.Month(), d, hh, mm, ss, t.Nanosecond(), loc)
}

// Clock names one of the legal clocks.
type Clock string

// The clocks every decision carries.
const (
	ClockAcknowledge  Clock = "acknowledge"
	ClockDecide       Clock = "decide"
	ClockFeedback     Clock = "feedback"
	ClockSafeguarding Clock = "safeguarding"
)

// Clocks are the periods that apply to a concern. A decision's Clocks are the
// policy's defaults with the rule's overrides applied.
type Clocks struct {
	Acknowledge  Period `json:"acknowledge"`
	Decide       Period `json:"decide"`
	Feedback     Period `json:"feedback"`
	Safeguarding Period `json:"safeguarding"`

	calendar *Calendar
}

// Period returns the period of one clock (zero for an unknown clock).
func (c Clocks) Period(k Clock) Period {
	switch k {
	case ClockAcknowledge:
		return c.Acknowledge
	case ClockDecide:
		return c.Decide
	case ClockFeedback:
		return c.Feedback
	case ClockSafeguarding:
		return c.Safeguarding
	}
	return Period{}
}

// Deadline is when clock k runs out for a concern received at from, honouring
// working days and bank holidays in the council's time zone. Clocks decoded
// from JSON have no calendar and count in Europe/London without bank holidays.
func (c Clocks) Deadline(k Clock, from time.Time) time.Time {
	cal := c.calendar
	if cal == nil {
		cal = &Calendar{loc: london}
	}
	return cal.Add(from, c.Period(k))
}

func (c *Clocks) set(k Clock, p Period) {
	switch k {
	case ClockAcknowledge:
		c.Acknowledge = p
	case ClockDecide:
		c.Decide = p
	case ClockFeedback:
		c.Feedback = p
	case ClockSafeguarding:
		c.Safeguarding = p
	}
}
