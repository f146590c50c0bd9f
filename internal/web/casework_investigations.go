package web

import (
	"fmt"
	"strings"

	"github.com/gofiber/fiber/v2"

	"candour/internal/access"
	"candour/internal/casework"
	"candour/internal/publicid"
)

// ---- list ----

type investigationRow struct {
	ID        string
	Reference string
	Status    string
	Due       string
}

type investigationsData struct {
	Rows          []investigationRow
	CanCommission bool
}

func (s *Site) investigationsList(c *fiber.Ctx) error {
	lang := Lang(c)
	u := principal(c).User
	invs, err := s.deps.Casework.Investigations(c.UserContext(), u)
	if err != nil {
		return err
	}
	d := investigationsData{CanCommission: access.CanCommissionInvestigation(u)}
	for _, inv := range invs {
		d.Rows = append(d.Rows, investigationRow{ID: inv.ID, Reference: inv.Reference,
			Status: s.catalog.T(lang, "caseworkweb.inv_status."+inv.Status), Due: s.day(lang, inv.DueAt)})
	}
	return s.Render(c, fiber.StatusOK, "investigations", d)
}

// ---- commissioning brief ----

type investigationNewData struct {
	formState
	CSRF      string
	ConcernID string // public id; commissioned from this concern's page: go back there to accept it
}

// ErrorSummary is the error summary of the brief.
func (d investigationNewData) ErrorSummary() []formError { return d.Errors }

var briefFields = []string{"title", "terms_of_reference", "commissioning_officer", "investigating_officer", "due_at"}

func (s *Site) investigationNewForm(c *fiber.Ctx) error {
	p := principal(c)
	if !access.CanCommissionInvestigation(p.User) {
		return fiber.ErrNotFound
	}
	return s.Render(c, fiber.StatusOK, "investigation_new", investigationNewData{CSRF: p.Session.CSRF, ConcernID: concernParam(c.Query("concern"))})
}

func (s *Site) investigationCreate(c *fiber.Ctx) error {
	p := principal(c)
	in := casework.NewInvestigation{Title: form(c, "title"), TermsOfReference: form(c, "terms_of_reference"),
		CommissioningOfficer: strings.TrimSpace(form(c, "commissioning_officer")),
		InvestigatingOfficer: strings.TrimSpace(form(c, "investigating_officer")), DueAt: strings.TrimSpace(form(c, "due_at"))}
	concern := concernParam(form(c, "concern"))
	inv, err := s.deps.Casework.CreateInvestigation(c.UserContext(), p.User, in)
	if err != nil {
		st, status, ok := s.failure(err, "brief", briefFields, map[string]string{"title": in.Title,
			"terms_of_reference": in.TermsOfReference, "commissioning_officer": in.CommissioningOfficer,
			"investigating_officer": in.InvestigatingOfficer, "due_at": in.DueAt})
		if !ok {
			return err
		}
		return s.Render(c, status, "investigation_new", investigationNewData{formState: st, CSRF: p.Session.CSRF, ConcernID: concern})
	}
	if concern != "" {
		// Back to the concern, with the new investigation chosen in the accept form.
		return c.Redirect(Localise(Lang(c), "/staff/concerns/"+concern)+
			"?done=commissioned&investigation="+inv.ID+"#accept", fiber.StatusSeeOther)
	}
	return s.back(c, "/staff/investigations/"+inv.ID, "commissioned", "")
}

// concernParam is the concern a brief was commissioned from, a public id, or "": it goes into
// a redirect, so nothing else passes.
func concernParam(v string) string {
	if !publicid.Valid(v) {
		return ""
	}
	return v
}

// ---- investigation page and report ----

type linkedItem struct {
	ID          string
	Reference   string
	ServiceArea string
	Category    string
	Status      string
	Received    string
}

type allegationItem struct {
	ID          int64
	Number      int
	Source      string // reference of the source concern
	Text        []string
	Evidence    []string
	EvidenceRaw string
	Finding     string // "" until recorded
	FindingName string
	FindingText []string
	FindingRaw  string
}

type recommendationItem struct {
	Number int
	ID     int64
	Text   []string
	Owner  string
	Due    string
	Status string
	Name   string // status in words
}

