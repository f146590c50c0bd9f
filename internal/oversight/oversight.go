// Package oversight is the statistics use case: counts, handling times, clock breaches and
// outcomes for a period, for the auditor, the Monitoring Officer and the annual report to the
// standards committee. Figures come from SQL aggregates over clear columns (internal/store);
// nothing is ever decrypted.
//
// Every count is published by the cell-key method of the Office for National Statistics
// (Census 2021), here in Build and nowhere else. Each counted row has a secret record key
// (0..255, migration 00030); a count's cell key is the sum of its rows' keys modulo 256, and
// the policy's perturbation table (policies/perturbation.yaml) gives the noise for (count,
// cell key). The same rows always get the same noise, so asking again reveals nothing new;
// any other set of rows (another cell, the total, an overlapping period) gets unrelated
// noise, so subtracting one figure from another no longer isolates anyone. Totals are cells
// of their own: a table need not add up to them.
//
// Small-number suppression stays on top, applied to the published (already perturbed)
// figures, so it reveals nothing the noisy figure would not: a published figure between 1
// and the policy's threshold minus one is shown as "fewer than N" (committee papers still
// must not print a 1 that a reader takes for a person). Its secondary rules (the next
// smallest cell, a small remainder of a share) are kept as defence in depth; with noisy
// totals subtraction gives at most a range, never the count. Shares are worked out from the
// published counts; medians and 90th percentiles are not counts and stay exact (to the
// hour), shown only when the published count of concerns behind them is.
package oversight

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"candour/internal/access"
	"candour/internal/audit"
	"candour/internal/domain"
	"candour/internal/fault"
	"candour/internal/routing"
	"candour/internal/store"
)

// DefaultThreshold is used when no policy is loaded or it says nothing.
const DefaultThreshold = 5

// Why a cell is not shown.
const (
	ReasonSmall     = "small"     // 0 < n < threshold: shown as "fewer than N"
	ReasonSecondary = "secondary" // big enough, but would reveal a small cell by subtraction
)

// Cell is one count. Value is nil when the count is suppressed; the JSON shape is
// {"value": 12, "suppressed": false} or {"value": null, "suppressed": true, "reason": "small"}.
type Cell struct {
	Value      *int64 `json:"value"`
	Suppressed bool   `json:"suppressed"`
	Reason     string `json:"reason,omitempty"`
}

// Shown reports whether the count may be shown, and what it is.
func (c Cell) Shown() (int64, bool) {
	if c.Suppressed || c.Value == nil {
		return 0, false
	}
	return *c.Value, true
}

// Row is one line of a breakdown table.
type Row struct {
	Key string `json:"key"`
	Cell
}

// Table is a breakdown (by channel, mode, ...) whose rows add up to the period's total.
type Table struct {
	ID   string `json:"id"`
	Rows []Row  `json:"rows"`
}

// Time is the spread of one handling time, in days. Median and P90 are nil when no concern
// reached the step or when so few did that the figures would describe individuals.
type Time struct {
	Metric     string   `json:"metric"` // acknowledge, decide, feedback, close
	Count      Cell     `json:"count"`  // concerns that reached the step
	MedianDays *float64 `json:"median_days"`
	P90Days    *float64 `json:"p90_days"`
	Suppressed bool     `json:"suppressed"`
}

// Ratio is a share with the counts it comes from. Share is nil when either count is
// suppressed (it would give the suppressed one away) or the denominator is zero.
type Ratio struct {
	Numerator   Cell     `json:"numerator"`
	Denominator Cell     `json:"denominator"`
	Share       *float64 `json:"share"` // 0..1
	Suppressed  bool     `json:"suppressed"`
}

// Breaches counts the legal clocks missed by concerns received in the period.
type Breaches struct {
	AcknowledgeLate    Cell `json:"acknowledge_late"`    // acknowledged after the deadline
	AcknowledgeOverdue Cell `json:"acknowledge_overdue"` // still not acknowledged, deadline passed
	DecideLate         Cell `json:"decide_late"`         // decided after the decide clock ran out
	DecideOverdue      Cell `json:"decide_overdue"`      // still undecided, deadline passed
	FeedbackLate       Cell `json:"feedback_late"`       // feedback given after the deadline
	FeedbackOverdue    Cell `json:"feedback_overdue"`    // no feedback yet, deadline passed
}

