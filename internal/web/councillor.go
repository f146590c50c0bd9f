package web

import (
	"context"
	"io"
	"net/url"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"

	"candour/internal/fault"
	"candour/internal/i18n"
	"candour/internal/intake"
	"candour/internal/routing"
	"candour/internal/server"
)

// The councillor concern wizard (DESIGN §5, councillor-guidance route). It works without
// JavaScript and keeps no draft on the server: every step posts all earlier answers back as
// hidden fields, and nothing is stored until the councillor submits on the "where this goes and
// why" step. Steps, in order:
//
//	area      which service area
//	evidence  its published evidence: which have you reviewed?
//	raised    raised with the Lead Member / Head of Service, and what happened
//	concern   the concern itself
//	check     where it goes and why (the policy's decision), with Change buttons and Submit
//
// The confirmation is the response to the submit; the councillor follows the concern later
// from /councillor/concerns.

// Wizard steps.
const (
	stepArea     = "area"
	stepEvidence = "evidence"
	stepRaised   = "raised"
	stepConcern  = "concern"
	stepCheck    = "check"
)

var councillorSteps = []string{stepArea, stepEvidence, stepRaised, stepConcern, stepCheck}

// councillorFieldStep says on which step each field is answered, so an error (also one found
// only at submit, or in a tampered hidden field) is shown where it can be corrected.
var councillorFieldStep = map[string]string{
	"service_area":              stepArea,
	"evidence_reviewed":         stepEvidence,
	"raised_with":               stepRaised,
	"raised_outcome":            stepRaised,
	"category":                  stepConcern,
	"summary":                   stepConcern,
	"details":                   stepConcern,
	"named_people":              stepConcern,
	"safeguarding":              stepConcern,
	"passing_on_staff_concerns": stepConcern,
	"confidential":              stepConcern,
}

// councillorFields is the order of the form, for the error summary.
var councillorFields = []string{"service_area", "evidence_reviewed", "raised_with", "raised_outcome", "category",
	"summary", "details", "named_people", "safeguarding", "passing_on_staff_concerns", "confidential"}

// councillorLabels name each field in the error summary.
var councillorLabels = map[string]string{
	"service_area":              "councillor.area.legend",
	"evidence_reviewed":         "councillor.evidence.legend",
	"raised_with":               "councillor.raised.legend",
	"raised_outcome":            "councillor.outcome.legend",
	"category":                  "councillor.category.legend",
	"summary":                   "councillor.summary.label",
	"details":                   "councillor.details.label",
	"named_people":              "councillor.people.label",
	"safeguarding":              "councillor.safeguarding.legend",
	"passing_on_staff_concerns": "councillor.passing_on.legend",
	"confidential":              "councillor.confidential.legend",
}

// councillorAnswers is everything answered so far, as typed: it round-trips through hidden
// fields. Yes/no questions hold "yes", "no" or "" (not answered yet).
type councillorAnswers struct {
	ServiceArea   string
	Evidence      []string
	RaisedWith    []string
	RaisedOutcome string
	Category      string
	Summary       string
	Details       string
	People        string // one per line
	Safeguarding  string
	PassingOn     string
	Confidential  string
}

func (a councillorAnswers) HasEvidence(id string) bool { return slices.Contains(a.Evidence, id) }
func (a councillorAnswers) HasRaised(role string) bool { return slices.Contains(a.RaisedWith, role) }

