package portal_test

import (
	"context"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/chromedp/chromedp"

	"candour/internal/accounts"
	"candour/internal/browsertest"
	"candour/internal/dbtest"
	"candour/internal/intake"
	"candour/internal/portaltest"
	"candour/internal/store"
)

// TestBrowserCaseworkWholeStory is the Monitoring Officer's day in Chromium: a report filed in
// Welsh waits in the queue; the officer signs in with a second factor, opens it, acknowledges
// it, asks the reporter a question, commissions an investigation, accepts the concern into it,
// records an allegation with a finding and a recommendation, reports the investigation and
// closes the concern with feedback. The reporter then reads the outcome in Welsh. The queue,
// concern, investigation and report pages pass axe-core.
func TestBrowserCaseworkWholeStory(t *testing.T) {
	p, _ := start(t, dbtest.NewURL(t))
	ctx0 := context.Background()
	mo := portaltest.Account(t, p, accounts.NewUser{Email: "elin.rowlands@enghraifft.example", Name: "Elin Rowlands",
		Roles: []string{"monitoring_officer"}})
	portaltest.Account(t, p, accounts.NewUser{Email: "ioan.investigator@enghraifft.example", Name: "Ioan Davies",
		Roles: []string{"investigator"}})

	// The reporter files in Welsh, then answers and adds evidence from the mailbox.
	filed, err := p.Intake.Submit(ctx0, intake.ReportSubmission{Mode: "anonymous", ServiceArea: "childrens-services",
		Category: "misconduct", Summary: "Achosion wedi'u cau'n gynnar", Details: "Caewyd achosion cyn yr arolygiad i gyrraedd targedau.",
		Lang: "cy"})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Intake.Reply(ctx0, filed.Reference, "Mae fy rheolwr wedi newid fy shifftiau ers i mi godi hyn.", true); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Intake.AddAttachment(ctx0, filed.Reference, "reporter", "rhestr-achosion.csv", strings.NewReader("case,closed\n1,2026-03-01\n")); err != nil {
		t.Fatal(err)
	}

	ctx := browsertest.New(t, browsertest.Options{Timeout: 150 * time.Second})
	text := func(what, sel string) string {
		t.Helper()
		return browsertest.Get(t, ctx, what, chromedp.Text(sel))
	}
	mustShow := func(what, sel string, wants ...string) {
		t.Helper()
		got := text(what, sel)
		for _, w := range wants {
			if !strings.Contains(got, w) {
				t.Errorf("%s: got %q, want it to contain %q", what, got, w)
			}
		}
	}
	// act opens page afresh, runs steps that submit a form, and waits for the answer: a success
	// banner (the page after the redirect) or an error summary, which fails the test.
	act := func(what, page string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		all := append([]chromedp.Action[chromedp.Void]{chromedp.Navigate(page), chromedp.WaitReady("main")}, steps...)
		all = append(all, chromedp.WaitReady(chromedp.CSS(".govuk-notification-banner--success, .govuk-error-summary")))
		browsertest.Do(t, ctx, what, all...)
		if errs := browsertest.Get(t, ctx, what+": errors", chromedp.Evaluate[string](
			`(document.querySelector('.govuk-error-summary') || {innerText: ''}).innerText`)); errs != "" {
			t.Fatalf("%s: got errors %q, want none", what, errs)
		}
	}

	signIn(t, ctx, p, "", mo)

	// The queue: the report with its clocks, never its content.
	browsertest.Do(t, ctx, "open the queue from the staff home", chromedp.Click(chromedp.CSS(`#casework-links a[href$="/staff/triage"]`)),
		chromedp.WaitReady("#queue"))
	queue := text("read the queue", "#queue")
	for _, want := range []string{filed.Reference, "Anonymous", "Staff whistleblowing", "Received"} {
		if !strings.Contains(queue, want) {
			t.Errorf("queue: got %q, want it to contain %q", queue, want)
		}
	}
	if !regexp.MustCompile(`\d+ days left`).MatchString(queue) {
		t.Errorf("queue: got %q, want the time left on the clocks", queue)
	}
	if strings.Contains(queue, "cynnar") || strings.Contains(queue, "Caewyd") {
		t.Errorf("the queue shows content: %q", queue)
	}
	browsertest.Axe(t, ctx)

	// The concern: content, the reporter's reply with detriment flagged, the evidence.
	browsertest.Do(t, ctx, "open the concern", chromedp.Click(chromedp.CSS("#queue a.govuk-link")), chromedp.WaitReady("#facts"))
	concernURL := browsertest.Get(t, ctx, "location", chromedp.Location())
	concernID := regexp.MustCompile(`/staff/concerns/([0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})$`).FindStringSubmatch(concernURL)
	if concernID == nil {
		t.Fatalf("got %s, want a concern page", concernURL)
	}
	mustShow("content", "main", "Caewyd achosion cyn yr arolygiad", "Mae fy rheolwr wedi newid fy shifftiau", "Reports detriment",
		"rhestr-achosion.csv", "None: the reporter chose to stay anonymous", "Monitoring Officer")
	browsertest.Axe(t, ctx)

	act("acknowledge", concernURL, chromedp.Click("#acknowledge-button"))
	mustShow("acknowledged", "#status", "Acknowledged")
	act("message the reporter", concernURL,
		chromedp.SendKeys("#message-body", "Which month did this happen?"), chromedp.Click(chromedp.CSS("#message button[type=submit]")))
	mustShow("message sent", "#thread", "Which month did this happen?")

	// Commission an investigation from the concern page; back on it, accept the concern into it.
	browsertest.Do(t, ctx, "commission", chromedp.Navigate(concernURL), chromedp.WaitReady("#commission-link"),
		chromedp.Click("#commission-link"), chromedp.WaitReady("#brief-title"),
		chromedp.SendKeys("#brief-title", "Child and family assessment team"),
		chromedp.SendKeys("#brief-terms_of_reference", "Establish whether cases were closed early to meet targets."),
		chromedp.SendKeys("#brief-investigating_officer", "ioan.investigator@enghraifft.example"),
		chromedp.SendKeys("#brief-due_at", "2027-03-31"),
		chromedp.Click("#brief-submit"), chromedp.WaitReady(".govuk-notification-banner--success"))
	// The new investigation comes chosen in the accept form (?investigation=…).
	acceptURL := strings.Replace(browsertest.Get(t, ctx, "location", chromedp.Location()), "done=commissioned&", "", 1)
	act("accept", acceptURL,
		chromedp.SendKeys("#accept-reason", "Serious and specific; it names a team and a time."), chromedp.Click("#accept-button"))
	mustShow("accepted", "#status", "Accepted for investigation")
	invHref := browsertest.Get(t, ctx, "investigation link", chromedp.AttributeValue(chromedp.CSS(`#facts a[href*="/staff/investigations/"]`), "href"))
	invURL := p.URL() + invHref.Value

	// The investigation, allegation by allegation.
	act("start the investigation", invURL, chromedp.Click("#advance-button"))
	mustShow("in progress", "#status", "In progress")
	act("add an allegation", invURL,
		chromedp.SetValue("#allegation-source_concern_id", concernID[1]),
		chromedp.SendKeys("#allegation-text", "Cases were closed early to meet targets."),
		chromedp.SendKeys("#allegation-evidence", "Case management system extract; interview with the team manager."),
		chromedp.Click(chromedp.CSS("#allegation button[type=submit]")))
	act("record the finding", invURL,
		chromedp.Click(chromedp.CSS(`form[id^="finding-"] input[value="partly_upheld"]`)),
		chromedp.SendKeys(chromedp.CSS(`form[id^="finding-"] textarea[name="finding_text"]`), "Some closures were early; feedback to referrers was poor."),
		chromedp.Click(chromedp.CSS(`form[id^="finding-"] button[type=submit]`)))
	act("add a recommendation", invURL,
		chromedp.SendKeys("#recommendation-text", "Acknowledge every referral within 3 working days."),
		chromedp.SendKeys("#recommendation-owner", "Head of Children's Services"),
		chromedp.SendKeys("#recommendation-due_at", "2027-06-30"),
		chromedp.Click(chromedp.CSS("#recommendation button[type=submit]")))
	act("report the investigation", invURL,
		chromedp.SendKeys("#advance-conclusion", "One allegation partly upheld."), chromedp.Click("#advance-button"))
	mustShow("reported", "#status", "Reported")
	mustShow("investigation", "main", "Allegation 1", "Partly upheld", filed.Reference, "Head of Children's Services", "Ioan Davies")
	browsertest.Axe(t, ctx)

	// The printable report, in English and in Welsh.
	browsertest.Do(t, ctx, "open the report", chromedp.Click("#report-link"), chromedp.WaitReady("#report"))
	mustShow("report", "#report", "Introduction", "Methodology", "Establish whether cases were closed early",
		"Case management system extract", "Partly upheld", "One allegation partly upheld.", "Acknowledge every referral")
	browsertest.Axe(t, ctx)
	browsertest.Do(t, ctx, "open the Welsh report", chromedp.Click(`a[hreflang="cy"]`), chromedp.WaitReady(`html[lang="cy"]`))
	mustShow("Welsh report", "#report", "Cyflwyniad", "Methodoleg", "Cadarnhawyd yn rhannol", "Argymhellion")
	browsertest.Axe(t, ctx)

	// Close the concern with the outcome, in the reporter's language.
	const feedback = "Canfu'r ymchwiliad fod adborth i atgyfeirwyr yn wael; mae'r tîm yn newid ei drefn."
	act("close with feedback", concernURL, chromedp.SendKeys("#close-reason", feedback), chromedp.Click("#close-button"))
	mustShow("closed", "#status", "Closed")
	mustShow("outcome on the concern page", "#feedback", "adborth i atgyfeirwyr")

	// The reporter opens the mailbox in Welsh with the receipt and reads the outcome.
	rctx := browsertest.New(t, browsertest.Options{})
	browsertest.Do(t, rctx, "open the Welsh mailbox", chromedp.Navigate(p.URL()+"/cy/mailbox"), chromedp.WaitReady("#receipt"),
		chromedp.SendKeys("#receipt", filed.Receipt), chromedp.Submit("#receipt"), chromedp.WaitReady("#feedback"))
	if lang := browsertest.Get(t, rctx, "read lang", chromedp.Evaluate[string](`document.documentElement.lang`)); lang != "cy" {
		t.Errorf("mailbox: got lang=%q, want cy", lang)
	}
	if got := browsertest.Get(t, rctx, "read the outcome", chromedp.Text("#feedback")); !strings.Contains(got, feedback) {
		t.Errorf("mailbox outcome: got %q, want %q", got, feedback)
	}
	thread := browsertest.Get(t, rctx, "read the thread", chromedp.Text("#thread"))
	for _, want := range []string{"Diolch am godi eich pryder", "Which month did this happen?"} {
		if !strings.Contains(thread, want) {
			t.Errorf("mailbox thread: got %q, want it to contain %q", thread, want)
		}
	}
	if status := browsertest.Get(t, rctx, "read the status", chromedp.Text("#status")); !strings.Contains(status, "Wedi'i gau") {
		t.Errorf("mailbox status: got %q, want Wedi'i gau", status)
	}
}

