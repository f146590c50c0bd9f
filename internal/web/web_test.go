package web

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"candour/internal/i18n"
	"candour/internal/routing"
)

func newSite(t *testing.T) *Site {
	t.Helper()
	cat, err := i18n.Load()
	if err != nil {
		t.Fatalf("i18n.Load: %v", err)
	}
	pol, err := routing.Load(filepath.Join("..", "..", "policies"))
	if err != nil {
		t.Fatalf("routing.Load: %v", err)
	}
	s, err := New(Deps{Catalog: cat, Logger: slog.New(slog.DiscardHandler), Policy: func() *routing.Policy { return pol }})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

// newApp mimics the server: a nonce middleware and a no-store default,
// then the site's routes and a 404 page.
func newApp(t *testing.T) (*fiber.App, *Site) {
	t.Helper()
	s := newSite(t)
	app := fiber.New(fiber.Config{
		ErrorHandler: func(c *fiber.Ctx, err error) error {
			code := fiber.StatusInternalServerError
			if fe, ok := err.(*fiber.Error); ok {
				code = fe.Code
			}
			return s.Error(c, code)
		},
	})
	app.Use(func(c *fiber.Ctx) error {
		c.Locals(NonceKey, "test-nonce-123")
		c.Set(fiber.HeaderCacheControl, "no-store")
		return c.Next()
	})
	s.Register(app)
	app.Use(s.NotFound)
	return app, s
}

func get(t *testing.T, app *fiber.App, target string) (*http.Response, string) {
	t.Helper()
	resp, err := app.Test(httptest.NewRequest(http.MethodGet, target, nil), -1)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

var switchLink = regexp.MustCompile(`<a class="govuk-language-navigation__link" href="([^"]*)" lang="([a-z]+)" hreflang="([a-z]+)"`)

func TestPagesInBothLanguages(t *testing.T) {
	app, _ := newApp(t)
	tests := []struct {
		path, lang, switchTo, text string
	}{
		{"/", "en", "/cy", "Which route fits you?"},
		{"/cy", "cy", "/", "Pa lwybr sy&#39;n addas i chi?"},
		{"/cy/", "cy", "/", "Rhoi gwybod am bryder"},
		{"/accessibility", "en", "/cy/accessibility", "Accessibility statement"},
		{"/cy/accessibility", "cy", "/accessibility", "Datganiad hygyrchedd"},
		{"/privacy", "en", "/cy/privacy", "Privacy notice"},
		{"/cy/privacy", "cy", "/privacy", "Hysbysiad preifatrwydd"},
		{"/external", "en", "/cy/external", "Care Inspectorate Wales"},
		{"/cy/external", "cy", "/external", "Arolygiaeth Gofal Cymru"},
		{"/external?x=1", "en", "/cy/external?x=1", "Public Services Ombudsman for Wales"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, body := get(t, app, tt.path)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, want 200; body:\n%s", resp.StatusCode, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("Content-Type = %q, want text/html; charset=utf-8", ct)
			}
			if want := `<html lang="` + tt.lang + `" class="govuk-template">`; !strings.Contains(body, want) {
				t.Errorf("body lacks %s", want)
			}
			if !strings.Contains(body, tt.text) {
				t.Errorf("body lacks %q", tt.text)
			}
			m := switchLink.FindStringSubmatch(body)
			if m == nil {
				t.Fatalf("no language switch link in body")
			}
			if m[1] != tt.switchTo {
				t.Errorf("switch link href = %q, want %q", m[1], tt.switchTo)
			}
			if m[2] == tt.lang || m[2] != m[3] {
				t.Errorf("switch link lang=%q hreflang=%q, want the other language in both", m[2], m[3])
			}
			checkPage(t, body)
		})
	}
}

