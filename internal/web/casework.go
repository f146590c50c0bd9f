package web

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"candour/internal/access"
	"candour/internal/casework"
	"candour/internal/domain"
	"candour/internal/fault"
)

// limitForm refuses a staff form post over MaxFormBody before anything reads it.
func limitForm(h fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if n := c.Request().Header.ContentLength(); n > MaxFormBody || n < 0 {
			return fiber.ErrRequestEntityTooLarge // the error handler drains or closes
		}
		return h(c)
	}
}

func pathID(c *fiber.Ctx, name string) (int64, error) {
	id, err := strconv.ParseInt(c.Params(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, fiber.ErrNotFound
	}
	return id, nil
}

// form returns a posted field as valid UTF-8 (casework rejects control characters itself).
func form(c *fiber.Ctx, name string) string {
	return strings.ToValidUTF8(c.FormValue(name), "\uFFFD")
}

// formState carries the errors of the form that failed, and what was typed into it, back to
// the page. Field ids are "<form>-<field>", so two forms on one page never share an id.
type formState struct {
	Errors []formError
	fields map[string]string // id → message key
	values map[string]string // id → value
}

// Err returns the message key of the error on the input with id, or "".
func (f formState) Err(id string) string { return f.fields[id] }

// Val returns what was typed into the input with id before the error.
func (f formState) Val(id string) string { return f.values[id] }

// failure turns a casework error on form into page errors. Invalid input, out-of-order actions
// and refusals are shown on the page; anything else (404 included) goes to the error handler.
func (s *Site) failure(err error, formName string, order []string, values map[string]string) (formState, int, bool) {
	fe, ok := fault.As(err)
	if !ok {
		return formState{}, 0, false
	}
	st := formState{fields: map[string]string{}, values: map[string]string{}}
	for k, v := range values {
		st.values[formName+"-"+k] = v
	}
	switch fe.Kind {
	case fault.Invalid:
		if len(fe.Fields) == 0 {
			st.Errors = append(st.Errors, formError{ID: formName, Message: fe.Message})
			return st, fiber.StatusBadRequest, true
		}
		names := slices.Clone(order)
		for f := range fe.Fields {
			if !slices.Contains(names, f) {
				names = append(names, f)
			}
		}
		for _, f := range names {
			msg, ok := fe.Fields[f]
			if !ok {
				continue
			}
			id := formName + "-" + f
			st.fields[id] = msg
			// The label of the field on this form, else the field's usual label.
			label := "caseworkweb.label." + formName + "." + f
			if !s.catalog.Has("en", label) {
				label = "caseworkweb.label." + f
			}
			if !s.catalog.Has("en", label) {
				label = ""
			}
			st.Errors = append(st.Errors, formError{ID: id, Label: label, Message: msg})
		}
		return st, fiber.StatusBadRequest, true
	case fault.Conflict, fault.Forbidden:
		st.Errors = append(st.Errors, formError{ID: formName, Message: fe.Message})
		status := fiber.StatusConflict
		if fe.Kind == fault.Forbidden {
			status = fiber.StatusForbidden
		}
		return st, status, true
	}
	return formState{}, 0, false
}

// back answers a successful post: 303 to path in the page's language, with a notice.
func (s *Site) back(c *fiber.Ctx, path, done, anchor string) error {
	target := Localise(Lang(c), path)
	if done != "" {
		target += "?done=" + url.QueryEscape(done)
	}
	if anchor != "" {
		target += "#" + anchor
	}
	return c.Redirect(target, fiber.StatusSeeOther)
}

// caseworkNotices are the success banners after a redirect, by ?done=.
var caseworkNotices = map[string]string{
	"acknowledged":          "caseworkweb.done.acknowledged",
	"message":               "caseworkweb.done.message",
	"interim":               "caseworkweb.done.interim",
	"note":                  "caseworkweb.done.note",
	"refer":                 "caseworkweb.done.refer",
	"referral":              "caseworkweb.done.referral",
	"decline":               "caseworkweb.done.decline",
	"accept":                "caseworkweb.done.accept",
	"close":                 "caseworkweb.done.close",
	"granted":               "caseworkweb.done.granted",
	"conflict":              "caseworkweb.done.conflict",
	"identity_requested":    "caseworkweb.done.identity_requested",
	"commissioned":          "caseworkweb.done.commissioned",
	"linked":                "caseworkweb.done.linked",
	"unlinked":              "caseworkweb.done.unlinked",
	"allegation":            "caseworkweb.done.allegation",
	"finding":               "caseworkweb.done.finding",
	"recommendation":        "caseworkweb.done.recommendation",
	"recommendation_status": "caseworkweb.done.recommendation_status",
	"status":                "caseworkweb.done.status",
	"approved":              "caseworkweb.done.approved",
	"refused":               "caseworkweb.done.refused",
}

// label translates key when the catalogue has it, else shows raw (an id from the policy).
func (s *Site) label(lang, key, raw string) string {
	if s.catalog.Has(lang, key) {
		return s.catalog.T(lang, key)
	}
	return raw
}

// areaName is a service area's name in lang, or its code when the directory no longer has it.
func (s *Site) areaName(lang, code string) string {
	if code == "" || s.deps.Policy == nil {
		return code
	}
	a, ok := s.deps.Policy().Directory.ServiceArea(code)
	if !ok {
		return code
	}
	if lang == "cy" && a.NameCy != "" {
		return a.NameCy
	}
	return a.Name
}

func (s *Site) category(lang, c string) string { return s.label(lang, "report.category."+c, c) }

// stamp is a day and a time of day, in the council's time zone.
func (s *Site) stamp(lang string, t time.Time) string {
	return s.day(lang, t) + ", " + t.In(london).Format("15:04")
}

// timeLeft says how long is left on a clock, or how long it is overdue, in plain words.
func (s *Site) timeLeft(lang string, d time.Duration) string {
	key := "caseworkweb.clock.left"
	if d < 0 {
		key, d = "caseworkweb.clock.overdue", -d
	}
	if d < 24*time.Hour {
		h := int((d + time.Hour - 1) / time.Hour)
		if h < 1 {
			h = 1
		}
		return s.catalog.N(lang, key+"_hours", h)
	}
	return s.catalog.N(lang, key+"_days", int((d+12*time.Hour)/(24*time.Hour))) // nearest day
}

// clock is one legal clock as a queue cell or a concern fact.
type clock struct {
	Text     string
	Breached bool
	Done     bool
}

func (s *Site) clockOf(lang string, doneAt *time.Time, due time.Time, now time.Time) clock {
	if doneAt != nil {
		if doneAt.After(due) {
			return clock{Text: s.catalog.T(lang, "caseworkweb.clock.done_late"), Done: true, Breached: true}
		}
		return clock{Text: s.catalog.T(lang, "caseworkweb.clock.done"), Done: true}
	}
	left := due.Sub(now)
	return clock{Text: s.timeLeft(lang, left), Breached: left < 0}
}

// decideClock is the decide clock, which a concern filed before it was kept does not have.
func (s *Site) decideClock(lang string, decidedAt, due *time.Time, now time.Time) clock {
	if due == nil {
		return clock{Text: s.catalog.T(lang, "caseworkweb.clock.none")}
	}
	return s.clockOf(lang, decidedAt, *due, now)
}

// ---- triage queue ----

type triageRow struct {
	ID           string
	Reference    string
	Safeguarding bool
	Channel      string
	Mode         string
	ServiceArea  string
	Category     string
	Route        string
	Status       string
	Waiting      bool // the reporter wrote last
	Received     string
	Acknowledge  clock
	Decide       clock
	Feedback     clock
}

type choice struct {
	Value, Label string
	Selected     bool
}

type triageData struct {
	formState
	Rows []triageRow
	// Filters are the queue's select filters in form order: each query field with its choices.
	Filters  []triageFilter
	Breached bool
	Waiting  bool // only concerns where the reporter wrote last
	Filtered bool
	Next     string
	Notice   string
}

type triageFilter struct {
	Field   string // query field: status, route, service_area, channel
	Options []choice
}

// ErrorSummary is the error summary of the filters.
func (d triageData) ErrorSummary() []formError { return d.Errors }

func (s *Site) triage(c *fiber.Ctx) error {
	lang := Lang(c)
	u := principal(c).User
	f := domain.TriageFilter{Status: c.Query("status"), Route: c.Query("route"), ServiceArea: c.Query("service_area"),
		Channel: c.Query("channel"), Breached: c.Query("breached") == "yes", Waiting: c.Query("waiting") == "yes"}
	d := triageData{Breached: f.Breached, Waiting: f.Waiting, Notice: caseworkNotices[c.Query("done")],
		Filtered: f != (domain.TriageFilter{})}
	var statuses, routes, areas, channels []choice
	for _, st := range casework.Statuses[:5] {
		statuses = append(statuses, choice{st, s.catalog.T(lang, "caseworkweb.status."+st), st == f.Status})
	}
	for _, ch := range []string{"web", "councillor", "recorded"} {
		channels = append(channels, choice{ch, s.catalog.T(lang, "caseworkweb.channel."+ch), ch == f.Channel})
	}
	if s.deps.Policy != nil {
		p := s.deps.Policy()
		for _, r := range p.RuleIDs() {
			routes = append(routes, choice{r, s.label(lang, "caseworkweb.rule."+r, r), r == f.Route})
		}
		for _, a := range p.Directory.ServiceAreas() {
			areas = append(areas, choice{a.Code, s.areaName(lang, a.Code), a.Code == f.ServiceArea})
		}
	}
	d.Filters = []triageFilter{{"status", statuses}, {"route", routes}, {"service_area", areas}, {"channel", channels}}
	page, err := s.deps.Casework.Triage(c.UserContext(), u, casework.TriageQuery{Filter: f, Cursor: c.Query("cursor")})
	if err != nil {
		st, status, ok := s.failure(err, "filter", []string{"status", "route", "service_area", "channel", "cursor"}, nil)
		if !ok {
			return err
		}
		d.formState = st
		return s.Render(c, status, "triage", d)
	}
	now := time.Now()
	for _, it := range page.Items {
		d.Rows = append(d.Rows, triageRow{ID: it.ID, Reference: it.Reference, Safeguarding: it.Safeguarding,
			Channel: s.catalog.T(lang, "caseworkweb.channel."+it.Channel), Mode: s.catalog.T(lang, "caseworkweb.mode."+it.Mode),
			ServiceArea: s.areaName(lang, it.ServiceArea), Category: s.category(lang, it.Category),
			Route: s.label(lang, "caseworkweb.rule."+it.RouteRule, it.RouteRule), Status: s.catalog.T(lang, "caseworkweb.status."+it.Status),
			Waiting: it.AwaitingCouncil, Received: s.day(lang, it.ReceivedAt), Acknowledge: s.clockOf(lang, it.AcknowledgedAt, it.AcknowledgeBy, now),
			Decide: s.decideClock(lang, it.DecidedAt, it.DecideBy, now), Feedback: s.clockOf(lang, it.FeedbackAt, it.FeedbackBy, now)})
	}
	if page.NextCursor != "" {
		q := url.Values{}
		for k, v := range map[string]string{"status": f.Status, "route": f.Route, "service_area": f.ServiceArea, "channel": f.Channel} {
			if v != "" {
				q.Set(k, v)
			}
		}
		if f.Breached {
			q.Set("breached", "yes")
		}
		if f.Waiting {
			q.Set("waiting", "yes")
		}
		q.Set("cursor", page.NextCursor)
		d.Next = Localise(lang, "/staff/triage") + "?" + q.Encode()
	}
	return s.Render(c, fiber.StatusOK, "triage", d)
}

// ---- concern page ----

type lineItem struct {
	From      string // translated
	By        string
	Lines     []string
	When      string
	Detriment bool
	Personal  bool
}

type attachmentItem struct {
	ID               string
	Name, Size, When string
	From             string
	Original         bool // kept as the reporter sent it, metadata and all
}

type holderItem struct {
	Role, Name string
}

type investigationOption struct {
	ID       string
	Label    string
	Selected bool
}

type concernData struct {
	formState
	CSRF           string
	C              *casework.ConcernView
	Status         string
	Channel        string
	Mode           string
	ServiceArea    string
	Category       string
	Received       string
	Acknowledge    clock
	AcknowledgeBy  string
	DecideClock    clock
	DecideBy       string // empty: no decide clock
	FeedbackClock  clock
	FeedbackBy     string
	SummaryLines   []string
	DetailsLines   []string
	Explanation    string
	Rule           string
	Route          []holderItem
	Informed       []holderItem
	Conflicts      []holderItem
	Messages       []lineItem
	Notes          []lineItem
	Attachments    []attachmentItem
	History        []lineItem
	Feedback       []string
	Linked         []investigationOption
	Open           []investigationOption // investigations the concern can be accepted into
	ReferTargets   []choice
	Referral       *referralItem
	Monitoring     bool
	CanAcknowledge bool
	CanDecide      bool // refer, decline, accept
	CanClose       bool
	CanInterim     bool // interim feedback: acknowledged and still open
	CanMessage     bool
	CanRequestID   bool
	Notice         string
}

// referralItem is where a referral went and what came of it, for the page; Outcomes are the
// holder's choices while it waits for one.
type referralItem struct {
	To, Holder, Outcome, When string
	Note                      []string
	Outcomes                  []choice
}

// ErrorSummary is the error summary of the form that failed.
func (d concernData) ErrorSummary() []formError { return d.Errors }

// concernFields are the order of each concern form's fields, for the error summary.
var concernFields = []string{"body", "personal", "refer_to", "investigation_id", "user_id", "from_user_id", "reason", "no_notice_reason",
	"outcome", "note"}

func (s *Site) concernPage(c *fiber.Ctx) error {
	return s.renderConcern(c, fiber.StatusOK, formState{})
}

func (s *Site) renderConcern(c *fiber.Ctx, status int, st formState) error {
	id := c.Params("id")
	lang := Lang(c)
	p := principal(c)
	u := p.User
	v, err := s.deps.Casework.Concern(c.UserContext(), u, id)
	if err != nil {
		return err
	}
	now := time.Now()
	d := concernData{formState: st, CSRF: p.Session.CSRF, C: v, Notice: caseworkNotices[c.Query("done")],
		Status: s.catalog.T(lang, "caseworkweb.status."+v.Status), Channel: s.catalog.T(lang, "caseworkweb.channel."+v.Channel),
		Mode: s.catalog.T(lang, "caseworkweb.mode."+v.Mode), ServiceArea: s.areaName(lang, v.ServiceArea),
		Category: s.category(lang, v.Category), Received: s.stamp(lang, v.ReceivedAt),
		Acknowledge: s.clockOf(lang, v.AcknowledgedAt, v.AcknowledgeBy, now), AcknowledgeBy: s.day(lang, v.AcknowledgeBy),
		FeedbackBy: s.day(lang, v.FeedbackBy), SummaryLines: lines(v.Summary), DetailsLines: lines(v.Details),
		Explanation: v.Route.Explanation[lang], Rule: s.label(lang, "caseworkweb.rule."+v.Route.Rule, v.Route.Rule)}
	// The feedback clock stops when the outcome is fed back, on closing.
	var fedBack *time.Time
	if v.Status == "closed" {
		fedBack = v.ClosedAt
	}
	d.FeedbackClock = s.clockOf(lang, fedBack, v.FeedbackBy, now)
	d.DecideClock = s.decideClock(lang, v.DecidedAt, v.DecideBy, now)
	if v.DecideBy != nil {
		d.DecideBy = s.day(lang, *v.DecideBy)
	}
	d.Feedback = lines(v.Feedback)
	if d.Explanation == "" {
		d.Explanation = v.Route.Explanation["en"]
	}
	for _, h := range v.Route.Route {
		d.Route = append(d.Route, holderItem{Role: s.label(lang, "caseworkweb.holder."+h.Role, h.Role), Name: h.Name})
	}
	for _, h := range v.Route.Informed {
		d.Informed = append(d.Informed, holderItem{Role: s.label(lang, "caseworkweb.holder."+h.Role, h.Role), Name: h.Name})
	}
	for _, cf := range v.Route.Conflicts {
		d.Conflicts = append(d.Conflicts, holderItem{Role: s.label(lang, "caseworkweb.holder."+cf.Role, cf.Role),
			Name: s.label(lang, "caseworkweb.holder."+cf.Fallback, cf.Fallback)})
	}
	for _, m := range v.Messages {
		d.Messages = append(d.Messages, lineItem{From: s.catalog.T(lang, "caseworkweb.from."+m.From), By: m.By,
			Lines: lines(m.Body), When: s.stamp(lang, m.At), Detriment: m.Detriment})
	}
	for _, n := range v.Notes {
		d.Notes = append(d.Notes, lineItem{By: n.By, Personal: n.Personal, Lines: lines(n.Body), When: s.stamp(lang, n.At)})
	}
	for _, a := range v.Attachments {
		d.Attachments = append(d.Attachments, attachmentItem{ID: a.ID, Name: a.Name, Size: size(a.Size),
			When: s.stamp(lang, a.At), From: s.catalog.T(lang, "caseworkweb.from."+a.From), Original: a.OriginalOf != ""})
	}
	for _, e := range v.History {
		d.History = append(d.History, lineItem{From: s.label(lang, "caseworkweb.event."+e.Action, e.Action), By: e.By,
			Lines: lines(e.Reason), When: s.stamp(lang, e.At)})
	}
	monitoring := access.CanSeeTriage(u)
	d.Monitoring = monitoring
	d.CanAcknowledge = v.MayAcknowledge && v.Status == "received"
	d.CanDecide = monitoring && v.Status == "acknowledged"
	d.CanClose = monitoring && slices.Contains([]string{"referred", "accepted", "declined"}, v.Status)
	d.CanInterim = monitoring && slices.Contains([]string{"acknowledged", "accepted", "referred"}, v.Status)
	d.CanMessage = v.Status != "closed"
	d.CanRequestID = v.IdentityHeld && (monitoring || u.HasRole(domain.RoleInvestigator))
	if r := v.Referral; r != nil {
		d.Referral = &referralItem{To: s.catalog.T(lang, "caseworkweb.refer."+r.To), Holder: r.Holder, Note: lines(r.Note)}
		if r.Outcome != nil && r.OutcomeAt != nil {
			d.Referral.Outcome, d.Referral.When = s.catalog.T(lang, "caseworkweb.referral.outcome."+*r.Outcome), s.stamp(lang, *r.OutcomeAt)
		}
		if v.MayRecordReferral {
			chosen := st.Val("referral-outcome")
			for _, o := range casework.ReferralOutcomes {
				d.Referral.Outcomes = append(d.Referral.Outcomes, choice{o, s.catalog.T(lang, "caseworkweb.referral.outcome."+o), o == chosen})
			}
		}
	}
	referTo := st.Val("refer-refer_to")
	for _, t := range casework.ReferTargets {
		d.ReferTargets = append(d.ReferTargets, choice{t, s.catalog.T(lang, "caseworkweb.refer."+t), t == referTo})
	}
	invs, err := s.deps.Casework.Investigations(c.UserContext(), u)
	if err != nil && !fault.Is(err, fault.NotFound) {
		return err
	}
	chosen := st.Val("accept-investigation_id")
	if chosen == "" {
		chosen = c.Query("investigation")
	}
	for _, inv := range invs {
		o := investigationOption{ID: inv.ID, Label: inv.Reference + " – " + s.catalog.T(lang, "caseworkweb.inv_status."+inv.Status) +
			" – " + s.catalog.T(lang, "caseworkweb.due", map[string]any{"Date": s.day(lang, inv.DueAt)}),
			Selected: chosen == inv.ID}
		if slices.Contains(v.Investigations, inv.ID) {
			d.Linked = append(d.Linked, o)
		} else if inv.Status != "closed" {
			d.Open = append(d.Open, o)
		}
	}
	return s.Render(c, status, "concern", d)
}