// Investigations counts the period's investigations and the recommendations overdue now.
type Investigations struct {
	Opened                 Cell `json:"opened"`
	Closed                 Cell `json:"closed"`
	RecommendationsOverdue Cell `json:"recommendations_overdue"`
}

// Perturbation says how the counts were perturbed: the method and the table's version and
// largest perturbation. Version is empty (and MaxPerturbation 0) for exact figures, which
// only tests and benchmarks ask for.
type Perturbation struct {
	Method          string `json:"method"` // "cell-key"
	Version         string `json:"version"`
	MaxPerturbation int    `json:"max_perturbation"`
}

// Report is the statistics for [From, To). Every count in it is already perturbed and
// suppressed.
type Report struct {
	From                 time.Time      `json:"from"`
	To                   time.Time      `json:"to"` // exclusive
	GeneratedAt          time.Time      `json:"generated_at"`
	SuppressionThreshold int            `json:"suppression_threshold"`
	Perturbation         Perturbation   `json:"perturbation"`
	Received             Cell           `json:"received"`
	Tables               []Table        `json:"tables"`
	Times                []Time         `json:"times"`
	Breaches             Breaches       `json:"breaches"`
	AnonymousDialogue    Ratio          `json:"anonymous_dialogue"`
	Substantiation       Ratio          `json:"substantiation"`
	DetrimentReports     Cell           `json:"detriment_reports"`
	Investigations       Investigations `json:"investigations"`
}

// Table returns the breakdown with id, or nil.
func (r *Report) Table(id string) *Table {
	for i := range r.Tables {
		if r.Tables[i].ID == id {
			return &r.Tables[i]
		}
	}
	return nil
}

// TableIDs are the breakdowns of a report, in the order pages and exports show them.
var TableIDs = []string{"channel", "mode", "category", "service_area", "route", "outcome", "finding"}

// Metrics are the handling times, in order.
var Metrics = []string{"acknowledge", "decide", "feedback", "close"}

// Keys that always appear in a table (zero when nothing was counted), so a year's report
// shows "0 councillor concerns" rather than leaving the line out. They follow the schema's
// CHECK constraints.
var fixedKeys = map[string][]string{
	"channel": {"web", "councillor", "recorded"},
	"mode":    {"anonymous", "confidential", "open"},
	"outcome": {"accepted", "referred", "declined", "pending"},
	"finding": {"upheld", "partly_upheld", "not_upheld", "no_finding"},
}

// Service computes reports.
type Service struct {
	store       *store.Store
	policy      func() *routing.Policy
	now         func() time.Time
	checkpoints *audit.Checkpointer
}

// New returns the statistics service. policy gives the policy in force: its suppression
// threshold and perturbation table. Without one (nil, for tests and benchmarks) figures are
// exact and the threshold is DefaultThreshold.
func New(st *store.Store, policy func() *routing.Policy) *Service {
	return &Service{store: st, policy: policy, now: time.Now}
}

func (s *Service) current() *routing.Policy {
	if s.policy == nil {
		return nil
	}
	return s.policy()
}

// SetClock replaces the clock (tests).
func (s *Service) SetClock(now func() time.Time) { s.now = now }

// Threshold is the suppression threshold in force.
func (s *Service) Threshold() int {
	if p := s.current(); p != nil && p.Retention.SuppressionThreshold >= 1 {
		return p.Retention.SuppressionThreshold
	}
	return DefaultThreshold
}

// table is the perturbation table in force; nil for exact figures.
func (s *Service) table() *routing.Perturbation {
	if p := s.current(); p != nil {
		return p.Perturbation
	}
	return nil
}

// ErrRange is returned for a period that ends before it starts or is longer than MaxRange.
var ErrRange = errors.New("oversight: bad period")

// MaxRange is the longest period one report covers.
const MaxRange = 10 * 366 * 24 * time.Hour

// Use is what a reader does with figures or audit events; the audit trail records it with them.
type Use struct {
	Export  bool              // a file leaves the portal (CSV), rather than a page or JSON
	Details map[string]string // more to record: via, report, table
}

func (s *Service) record(ctx context.Context, u *domain.User, action string, use Use, details map[string]string) error {
	for k, v := range use.Details {
		details[k] = v
	}
	return audit.Record(ctx, s.store, audit.Event{ActorID: u.ID, Action: action, Details: details})
}