type investigationData struct {
	formState
	CSRF            string
	V               *casework.InvestigationView
	Status          string
	Created         string
	Due             string
	Reported        string
	Closed          string
	Terms           []string
	Conclusion      []string
	Concerns        []linkedItem
	Allegations     []allegationItem
	Recommendations []recommendationItem
	Findings        []choice
	RecStatuses     []choice
	Next            string // the next status, "" when closed
	NextName        string
	CanLink         bool
	Editable        bool
	Notice          string
}

// ErrorSummary is the error summary of the form that failed.
func (d investigationData) ErrorSummary() []formError { return d.Errors }

// Findings in words for the report, by finding.
func (d investigationData) FindingCount(f string) int {
	n := 0
	for _, a := range d.Allegations {
		if a.Finding == f {
			n++
		}
	}
	return n
}

var investigationFields = []string{"reference", "source_concern_id", "text", "evidence", "finding", "finding_text",
	"owner", "due_at", "status", "conclusion"}

func (s *Site) investigationPage(c *fiber.Ctx) error {
	return s.renderInvestigation(c, fiber.StatusOK, "investigation", formState{})
}

func (s *Site) investigationReport(c *fiber.Ctx) error {
	return s.renderInvestigation(c, fiber.StatusOK, "investigation_report", formState{})
}

func (s *Site) renderInvestigation(c *fiber.Ctx, status int, page string, st formState) error {
	id := c.Params("id")
	lang := Lang(c)
	p := principal(c)
	v, err := s.deps.Casework.Investigation(c.UserContext(), p.User, id)
	if err != nil {
		return err
	}
	d := investigationData{formState: st, CSRF: p.Session.CSRF, V: v, Notice: caseworkNotices[c.Query("done")],
		Status: s.catalog.T(lang, "caseworkweb.inv_status."+v.Status), Created: s.day(lang, v.CreatedAt),
		Due: s.day(lang, v.DueAt), Terms: lines(v.TermsOfReference), Conclusion: lines(v.Conclusion),
		CanLink: access.CanCommissionInvestigation(p.User) && v.Status != "closed", Editable: v.Status != "closed"}
	if v.ReportedAt != nil {
		d.Reported = s.day(lang, *v.ReportedAt)
	}
	if v.ClosedAt != nil {
		d.Closed = s.day(lang, *v.ClosedAt)
	}
	refs := map[string]string{}
	for _, lc := range v.Concerns {
		refs[lc.ID] = lc.Reference
		d.Concerns = append(d.Concerns, linkedItem{ID: lc.ID, Reference: lc.Reference, ServiceArea: s.areaName(lang, lc.ServiceArea),
			Category: s.category(lang, lc.Category), Status: s.catalog.T(lang, "caseworkweb.status."+lc.Status), Received: s.day(lang, lc.ReceivedAt)})
	}
	for _, a := range v.Allegations {
		it := allegationItem{ID: a.ID, Number: a.Number, Text: lines(a.Text), Evidence: lines(a.Evidence), EvidenceRaw: a.Evidence,
			FindingText: lines(a.FindingText), FindingRaw: a.FindingText}
		if a.SourceConcernID != nil {
			it.Source = refs[*a.SourceConcernID]
		}
		if a.Finding != nil {
			it.Finding = *a.Finding
			it.FindingName = s.catalog.T(lang, "caseworkweb.finding."+*a.Finding)
		}
		d.Allegations = append(d.Allegations, it)
	}
	for i, r := range v.Recommendations {
		d.Recommendations = append(d.Recommendations, recommendationItem{Number: i + 1, ID: r.ID, Text: lines(r.Text), Owner: r.Owner,
			Due: s.day(lang, r.DueAt), Status: r.Status, Name: s.catalog.T(lang, "caseworkweb.rec_status."+r.Status)})
	}
	for _, f := range casework.Findings {
		d.Findings = append(d.Findings, choice{Value: f, Label: s.catalog.T(lang, "caseworkweb.finding."+f)})
	}
	for _, rs := range []string{"open", "in_progress", "done"} {
		d.RecStatuses = append(d.RecStatuses, choice{Value: rs, Label: s.catalog.T(lang, "caseworkweb.rec_status."+rs)})
	}
	for i, sname := range casework.InvestigationStatuses[:len(casework.InvestigationStatuses)-1] {
		if sname == v.Status {
			d.Next = casework.InvestigationStatuses[i+1]
			d.NextName = s.catalog.T(lang, "caseworkweb.advance."+d.Next)
		}
	}
	return s.Render(c, status, page, d)
}