// checkPage holds for every page: CSP-safe, no untranslated ids, no GOV.UK
// crown, the council and the footer links.
func checkPage(t *testing.T, body string) {
	t.Helper()
	if strings.Contains(body, "style=") || strings.Contains(body, "<style") {
		t.Errorf("page has inline style; the CSP forbids it")
	}
	for _, m := range regexp.MustCompile(`<script[^>]*>`).FindAllString(body, -1) {
		if !strings.Contains(m, `src="/assets/`) || !strings.Contains(m, `nonce="test-nonce-123"`) || !strings.Contains(m, `type="module"`) {
			t.Errorf("script tag %s: want a module from /assets/ with the nonce", m)
		}
	}
	if strings.Contains(body, "<script>") {
		t.Errorf("page has an inline script")
	}
	if regexp.MustCompile(`>\s*</script>`).FindAllString(body, -1) == nil {
		t.Errorf("no script tag found")
	}
	if strings.Contains(body, "govuk-header__logotype") || strings.Contains(body, "govuk-footer__crown") || strings.Contains(body, "Crown copyright") {
		t.Errorf("page shows GOV.UK crown branding")
	}
	// An untranslated id shows as itself, e.g. "start.title".
	if m := regexp.MustCompile(`>\s*((?:site|layout|footer|safeguarding|start|accessibility|privacy|external|error|count)\.[a-z_.]+)\s*<`).FindStringSubmatch(body); m != nil {
		t.Errorf("untranslated message id %q in page", m[1])
	}
	for _, want := range []string{"govuk-generic-header", "Cyngor Bwrdeistref Sirol Enghraifft", "Example County Borough Council", `href="#main-content"`, `id="main-content"`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if !regexp.MustCompile(`href="(/cy)?/accessibility"`).MatchString(body) || !regexp.MustCompile(`href="(/cy)?/privacy"`).MatchString(body) {
		t.Errorf("footer lacks accessibility or privacy link")
	}
	if regexp.MustCompile(`(href|src|action)="(https?:)?//`).MatchString(body) {
		t.Errorf("page refers to another site (no third-party links or assets)")
	}
}

func TestStartPage(t *testing.T) {
	app, _ := newApp(t)
	_, en := get(t, app, "/")
	for _, want := range []string{
		"call 999", "Out-of-hours duty team", "cannot always keep it confidential",
		`href="tel:01632960001"`, `href="/report"`, `href="/mailbox"`, `href="/councillor"`,
		`href="/external"`, `href="/staff/login"`, "within 7 days", "within 3 months",
		"govuk-notification-banner", "govuk-warning-text",
	} {
		if !strings.Contains(en, want) {
			t.Errorf("English start page lacks %q", want)
		}
	}
	_, cy := get(t, app, "/cy")
	for _, want := range []string{
		"ffoniwch 999", "Tîm dyletswydd y tu allan i oriau", "ni allwn bob amser ei gadw",
		`href="/cy/report"`, `href="/cy/mailbox"`, `href="/cy/councillor"`, `href="/cy/external"`,
		`href="/cy/staff/login"`, "o fewn 7 diwrnod", "o fewn 3 mis",
	} {
		if !strings.Contains(cy, want) {
			t.Errorf("Welsh start page lacks %q", want)
		}
	}
}

// With an onion address, a GET of a page a reporter arrives at offers it (Onion-Location, the
// same page on the onion) and the start page shows it; other pages and a POST's answer do not,
// as Tor Browser would load the offered page again and lose what the POST answered.
func TestOnionLocation(t *testing.T) {
	const onion = "http://2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion"
	app, s := newApp(t)
	s.deps.OnionURL = onion
	for path, offered := range map[string]bool{"/": true, "/cy": true, "/accessibility": false, "/cy/privacy": false} {
		resp, body := get(t, app, path)
		want := ""
		if offered {
			want = onion + path
		}
		if got := resp.Header.Get("Onion-Location"); got != want {
			t.Errorf("%s: Onion-Location %q, want %q", path, got, want)
		}
		if shown := strings.Contains(body, onion); shown != offered {
			t.Errorf("%s: shows the onion address: %v, want %v", path, shown, offered)
		}
	}
	resp, err := app.Test(httptest.NewRequest(http.MethodPost, "/", nil), -1)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Header.Get("Onion-Location"); got != "" {
		t.Errorf("POST /: Onion-Location %q, want none", got)
	}
	s.deps.OnionURL = ""
	if resp, body := get(t, app, "/"); resp.Header.Get("Onion-Location") != "" || strings.Contains(body, ".onion") {
		t.Errorf("without an onion address: got Onion-Location %q", resp.Header.Get("Onion-Location"))
	}
}

// The start page promises what the council's policy says, not a number written in code.
func TestStartPageClocksComeFromThePolicy(t *testing.T) {
	app, s := newApp(t)
	pol := *s.deps.Policy()
	pol.Clocks.Acknowledge = routing.Period{N: 2, Unit: routing.Weeks}
	pol.Clocks.Feedback = routing.Period{N: 1, Unit: routing.Years}
	s.deps.Policy = func() *routing.Policy { return &pol }
	if _, en := get(t, app, "/"); !strings.Contains(en, "within 14 days") || !strings.Contains(en, "within 12 months") {
		t.Errorf("English start page: want 14 days and 12 months from the policy")
	}
	// A clock no fixed number of days describes is left out rather than misstated.
	pol.Clocks.Acknowledge = routing.Period{N: 5, Unit: routing.WorkingDays}
	if _, cy := get(t, app, "/cy"); strings.Contains(cy, "o fewn 7 diwrnod") || strings.Contains(cy, "diwrnod.") ||
		!strings.Contains(cy, "o fewn 12 mis") {
		t.Errorf("Welsh start page: want no acknowledgement sentence and 12 months")
	}
}

func TestAssets(t *testing.T) {
	app, s := newApp(t)
	tests := []struct {
		name, contentType string
	}{
		{"govuk.css", "text/css; charset=utf-8"},
		{"app.js", "text/javascript; charset=utf-8"},
		{"govuk-frontend.min.js", "text/javascript; charset=utf-8"},
	}
	for _, tt := range tests {
		p := s.AssetPath(tt.name)
		if !regexp.MustCompile(`^/assets/[0-9a-f]{12}/` + regexp.QuoteMeta(tt.name) + `$`).MatchString(p) {
			t.Errorf("AssetPath(%q) = %q", tt.name, p)
		}
		resp, body := get(t, app, p)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: status %d, want 200", p, resp.StatusCode)
		}
		if got := resp.Header.Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
			t.Errorf("GET %s: Cache-Control = %q, want immutable", p, got)
		}
		if got := resp.Header.Get("Content-Type"); got != tt.contentType {
			t.Errorf("GET %s: Content-Type = %q, want %q", p, got, tt.contentType)
		}
		if len(body) == 0 {
			t.Errorf("GET %s: empty body", p)
		}
	}
	for _, bad := range []string{
		"/assets/000000000000/govuk.css",
		"/assets/" + s.AssetVersion() + "/nope.css",
		"/assets/" + s.AssetVersion() + "/../embed.go",
		"/assets/govuk.css",
	} {
		resp, _ := get(t, app, bad)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", bad, resp.StatusCode)
		}
		if cc := resp.Header.Get("Cache-Control"); cc == assetCaching {
			t.Errorf("GET %s: a 404 must not be cached for a year", bad)
		}
	}
}

