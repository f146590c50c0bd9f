package web

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"candour/internal/i18n"
	"candour/internal/routing"
)

// NonceKey is the fiber.Ctx local in which the server's CSP middleware puts
// the request's nonce (a string). Templates put it on their script tags.
const NonceKey = "cspNonce"

// layoutFile holds the "layout" template and partialsFile the named pieces
// pages share; both are parsed with every page. Every other *.html file in
// the templates folder is a page.
const (
	layoutFile   = "layout.html"
	partialsFile = "partials.html"
)

// Page is what every template sees as its dot.
type Page struct {
	Lang      string // "en" or "cy": the page's language
	OtherLang string // the language the switch link leads to
	Path      string // the language-neutral path, e.g. "/report"
	SwitchURL string // the same page in OtherLang, query string kept
	Nonce     string // CSP nonce for <script> tags
	Status    int
	// Council is the council's profile from the policy (council.yaml); zero without a policy.
	Council routing.Council
	// CouncilName is the council's name in Lang.
	CouncilName string
	// Onion is the portal's onion service address on the reporter pages that show it; empty
	// elsewhere or without one.
	Onion string
	Data  any // what the handler passed to Render
}

func (s *Site) parseTemplates(fsys fs.FS) error {
	files, err := fs.Glob(fsys, "*.html")
	if err != nil {
		return fmt.Errorf("web: list templates: %w", err)
	}
	s.views = make(map[string]map[string]*template.Template, len(i18n.Languages))
	for _, lang := range i18n.Languages {
		funcs := s.funcs(lang)
		s.views[lang] = make(map[string]*template.Template)
		for _, file := range files {
			if file == layoutFile || file == partialsFile {
				continue
			}
			name := strings.TrimSuffix(file, path.Ext(file))
			t, err := template.New(name).Option("missingkey=error").Funcs(funcs).ParseFS(fsys, layoutFile, partialsFile, file)
			if err != nil {
				return fmt.Errorf("web: parse %s: %w", file, err)
			}
			for _, block := range []string{"layout", "title", "content"} {
				if t.Lookup(block) == nil {
					return fmt.Errorf("web: %s: no %q template defined", file, block)
				}
			}
			s.views[lang][name] = t
		}
	}
	return nil
}

// HasView reports whether name (e.g. "start", without ".html") is a page.
func (s *Site) HasView(name string) bool {
	_, ok := s.views[i18n.English][name]
	return ok
}

// Views returns the names of all page templates.
func (s *Site) Views() []string {
	names := make([]string, 0, len(s.views[i18n.English]))
	for name := range s.views[i18n.English] {
		names = append(names, name)
	}
	return names
}

// funcs are the template functions, bound to one language.
func (s *Site) funcs(lang string) template.FuncMap {
	return template.FuncMap{
		// t translates a message id: {{t "start.title"}}.
		"t": func(id string, data ...map[string]any) string {
			return s.catalog.T(lang, id, data...)
		},
		// n translates a plural message: {{n "count.concerns" .Data.Count}}.
		"n": func(id string, count int, data ...map[string]any) string {
			return s.catalog.N(lang, id, count, data...)
		},
		// asset gives the versioned URL of a static file: {{asset "govuk.css"}}.
		"asset": func(name string) (string, error) {
			if !s.assets.has(name) {
				return "", fmt.Errorf("unknown asset %q", name)
			}
			return s.AssetPath(name), nil
		},
		// path localises a site path: {{path "/report"}} is /cy/report in Welsh.
		"path": func(p string) string {
			return Localise(lang, p)
		},
		// tel makes a tel: URL from a phone number as printed.
		"tel": telURL,
		// bi picks the text in the page's language from an English and a Welsh one, as the
		// policy files give them: {{bi .Council.Name .Council.NameCy}}.
		"bi": func(en, cy string) string { return inLang(lang, en, cy) },
		// day writes a date in words: {{day .Council.Accessibility.PreparedOn}}.
		"day": func(t time.Time) string { return s.day(lang, t) },
		// dict builds the data map for t and n, and the dot of a partial:
		// {{t "x" (dict "Name" .Name)}}.
		"dict": dict,
		// list builds a list for a partial: (list "col.name" "col.size").
		"list": func(items ...any) []any { return items },
	}
}

