package oversight

import (
	"encoding/csv"
	"fmt"
	"html/template"
	"io"
	"strconv"
	"strings"
	"time"
)

// Labels put a report into words in one language. Every function must be set.
type Labels struct {
	Table  func(id string) string         // a table's heading
	Key    func(table, key string) string // a row's label
	Figure func(id string) string         // a summary figure's label
	// Small is what a suppressed count says ("fewer than 5"); Hidden is what a count
	// suppressed only to protect another says ("not shown").
	Small, Hidden string
}

// Text is a cell in words: the number, or why it is not shown.
func (l Labels) Text(c Cell) string {
	if v, ok := c.Shown(); ok {
		return strconv.FormatInt(v, 10)
	}
	if c.Reason == ReasonSecondary {
		return l.Hidden
	}
	return l.Small
}

// Figure is one line of the summary table: a count, a number of days or a share.
type Figure struct {
	ID    string
	Cell  *Cell    // a count
	Days  *float64 // a time in days
	Share *float64 // 0..1
	// Suppressed: a time or share not shown because the counts behind it are small.
	Suppressed bool
}

// Summary lists the report's headline figures in reading order.
func (r *Report) Summary() []Figure {
	cell := func(id string, c Cell) Figure { return Figure{ID: id, Cell: &c} }
	fs := []Figure{cell("received", r.Received)}
	for _, t := range r.Times {
		fs = append(fs, Figure{ID: t.Metric + ".median", Days: t.MedianDays, Suppressed: t.Suppressed},
			Figure{ID: t.Metric + ".p90", Days: t.P90Days, Suppressed: t.Suppressed})
	}
	fs = append(fs,
		cell("acknowledge_late", r.Breaches.AcknowledgeLate), cell("acknowledge_overdue", r.Breaches.AcknowledgeOverdue),
		cell("decide_late", r.Breaches.DecideLate), cell("decide_overdue", r.Breaches.DecideOverdue),
		cell("feedback_late", r.Breaches.FeedbackLate), cell("feedback_overdue", r.Breaches.FeedbackOverdue),
		cell("anonymous", r.AnonymousDialogue.Denominator), cell("anonymous_dialogue", r.AnonymousDialogue.Numerator),
		Figure{ID: "anonymous_dialogue_share", Share: r.AnonymousDialogue.Share, Suppressed: r.AnonymousDialogue.Suppressed},
		cell("findings", r.Substantiation.Denominator), cell("substantiated", r.Substantiation.Numerator),
		Figure{ID: "substantiation_rate", Share: r.Substantiation.Share, Suppressed: r.Substantiation.Suppressed},
		cell("detriment_reports", r.DetrimentReports),
		cell("investigations_opened", r.Investigations.Opened), cell("investigations_closed", r.Investigations.Closed),
		cell("recommendations_overdue", r.Investigations.RecommendationsOverdue))
	return fs
}

// FigureText is a figure in words; days and shares use a decimal point, as the pages do.
func (l Labels) FigureText(f Figure) string {
	switch {
	case f.Cell != nil:
		return l.Text(*f.Cell)
	case f.Suppressed:
		return l.Hidden
	case f.Days != nil:
		return strconv.FormatFloat(*f.Days, 'f', 1, 64)
	case f.Share != nil:
		return strconv.FormatFloat(*f.Share*100, 'f', 1, 64) + "%"
	}
	return "–"
}

// SummaryTable is the id of the headline figures in exports.
const SummaryTable = "summary"

// ExportTables are the ids WriteCSV accepts besides "all".
func ExportTables() []string { return append([]string{SummaryTable}, TableIDs...) }

// WriteCSV writes one table of r (an id from ExportTables), or every table when table is
// "all", as CSV with the columns table, key, label, value. Suppressed cells say so in words,
// exactly as on the page: the export never holds more than the page shows.
func WriteCSV(w io.Writer, r *Report, table string, l Labels) error {
	cw := csv.NewWriter(w)
	from, to := Dates(r.From, r.To)
	if err := cw.Write([]string{"table", "key", "label", "value", "from", "to"}); err != nil {
		return err
	}
	found := false
	if table == "all" || table == SummaryTable {
		found = true
		for _, f := range r.Summary() {
			if err := cw.Write(safe(SummaryTable, f.ID, l.Figure(f.ID), l.FigureText(f), from, to)); err != nil {
				return err
			}
		}
	}
	for _, t := range r.Tables {
		if table != "all" && table != t.ID {
			continue
		}
		found = true
		for _, row := range t.Rows {
			if err := cw.Write(safe(t.ID, row.Key, l.Key(t.ID, row.Key), l.Text(row.Cell), from, to)); err != nil {
				return err
			}
		}
	}
	if !found {
		return fmt.Errorf("oversight: no table %q", table)
	}
	cw.Flush()
	return cw.Error()
}