// TestCaseworkPagesDisclosureAndErrors: the Monitoring Officer asks for a confidential
// reporter's identity from the concern page; a custodian approves it (a reason is required) and
// downloads the identity still sealed, as a file the age CLI opens with the custodian's key.
// Out-of-order actions and missing reasons are shown on the page in its language; unknown
// concerns are the 404 page.
func TestCaseworkPagesDisclosureAndErrors(t *testing.T) {
	p, _ := start(t, dbtest.NewURL(t))
	ctx := context.Background()
	mo := portaltest.Account(t, p, accounts.NewUser{Email: "mo@enghraifft.example", Name: "Elin Rowlands",
		Roles: []string{"monitoring_officer"}})
	key, _ := age.GenerateX25519Identity()
	rcpt := key.Recipient().String()
	portaltest.PinCustodian(t, p, "custodian@enghraifft.example", rcpt)
	cu := portaltest.Account(t, p, accounts.NewUser{Email: "custodian@enghraifft.example", Name: "Cara Custodian",
		Roles: []string{"custodian"}, AgeRecipient: &rcpt})
	filed, err := p.Intake.Submit(ctx, intake.ReportSubmission{Mode: "confidential", ServiceArea: "finance", Category: "fraud",
		Summary: "Split invoices", Details: "Invoices split to avoid approval.",
		Identity: &intake.Identity{Name: "Gwen Whistleblower", Email: "gwen@example.org"}, Lang: "en"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := store.New(p.DB).ConcernByReference(ctx, filed.Reference)
	if err != nil {
		t.Fatal(err)
	}
	page := "/staff/concerns/" + c.ID

	officer := portaltest.SignIn(t, p, mo)
	pg := officer.Get(page)
	if pg.Status != 200 || !strings.Contains(pg.Body, "Identity held by the custodians") || strings.Contains(pg.Body, "Gwen") {
		t.Fatalf("concern page: got %d, want 200 with the identity held by the custodians:\n%s", pg.Status, pg.Body)
	}
	csrf := portaltest.CSRF(t, pg.Body)
	// Pages name concerns by public id only: no serial in any link or form.
	for _, path := range []string{"/staff/triage", page} {
		pg := officer.Get(path)
		if serial := regexp.MustCompile(`/(concerns|investigations|attachments|identity-requests)/[0-9]+(["'/?#\s]|$)`).FindString(pg.Body); serial != "" {
			t.Errorf("%s links by serial: %s", path, serial)
		}
		if !strings.Contains(pg.Body, "/staff/concerns/"+c.ID) {
			t.Errorf("%s lacks the link by public id", path)
		}
	}
	if pg := officer.Get("/cy/staff/triage"); pg.Status != 200 || !strings.Contains(pg.Body, "Ciw brysbennu") || !strings.Contains(pg.Body, filed.Reference) ||
		strings.Contains(pg.Body, "Split invoices") || strings.Contains(pg.Body, ">caseworkweb.") {
		t.Errorf("Welsh queue: got %d, want the queue in Welsh without content:\n%s", pg.Status, pg.Body)
	}
	if pg := officer.Get("/staff/triage?status=bogus"); pg.Status != 400 || !strings.Contains(pg.Body, `href="#filter-status"`) {
		t.Errorf("bad filter: got %d, want 400 with the field in the error summary", pg.Status)
	}
	for _, unknown := range []string{"999999", "6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b", "not-a-uuid", c.ID + "0"} {
		if pg := officer.Get("/staff/concerns/" + unknown); pg.Status != 404 {
			t.Errorf("unknown concern %q: got %d, want 404", unknown, pg.Status)
		}
	}
	if pg := officer.Post(page+"/acknowledge", url.Values{"csrf": {"wrong"}}); pg.Status != 403 {
		t.Errorf("acknowledge with a wrong CSRF token: got %d, want 403", pg.Status)
	}
	if pg := officer.Post("/cy"+page+"/decision", url.Values{"csrf": {csrf}, "action": {"decline"}, "reason": {"Dim digon"}}); pg.Status != 409 ||
		!strings.Contains(pg.Body, "govuk-error-summary") || !strings.Contains(pg.Body, "Cydnabyddwch y pryder") || !strings.Contains(pg.Body, `<html lang="cy"`) {
		t.Errorf("decide before acknowledging (Welsh): got %d, want 409 with the Welsh error summary:\n%.400s", pg.Status, pg.Body)
	}
	if pg := officer.Post(page+"/acknowledge", url.Values{"csrf": {csrf}}); pg.Status != 303 {
		t.Fatalf("acknowledge: got %d, want 303", pg.Status)
	}
	if pg := officer.Post(page+"/acknowledge", url.Values{"csrf": {csrf}}); pg.Status != 409 || !strings.Contains(pg.Body, "already been acknowledged") {
		t.Errorf("acknowledge twice: got %d, want 409 with the message", pg.Status)
	}
	if pg := officer.Post(page+"/decision", url.Values{"csrf": {csrf}, "action": {"refer"}}); pg.Status != 400 ||
		!strings.Contains(pg.Body, `href="#refer-reason"`) || !strings.Contains(pg.Body, `href="#refer-refer_to"`) {
		t.Errorf("refer without a reason: got %d, want 400 naming both fields:\n%s", pg.Status, pg.Body)
	}
	if pg := officer.Post(page+"/identity-request", url.Values{"csrf": {csrf}, "reason": {"Needed to interview the witness."}}); pg.Status != 303 {
		t.Fatalf("identity request: got %d, want 303:\n%s", pg.Status, pg.Body)
	}

	custodian := portaltest.SignIn(t, p, cu)
	pg = custodian.Get("/staff/identity-requests")
	if pg.Status != 200 || !strings.Contains(pg.Body, filed.Reference) || !strings.Contains(pg.Body, "Needed to interview the witness.") {
		t.Fatalf("custodian page: got %d, want the pending request:\n%s", pg.Status, pg.Body)
	}
	m := regexp.MustCompile(`action="/staff/identity-requests/([0-9a-f-]{36})/decision"`).FindStringSubmatch(pg.Body)
	if m == nil {
		t.Fatalf("no decision form:\n%s", pg.Body)
	}
	decide := "/staff/identity-requests/" + m[1] + "/decision"
	csrf = portaltest.CSRF(t, pg.Body)
	if pg := custodian.Get("/staff/identity-requests/sealed?reference=" + filed.Reference); pg.Status != 403 || !strings.Contains(pg.Body, "No approved request") {
		t.Errorf("download before approval: got %d, want 403 with the message", pg.Status)
	}
	if pg := custodian.Post(decide, url.Values{"csrf": {csrf}, "decision": {"approve"}}); pg.Status != 400 || !strings.Contains(pg.Body, "Enter an answer") {
		t.Errorf("approve without a reason: got %d, want 400", pg.Status)
	}
	if pg := custodian.Post(decide, url.Values{"csrf": {csrf}, "decision": {"approve"}, "reason": {"Proportionate and necessary."}}); pg.Status != 303 {
		t.Fatalf("approve: got %d, want 303", pg.Status)
	}
	pg = custodian.Get("/staff/identity-requests?done=approved&reference=" + filed.Reference)
	if pg.Status != 200 || !strings.Contains(pg.Body, "identity-"+filed.Reference+".age") || !strings.Contains(pg.Body, "age -d -i your-key.txt") {
		t.Errorf("after approval: got %d, want the download link and the age command:\n%s", pg.Status, pg.Body)
	}
	dl := custodian.Get("/staff/identity-requests/sealed?reference=" + filed.Reference)
	sealed := dl.Body
	if dl.Status != 200 || !strings.Contains(dl.Header.Get("Content-Disposition"), `attachment; filename="identity-`+filed.Reference+`.age"`) ||
		!strings.HasPrefix(sealed, "-----BEGIN AGE ENCRYPTED FILE-----") || strings.Contains(sealed, "Gwen") {
		t.Fatalf("sealed identity: got %d %q %.60q", dl.Status, dl.Header.Get("Content-Disposition"), sealed)
	}
	if plain := portaltest.Unseal(t, sealed, key); !strings.Contains(plain, "Gwen Whistleblower") {
		t.Errorf("opened identity: got %s, want the reporter's name", plain)
	}
}
