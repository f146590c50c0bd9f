package web

import (
	"bytes"
	"html/template"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"candour/internal/fault"
	"candour/internal/oversight"
	"candour/internal/routing"
	"candour/internal/server"
)

// labels puts reports into words in lang.
func (s *Site) labels(lang string, threshold int) oversight.Labels {
	t := func(id string, data ...map[string]any) string { return s.catalog.T(lang, id, data...) }
	return oversight.Labels{
		Table:  func(id string) string { return t("oversight.table." + id) },
		Figure: func(id string) string { return t("oversight.figure."+id, s.limits(lang)) },
		Key:    func(table, key string) string { return s.keyLabel(lang, table, key) },
		Small:  t("oversight.suppressed", map[string]any{"N": threshold}),
		Hidden: t("oversight.hidden"),
	}
}

// keyLabel names a row: from this feature's messages, the report form's categories, or the
// policy directory's service areas; a key nobody has named is shown as it is stored.
func (s *Site) keyLabel(lang, table, key string) string {
	switch table {
	case "category":
		if id := "report.category." + key; s.catalog.Has(lang, id) {
			return s.catalog.T(lang, id)
		}
	case "service_area":
		if s.deps.Policy != nil {
			if p := s.deps.Policy(); p != nil {
				if a, ok := p.Directory.ServiceArea(key); ok {
					if lang == "cy" && a.NameCy != "" {
						return a.NameCy
					}
					return a.Name
				}
			}
		}
	}
	if id := "oversight." + table + "." + key; s.catalog.Has(lang, id) {
		return s.catalog.T(lang, id)
	}
	return key
}

type statsRow struct{ Label, Text string }

type statsTable struct {
	ID, Title string
	Chart     template.HTML
	Rows      []statsRow
	CSV       string
}

type statsTime struct {
	Label, Count, Median, P90 string
}

type statsView struct {
	From, To  string // as typed / as used
	Errors    map[string]string
	Year      int
	Years     []int
	Threshold int
	// ThresholdMax is the largest count that is suppressed.
	ThresholdMax int
	// Perturbation says how the counts were perturbed (its Version is empty for exact figures).
	Perturbation oversight.Perturbation
	Received     string
	Summary      []statsRow
	Times        []statsTime
	Tables       []statsTable
	Sentences    []string
	CSVAll       string
	AnnualLink   string
}

func (s *Site) statsView(lang string, rep *oversight.Report) statsView {
	l := s.labels(lang, rep.SuppressionThreshold)
	from, to := oversight.Dates(rep.From, rep.To)
	v := statsView{From: from, To: to, Threshold: rep.SuppressionThreshold, ThresholdMax: rep.SuppressionThreshold - 1,
		Perturbation: rep.Perturbation, Received: l.Text(rep.Received)}
	exportURL := func(table string) string {
		q := url.Values{"from": {from}, "to": {to}, "table": {table}}
		return Localise(lang, "/staff/stats/export") + "?" + q.Encode()
	}
	v.CSVAll = exportURL("all")
	for _, f := range rep.Summary() {
		v.Summary = append(v.Summary, statsRow{Label: l.Figure(f.ID), Text: l.FigureText(f)})
	}
	for _, tm := range rep.Times {
		row := statsTime{Label: l.Figure(tm.Metric), Count: l.Text(tm.Count), Median: "–", P90: "–"}
		switch {
		case tm.Suppressed:
			row.Median, row.P90 = l.Hidden, l.Hidden
		case tm.MedianDays != nil:
			row.Median = strconv.FormatFloat(*tm.MedianDays, 'f', 1, 64)
			row.P90 = strconv.FormatFloat(*tm.P90Days, 'f', 1, 64)
		}
		v.Times = append(v.Times, row)
	}
	for _, t := range rep.Tables {
		st := statsTable{ID: t.ID, Title: l.Table(t.ID), CSV: exportURL(t.ID)}
		chart := oversight.Chart{ID: "chart-" + t.ID, Title: st.Title, Labels: l,
			Desc: s.catalog.T(lang, "oversight.chart.desc", map[string]any{"Table": st.Title, "From": from, "To": to})}
		for _, r := range t.Rows {
			label := l.Key(t.ID, r.Key)
			st.Rows = append(st.Rows, statsRow{Label: label, Text: l.Text(r.Cell)})
			chart.Bars = append(chart.Bars, oversight.Bar{Label: label, Cell: r.Cell})
		}
		st.Chart = chart.SVG()
		v.Tables = append(v.Tables, st)
	}
	return v
}