// safe defuses spreadsheet formulas: a cell starting with = + - @ (or a tab or carriage
// return) is prefixed with a quote, so a label from the policy files or a stored value cannot
// run in Excel. Negative numbers never occur in these exports.
func safe(cells ...string) []string {
	for i, c := range cells {
		cells[i] = SafeCell(c)
	}
	return cells
}

// SafeCell is safe for one cell.
func SafeCell(c string) string {
	if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
		return "'" + c
	}
	return c
}

// Bar is one bar of a chart.
type Bar struct {
	Label string
	Cell  Cell
}

// Chart describes a horizontal bar chart.
type Chart struct {
	ID          string // unique on the page; ids of the title and description derive from it
	Title, Desc string
	Bars        []Bar
	Labels      Labels
}

// SVG renders the chart as accessible SVG: role="img" named by its <title> and described by
// its <desc>, text as text (it prints and zooms), colours as attributes (no inline style, so
// the strict CSP holds), and no script. A suppressed bar is drawn empty with its words.
// Everything from outside is escaped.
func (c Chart) SVG() template.HTML {
	const (
		width, labelW, valueW = 640, 220, 110
		barH, gap, top        = 22, 10, 8
	)
	var max int64
	for _, b := range c.Bars {
		if v, ok := b.Cell.Shown(); ok && v > max {
			max = v
		}
	}
	height := top*2 + len(c.Bars)*(barH+gap)
	esc := template.HTMLEscapeString
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="app-chart" role="img" width="100%%" viewBox="0 0 %d %d" aria-labelledby="%s-title %s-desc">`,
		width, height, esc(c.ID), esc(c.ID))
	fmt.Fprintf(&b, `<title id="%s-title">%s</title><desc id="%s-desc">%s</desc>`, esc(c.ID), esc(c.Title), esc(c.ID), esc(c.Desc))
	fmt.Fprintf(&b, `<rect x="0" y="0" width="%d" height="%d" fill="#ffffff"/>`, width, height)
	span := width - labelW - valueW
	for i, bar := range c.Bars {
		y := top + i*(barH+gap)
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-family="Arial, Helvetica, sans-serif" font-size="14" fill="#0b0c0c" text-anchor="end">%s</text>`,
			labelW-8, y+barH-6, esc(truncate(bar.Label, 30)))
		v, shown := bar.Cell.Shown()
		w := 0
		if shown && max > 0 {
			w = int(float64(span) * float64(v) / float64(max))
			if v > 0 && w < 2 {
				w = 2
			}
		}
		if shown {
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="#1d70b8"/>`, labelW, y, w, barH)
		} else {
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#505a5f" stroke-dasharray="4 3"/>`, labelW, y, 24, barH-1)
			w = 24
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-family="Arial, Helvetica, sans-serif" font-size="14" fill="#0b0c0c">%s</text>`,
			labelW+w+6, y+barH-6, esc(c.Labels.Text(bar.Cell)))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // built above from escaped parts only
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// PlainLabels label rows with their keys and say what suppression means in English, for the
// API's CSV, which has no page language.
func PlainLabels(threshold int) Labels {
	id := func(s string) string { return s }
	return Labels{Table: id, Figure: id, Key: func(_, k string) string { return k },
		Small: "fewer than " + strconv.Itoa(threshold), Hidden: "not shown"}
}

// AuditFile is the name an audit export is saved under.
const AuditFile = "candour-audit.csv"

// StatsFile is the name a statistics export of table for [from, to) is saved under.
func StatsFile(table string, from, to time.Time) string {
	f, t := Dates(from, to)
	return "candour-stats-" + table + "-" + f + "-" + t + ".csv"
}