func TestNotFoundInBothLanguages(t *testing.T) {
	app, _ := newApp(t)
	resp, body := get(t, app, "/no-such-page")
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "Page not found") || !strings.Contains(body, `lang="en"`) {
		t.Errorf("English 404: status %d, body lacks English error page", resp.StatusCode)
	}
	resp, body = get(t, app, "/cy/dim-tudalen")
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "Heb ddod o hyd i&#39;r dudalen") || !strings.Contains(body, `lang="cy"`) {
		t.Errorf("Welsh 404: status %d, body lacks Welsh error page", resp.StatusCode)
	}
	if m := switchLink.FindStringSubmatch(body); m == nil || m[1] != "/dim-tudalen" {
		t.Errorf("Welsh 404 switch link = %v, want /dim-tudalen", m)
	}
}

func TestServerError(t *testing.T) {
	s := newSite(t)
	app := fiber.New(fiber.Config{ErrorHandler: func(c *fiber.Ctx, err error) error { return s.Error(c, 500) }})
	s.Get(app, "/boom", func(c *fiber.Ctx) error { return fiber.ErrInternalServerError })
	resp, body := get(t, app, "/cy/boom")
	if resp.StatusCode != 500 || !strings.Contains(body, "mae problem gyda&#39;r gwasanaeth") {
		t.Errorf("Welsh 500: status %d, body:\n%s", resp.StatusCode, body)
	}
}

