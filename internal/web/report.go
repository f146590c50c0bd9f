package web

import (
	"errors"
	"io"
	"mime"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"candour/internal/fault"
	"candour/internal/i18n"
	"candour/internal/intake"
	"candour/internal/server"
)

// MaxFormBody caps an ordinary (urlencoded) form post. The largest honest report, 20,000
// characters of details and 20 names, fits; anything bigger gets the "too long" page.
const MaxFormBody = 256 << 10

// errTooLarge ends a form post over MaxFormBody; handlers turn it into the friendly 413 page.
var errTooLarge = errors.New("web: form body too large")

// readForm parses an application/x-www-form-urlencoded body of at most MaxFormBody bytes. It
// never calls c.Body(), which would read a streamed body of any size into memory.
func readForm(c *fiber.Ctx) (url.Values, error) {
	mt, _, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	if err != nil || mt != fiber.MIMEApplicationForm {
		return nil, fault.New(fault.Unsupported, "unsupported_media_type", "error.bad_request")
	}
	if c.Request().Header.ContentLength() > MaxFormBody {
		return nil, errTooLarge
	}
	body, err := io.ReadAll(io.LimitReader(server.RequestBody(c), MaxFormBody+1))
	if err != nil {
		return nil, err
	}
	if len(body) > MaxFormBody {
		return nil, errTooLarge
	}
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fiber.ErrBadRequest
	}
	return v, nil
}

// tooLarge renders the friendly page for a form that was too big: nothing was saved.
func (s *Site) tooLarge(c *fiber.Ctx) error {
	server.DrainOrClose(c)
	return s.Render(c, fiber.StatusRequestEntityTooLarge, "report_too_large", struct{}{})
}

// formError is one line of the GOV.UK error summary.
type formError struct {
	ID      string // the id of the input the summary links to
	Label   string // translation key of the field's label, may be empty
	Message string // translation key
}

// formErrors maps a field name (as intake names it: "summary", "identity.email") to its
// message key, and keeps the summary in the order of the form.
type formErrors struct {
	byField map[string]string
	order   []string
}

// Summary lists the errors in form order, for the error summary.
func (e *formErrors) Summary(ids, labels map[string]string) []formError {
	if e == nil {
		return nil
	}
	var out []formError
	for _, f := range e.order {
		if msg, ok := e.byField[f]; ok {
			id := ids[f]
			if id == "" {
				id = fieldID(f)
			}
			out = append(out, formError{ID: id, Label: labels[f], Message: msg})
		}
	}
	return out
}

func newFormErrors(order []string, fields map[string]string) *formErrors {
	e := &formErrors{byField: map[string]string{}, order: slices.Clone(order)}
	for f, msg := range fields {
		e.byField[f] = msg
		if !slices.Contains(e.order, f) {
			e.order = append(e.order, f)
		}
	}
	return e
}

// fieldID turns a field name into an HTML id: "identity.email" → "identity-email".
func fieldID(field string) string { return strings.ReplaceAll(field, ".", "-") }

// reportFields is the order of the report form, for the error summary.
var reportFields = []string{"mode", "service_area", "category", "summary", "details", "named_people",
	"safeguarding", "identity", "identity.name", "identity.email", "identity.phone", "identity.role", "notice_email", "lang"}

// reportFieldIDs: where a field's error in the summary links to, when not fieldID(field).
var reportFieldIDs = map[string]string{
	"mode":         "mode",
	"category":     "category",
	"safeguarding": "safeguarding",
	"lang":         "lang",
	"identity":     "identity-name",
	"notice_email": "notice-email",
}

// reportLabels name each field in the error summary.
var reportLabels = map[string]string{
	"mode":           "report.mode.legend",
	"service_area":   "report.service_area.label",
	"category":       "report.category.legend",
	"summary":        "report.summary.label",
	"details":        "report.details.label",
	"named_people":   "report.people.label",
	"safeguarding":   "report.safeguarding.legend",
	"identity":       "report.identity.legend",
	"identity.name":  "report.identity.name",
	"identity.email": "report.identity.email",
	"identity.phone": "report.identity.phone",
	"identity.role":  "report.identity.role",
	"notice_email":   "report.notice.email",
	"lang":           "report.lang.legend",
}