// limits are the policy's default clocks in words, as the figures' labels name them.
func (s *Site) limits(lang string) map[string]any {
	m := map[string]any{}
	if s.deps.Policy == nil || s.deps.Policy() == nil {
		return m
	}
	c := s.deps.Policy().Clocks
	for k, p := range map[string]routing.Period{"Acknowledge": c.Acknowledge, "Decide": c.Decide, "Feedback": c.Feedback} {
		m[k] = s.catalog.N(lang, "period."+strings.ReplaceAll(string(p.Unit), " ", "_"), p.N)
	}
	return m
}

// sentences is the annual report's plain-language summary.
func (s *Site) sentences(lang string, year int, rep *oversight.Report) []string {
	l := s.labels(lang, rep.SuppressionThreshold)
	t := func(id string, data map[string]any) string { return s.catalog.T(lang, id, data) }
	out := []string{t("oversight.summary.received", map[string]any{"Year": year, "Count": l.Text(rep.Received)})}
	out = append(out, t("oversight.summary.anonymous", map[string]any{
		"Count": l.Text(rep.AnonymousDialogue.Denominator), "Dialogue": l.Text(rep.AnonymousDialogue.Numerator)}))
	for _, tm := range rep.Times {
		if tm.Metric != "acknowledge" && tm.Metric != "feedback" {
			continue
		}
		if tm.MedianDays == nil || tm.Suppressed {
			out = append(out, t("oversight.summary."+tm.Metric+"_none", nil))
			continue
		}
		data := s.limits(lang)
		data["Median"], data["P90"] = strconv.FormatFloat(*tm.MedianDays, 'f', 1, 64), strconv.FormatFloat(*tm.P90Days, 'f', 1, 64)
		out = append(out, t("oversight.summary."+tm.Metric, data))
	}
	out = append(out, t("oversight.summary.breaches", map[string]any{
		"AckLate": l.Text(rep.Breaches.AcknowledgeLate), "AckOverdue": l.Text(rep.Breaches.AcknowledgeOverdue),
		"DecideLate": l.Text(rep.Breaches.DecideLate), "DecideOverdue": l.Text(rep.Breaches.DecideOverdue),
		"FeedbackLate": l.Text(rep.Breaches.FeedbackLate), "FeedbackOverdue": l.Text(rep.Breaches.FeedbackOverdue)}))
	rate := l.FigureText(oversight.Figure{Share: rep.Substantiation.Share, Suppressed: rep.Substantiation.Suppressed})
	out = append(out, t("oversight.summary.investigations", map[string]any{
		"Opened": l.Text(rep.Investigations.Opened), "Closed": l.Text(rep.Investigations.Closed), "Rate": rate}))
	out = append(out, t("oversight.summary.detriment", map[string]any{"Count": l.Text(rep.DetrimentReports)}))
	out = append(out, t("oversight.summary.suppression", map[string]any{"N": rep.SuppressionThreshold, "Max": rep.SuppressionThreshold - 1}))
	if p := rep.Perturbation; p.Version != "" {
		out = append(out, t("oversight.perturbation.method", map[string]any{"Max": p.MaxPerturbation, "Version": p.Version}),
			t("oversight.perturbation.totals", nil))
	}
	return out
}

func (s *Site) statsPage(c *fiber.Ctx) error {
	from, to, err := oversight.ParsePeriod(c.Query("from"), c.Query("to"), time.Now())
	if fe, ok := fault.As(err); ok && fe.Kind == fault.Invalid {
		return s.Render(c, fiber.StatusBadRequest, "stats", statsView{From: c.Query("from"), To: c.Query("to"), Errors: fe.Fields})
	}
	if err != nil {
		return err
	}
	rep, err := s.deps.Oversight.Stats(c.UserContext(), principal(c).User, from, to, oversight.Use{})
	if err != nil {
		return err
	}
	v := s.statsView(Lang(c), rep)
	v.Year = time.Now().Year() - 1
	// Years that have ended: the running one is not reported until it is over.
	for y := time.Now().Year() - 1; y >= time.Now().Year()-5; y-- {
		v.Years = append(v.Years, y)
	}
	return s.Render(c, fiber.StatusOK, "stats", v)
}