// errNotFound answers anyone who may not see oversight: as if the page did not exist.
var errNotFound = fault.New(fault.NotFound, "not_found", "error.not_found")

// Stats returns the suppressed statistics for the concerns received in [from, to) to someone
// who may see them (access.CanSeeStats), and records the reading in the audit trail.
func (s *Service) Stats(ctx context.Context, u *domain.User, from, to time.Time, use Use) (*Report, error) {
	if !access.CanSeeStats(u) {
		return nil, errNotFound
	}
	rep, err := s.Figures(ctx, from, to)
	if err != nil {
		return nil, err
	}
	fromText, toText := Dates(from, to)
	action := "stats.read"
	if use.Export {
		action = "stats.export"
	}
	if err := s.record(ctx, u, action, use, map[string]string{"from": fromText, "to": toText}); err != nil {
		return nil, err
	}
	return rep, nil
}

// Figures returns the suppressed statistics for the concerns received in [from, to), unchecked
// and unrecorded: for Stats, jobs and benchmarks, never for a request.
func (s *Service) Figures(ctx context.Context, from, to time.Time) (*Report, error) {
	return s.figures(ctx, from, to, s.table())
}

// FiguresExact is Figures without perturbation: for the benchmark that weighs the cell-key
// method against the same query without noise, never for anything published.
func (s *Service) FiguresExact(ctx context.Context, from, to time.Time) (*Report, error) {
	return s.figures(ctx, from, to, nil)
}

func (s *Service) figures(ctx context.Context, from, to time.Time, table *routing.Perturbation) (*Report, error) {
	if !to.After(from) || to.Sub(from) > MaxRange {
		return nil, ErrRange
	}
	now := s.now()
	f, err := s.store.Stats(ctx, from, to, now)
	if err != nil {
		return nil, fmt.Errorf("oversight: %w", err)
	}
	return Build(f, from, to, now, s.Threshold(), table), nil
}

// Build turns raw aggregates into a report: every count perturbed with table (nil: exact),
// then suppressed. It is the only place where counts become shown figures.
func Build(f *store.StatsFacts, from, to, now time.Time, threshold int, table *routing.Perturbation) *Report {
	if threshold < 1 {
		threshold = DefaultThreshold
	}
	sup := suppressor{threshold: int64(threshold)}
	r := &Report{From: from, To: to, GeneratedAt: now, SuppressionThreshold: threshold}
	pub := func(t store.Tally) int64 { return t.N }
	if table != nil {
		r.Perturbation = Perturbation{Method: "cell-key", Version: table.Version, MaxPerturbation: table.Max}
		pub = func(t store.Tally) int64 { return table.Publish(t.N, t.Keys) }
	}
	cell := func(t store.Tally) Cell { return sup.cell(pub(t)) }

	// A breakdown's cells add up what the store returned per (dimension, value), keys with
	// counts, and only then are perturbed: the noise belongs to the cell's set of rows.
	byDim := map[string]map[string]store.Tally{}
	var total store.Tally
	for _, c := range f.Counts {
		if c.Dimension == "total" {
			total = store.Tally{N: c.N, Keys: c.Keys}
			continue
		}
		if byDim[c.Dimension] == nil {
			byDim[c.Dimension] = map[string]store.Tally{}
		}
		t := byDim[c.Dimension][c.Value]
		byDim[c.Dimension][c.Value] = store.Tally{N: t.N + c.N, Keys: t.Keys + c.Keys}
	}
	r.Received = cell(total)
	for _, id := range TableIDs {
		counts := map[string]int64{}
		for k, t := range byDim[id] {
			counts[k] = pub(t)
		}
		for _, k := range fixedKeys[id] {
			if _, ok := counts[k]; !ok {
				counts[k] = 0
			}
		}
		r.Tables = append(r.Tables, sup.table(id, counts))
	}

	times := map[string]store.StatsTime{}
	for _, t := range f.Times {
		times[t.Metric] = t
	}
	for _, m := range Metrics {
		t := times[m]
		out := Time{Metric: m, Count: cell(store.Tally{N: t.N, Keys: t.Keys})}
		if out.Count.Suppressed {
			out.Suppressed = true
		} else if t.N > 0 {
			out.MedianDays = days(t.Median)
			out.P90Days = days(t.P90)
		}
		r.Times = append(r.Times, out)
	}

	r.Breaches = Breaches{
		AcknowledgeLate: cell(f.AckLate), AcknowledgeOverdue: cell(f.AckOverdue),
		DecideLate: cell(f.DecideLate), DecideOverdue: cell(f.DecideOverdue),
		FeedbackLate: cell(f.FeedbackLate), FeedbackOverdue: cell(f.FeedbackOverdue),
	}
	r.AnonymousDialogue = sup.ratio(pub(f.AnonymousDialogue), pub(f.Anonymous))
	r.Substantiation = sup.ratio(pub(f.Substantiated), pub(f.Findings))
	r.DetrimentReports = cell(f.Detriment)
	r.Investigations = Investigations{
		Opened: cell(f.InvestigationsOpened), Closed: cell(f.InvestigationsClosed),
		RecommendationsOverdue: cell(f.RecommendationsOverdue),
	}
	return r
}