func telURL(phone string) (template.URL, error) {
	if !routing.PhoneNumber(phone) {
		return "", fmt.Errorf("tel: bad phone number %q", phone)
	}
	return template.URL("tel:" + strings.NewReplacer(" ", "", "-", "").Replace(phone)), nil
}

func dict(kv ...any) (map[string]any, error) {
	if len(kv)%2 != 0 {
		return nil, errors.New("dict: odd number of arguments")
	}
	m := make(map[string]any, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		k, ok := kv[i].(string)
		if !ok {
			return nil, fmt.Errorf("dict: key %v is not a string", kv[i])
		}
		m[k] = kv[i+1]
	}
	return m, nil
}

// Render writes the page template name in the request's language with
// status. data is available to the template as .Data. The page is rendered
// to a buffer first, so a template error never sends half a page.
func (s *Site) Render(c *fiber.Ctx, status int, name string, data any) error {
	lang := Lang(c)
	t := s.views[lang][name]
	if t == nil {
		return fmt.Errorf("web: unknown template %q", name)
	}
	neutral := neutralPath(c.Path())
	other := otherLang(lang)
	switchURL := Localise(other, neutral)
	if q := c.Request().URI().QueryString(); len(q) > 0 {
		switchURL += "?" + string(q)
	}
	nonce, _ := c.Locals(NonceKey).(string)
	var council routing.Council
	if s.deps.Policy != nil {
		if p := s.deps.Policy(); p != nil && p.Council != nil {
			council = *p.Council
		}
	}
	page := Page{
		Lang:        lang,
		OtherLang:   other,
		Path:        strings.Clone(neutral),
		SwitchURL:   switchURL,
		Nonce:       nonce,
		Status:      status,
		Council:     council,
		CouncilName: inLang(lang, council.Name, council.NameCy),
		Onion:       s.onionLocation(c, neutral),
		Data:        data,
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", page); err != nil {
		return fmt.Errorf("web: render %s (%s): %w", name, lang, err)
	}
	c.Status(status)
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Send(buf.Bytes())
}

// onionPages are the reporter pages reachable over the onion service without a session.
var onionPages = map[string]bool{"/": true, "/report": true, "/mailbox": true}

// onionLocation returns the onion address to show on the reporter pages reachable without a
// session (not the mailbox thread: its cookie does not cross to the other origin), and on a
// GET of one sets Onion-Location, so Tor Browser offers the same page over the onion service.
// Only on a GET: Tor Browser follows the header by loading the page again, which after a POST
// would lose what the POST answered, such as a receipt.
func (s *Site) onionLocation(c *fiber.Ctx, neutral string) string {
	if s.deps.OnionURL == "" || !onionPages[neutral] {
		return ""
	}
	if c.Method() == fiber.MethodGet {
		c.Set("Onion-Location", s.deps.OnionURL+c.Path())
	}
	return s.deps.OnionURL
}

type errorData struct {
	Title string // message id
	Text  string // message id, may be empty
}

// Error renders the error page for status in the request's language. The
// server's ErrorHandler calls it; it never shows error details.
func (s *Site) Error(c *fiber.Ctx, status int) error {
	d := errorData{Title: "error.other.title", Text: "error.500.text"}
	switch {
	case status == fiber.StatusNotFound:
		d = errorData{Title: "error.404.title", Text: "error.404.text"}
	case status >= 500:
		d = errorData{Title: "error.500.title", Text: "error.500.text"}
	}
	return s.Render(c, status, "error", d)
}

// NotFound is a catch-all handler (app.Use(site.NotFound) after every
// route) that renders the 404 page.
func (s *Site) NotFound(c *fiber.Ctx) error {
	return s.Error(c, fiber.StatusNotFound)
}