// reportForm is what the reporter typed, kept when the form comes back with errors.
type reportForm struct {
	Mode, ServiceArea, Category, Summary, Details, People, Safeguarding string
	Picked                                                              []string // emails of directory people ticked
	Name, Email, Phone, Role, Lang                                      string
	Notice                                                              string // the address for "new message" e-mails
}

func (f reportForm) IsPicked(email string) bool { return slices.Contains(f.Picked, email) }

type option struct {
	Value, Label, Hint string
}

type reportData struct {
	Form         reportForm
	Errors       *formErrors
	Modes        []string
	Categories   []string
	ServiceAreas []option
	People       []option
	Limits       map[string]string // shown in hints, e.g. "20,000"
	// Recorded: the Monitoring Officer writing a concern down for a reporter (phone, meeting),
	// signed in; the form posts to the staff path with the session's CSRF token.
	Recorded bool
	CSRF     string
}

// Err returns the message key of field's error, or "".
func (d reportData) Err(field string) string {
	if d.Errors == nil {
		return ""
	}
	return d.Errors.byField[field]
}

// ErrorSummary is the error summary in form order.
func (d reportData) ErrorSummary() []formError { return d.Errors.Summary(reportFieldIDs, reportLabels) }

func (s *Site) reportData(lang string, f reportForm, errs *formErrors) reportData {
	dir := s.deps.Policy().Directory
	d := reportData{Form: f, Errors: errs, Modes: intake.Modes, Categories: intake.Categories,
		Limits: map[string]string{"Summary": thousands(intake.MaxSummary), "Details": thousands(intake.MaxDetails),
			"People": thousands(intake.MaxNamedPeople)}}
	for _, a := range dir.ServiceAreas() {
		d.ServiceAreas = append(d.ServiceAreas, option{Value: a.Code, Label: inLang(lang, a.Name, a.NameCy)})
	}
	for _, p := range dir.People() {
		if slices.Contains(p.Roles, "safeguarding_hub") {
			continue // a team, not a person; the safeguarding question covers it
		}
		d.People = append(d.People, option{Value: p.Email, Label: p.Name, Hint: inLang(lang, p.Title, p.TitleCy)})
	}
	return d
}

func inLang(lang, en, cy string) string {
	if lang == i18n.Welsh && cy != "" {
		return cy
	}
	return en
}

func (s *Site) reportForm(c *fiber.Ctx) error {
	lang := Lang(c)
	return s.Render(c, fiber.StatusOK, "report", s.reportData(lang, reportForm{Lang: lang}, nil))
}

// parseReport reads the form into a submission. Web-only checks (an unanswered yes/no) go into
// fields; intake checks the rest.
func parseReport(v url.Values) (reportForm, intake.ReportSubmission, fault.Fields) {
	clean := func(k string) string { return strings.ToValidUTF8(v.Get(k), "\uFFFD") }
	f := reportForm{
		Mode: v.Get("mode"), ServiceArea: v.Get("service_area"), Category: v.Get("category"),
		Summary: clean("summary"), Details: clean("details"), People: clean("named_people"),
		Safeguarding: v.Get("safeguarding"), Picked: v["picked"],
		Name: clean("identity.name"), Email: clean("identity.email"), Phone: clean("identity.phone"),
		Role: clean("identity.role"), Lang: v.Get("lang"), Notice: clean("notice_email"),
	}
	sub := intake.ReportSubmission{Mode: f.Mode, ServiceArea: f.ServiceArea, Category: f.Category,
		Summary: v.Get("summary"), Details: v.Get("details"), Lang: f.Lang, NoticeEmail: strings.TrimSpace(v.Get("notice_email"))}
	if sub.Lang == "" {
		sub.Lang = "?" // the form always sends one; an empty answer is a wrong one
	}
	fields := fault.Fields{}
	switch f.Safeguarding {
	case "yes":
		sub.Safeguarding = true
	case "no":
	default:
		fields.Add("safeguarding", "field.required")
	}
	sub.NamedPeople = append(sub.NamedPeople, f.Picked...)
	for _, line := range strings.Split(v.Get("named_people"), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			sub.NamedPeople = append(sub.NamedPeople, line)
		}
	}
	id := intake.Identity{Name: strings.TrimSpace(v.Get("identity.name")), Email: strings.TrimSpace(v.Get("identity.email")),
		Phone: strings.TrimSpace(v.Get("identity.phone")), Role: strings.TrimSpace(v.Get("identity.role"))}
	// Anonymous with every identity field blank: no identity. Anything typed in anonymous mode
	// is passed on, so intake refuses it and the reporter sees why.
	if f.Mode != "anonymous" || id != (intake.Identity{}) {
		sub.Identity = &id
	}
	return f, sub, fields
}

