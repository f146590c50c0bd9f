package oversight

import (
	"strconv"
	"strings"
	"time"

	"candour/internal/fault"
)

// Council time: a day or a year of concerns starts at midnight in Cardiff.
var london = mustLoad("Europe/London")

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		return time.UTC
	}
	return loc
}

const dateLayout = "2006-01-02"

// ParsePeriod reads a period of whole months that have ended from two dates (YYYY-MM-DD, both
// inclusive, council time: the first of a month and the last of a month) as the statistics
// form and the API send them. An empty to is the end of last month; an empty from is the first
// of January of that month's year. It returns [from, to) as instants, or a fault.Invalid error
// naming the field at fault.
//
// A month still running is refused: its figures grow day by day, and reading them on two days
// gives the exact counts of the day between (which service, which category), undoing the
// small-number suppression for whoever reads the statistics daily.
func ParsePeriod(fromText, toText string, now time.Time) (from, to time.Time, err error) {
	today := now.In(london)
	fields := fault.Fields{}
	thisMonth := time.Date(today.Year(), today.Month(), 1, 0, 0, 0, 0, london)
	lastDay := thisMonth.AddDate(0, 0, -1) // end of last month
	from = time.Date(lastDay.Year(), 1, 1, 0, 0, 0, 0, london)
	if s := strings.TrimSpace(fromText); s != "" {
		if from, err = time.ParseInLocation(dateLayout, s, london); err != nil {
			fields.Add("from", "oversight.field.date")
		}
	}
	if s := strings.TrimSpace(toText); s != "" {
		if lastDay, err = time.ParseInLocation(dateLayout, s, london); err != nil {
			fields.Add("to", "oversight.field.date")
		}
	}
	to = lastDay.AddDate(0, 0, 1)
	// Whole months only: with any two days allowed, the figures for [d1, d2] and [d1, d2+1]
	// differ by one day's exact counts, undoing the small-number suppression.
	if len(fields) == 0 {
		if from.Day() != 1 {
			fields.Add("from", "oversight.field.whole_months")
		}
		if to.Day() != 1 {
			fields.Add("to", "oversight.field.whole_months")
		}
	}
	if len(fields) == 0 {
		switch {
		case to.After(thisMonth):
			fields.Add("to", "oversight.field.month_not_over")
		case !to.After(from):
			fields.Add("to", "oversight.field.order")
		case to.Sub(from) > MaxRange:
			fields.Add("to", "oversight.field.range")
		}
	}
	if err := fields.Err(); err != nil {
		return time.Time{}, time.Time{}, err
	}
	return from, to, nil
}

// ParseYear reads a calendar year that has ended (council time) for the annual report; empty
// means last year. The running year is refused for the same reason as a running month.
func ParseYear(text string, now time.Time) (year int, from, to time.Time, err error) {
	year = now.In(london).Year() - 1
	if s := strings.TrimSpace(text); s != "" {
		y, perr := strconv.Atoi(s)
		if perr != nil || y < 2000 || y >= now.In(london).Year() {
			return 0, time.Time{}, time.Time{}, (fault.Fields{"year": "oversight.field.year"}).Err()
		}
		year = y
	}
	from = time.Date(year, 1, 1, 0, 0, 0, 0, london)
	return year, from, from.AddDate(1, 0, 0), nil
}

// Dates returns the period as the inclusive dates a person reads: "2025-01-01", "2025-12-31".
func Dates(from, to time.Time) (string, string) {
	return from.In(london).Format(dateLayout), to.In(london).AddDate(0, 0, -1).Format(dateLayout)
}
