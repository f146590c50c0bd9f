// Package web serves Candour's server-rendered HTML pages, in English and
// Welsh, and the front-end assets they use.
//
// Every page lives at a path and, in Welsh, at the same path under /cy
// (/report and /cy/report); Site.Get registers both at once. The language
// comes from the URL alone, so the language switch needs no cookie.
package web

import (
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"strings"

	"github.com/gofiber/fiber/v2"

	"candour/frontend"
	"candour/internal/accounts"
	"candour/internal/auth"
	"candour/internal/casework"
	"candour/internal/i18n"
	"candour/internal/intake"
	"candour/internal/oversight"
	"candour/internal/routing"
)

// WelshPrefix is the path prefix of the Welsh pages.
const WelshPrefix = "/cy"

// Deps is what the web surface needs from the rest of the application.
type Deps struct {
	Catalog *i18n.Catalog
	Logger  *slog.Logger
	// Intake runs reports and the mailbox; Policy is the current routing
	// policy (its directory lists the service areas; its council.yaml gives
	// the names and contacts every page shows). Both nil: information pages
	// only, with no council named (tests of the layout).
	Intake *intake.Service
	Policy func() *routing.Policy
	// SecureCookies adds the Secure flag to the mailbox cookie (https).
	SecureCookies bool
	// PublicURL is CANDOUR_PUBLIC_URL without a trailing slash, for links people hand on.
	PublicURL string
	// OnionURL is CANDOUR_ONION_URL: the portal's onion service address, or empty.
	OnionURL string
	// Staff pages (sign-in, sessions, 2FA enrolment). Auth nil: no staff pages.
	Auth *auth.Service
	// Casework runs the triage queue, concern pages and investigations; Oversight the
	// statistics and the audit view; Accounts the administrator's account pages. Each nil: no
	// such pages.
	Casework  *casework.Service
	Oversight *oversight.Service
	Accounts  *accounts.Service
}

// Site renders pages and serves assets. Build it once with New; it is safe
// for concurrent use.
type Site struct {
	deps    Deps
	catalog *i18n.Catalog
	logger  *slog.Logger
	views   map[string]map[string]*template.Template // lang → page name → template
	assets  *assets
}

// Pages that New requires; other *.html files in frontend/templates are
// parsed as pages too.
var requiredPages = []string{"start", "accessibility", "privacy", "external", "error"}

// New parses every template in both languages and hashes the static assets.
// A template that does not parse, or a required page that is missing, is an
// error here, at start-up.
func New(deps Deps) (*Site, error) {
	if deps.Catalog == nil {
		return nil, errors.New("web: Deps.Catalog is nil")
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	a, err := loadAssets(frontend.Static)
	if err != nil {
		return nil, err
	}
	s := &Site{
		deps:    deps,
		catalog: deps.Catalog,
		logger:  deps.Logger,
		assets:  a,
	}
	if err := s.parseTemplates(frontend.Templates); err != nil {
		return nil, err
	}
	for _, name := range requiredPages {
		if !s.HasView(name) {
			return nil, fmt.Errorf("web: template %s.html is missing", name)
		}
	}
	return s, nil
}

// Get registers h for GET (and HEAD) at path and at /cy+path. Inside h,
// Lang(c) tells which one was asked for.
func (s *Site) Get(r fiber.Router, path string, h fiber.Handler) {
	s.Handle(r, fiber.MethodGet, path, h)
}

// Post registers h for POST at path and at /cy+path.
func (s *Site) Post(r fiber.Router, path string, h fiber.Handler) {
	s.Handle(r, fiber.MethodPost, path, h)
}

// Handle registers h for method at path and at /cy+path.
func (s *Site) Handle(r fiber.Router, method, path string, h fiber.Handler) {
	if !strings.HasPrefix(path, "/") {
		panic("web: route path must start with /: " + path)
	}
	r.Add(method, path, withLang(i18n.English, h))
	r.Add(method, Localise(i18n.Welsh, path), withLang(i18n.Welsh, h))
}

// Page returns a handler that renders the page template name with data and
// status 200. It panics if there is no such template: call it while
// registering routes, so a typo stops the start-up.
func (s *Site) Page(name string, data any) fiber.Handler {
	if !s.HasView(name) {
		panic("web: unknown page template " + name)
	}
	return func(c *fiber.Ctx) error {
		return s.Render(c, fiber.StatusOK, name, data)
	}
}

const langKey = "candour.lang"

func withLang(lang string, h fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		c.Locals(langKey, lang)
		return h(c)
	}
}

// Lang returns the language of the request: the one its route was
// registered for by Site.Get, or else the one its path implies (/cy/…
// means Welsh), so error pages follow the page that failed.
func Lang(c *fiber.Ctx) string {
	if lang, ok := c.Locals(langKey).(string); ok && lang != "" {
		return lang
	}
	return langOfPath(c.Path())
}

func langOfPath(p string) string {
	if p == WelshPrefix || strings.HasPrefix(p, WelshPrefix+"/") {
		return i18n.Welsh
	}
	return i18n.English
}

// Localise returns path (a language-neutral path such as "/report") as it
// is in lang: "/cy/report" in Welsh, "/report" in English; "/" is "/cy" in
// Welsh.
func Localise(lang, path string) string {
	if lang != i18n.Welsh {
		return path
	}
	if path == "/" || path == "" {
		return WelshPrefix
	}
	return WelshPrefix + path
}

// neutralPath strips the Welsh prefix: "/cy/report" → "/report", "/cy" → "/".
func neutralPath(p string) string {
	if p == WelshPrefix || p == WelshPrefix+"/" {
		return "/"
	}
	if rest, ok := strings.CutPrefix(p, WelshPrefix+"/"); ok {
		return "/" + rest
	}
	return p
}

// otherLang returns the language the switch link leads to.
func otherLang(lang string) string {
	if lang == i18n.Welsh {
		return i18n.English
	}
	return i18n.Welsh
}

// startData is what the start page promises, from the policy's default clocks; zero when the
// policy counts a clock in units the sentence cannot say (the sentence is then left out).
type startData struct {
	AcknowledgeDays int
	FeedbackMonths  int
}

func (s *Site) start(c *fiber.Ctx) error {
	var d startData
	if s.deps.Policy != nil {
		if p := s.deps.Policy(); p != nil {
			d.AcknowledgeDays, _ = p.Clocks.Acknowledge.In(routing.Days)
			d.FeedbackMonths, _ = p.Clocks.Feedback.In(routing.Months)
		}
	}
	return s.Render(c, fiber.StatusOK, "start", d)
}

// prescribedPersons are the external bodies on /external, by catalogue key
// (external.<key>.name, .desc, .address).
var prescribedPersons = []string{"ciw", "audit", "children", "hiw", "ombudsman"}

type externalData struct {
	Bodies []string
}