type suppressor struct{ threshold int64 }

// small reports whether n must not be shown.
func (s suppressor) small(n int64) bool { return n > 0 && n < s.threshold }

func (s suppressor) cell(n int64) Cell {
	if s.small(n) {
		return Cell{Suppressed: true, Reason: ReasonSmall}
	}
	v := n
	return Cell{Value: &v}
}

// table builds a breakdown. Every breakdown adds up to a total shown elsewhere (concerns
// received; allegations with a finding), so when exactly one row is suppressed, the smallest other non-zero row is suppressed as well, so the
// hidden one cannot be had by subtraction. Rows are sorted by count, largest first, with the
// fixed keys' order breaking ties; suppressed rows sort by their true count, which the order
// alone does not reveal beyond "fewer than N".
func (s suppressor) table(id string, counts map[string]int64) Table {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	fixed := fixedKeys[id]
	rank := func(k string) int {
		if i := slices.Index(fixed, k); i >= 0 {
			return i
		}
		return len(fixed)
	}
	slices.SortFunc(keys, func(a, b string) int {
		// Suppressed cells all count as "threshold-1", so their order says nothing.
		ca, cb := s.sortValue(counts[a]), s.sortValue(counts[b])
		switch {
		case ca != cb:
			if ca > cb {
				return -1
			}
			return 1
		case rank(a) != rank(b):
			return rank(a) - rank(b)
		case a < b:
			return -1
		case a > b:
			return 1
		}
		return 0
	})
	t := Table{ID: id, Rows: make([]Row, 0, len(keys))}
	primary := 0
	for _, k := range keys {
		c := s.cell(counts[k])
		if c.Suppressed {
			primary++
		}
		t.Rows = append(t.Rows, Row{Key: k, Cell: c})
	}
	if primary == 1 {
		smallest := -1
		for i, row := range t.Rows {
			v, ok := row.Shown()
			if !ok || v == 0 {
				continue
			}
			if smallest < 0 || v <= *t.Rows[smallest].Value {
				smallest = i
			}
		}
		if smallest >= 0 {
			t.Rows[smallest].Cell = Cell{Suppressed: true, Reason: ReasonSecondary}
		}
	}
	return t
}

func (s suppressor) sortValue(n int64) int64 {
	if s.small(n) {
		return s.threshold - 1
	}
	return n
}

// ratio suppresses the share whenever either count is suppressed, and also when the
// remainder (denominator − numerator) is small: "95% of 100" would say 5 did not.
func (s suppressor) ratio(num, den int64) Ratio {
	r := Ratio{Numerator: s.cell(num), Denominator: s.cell(den)}
	switch {
	case r.Numerator.Suppressed || r.Denominator.Suppressed:
		r.Suppressed = true
	case s.small(den - num):
		// The numerator itself is big enough but tells the small remainder; hide the
		// numerator and the share, keep the denominator.
		r.Numerator = Cell{Suppressed: true, Reason: ReasonSecondary}
		r.Suppressed = true
	case den > 0:
		// Perturbed separately, the numerator can come out above the denominator.
		share := math.Round(min(float64(num)/float64(den), 1)*1000) / 1000
		r.Share = &share
	}
	return r
}

func days(seconds sql.NullFloat64) *float64 {
	if !seconds.Valid {
		return nil
	}
	d := math.Round(seconds.Float64/86400*10) / 10
	return &d
}