// PeopleList is People split into lines, blanks dropped.
func (a councillorAnswers) PeopleList() []string {
	var out []string
	for _, line := range strings.Split(a.People, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return out
}

// DetailLines is Details split into lines, for the check step.
func (a councillorAnswers) DetailLines() []string { return strings.Split(a.Details, "\n") }

// Hidden lists the answers as name/value pairs for hidden inputs, leaving out the fields that
// the step shows as visible inputs.
func (a councillorAnswers) Hidden(step string) []hiddenField {
	var out []hiddenField
	add := func(owner, name string, values ...string) {
		if owner == step {
			return
		}
		for _, v := range values {
			if v != "" {
				out = append(out, hiddenField{Name: name, Value: v})
			}
		}
	}
	add(stepArea, "service_area", a.ServiceArea)
	add(stepEvidence, "evidence_reviewed", a.Evidence...)
	add(stepRaised, "raised_with", a.RaisedWith...)
	add(stepRaised, "raised_outcome", a.RaisedOutcome)
	add(stepConcern, "category", a.Category)
	add(stepConcern, "summary", a.Summary)
	add(stepConcern, "details", a.Details)
	add(stepConcern, "named_people", a.People)
	add(stepConcern, "safeguarding", a.Safeguarding)
	add(stepConcern, "passing_on_staff_concerns", a.PassingOn)
	add(stepConcern, "confidential", a.Confidential)
	return out
}

type hiddenField struct{ Name, Value string }

// concern is the request the answers stand for.
func (a councillorAnswers) concern() intake.CouncillorConcern {
	return intake.CouncillorConcern{
		ServiceArea: a.ServiceArea, Category: a.Category, Summary: a.Summary, Details: a.Details,
		EvidenceReviewed: slices.Clone(a.Evidence), RaisedWith: slices.Clone(a.RaisedWith),
		RaisedOutcome: a.RaisedOutcome, NamedPeople: a.PeopleList(),
		PassingOnStaffConcerns: a.PassingOn == "yes", Safeguarding: a.Safeguarding == "yes",
		Confidential: a.Confidential == "yes",
	}
}

// parseCouncillor reads the answers from the posted form. Text is kept as typed (invalid UTF-8
// replaced, line ends normalised), so what comes back is what was sent.
func parseCouncillor(v url.Values) councillorAnswers {
	clean := func(s string) string {
		s = strings.ToValidUTF8(s, "\uFFFD")
		return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
	}
	uniq := func(vs []string) []string {
		var out []string
		for _, x := range vs {
			if x = strings.TrimSpace(clean(x)); x != "" && !slices.Contains(out, x) {
				out = append(out, x)
			}
		}
		return out
	}
	return councillorAnswers{
		ServiceArea: clean(v.Get("service_area")), Evidence: uniq(v["evidence_reviewed"]),
		RaisedWith: uniq(v["raised_with"]), RaisedOutcome: clean(v.Get("raised_outcome")),
		Category: clean(v.Get("category")), Summary: clean(v.Get("summary")), Details: clean(v.Get("details")),
		People: clean(v.Get("named_people")), Safeguarding: clean(v.Get("safeguarding")),
		PassingOn: clean(v.Get("passing_on_staff_concerns")), Confidential: clean(v.Get("confidential")),
	}
}

// evidenceItem is one published document, in the page's language.
type evidenceItem struct{ ID, Title, URL string }

// holderView is a route holder as the councillor sees them.
type holderView struct{ Role, Name, Title string }

// councillorData is what every wizard page sees.
type councillorData struct {
	Step    string
	CSRF    string
	Review  bool // came from the check step through a Change button: continue goes back there
	Answers councillorAnswers
	Errors  *formErrors

	ServiceAreas []option
	AreaName     string         // the chosen area, in the page's language
	Evidence     []evidenceItem // the chosen area's published evidence
	LeadMember   holderView
	HeadOfServ   holderView
	Categories   []string
	Limits       map[string]string

	// Check step: the decision.
	Route       []holderView
	Informed    []holderView
	Explanation string
}

// Err returns the message key of field's error, or "".
func (d councillorData) Err(field string) string {
	if d.Errors == nil {
		return ""
	}
	return d.Errors.byField[field]
}

// ErrorSummary is the error summary in form order.
func (d councillorData) ErrorSummary() []formError {
	return d.Errors.Summary(councillorFieldIDs, councillorLabels)
}

// councillorFieldIDs: where an error in the summary links to (the first input of a group).
var councillorFieldIDs = map[string]string{
	"service_area":              "service_area",
	"evidence_reviewed":         "evidence_reviewed",
	"raised_with":               "raised_with",
	"raised_outcome":            "raised_outcome",
	"category":                  "category",
	"safeguarding":              "safeguarding",
	"passing_on_staff_concerns": "passing_on_staff_concerns",
	"confidential":              "confidential",
}

// EvidenceTitle is the title of one of the chosen area's evidence items.
func (d councillorData) EvidenceTitle(id string) string {
	for _, e := range d.Evidence {
		if e.ID == id {
			return e.Title
		}
	}
	return id
}

// RaisedHolders are the area's Lead Member and Head of Service, for the "raised with" step.
func (d councillorData) RaisedHolders() []holderView { return []holderView{d.LeadMember, d.HeadOfServ} }

// Outcomes are the answers to "what happened?" (routing.RaisedOutcomes without "").
func (d councillorData) Outcomes() []string { return routing.RaisedOutcomes[1:] }

// Back is the step before this one ("" on the first).
func (d councillorData) Back() string {
	i := slices.Index(councillorSteps, d.Step)
	if i <= 0 {
		return ""
	}
	return councillorSteps[i-1]
}

// Number is the step's position, for "Step 2 of 5".
func (d councillorData) Number() int { return slices.Index(councillorSteps, d.Step) + 1 }

// Steps is how many steps there are.
func (d councillorData) Steps() int { return len(councillorSteps) }

func (s *Site) councillorData(c *fiber.Ctx, step string, a councillorAnswers, errs *formErrors) councillorData {
	lang := Lang(c)
	dir := s.deps.Policy().Directory
	d := councillorData{Step: step, CSRF: principal(c).Session.CSRF, Answers: a, Errors: errs,
		Categories: intake.Categories,
		Limits:     map[string]string{"Summary": thousands(intake.MaxSummary), "Details": thousands(intake.MaxDetails), "People": thousands(intake.MaxNamedPeople)}}
	for _, sa := range dir.ServiceAreas() {
		d.ServiceAreas = append(d.ServiceAreas, option{Value: sa.Code, Label: inLang(lang, sa.Name, sa.NameCy)})
	}
	if area, ok := dir.ServiceArea(a.ServiceArea); ok {
		d.AreaName = inLang(lang, area.Name, area.NameCy)
		for _, e := range area.Evidence {
			d.Evidence = append(d.Evidence, evidenceItem{ID: e.ID, Title: inLang(lang, e.Title, e.TitleCy), URL: e.URL})
		}
		d.LeadMember = holderView{Role: "lead_member", Name: area.LeadMember.Name, Title: inLang(lang, area.LeadMember.Title, area.LeadMember.TitleCy)}
		d.HeadOfServ = holderView{Role: "head_of_service", Name: area.HeadOfService.Name, Title: inLang(lang, area.HeadOfService.Title, area.HeadOfService.TitleCy)}
	}
	return d
}

// holders shows route holders with their directory titles in lang.
func holders(lang string, dir *routing.Directory, hs []routing.Holder) []holderView {
	out := make([]holderView, 0, len(hs))
	for _, h := range hs {
		v := holderView{Role: h.Role, Name: h.Name}
		if p, ok := dir.Person(h.Email); ok {
			v.Title = inLang(lang, p.Title, p.TitleCy)
		}
		out = append(out, v)
	}
	return out
}

func (s *Site) councillorStart(c *fiber.Ctx) error {
	return s.renderCouncillor(c, fiber.StatusOK, s.councillorData(c, stepArea, councillorAnswers{}, nil))
}

func (s *Site) renderCouncillor(c *fiber.Ctx, status int, d councillorData) error {
	return s.Render(c, status, "councillor", d)
}

// councillorStep handles every post of the wizard: "step" names the step whose answers are
// posted; "goto" (the Back and Change buttons) moves to another step without checking; "submit"
// on the check step files the concern.
func (s *Site) councillorStep(c *fiber.Ctx) error {
	if c.Request().Header.ContentLength() > MaxFormBody || len(c.Body()) > MaxFormBody {
		return s.tooLarge(c)
	}
	v, err := url.ParseQuery(string(c.Body()))
	if err != nil {
		return fiber.ErrBadRequest
	}
	a := parseCouncillor(v)
	review := v.Get("review") != ""
	step := v.Get("step")
	if !slices.Contains(councillorSteps, step) {
		step = stepArea
	}
	if to := v.Get("goto"); to != "" {
		if !slices.Contains(councillorSteps, to) || to == stepCheck {
			to = stepArea
		}
		d := s.councillorData(c, to, a, nil)
		d.Review = step == stepCheck || (review && to != stepArea)
		return s.renderCouncillor(c, fiber.StatusOK, d)
	}

	switch step {
	case stepArea, stepEvidence, stepRaised:
		fields := s.checkCouncillorStep(step, &a)
		if len(fields) > 0 {
			return s.councillorErrors(c, a, fields, review)
		}
		if step == stepArea {
			// A different area: the evidence ticked for the old one does not apply.
			area, _ := s.deps.Policy().Directory.ServiceArea(a.ServiceArea)
			a.Evidence = slices.DeleteFunc(a.Evidence, func(id string) bool { _, found := area.EvidenceItem(id); return !found })
		}
		// Changing an answer from the check step goes back there, except a new service area,
		// whose evidence must be shown first.
		if review && step != stepArea {
			return s.councillorCheck(c, a)
		}
		d := s.councillorData(c, councillorSteps[slices.Index(councillorSteps, step)+1], a, nil)
		d.Review = review
		return s.renderCouncillor(c, fiber.StatusOK, d)
	case stepConcern:
		return s.councillorCheck(c, a)
	}
	// stepCheck: submit.
	if v.Get("submit") == "" {
		return s.councillorCheck(c, a)
	}
	fields := s.checkAll(&a)
	if len(fields) > 0 {
		return s.councillorErrors(c, a, fields, false)
	}
	p := principal(c)
	lang := Lang(c)
	filed, err := s.deps.Intake.SubmitCouncillorConcern(c.UserContext(),
		intake.Councillor{User: p.User, Language: lang}, a.concern())
	if fe, ok := fault.As(err); ok && fe.Kind == fault.Invalid && len(fe.Fields) > 0 {
		return s.councillorErrors(c, a, fe.Fields, false)
	}
	if err != nil {
		return err
	}
	d := councillorDoneData{Reference: filed.Reference, Explanation: filed.Decision.Explanation[lang],
		NextSteps: filed.Decision.NextSteps[lang], ReceivedAt: s.day(lang, filed.ReceivedAt),
		Route: holders(lang, s.deps.Policy().Directory, filed.Decision.Route)}
	if filed.Decision.GiveAnonymousLink {
		base := s.deps.PublicURL
		d.AnonymousLink = base + Localise(i18n.English, "/report")
		d.AnonymousLinkCy = base + Localise(i18n.Welsh, "/report")
	}
	return s.Render(c, fiber.StatusOK, "councillor_done", d)
}

// checkCouncillorStep checks the answers of one of the first three steps; web-only checks, the
// use case checks everything again at the end.
func (s *Site) checkCouncillorStep(step string, a *councillorAnswers) fault.Fields {
	f := fault.Fields{}
	area, ok := s.deps.Policy().Directory.ServiceArea(a.ServiceArea)
	switch step {
	case stepArea:
		if a.ServiceArea == "" {
			f.Add("service_area", "councillor.area.required")
		} else if !ok {
			f.Add("service_area", "field.choice")
		}
	case stepEvidence:
		for _, id := range a.Evidence {
			if _, found := area.EvidenceItem(id); !found {
				f.Add("evidence_reviewed", "field.choice")
			}
		}
	case stepRaised:
		for _, r := range a.RaisedWith {
			if !slices.Contains(routing.RaisedWithRoles, r) {
				f.Add("raised_with", "field.choice")
			}
		}
		switch {
		case len(a.RaisedWith) == 0:
			a.RaisedOutcome = "" // nothing raised, nothing happened
		case a.RaisedOutcome == "":
			f.Add("raised_outcome", "councillor.outcome.required")
		case !slices.Contains(routing.RaisedOutcomes, a.RaisedOutcome):
			f.Add("raised_outcome", "field.choice")
		}
	}
	return f
}

// checkAll checks every step's answers, the yes/no questions and then the use case's own
// validation, so all problems of the earliest step with problems are shown together.
func (s *Site) checkAll(a *councillorAnswers) fault.Fields {
	f := fault.Fields{}
	for _, step := range []string{stepArea, stepEvidence, stepRaised} {
		for k, m := range s.checkCouncillorStep(step, a) {
			f.Add(k, m)
		}
	}
	if a.Category == "" {
		f.Add("category", "councillor.category.required")
	}
	for field, v := range map[string]string{"safeguarding": a.Safeguarding, "passing_on_staff_concerns": a.PassingOn,
		"confidential": a.Confidential} {
		if v != "yes" && v != "no" {
			f.Add(field, "councillor.yesno.required")
		}
	}
	if _, err := s.deps.Intake.PreviewCouncillorConcern(a.concern()); err != nil {
		if fe, ok := fault.As(err); ok && fe.Kind == fault.Invalid {
			for k, m := range fe.Fields {
				f.Add(k, m)
			}
		}
	}
	return f
}

// councillorCheck checks the whole concern and shows where it would go and why.
func (s *Site) councillorCheck(c *fiber.Ctx, a councillorAnswers) error {
	if fields := s.checkAll(&a); len(fields) > 0 {
		return s.councillorErrors(c, a, fields, false)
	}
	dec, err := s.deps.Intake.PreviewCouncillorConcern(a.concern())
	if fe, ok := fault.As(err); ok && fe.Kind == fault.Invalid && len(fe.Fields) > 0 {
		return s.councillorErrors(c, a, fe.Fields, false)
	}
	if err != nil {
		return err
	}
	lang := Lang(c)
	dir := s.deps.Policy().Directory
	d := s.councillorData(c, stepCheck, a, nil)
	d.Route = holders(lang, dir, dec.Route)
	d.Informed = holders(lang, dir, dec.Informed)
	d.Explanation = dec.Explanation[lang]
	return s.renderCouncillor(c, fiber.StatusOK, d)
}

// councillorErrors shows the earliest step with an error, with every error of that step.
func (s *Site) councillorErrors(c *fiber.Ctx, a councillorAnswers, fields fault.Fields, review bool) error {
	// The use case speaks of the reporting mode (e.g. no custodian to seal a name to); here
	// that is the "keep my name confidential?" question.
	if m, ok := fields["mode"]; ok {
		delete(fields, "mode")
		fields.Add("confidential", m)
	}
	step := stepConcern
	for _, f := range councillorFields {
		if _, bad := fields[f]; bad {
			step = councillorFieldStep[f]
			break
		}
	}
	mine := fault.Fields{}
	for f, m := range fields {
		if owner, known := councillorFieldStep[f]; owner == step || (!known && step == stepConcern) {
			mine[f] = m
		}
	}
	d := s.councillorData(c, step, a, newFormErrors(councillorFields, mine))
	d.Review = review
	return s.renderCouncillor(c, fiber.StatusBadRequest, d)
}

// councillorDoneData is the confirmation page, rendered once in the response to the submit.
type councillorDoneData struct {
	Reference       string
	Explanation     string
	NextSteps       []string
	ReceivedAt      string
	Route           []holderView
	AnonymousLink   string // set when the councillor is passing on staff concerns
	AnonymousLinkCy string
}

type councillorConcernRow struct {
	ID, Reference, ServiceArea, Status, ReceivedAt string
}

type councillorListData struct {
	Concerns []councillorConcernRow
}

// councillorConcerns lists the councillor's own concerns: reference, area, status, date.
func (s *Site) councillorConcerns(c *fiber.Ctx) error {
	rows, err := s.deps.Intake.CouncillorConcerns(c.UserContext(), principal(c).User)
	if err != nil {
		return err
	}
	lang := Lang(c)
	dir := s.deps.Policy().Directory
	d := councillorListData{Concerns: []councillorConcernRow{}}
	for _, r := range rows {
		area := r.ServiceArea
		if sa, ok := dir.ServiceArea(r.ServiceArea); ok {
			area = inLang(lang, sa.Name, sa.NameCy)
		}
		d.Concerns = append(d.Concerns, councillorConcernRow{ID: r.ID, Reference: r.Reference, ServiceArea: area,
			Status: r.Status, ReceivedAt: s.day(lang, r.ReceivedAt)})
	}
	return s.Render(c, fiber.StatusOK, "councillor_concerns", d)
}

// councillorSource is the concern (public id in the path) the signed-in councillor raised:
// intake answers 404 for anyone else's.
func (s *Site) councillorSource(c *fiber.Ctx) threadSource {
	p, id := principal(c), c.Params("id")
	base := "/councillor/concerns/" + url.PathEscape(id)
	return threadSource{Base: base, Page: base, CSRF: p.Session.CSRF, Councillor: true,
		load: func(ctx context.Context) (*intake.Mailbox, error) {
			return s.deps.Intake.CouncillorThread(ctx, p.User, id)
		}}
}

// councillorThread is a councillor's own concern as a conversation: the council's messages and
// questions, their answers, evidence both ways and the outcome.
func (s *Site) councillorThread(c *fiber.Ctx) error {
	return s.renderThread(c, fiber.StatusOK, s.councillorSource(c), afterRedirect(c))
}

func (s *Site) councillorReply(c *fiber.Ctx) error {
	p, id := principal(c), c.Params("id")
	v := url.Values{"body": {form(c, "body")}, "detriment": {form(c, "detriment")}}
	return s.threadReply(c, s.councillorSource(c), v, func(body string, detriment bool) error {
		return s.deps.Intake.CouncillorReply(c.UserContext(), p.User, id, body, detriment)
	})
}

// councillorUpload takes the file from the form the gate opened (its CSRF part read).
func (s *Site) councillorUpload(c *fiber.Ctx) error {
	mr := uploadOf(c)
	if mr == nil {
		return errNotMultipart
	}
	p, id := principal(c), c.Params("id")
	src := s.councillorSource(c)
	// A councillor's file goes to the council at once: they are not anonymous.
	return s.threadUpload(c, src, mr, func(name string, r io.Reader, _ bool) (string, error) {
		att, err := s.deps.Intake.CouncillorAttach(c.UserContext(), p.User, id, name, r)
		if err != nil {
			return "", err
		}
		return fileAddedPage(c, src, att), nil
	})
}

func (s *Site) councillorDownload(c *fiber.Ctx) error {
	name, n, r, err := s.deps.Intake.CouncillorAttachment(c.UserContext(), principal(c).User, c.Params("id"), c.Params("aid"))
	if err != nil {
		return err
	}
	return server.SendFile(c, name, server.BinaryType, n, r)
}
