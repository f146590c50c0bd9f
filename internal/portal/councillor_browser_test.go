package portal_test

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/chromedp/chromedp"

	"candour/internal/accounts"
	"candour/internal/browsertest"
	"candour/internal/dbtest"
	"candour/internal/intake"
	"candour/internal/portal"
	"candour/internal/portaltest"
	"candour/internal/store"
)

// councillorPortal starts a portal with an identity custodian (a councillor's name is sealed
// to the custodians) and a councillor, and returns the councillor's TOTP secret.
func councillorPortal(t *testing.T) (*portal.Portal, *accounts.Created) {
	t.Helper()
	p, _ := start(t, dbtest.NewURL(t))
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	r := id.Recipient().String()
	portaltest.PinCustodian(t, p, "custodian@enghraifft.example", r)
	if err := store.New(p.DB).InsertUser(context.Background(), &store.User{Email: "custodian@enghraifft.example",
		Name: "Cara Custodian", Roles: []string{"custodian"}, AgeRecipient: &r, Language: "cy"}); err != nil {
		t.Fatal(err)
	}
	return p, portaltest.Account(t, p, accounts.NewUser{Email: "cllr.dai.jones@enghraifft.example",
		Name: "Cllr Dai Jones", Roles: []string{"councillor"}})
}

// TestBrowserCouncillorWizardInWelsh is the councillor of the design case, in Welsh and with
// JavaScript off: he chooses Children's Services, sees its published evidence, says he has not
// raised it with the Lead Member or the Head of Service, passes on what staff told him naming
// the Strategic Director, sees where it goes and why before sending, and gets the reference and
// the anonymous link to hand to the staff. Every step passes axe-core.
func TestBrowserCouncillorWizardInWelsh(t *testing.T) {
	p, cllr := councillorPortal(t)
	ctx := browsertest.New(t, browsertest.Options{NoJavaScript: true, Timeout: 60 * time.Second})

	checkPage := func(what string, want ...string) {
		t.Helper()
		if lang := browsertest.Get(t, ctx, "read lang", chromedp.Evaluate[string](`document.documentElement.lang`)); lang != "cy" {
			t.Errorf("%s: got lang=%q, want cy", what, lang)
		}
		text := browsertest.Get(t, ctx, "read "+what, chromedp.Text("main"))
		for _, w := range want {
			if !strings.Contains(text, w) {
				t.Errorf("%s: page lacks %q:\n%s", what, w, text)
			}
		}
		axeWithoutPageScript(t, ctx)
	}

	signIn(t, ctx, p, "/cy", cllr)

	browsertest.Do(t, ctx, "open the wizard", chromedp.Navigate(p.URL()+"/cy/councillor"), chromedp.WaitReady(`#service_area`))
	checkPage("step 1, the service", "Am ba wasanaeth y mae eich pryder?", "Gwasanaethau Plant")

	// Continue without choosing: the error is on this step, in Welsh.
	browsertest.Do(t, ctx, "continue without a service", chromedp.Click(`#continue`), chromedp.WaitReady(`.govuk-error-summary`))
	checkPage("step 1 with an error", "Mae problem", "Dewiswch y gwasanaeth")

	browsertest.Do(t, ctx, "choose Children's Services",
		chromedp.Click(`#service_area`), chromedp.Click(`#continue`), chromedp.WaitReady(`#evidence-links`))
	checkPage("step 2, the evidence", "Pa rai o'r rhain ydych chi wedi'u hadolygu?", "(yn agor mewn tab newydd)")
	if n := browsertest.Get(t, ctx, "count evidence links", chromedp.Evaluate[int](`document.querySelectorAll('#evidence-links a[href^="http"]').length`)); n == 0 {
		t.Errorf("got no links to the published evidence")
	}

	browsertest.Do(t, ctx, "tick the first report", chromedp.Click(`#evidence_reviewed`), chromedp.Click(`#continue`), chromedp.WaitReady(`#raised_outcome`))
	checkPage("step 3, who you have spoken to", "Gyda phwy ydych chi wedi siarad?", "Aelod Arweiniol: Cllr Rhodri Evans")

	browsertest.Do(t, ctx, "not raised with anyone", chromedp.Click(`#continue`), chromedp.WaitReady(`#summary`))
	checkPage("step 4, the concern", "Ydych chi'n trosglwyddo pryderon gan staff?")

	browsertest.Do(t, ctx, "send the concern with no summary",
		chromedp.Click(`#category-misconduct`),
		chromedp.SendKeys(`#details`, "Dywedodd pedwar gweithiwr cymdeithasol wrthyf fod llwythi achosion yn rhy uchel."),
		chromedp.SendKeys(`#named_people`, "huw.pritchard@enghraifft.example"),
		chromedp.Click(`#safeguarding-no`), chromedp.Click(`#passing_on_staff_concerns`), chromedp.Click(`#confidential-no`),
		chromedp.Click(`#continue`), chromedp.WaitReady(`.govuk-error-summary`))
	checkPage("step 4 with an error", "Mae problem", "Crynodeb")

	browsertest.Do(t, ctx, "add the summary",
		chromedp.SendKeys(`#summary`, "Staff y tîm asesu yn poeni am lwythi achosion"),
		chromedp.Click(`#continue`), chromedp.WaitReady(`#explanation`))
	checkPage("step 5, where this goes and why", "I ble mae hyn yn mynd a pham",
		"Rydych yn trosglwyddo pryderon", "Swyddog Monitro: Elin Rowlands", "Nid oes dim wedi'i anfon eto")
	if n := countConcerns(t, p); n != 0 {
		t.Fatalf("got %d concerns stored before submitting, want 0", n)
	}

	// Change the concern and come straight back: the answers are kept.
	browsertest.Do(t, ctx, "change the concern",
		chromedp.Click(`button[name=goto][value=concern]`), chromedp.WaitReady(`#summary`))
	if v := browsertest.Get(t, ctx, "read summary", chromedp.Value(`#summary`)); v != "Staff y tîm asesu yn poeni am lwythi achosion" {
		t.Errorf("got summary %q after Change, want the one typed", v)
	}
	browsertest.Do(t, ctx, "back to the check", chromedp.Click(`#continue`), chromedp.WaitReady(`#explanation`))

	browsertest.Do(t, ctx, "send", chromedp.Click(`#submit`), chromedp.WaitReady(`#reference`))
	checkPage("confirmation", "Pryder wedi'i anfon", "Rhowch y ddolen adrodd ddienw i'r staff",
		"pwyllgor craffu", "bwrdd gweithredol", "Ombwdsmon Gwasanaethau Cyhoeddus Cymru")
	ref := strings.TrimSpace(browsertest.Get(t, ctx, "read the reference", chromedp.Text(`#reference`)))
	if !strings.HasPrefix(ref, "C-") {
		t.Errorf("got reference %q, want C-…", ref)
	}
	links := browsertest.Get(t, ctx, "read the anonymous link", chromedp.Text(`#anonymous-link`))
	if !strings.Contains(links, p.URL()+"/cy/report") || !strings.Contains(links, p.URL()+"/report") {
		t.Errorf("got anonymous links %q, want %s/report and /cy/report", links, p.URL())
	}
	if n := countConcerns(t, p); n != 1 {
		t.Errorf("got %d concerns stored, want 1", n)
	}

	browsertest.Do(t, ctx, "open my concerns", chromedp.Navigate(p.URL()+"/cy/councillor/concerns"), chromedp.WaitReady(`#concerns`))
	checkPage("my concerns", ref, "Gwasanaethau Plant", "Wedi dod i law")
}

