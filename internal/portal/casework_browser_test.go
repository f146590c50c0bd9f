package portal_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"
	"github.com/chromedp/chromedp"

	"candour/internal/accounts"
	"candour/internal/auth"
	"candour/internal/browsertest"
	"candour/internal/dbtest"
	"candour/internal/intake"
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
	const email, password = "elin.rowlands@enghraifft.example", "a long enough passphrase"
	mo, err := p.Accounts.Create(ctx0, accounts.Console(), accounts.NewUser{Email: email, Name: "Elin Rowlands",
		Roles: []string{"monitoring_officer"}, Password: password})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Accounts.Create(ctx0, accounts.Console(), accounts.NewUser{Email: "ioan.investigator@enghraifft.example", Name: "Ioan Davies",
		Roles: []string{"investigator"}, Password: password}); err != nil {
		t.Fatal(err)
	}

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

	code, _ := auth.CodeAt(mo.TOTPSecret, time.Now())
	browsertest.Do(t, ctx, "sign in",
		chromedp.Navigate(p.URL()+"/staff/login"), chromedp.WaitReady("#email"),
		chromedp.SendKeys("#email", email), chromedp.SendKeys("#password", password), chromedp.SendKeys("#totp", code),
		chromedp.Submit("#totp"), chromedp.WaitReady("#signed-in-as"))

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

// caseClient is a signed-in staff browser without the browser: a cookie jar and the session's
// CSRF token, read from the forms.
type caseClient struct {
	t    *testing.T
	base string
	c    *http.Client
}

var caseCSRFField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func caseSignIn(t *testing.T, base, email, password, totpSecret string) *caseClient {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	s := &caseClient{t: t, base: base, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
	_, page := s.get("/staff/login")
	code, _ := auth.CodeAt(totpSecret, time.Now())
	if st, body := s.post("/staff/login", url.Values{"csrf": {caseCSRFOf(t, page)}, "email": {email}, "password": {password}, "totp": {code}}); st != 303 {
		t.Fatalf("sign in %s: got %d, want 303:\n%s", email, st, body)
	}
	return s
}

func caseCSRFOf(t *testing.T, page string) string {
	t.Helper()
	m := caseCSRFField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF field in page:\n%s", page)
	}
	return m[1]
}