func TestEveryPageRenders(t *testing.T) {
	s := newSite(t)
	app := fiber.New()
	app.Use(func(c *fiber.Ctx) error {
		c.Locals(NonceKey, "test-nonce-123")
		return c.Next()
	})
	data := map[string]any{
		"start":    startData{AcknowledgeDays: 7, FeedbackMonths: 3},
		"external": externalData{Bodies: prescribedPersons},
		"error":    errorData{Title: "error.404.title"},
		"mailbox_evidence": evidenceData{ID: "6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b", Name: "IMG_0042.heic", Size: "2 MB",
			OriginalSize: "3 MB", Scrub: &scrubNotice{Text: "mailbox.scrub.removed", Removed: []string{"mailbox.scrub.exif"}}},
	}
	for _, name := range s.Views() {
		s.Get(app, "/render/"+name, func(c *fiber.Ctx) error {
			return s.Render(c, 200, name, data[name])
		})
	}
	for _, name := range s.Views() {
		for _, lang := range i18n.Languages {
			resp, body := get(t, app, Localise(lang, "/render/"+name))
			if resp.StatusCode != 200 {
				t.Errorf("%s (%s): status %d:\n%s", name, lang, resp.StatusCode, body)
				continue
			}
			checkPage(t, body)
		}
	}
}

func TestGetRegistersBothLanguages(t *testing.T) {
	s := newSite(t)
	app := fiber.New()
	s.Get(app, "/report", func(c *fiber.Ctx) error { return c.SendString(Lang(c)) })
	for path, want := range map[string]string{"/report": "en", "/cy/report": "cy"} {
		_, body := get(t, app, path)
		if body != want {
			t.Errorf("GET %s: Lang = %q, want %q", path, body, want)
		}
	}
}

func TestPageUnknownTemplatePanics(t *testing.T) {
	s := newSite(t)
	defer func() {
		if recover() == nil {
			t.Error("Page(\"nope\") did not panic")
		}
	}()
	s.Page("nope", nil)
}

func TestRenderUnknownTemplate(t *testing.T) {
	s := newSite(t)
	app := fiber.New()
	app.Get("/", func(c *fiber.Ctx) error { return s.Render(c, 200, "nope", nil) })
	resp, _ := get(t, app, "/")
	if resp.StatusCode != 500 {
		t.Errorf("status %d, want 500", resp.StatusCode)
	}
}

func TestLocalise(t *testing.T) {
	tests := []struct{ lang, in, want string }{
		{"en", "/", "/"},
		{"cy", "/", "/cy"},
		{"cy", "/report", "/cy/report"},
		{"en", "/report", "/report"},
	}
	for _, tt := range tests {
		if got := Localise(tt.lang, tt.in); got != tt.want {
			t.Errorf("Localise(%q, %q) = %q, want %q", tt.lang, tt.in, got, tt.want)
		}
	}
	for in, want := range map[string]string{"/cy": "/", "/cy/": "/", "/cy/report": "/report", "/cymru": "/cymru", "/": "/"} {
		if got := neutralPath(in); got != want {
			t.Errorf("neutralPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTelURL(t *testing.T) {
	if got, err := telURL("01632 960 001"); err != nil || got != "tel:01632960001" {
		t.Errorf("telURL = %q, %v", got, err)
	}
	if _, err := telURL("javascript:alert(1)"); err == nil {
		t.Error("telURL accepted a script URL")
	}
}