func countConcerns(t *testing.T, p *portal.Portal) int {
	t.Helper()
	var n int
	if err := councilSQL(t, p).Get(&n, `SELECT count(*) FROM concerns`); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestCouncillorWizardEdges checks what a browser walk does not: other roles get 404, the form
// needs the CSRF token, a tampered hidden evidence id comes back on the evidence step, and a
// final submit files exactly one concern.
func TestCouncillorWizardEdges(t *testing.T) {
	p, cllr := councillorPortal(t)
	mo := portaltest.NewStaff(t, p, "elin.rowlands@enghraifft.example", "monitoring_officer")
	for _, path := range []string{"/councillor", "/cy/councillor", "/councillor/concerns"} {
		if pg := mo.Get(path); pg.Status != 404 {
			t.Errorf("monitoring officer GET %s: got %d, want 404", path, pg.Status)
		}
	}
	// Not signed in: the sign-in page (after the redirect).
	if resp, _ := get(t, p.URL()+"/councillor"); resp.StatusCode != 200 || resp.Request.URL.Path != "/staff/login" {
		t.Errorf("anonymous GET /councillor: got %d at %s, want the sign-in page", resp.StatusCode, resp.Request.URL.Path)
	}

	c := portaltest.SignIn(t, p, cllr)
	csrf := c.CSRF("/councillor")
	answers := url.Values{
		"csrf": {csrf}, "service_area": {"childrens-services"}, "evidence_reviewed": {"no-such-report"},
		"category": {"other"}, "summary": {"Assessment team caseloads"}, "details": {"Line one.\r\nLine two."},
		"safeguarding": {"no"}, "passing_on_staff_concerns": {"no"}, "confidential": {"yes"},
		"step": {"check"}, "submit": {"1"},
	}

	noCSRF := url.Values{}
	for k, v := range answers {
		noCSRF[k] = v
	}
	noCSRF.Del("csrf")
	if pg := c.Post("/councillor", noCSRF); pg.Status != 403 {
		t.Errorf("POST without CSRF: got %d, want 403", pg.Status)
	}

	pg := c.Post("/cy/councillor", answers)
	if pg.Status != 400 || !strings.Contains(pg.Body, `name="step" value="evidence"`) || !strings.Contains(pg.Body, `href="#evidence_reviewed"`) {
		t.Errorf("tampered evidence: got %d, want 400 on the evidence step with the error linked:\n%s", pg.Status, pg.Body)
	}
	if n := countConcerns(t, p); n != 0 {
		t.Errorf("got %d concerns after a refused submit, want 0", n)
	}

	answers.Set("evidence_reviewed", "cs-ciw-inspection-2024")
	pg = c.Post("/councillor", answers)
	if pg.Status != 200 || !strings.Contains(pg.Body, `id="reference"`) || strings.Contains(pg.Body, `id="anonymous-link"`) {
		t.Errorf("submit: got %d, want the confirmation without an anonymous link:\n%s", pg.Status, pg.Body)
	}
	if n := countConcerns(t, p); n != 1 {
		t.Errorf("got %d concerns, want 1", n)
	}
	var mode string
	if err := councilSQL(t, p).Get(&mode, `SELECT mode FROM concerns`); err != nil || mode != "confidential" {
		t.Errorf("got mode %q (%v), want confidential", mode, err)
	}
}

// TestBrowserCouncillorConversation is the councillor following up, with JavaScript off: the
// Monitoring Officer has asked a question; he opens his concern from "your concerns", reads
// it, answers, adds a spreadsheet, and reads it all again in Welsh. Each page passes axe-core.
func TestBrowserCouncillorConversation(t *testing.T) {
	p, cllr := councillorPortal(t)
	mo := portaltest.Account(t, p, accounts.NewUser{Email: "elin.rowlands@enghraifft.example", Roles: []string{"monitoring_officer"}})
	filed, err := p.Intake.SubmitCouncillorConcern(context.Background(), intake.Councillor{User: cllr.User, Language: "en"},
		intake.CouncillorConcern{ServiceArea: "childrens-services", Category: "misconduct", Summary: "Caseloads are unsafe",
			Details: "Four social workers told me caseloads are far too high.", PassingOnStaffConcerns: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Casework.Message(context.Background(), mo.User, filed.ID, "Which months were the worst?"); err != nil {
		t.Fatal(err)
	}
	rota := filepath.Join(t.TempDir(), "rota.csv")
	if err := os.WriteFile(rota, []byte("week,cases\n1,31\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx := browsertest.New(t, browsertest.Options{NoJavaScript: true, Timeout: 60 * time.Second})
	signIn(t, ctx, p, "", cllr)
	browsertest.Do(t, ctx, "open my concerns", chromedp.Navigate(p.URL()+"/councillor/concerns"), chromedp.WaitReady(`#concerns`))
	browsertest.Do(t, ctx, "open the concern", chromedp.Click(`#concerns a`), chromedp.WaitReady(`#messages`))
	text := browsertest.Get(t, ctx, "read the thread", chromedp.Text("main"))
	for _, want := range []string{filed.Reference, "Which months were the worst?", "From the council"} {
		if !strings.Contains(text, want) {
			t.Errorf("the thread lacks %q:\n%s", want, text)
		}
	}
	axeWithoutPageScript(t, ctx)

	browsertest.Do(t, ctx, "send an empty answer", chromedp.Click(`form[action$="/reply"] button`), chromedp.WaitReady(`.govuk-error-summary`))
	browsertest.Do(t, ctx, "answer", chromedp.SendKeys(`#body`, "March to May, the worst was April."),
		chromedp.Click(`form[action$="/reply"] button`), chromedp.WaitReady(`.govuk-notification-banner`))
	browsertest.Do(t, ctx, "add the rota", chromedp.SetUploadFiles(`#file`, []string{rota}),
		// The reply's banner is still on the page until the upload's answer replaces it: wait
		// for the file itself, or the page may be read before the upload landed.
		chromedp.Click(`form[action$="/attachments"] button`), chromedp.WaitReady(`main a[href*="/attachments/"]`))
	text = browsertest.Get(t, ctx, "read the thread again", chromedp.Text("main"))
	for _, want := range []string{"March to May, the worst was April.", "From you", "rota.csv"} {
		if !strings.Contains(text, want) {
			t.Errorf("after answering, the thread lacks %q:\n%s", want, text)
		}
	}

	browsertest.Do(t, ctx, "in Welsh", chromedp.Click(`a[hreflang="cy"]`), chromedp.WaitReady(`html[lang="cy"]`))
	text = browsertest.Get(t, ctx, "read the Welsh thread", chromedp.Text("main"))
	for _, want := range []string{"Eich pryder", "Gan y cyngor", "rota.csv", "Yn ôl i'ch pryderon"} {
		if !strings.Contains(text, want) {
			t.Errorf("the Welsh thread lacks %q:\n%s", want, text)
		}
	}
	axeWithoutPageScript(t, ctx)

	// The Monitoring Officer reads the answer and opens the file.
	c, err := p.Casework.Concern(context.Background(), mo.User, filed.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Messages) != 2 || len(c.Attachments) != 1 {
		t.Errorf("the Monitoring Officer sees %d messages and %d files, want 2 and 1", len(c.Messages), len(c.Attachments))
	}
}