func (s *caseClient) do(req *http.Request) (*http.Response, string) {
	s.t.Helper()
	resp, err := s.c.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (s *caseClient) get(path string) (int, string) {
	s.t.Helper()
	req, _ := http.NewRequest("GET", s.base+path, nil)
	resp, body := s.do(req)
	return resp.StatusCode, body
}

func (s *caseClient) post(path string, form url.Values) (int, string) {
	s.t.Helper()
	req, _ := http.NewRequest("POST", s.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, body := s.do(req)
	return resp.StatusCode, body
}

// TestCaseworkPagesDisclosureAndErrors: the Monitoring Officer asks for a confidential
// reporter's identity from the concern page; a custodian approves it (a reason is required) and
// downloads the identity still sealed, as a file the age CLI opens with the custodian's key.
// Out-of-order actions and missing reasons are shown on the page in its language; unknown
// concerns are the 404 page.
func TestCaseworkPagesDisclosureAndErrors(t *testing.T) {
	p, _ := start(t, dbtest.NewURL(t))
	ctx := context.Background()
	const password = "a long enough passphrase"
	mo, err := p.Accounts.Create(ctx, accounts.Console(), accounts.NewUser{Email: "mo@enghraifft.example", Name: "Elin Rowlands",
		Roles: []string{"monitoring_officer"}, Password: password})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := age.GenerateX25519Identity()
	rcpt := key.Recipient().String()
	cu, err := p.Accounts.Create(ctx, accounts.Console(), accounts.NewUser{Email: "custodian@enghraifft.example", Name: "Cara Custodian",
		Roles: []string{"custodian"}, AgeRecipient: &rcpt, Password: password})
	if err != nil {
		t.Fatal(err)
	}
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

	officer := caseSignIn(t, p.URL(), mo.User.Email, password, mo.TOTPSecret)
	st, body := officer.get(page)
	if st != 200 || !strings.Contains(body, "Identity held by the custodians") || strings.Contains(body, "Gwen") {
		t.Fatalf("concern page: got %d, want 200 with the identity held by the custodians:\n%s", st, body)
	}
	csrf := caseCSRFOf(t, body)
	// Pages name concerns by public id only: no serial in any link or form.
	for _, path := range []string{"/staff/triage", page} {
		_, body := officer.get(path)
		if serial := regexp.MustCompile(`/(concerns|investigations|attachments|identity-requests)/[0-9]+\b`).FindString(body); serial != "" {
			t.Errorf("%s links by serial: %s", path, serial)
		}
		if !strings.Contains(body, "/staff/concerns/"+c.ID) {
			t.Errorf("%s lacks the link by public id", path)
		}
	}
	if st, body := officer.get("/cy/staff/triage"); st != 200 || !strings.Contains(body, "Ciw brysbennu") || !strings.Contains(body, filed.Reference) ||
		strings.Contains(body, "Split invoices") || strings.Contains(body, ">caseworkweb.") {
		t.Errorf("Welsh queue: got %d, want the queue in Welsh without content:\n%s", st, body)
	}
	if st, body := officer.get("/staff/triage?status=bogus"); st != 400 || !strings.Contains(body, `href="#filter-status"`) {
		t.Errorf("bad filter: got %d, want 400 with the field in the error summary", st)
	}
	for _, unknown := range []string{"999999", "6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b", "not-a-uuid", c.ID + "0"} {
		if st, _ := officer.get("/staff/concerns/" + unknown); st != 404 {
			t.Errorf("unknown concern %q: got %d, want 404", unknown, st)
		}
	}
	if st, _ := officer.post(page+"/acknowledge", url.Values{"csrf": {"wrong"}}); st != 403 {
		t.Errorf("acknowledge with a wrong CSRF token: got %d, want 403", st)
	}
	if st, body := officer.post("/cy"+page+"/decision", url.Values{"csrf": {csrf}, "action": {"decline"}, "reason": {"Dim digon"}}); st != 409 ||
		!strings.Contains(body, "govuk-error-summary") || !strings.Contains(body, "Cydnabyddwch y pryder") || !strings.Contains(body, `<html lang="cy"`) {
		t.Errorf("decide before acknowledging (Welsh): got %d, want 409 with the Welsh error summary:\n%.400s", st, body)
	}
	if st, _ := officer.post(page+"/acknowledge", url.Values{"csrf": {csrf}}); st != 303 {
		t.Fatalf("acknowledge: got %d, want 303", st)
	}
	if st, body := officer.post(page+"/acknowledge", url.Values{"csrf": {csrf}}); st != 409 || !strings.Contains(body, "already been acknowledged") {
		t.Errorf("acknowledge twice: got %d, want 409 with the message", st)
	}
	if st, body := officer.post(page+"/decision", url.Values{"csrf": {csrf}, "action": {"refer"}}); st != 400 ||
		!strings.Contains(body, `href="#refer-reason"`) || !strings.Contains(body, `href="#refer-refer_to"`) {
		t.Errorf("refer without a reason: got %d, want 400 naming both fields:\n%s", st, body)
	}
	if st, body := officer.post(page+"/identity-request", url.Values{"csrf": {csrf}, "reason": {"Needed to interview the witness."}}); st != 303 {
		t.Fatalf("identity request: got %d, want 303:\n%s", st, body)
	}

	custodian := caseSignIn(t, p.URL(), cu.User.Email, password, cu.TOTPSecret)
	st, body = custodian.get("/staff/identity-requests")
	if st != 200 || !strings.Contains(body, filed.Reference) || !strings.Contains(body, "Needed to interview the witness.") {
		t.Fatalf("custodian page: got %d, want the pending request:\n%s", st, body)
	}
	m := regexp.MustCompile(`action="/staff/identity-requests/([0-9a-f-]{36})/decision"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no decision form:\n%s", body)
	}
	decide := "/staff/identity-requests/" + m[1] + "/decision"
	csrf = caseCSRFOf(t, body)
	if st, body := custodian.get("/staff/identity-requests/sealed?reference=" + filed.Reference); st != 403 || !strings.Contains(body, "No approved request") {
		t.Errorf("download before approval: got %d, want 403 with the message", st)
	}
	if st, body := custodian.post(decide, url.Values{"csrf": {csrf}, "decision": {"approve"}}); st != 400 || !strings.Contains(body, "Enter an answer") {
		t.Errorf("approve without a reason: got %d, want 400", st)
	}
	if st, _ := custodian.post(decide, url.Values{"csrf": {csrf}, "decision": {"approve"}, "reason": {"Proportionate and necessary."}}); st != 303 {
		t.Fatalf("approve: got %d, want 303", st)
	}
	st, body = custodian.get("/staff/identity-requests?done=approved&reference=" + filed.Reference)
	if st != 200 || !strings.Contains(body, "identity-"+filed.Reference+".age") || !strings.Contains(body, "age -d -i your-key.txt") {
		t.Errorf("after approval: got %d, want the download link and the age command:\n%s", st, body)
	}
	req, _ := http.NewRequest("GET", p.URL()+"/staff/identity-requests/sealed?reference="+filed.Reference, nil)
	resp, sealed := custodian.do(req)
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Disposition"), `attachment; filename="identity-`+filed.Reference+`.age"`) ||
		!strings.HasPrefix(sealed, "-----BEGIN AGE ENCRYPTED FILE-----") || strings.Contains(sealed, "Gwen") {
		t.Fatalf("sealed identity: got %d %q %.60q", resp.StatusCode, resp.Header.Get("Content-Disposition"), sealed)
	}
	r, err := age.Decrypt(armor.NewReader(strings.NewReader(sealed)), key)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(r)
	if !strings.Contains(string(plain), "Gwen Whistleblower") {
		t.Errorf("opened identity: got %s, want the reporter's name", plain)
	}
}
