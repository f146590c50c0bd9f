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

// ParsePeriod reads a period of whole months from two dates (YYYY-MM-DD, both inclusive,
// council time: the first of a month and the last of a month) as the statistics form and the
// API send them. An empty from is the first of January of today's year; an empty to is the
// end of this month. It returns [from, to) as instants, or a fault.Invalid error
// naming the field at fault.
func ParsePeriod(fromText, toText string, now time.Time) (from, to time.Time, err error) {
	today := now.In(london)
	fields := fault.Fields{}
	from = time.Date(today.Year(), 1, 1, 0, 0, 0, 0, london)
	lastDay := time.Date(today.Year(), today.Month()+1, 0, 0, 0, 0, 0, london) // end of this month
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

// ParseYear reads a calendar year (council time) for the annual report; empty means last
// year.
func ParseYear(text string, now time.Time) (year int, from, to time.Time, err error) {
	year = now.In(london).Year() - 1
	if s := strings.TrimSpace(text); s != "" {
		y, perr := strconv.Atoi(s)
		if perr != nil || y < 2000 || y > now.In(london).Year() {
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