// investigationAction runs do for the investigation in the path and answers like every
// investigation form: back to the page with a notice, or the page again with the errors.
func (s *Site) investigationAction(c *fiber.Ctx, formName string, values map[string]string, done, anchor string, do func(id string) error) error {
	id := c.Params("id")
	if err := do(id); err != nil {
		st, status, ok := s.failure(err, formName, investigationFields, values)
		if !ok {
			return err
		}
		return s.renderInvestigation(c, status, "investigation", st)
	}
	return s.back(c, "/staff/investigations/"+id, done, anchor)
}

// investigationLink links a concern, named by its reference, to the investigation.
func (s *Site) investigationLink(c *fiber.Ctx) error {
	ref := strings.ToUpper(strings.TrimSpace(form(c, "reference")))
	return s.investigationAction(c, "link", map[string]string{"reference": ref}, "linked", "concerns", func(id string) error {
		return s.deps.Casework.LinkConcernByReference(c.UserContext(), principal(c).User, id, ref)
	})
}

func (s *Site) investigationUnlink(c *fiber.Ctx) error {
	cid := c.Params("cid")
	return s.investigationAction(c, "concerns", nil, "unlinked", "concerns", func(id string) error {
		return s.deps.Casework.UnlinkConcern(c.UserContext(), principal(c).User, id, cid)
	})
}

func (s *Site) allegationAdd(c *fiber.Ctx) error {
	in := casework.AllegationInput{Text: form(c, "text"), Evidence: form(c, "evidence")}
	src := form(c, "source_concern_id")
	in.SourceConcernID = src
	values := map[string]string{"text": in.Text, "evidence": in.Evidence, "source_concern_id": src}
	return s.investigationAction(c, "allegation", values, "allegation", "allegations", func(id string) error {
		_, err := s.deps.Casework.AddAllegation(c.UserContext(), principal(c).User, id, in)
		return err
	})
}

func (s *Site) allegationFinding(c *fiber.Ctx) error {
	aid, err := pathID(c, "aid")
	if err != nil {
		return err
	}
	in := casework.FindingInput{Finding: form(c, "finding"), FindingText: form(c, "finding_text"), Evidence: form(c, "evidence")}
	values := map[string]string{"finding": in.Finding, "finding_text": in.FindingText, "evidence": in.Evidence}
	return s.investigationAction(c, fmt.Sprintf("finding-%d", aid), values, "finding", fmt.Sprintf("allegation-%d", aid), func(id string) error {
		return s.deps.Casework.RecordFinding(c.UserContext(), principal(c).User, id, aid, in)
	})
}

func (s *Site) recommendationAdd(c *fiber.Ctx) error {
	in := casework.RecommendationInput{Text: form(c, "text"), Owner: form(c, "owner"), DueAt: strings.TrimSpace(form(c, "due_at"))}
	values := map[string]string{"text": in.Text, "owner": in.Owner, "due_at": in.DueAt}
	return s.investigationAction(c, "recommendation", values, "recommendation", "recommendations", func(id string) error {
		_, err := s.deps.Casework.AddRecommendation(c.UserContext(), principal(c).User, id, in)
		return err
	})
}

func (s *Site) recommendationStatus(c *fiber.Ctx) error {
	rid, err := pathID(c, "rid")
	if err != nil {
		return err
	}
	status := form(c, "status")
	return s.investigationAction(c, fmt.Sprintf("rec-%d", rid), nil, "recommendation_status", "recommendations", func(id string) error {
		return s.deps.Casework.SetRecommendationStatus(c.UserContext(), principal(c).User, id, rid, status)
	})
}

func (s *Site) investigationAdvance(c *fiber.Ctx) error {
	to, conclusion := form(c, "status"), form(c, "conclusion")
	return s.investigationAction(c, "advance", map[string]string{"conclusion": conclusion}, "status", "", func(id string) error {
		return s.deps.Casework.Advance(c.UserContext(), principal(c).User, id, to, conclusion)
	})
}