func (s *Site) reportSubmit(c *fiber.Ctx) error {
	v, err := readForm(c)
	if errors.Is(err, errTooLarge) {
		return s.tooLarge(c)
	}
	if err != nil {
		return err
	}
	return s.fileReport(c, v, reportData{}, func(sub intake.ReportSubmission) (*intake.Filed, error) {
		return s.deps.Intake.Submit(c.UserContext(), sub)
	})
}

// fileReport checks the posted form, files it with file, and answers with the receipt page
// (or the form again, with every problem, in the page's language). extra carries the
// recorded-on-behalf settings.
func (s *Site) fileReport(c *fiber.Ctx, v url.Values, extra reportData, file func(intake.ReportSubmission) (*intake.Filed, error)) error {
	lang := Lang(c)
	form, sub, fields := parseReport(v)
	again := func(errs fault.Fields) error {
		d := s.reportData(lang, form, newFormErrors(reportFields, errs))
		d.Recorded, d.CSRF = extra.Recorded, extra.CSRF
		return s.Render(c, fiber.StatusBadRequest, "report", d)
	}
	if len(fields) > 0 {
		// Show every problem at once: intake's checks too, without filing anything.
		check := sub
		if fe, ok := fault.As(s.deps.Intake.Validate(&check)); ok {
			for k, m := range fe.Fields {
				fields.Add(k, m)
			}
		}
		return again(fields)
	}
	filed, err := file(sub)
	if fe, ok := fault.As(err); ok && fe.Kind == fault.Invalid && len(fe.Fields) > 0 {
		return again(fe.Fields)
	}
	if err != nil {
		return err
	}
	return s.Render(c, fiber.StatusOK, "report_receipt", receiptData{
		Reference:     filed.Reference,
		Receipt:       strings.Split(filed.Receipt, "-"),
		Explanation:   filed.Decision.Explanation[lang],
		ReceivedAt:    s.day(lang, filed.ReceivedAt),
		AcknowledgeBy: s.day(lang, filed.AcknowledgeBy),
		FeedbackBy:    s.day(lang, filed.FeedbackBy),
		Recorded:      extra.Recorded,
	})
}

// recordForm is the Monitoring Officer's form for a concern received by phone or in a meeting.
func (s *Site) recordForm(c *fiber.Ctx) error {
	lang := Lang(c)
	d := s.reportData(lang, reportForm{Lang: lang}, nil)
	d.Recorded, d.CSRF = true, principal(c).Session.CSRF
	return s.Render(c, fiber.StatusOK, "report", d)
}

// recordSubmit files it; the receipt page tells the officer to hand the receipt over. The staff
// gate has already parsed the form (and checked its CSRF token).
func (s *Site) recordSubmit(c *fiber.Ctx) error {
	v := url.Values{}
	c.Request().PostArgs().VisitAll(func(k, val []byte) { v.Add(string(k), string(val)) })
	p := principal(c)
	return s.fileReport(c, v, reportData{Recorded: true, CSRF: p.Session.CSRF}, func(sub intake.ReportSubmission) (*intake.Filed, error) {
		return s.deps.Casework.RecordOnBehalf(c.UserContext(), p.User, sub)
	})
}

// receiptData is the receipt page. It is rendered once, in the response to the post, and the
// receipt is not kept anywhere.
type receiptData struct {
	Reference     string
	Receipt       []string // the groups of four
	Explanation   string
	ReceivedAt    string
	AcknowledgeBy string
	FeedbackBy    string
	Recorded      bool // written down by the Monitoring Officer: they hand the receipt over
}

var london = func() *time.Location {
	loc, err := time.LoadLocation("Europe/London")
	if err != nil {
		return time.UTC
	}
	return loc
}()

// day formats t as a date in lang, by day only: "7 March 2027", "7 Mawrth 2027".
func (s *Site) day(lang string, t time.Time) string {
	return s.catalog.Day(lang, t.In(london))
}

// thousands writes n with a comma between thousands, as both English and Welsh do: 20,000.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