func (s *Site) annualReport(c *fiber.Ctx) error {
	year, from, to, err := oversight.ParseYear(c.Query("year"), time.Now())
	if err != nil {
		return err
	}
	rep, err := s.deps.Oversight.Stats(c.UserContext(), principal(c).User, from, to,
		oversight.Use{Details: map[string]string{"report": "annual"}})
	if err != nil {
		return err
	}
	v := s.statsView(Lang(c), rep)
	v.Year = year
	v.Sentences = s.sentences(Lang(c), year, rep)
	return s.Render(c, fiber.StatusOK, "annual_report", v)
}

func (s *Site) statsExport(c *fiber.Ctx) error {
	table := c.Query("table", "all")
	if table != "all" && !slices.Contains(oversight.ExportTables(), table) {
		return fiber.ErrNotFound
	}
	from, to, err := oversight.ParsePeriod(c.Query("from"), c.Query("to"), time.Now())
	if err != nil {
		return err
	}
	rep, err := s.deps.Oversight.Stats(c.UserContext(), principal(c).User, from, to,
		oversight.Use{Export: true, Details: map[string]string{"table": table}})
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := oversight.WriteCSV(&buf, rep, table, s.labels(Lang(c), rep.SuppressionThreshold)); err != nil {
		return err
	}
	return server.SendFile(c, oversight.StatsFile(table, from, to), server.CSVType, int64(buf.Len()), &buf)
}

type auditRow struct {
	Seq                                int64
	At, Actor, Action, Object, Details string
}

type auditField struct{ Name, Value string }

type auditView struct {
	Fields   []auditField
	Errors   map[string]string
	Result   oversight.Verification
	FirstBad int64
	Rows     []auditRow
	CSV      string
}

func (s *Site) auditQuery(c *fiber.Ctx) oversight.AuditQuery {
	return oversight.AuditQuery{Actor: c.Query("actor"), Object: c.Query("object"), From: c.Query("from"), To: c.Query("to")}
}

func (s *Site) auditPage(c *fiber.Ctx) error {
	q := s.auditQuery(c)
	v := auditView{Fields: []auditField{{"actor", q.Actor}, {"object", q.Object}, {"from", q.From}, {"to", q.To}}}
	trail, err := s.deps.Oversight.AuditTrail(c.UserContext(), principal(c).User, q, oversight.Use{})
	if fe, ok := fault.As(err); ok && fe.Kind == fault.Invalid {
		v.Errors = fe.Fields
		return s.Render(c, fiber.StatusBadRequest, "audit", v)
	}
	if err != nil {
		return err
	}
	v.Result = trail.Verification
	if v.Result.FirstBad != nil {
		v.FirstBad = *v.Result.FirstBad
	}
	for _, e := range trail.Events {
		obj := e.ObjectType
		if e.ObjectID != "" {
			obj += ":" + e.ObjectID
		}
		v.Rows = append(v.Rows, auditRow{Seq: e.Seq, At: e.At.In(time.Local).Format("2006-01-02 15:04:05"), Actor: e.Actor,
			Action: e.Action, Object: obj, Details: string(e.Details)})
	}
	qs := url.Values{"actor": {q.Actor}, "object": {q.Object}, "from": {q.From}, "to": {q.To}}
	v.CSV = Localise(Lang(c), "/staff/audit/export") + "?" + qs.Encode()
	return s.Render(c, fiber.StatusOK, "audit", v)
}

func (s *Site) auditExport(c *fiber.Ctx) error {
	trail, err := s.deps.Oversight.AuditTrail(c.UserContext(), principal(c).User, s.auditQuery(c), oversight.Use{Export: true})
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := oversight.WriteAuditCSV(&buf, trail.Events); err != nil {
		return err
	}
	return server.SendFile(c, oversight.AuditFile, server.CSVType, int64(buf.Len()), &buf)
}

// auditCheckpoints: the signed, witnessed checkpoint file, for an auditor to keep elsewhere.
func (s *Site) auditCheckpoints(c *fiber.Ctx) error {
	data, err := s.deps.Oversight.Checkpoints(c.UserContext(), principal(c).User)
	if err != nil {
		return err
	}
	return server.SendFile(c, oversight.CheckpointFile, server.TextType, int64(len(data)), bytes.NewReader(data))
}
