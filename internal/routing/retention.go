package routing

import (
	"maps"
	"slices"
	"time"
)

// Retention says how long each kind of record is kept after closure, and the
// smallest count statistics may show.
type Retention struct {
	// SuppressionThreshold: counts below it are shown as "fewer than N".
	SuppressionThreshold int
	periods              map[string]Period
	calendar             *Calendar
}

// KeepFor is how long a kind of record ("concern", "declined_concern",
// "investigation", ...) is kept after closure.
func (r Retention) KeepFor(kind string) (Period, bool) {
	p, ok := r.periods[kind]
	return p, ok
}

// Kinds lists the record kinds with a retention period, sorted.
func (r Retention) Kinds() []string {
	ks := slices.Sorted(maps.Keys(r.periods))
	return ks
}

// ExpiresAt is when a record of this kind closed at closed is due for deletion.
func (r Retention) ExpiresAt(kind string, closed time.Time) (time.Time, bool) {
	p, ok := r.periods[kind]
	if !ok {
		return time.Time{}, false
	}
	cal := r.calendar
	if cal == nil {
		cal = &Calendar{loc: london}
	}
	return cal.Add(closed, p), true
}

type rawRetention struct {
	KeepAfterClosure     map[string]string `yaml:"keep_after_closure"`
	SuppressionThreshold int               `yaml:"suppression_threshold"`
}

// requiredRetention are the kinds the rest of Candour looks up.
var requiredRetention = []string{"concern", "declined_concern", "investigation", "audit_event"}

func buildRetention(s *source, raw *rawRetention, cal *Calendar) (Retention, []*LoadError) {
	var errs []*LoadError
	r := Retention{SuppressionThreshold: raw.SuppressionThreshold, periods: map[string]Period{}, calendar: cal}
	if raw.SuppressionThreshold < 1 {
		errs = append(errs, s.errorf("$.suppression_threshold", "suppression_threshold must be 1 or more (got %d)", raw.SuppressionThreshold))
	}
	kinds := slices.Sorted(maps.Keys(raw.KeepAfterClosure))
	for _, k := range kinds {
		path := "$.keep_after_closure." + k
		p, err := ParsePeriod(raw.KeepAfterClosure[k])
		if err != nil {
			errs = append(errs, s.errorf(path, "%s: %v", k, err))
			continue
		}
		if p.Unit == WorkingDays || p.Unit == Hours {
			errs = append(errs, s.errorf(path, "%s: keep records for days, weeks, months or years, not %s", k, p.Unit))
			continue
		}
		r.periods[k] = p
	}
	for _, k := range requiredRetention {
		if _, ok := raw.KeepAfterClosure[k]; !ok {
			errs = append(errs, s.errorf("$.keep_after_closure", "keep_after_closure: %s is required", k))
		}
	}
	return r, errs
}
