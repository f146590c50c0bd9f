package web_test

import (
	"bytes"
	"context"
	"image"
	"image/jpeg"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/jmoiron/sqlx"

	"candour/internal/dbtest"
	"candour/internal/i18n"
	"candour/internal/intake"
	"candour/internal/intaketest"
	"candour/internal/receipt"
	"candour/internal/server"
	"candour/internal/web"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

type reporting struct {
	app *fiber.App
	db  *sqlx.DB
	svc *intake.Service
}

// newReporting builds the HTTP application as the portal does (server.New: streamed bodies,
// the error handler, security headers) with a real intake service on a fresh database.
func newReporting(t *testing.T) *reporting {
	t.Helper()
	k := intaketest.New(t, intaketest.Options{MaxAttachment: 1 << 20})
	db, svc, pol := k.DB, k.Intake, k.PolicyFunc()
	cat, err := i18n.Load()
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	site, err := web.New(web.Deps{Catalog: cat, Logger: log, Intake: svc, Policy: pol, SecureCookies: true})
	if err != nil {
		t.Fatal(err)
	}
	app := server.New(server.Deps{Logger: log, DB: db, Catalog: cat, Pages: site, BodyLimit: 4 << 20})
	site.Register(app)
	return &reporting{app: app, db: db, svc: svc}
}

type response struct {
	*http.Response
	body string
}

func (r *reporting) do(t *testing.T, req *http.Request) response {
	t.Helper()
	resp, err := r.app.Test(req, -1)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp, string(b)}
}

func (r *reporting) get(t *testing.T, target, cookie string) response {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	if cookie != "" {
		req.Header.Set("Cookie", web.MailboxCookie+"="+cookie)
	}
	return r.do(t, req)
}

func (r *reporting) post(t *testing.T, target, cookie string, form url.Values) response {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if cookie != "" {
		req.Header.Set("Cookie", web.MailboxCookie+"="+cookie)
	}
	return r.do(t, req)
}

func (r *reporting) concerns(t *testing.T) int {
	t.Helper()
	var n int
	if err := r.db.Get(&n, `SELECT count(*) FROM concerns`); err != nil {
		t.Fatal(err)
	}
	return n
}

func validReport() url.Values {
	return url.Values{
		"mode": {"anonymous"}, "service_area": {"childrens-services"}, "category": {"misconduct"},
		"summary":      {"Caseloads hidden from inspectors"},
		"details":      {"The team leader told us to move cases off the system before the inspection.\nIt happened twice."},
		"named_people": {"A. Manager\n\n"}, "picked": {"huw.pritchard@enghraifft.example"},
		"safeguarding": {"no"}, "lang": {"en"},
	}
}

func TestReportFormInBothLanguages(t *testing.T) {
	r := newReporting(t)
	for _, tt := range []struct {
		path, lang string
		want       []string
	}{
		{"/report", "en", []string{"Report a concern", "Is someone in danger?", "cannot always keep it confidential",
			"Anonymously", "Confidentially", "Openly", "council computer", `href="/external"`,
			"Children&#39;s Services", "Fraud or financial wrongdoing", `name="identity.name"`, `value="en" checked`}},
		{"/cy/report", "cy", []string{"Rhoi gwybod am bryder", "A oes rhywun mewn perygl?", "ni allwn bob amser",
			"Yn ddienw", "Yn gyfrinachol", "Yn agored", "rwydwaith neu Wi-Fi y cyngor", `href="/cy/external"`,
			"Gwasanaethau Plant", "Twyll neu gamwedd ariannol", `value="cy" checked`}},
	} {
		t.Run(tt.path, func(t *testing.T) {
			resp := r.get(t, tt.path, "")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("got status %d, want 200:\n%s", resp.StatusCode, resp.body)
			}
			if got := resp.Header.Values("Set-Cookie"); len(got) != 0 {
				t.Errorf("got Set-Cookie %v, want none before the mailbox is opened", got)
			}
			if !strings.Contains(resp.body, `<html lang="`+tt.lang+`"`) {
				t.Errorf("page is not lang=%s", tt.lang)
			}
			for _, w := range tt.want {
				if !strings.Contains(resp.body, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			checkReporterPage(t, resp.body)
		})
	}
}

// checkReporterPage: no inline style or script, no message id left untranslated.
func checkReporterPage(t *testing.T, body string) {
	t.Helper()
	if strings.Contains(body, "style=") || strings.Contains(body, "<style") || strings.Contains(body, "<script>") {
		t.Errorf("page has inline style or script")
	}
	if m := regexp.MustCompile(`>\s*((?:report|mailbox|field|identity|error)\.[a-z_.]+[a-z])\s*<`).FindStringSubmatch(body); m != nil {
		t.Errorf("untranslated message id %q in page", m[1])
	}
}

func TestReportInvalidKeepsValuesAndStoresNothing(t *testing.T) {
	r := newReporting(t)
	form := validReport()
	form.Set("summary", strings.Repeat("á", intake.MaxSummary+1))
	form.Del("category")
	form.Del("safeguarding")
	form.Set("identity.name", "Gwen Whistleblower") // anonymous mode: refused
	form.Set("lang", "cy")
	resp := r.post(t, "/cy/report", "", form)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("got status %d, want 400", resp.StatusCode)
	}
	for _, want := range []string{
		"Mae problem wedi codi", "govuk-error-summary",
		`href="#summary">Crynodeb: Mae&#39;r ateb hwn yn rhy hir.`,
		`href="#category"`, `href="#safeguarding"`, `href="#identity-name"`,
		"Ni all adroddiad dienw gynnwys pwy ydych chi",
		`id="summary-error"`, "govuk-input--error",
		`<p id="category-error" class="govuk-error-message"><span class="govuk-visually-hidden">Gwall:</span>`,
		`aria-describedby="details-hint"`, `aria-describedby="summary-hint summary-error"`,
		`value="Gwen Whistleblower"`, "The team leader told us", `value="huw.pritchard@enghraifft.example" aria-describedby="picked-`,
		`value="cy" checked`, "<title>Gwall: ",
	} {
		if !strings.Contains(resp.body, want) {
			t.Errorf("error page lacks %q", want)
		}
	}
	if !regexp.MustCompile(`value="huw.pritchard@enghraifft.example" aria-describedby="picked-\d+-hint" checked`).MatchString(resp.body) {
		t.Errorf("the ticked directory person is not ticked any more")
	}
	checkReporterPage(t, resp.body)
	if n := r.concerns(t); n != 0 {
		t.Errorf("got %d concerns stored, want 0", n)
	}
	if got := resp.Header.Values("Set-Cookie"); len(got) != 0 {
		t.Errorf("got Set-Cookie %v, want none", got)
	}
}

// The form offers an address for notices with the trade-off explained before the field, in
// both languages, and an anonymous report that brings one is refused with the reason.
func TestReportNoticeAddress(t *testing.T) {
	r := newReporting(t)
	for path, want := range map[string][]string{
		"/report": {"Tell me when there is a new message (confidential and open reports only)",
			"There is a new message in your mailbox", "staff never see this address",
			"anyone who can read your inbox, will learn that you use this portal", "Anonymous reports cannot use this."},
		"/cy/report": {"Rhowch wybod i mi pan fydd neges newydd (adroddiadau cyfrinachol ac agored yn unig)",
			"Mae neges newydd yn eich blwch negeseuon", "yn dysgu eich bod yn defnyddio",
			"Ni all adroddiadau dienw ddefnyddio hyn."},
	} {
		body := r.get(t, path, "").body
		field := strings.Index(body, `name="notice_email"`)
		for _, w := range want {
			if i := strings.Index(body, w); i < 0 || i > field {
				t.Errorf("%s: %q is not on the form before the notice field (at %d, field at %d)", path, w, i, field)
			}
		}
		checkReporterPage(t, body)
	}
	for _, tc := range []struct{ path, mode, address, want string }{
		{"/report", "anonymous", "gwen@example.org", "would tie you to this portal"},
		{"/cy/report", "anonymous", "gwen@example.org", "eich cysylltu â"},
		{"/cy/report", "confidential", "gwen at example", "Rhowch gyfeiriad e-bost yn y fformat cywir"},
	} {
		form := validReport()
		form.Set("mode", tc.mode)
		form.Set("notice_email", tc.address)
		if tc.mode != "anonymous" {
			form.Set("identity.name", "Gwen")
		}
		resp := r.post(t, tc.path, "", form)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(resp.body, `href="#notice-email"`) ||
			!strings.Contains(resp.body, tc.want) || !strings.Contains(resp.body, `id="notice-email-error"`) {
			t.Errorf("%s %s with %q: got %d, want 400 with %q linked to the field", tc.path, tc.mode, tc.address, resp.StatusCode, tc.want)
		}
	}
	if n := r.concerns(t); n != 0 {
		t.Errorf("got %d concerns stored, want 0", n)
	}
}

func TestReportTooManyPeopleAndEmail(t *testing.T) {
	r := newReporting(t)
	form := validReport()
	form.Set("mode", "confidential") // no custodian in this database
	form.Set("named_people", strings.Repeat("Someone\n", intake.MaxNamedPeople+1))
	resp := r.post(t, "/report", "", form)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("got status %d, want 400", resp.StatusCode)
	}
	for _, want := range []string{"There are too many entries.", `href="#named_people"`} {
		if !strings.Contains(resp.body, want) {
			t.Errorf("error page lacks %q", want)
		}
	}
	if n := r.concerns(t); n != 0 {
		t.Errorf("got %d concerns stored, want 0", n)
	}
}

func TestReportBodyTooLarge(t *testing.T) {
	r := newReporting(t)
	form := validReport()
	form.Set("details", strings.Repeat("x", web.MaxFormBody))
	resp := r.post(t, "/report", "", form)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("got status %d, want 413", resp.StatusCode)
	}
	if !strings.Contains(resp.body, "What you sent is too long") || !strings.Contains(resp.body, "Nothing was saved") {
		t.Errorf("413 page is not the friendly one:\n%s", resp.body)
	}
	if n := r.concerns(t); n != 0 {
		t.Errorf("got %d concerns stored, want 0", n)
	}
}

var receiptRE = regexp.MustCompile(`id="receipt">\s*([A-Z0-9 -]+?)\s*</p>`)

// submit files a valid report in lang and returns the receipt page.
func (r *reporting) submit(t *testing.T, lang string) (rcpt string, resp response) {
	t.Helper()
	form := validReport()
	form.Set("lang", lang)
	resp = r.post(t, web.Localise(lang, "/report"), "", form)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("got status %d, want 200:\n%s", resp.StatusCode, resp.body)
	}
	m := receiptRE.FindStringSubmatch(resp.body)
	if m == nil {
		t.Fatalf("no receipt on the page:\n%s", resp.body)
	}
	return m[1], resp
}

func TestReportAnonymousShowsReceiptAndSetsNoCookie(t *testing.T) {
	r := newReporting(t)
	rcpt, resp := r.submit(t, "en")
	if _, ok := receipt.Normalize(rcpt); !ok {
		t.Errorf("receipt %q on the page does not normalize", rcpt)
	}
	if got := resp.Header.Values("Set-Cookie"); len(got) != 0 {
		t.Errorf("got Set-Cookie %v, want none", got)
	}
	for _, want := range []string{"Your concern has been sent", `id="reference">C-`, "only this once", "Write it down",
		"work computer", `class="govuk-!-display-none-print" id="receipt-block"`, "Monitoring Officer",
		"We will acknowledge it by", "Proof that you reported", `action="/mailbox"`, `name="receipt"`} {
		if !strings.Contains(resp.body, want) {
			t.Errorf("receipt page lacks %q", want)
		}
	}
	// The printable proof (outside the hidden block) carries no receipt.
	proof := resp.body[strings.Index(resp.body, `id="proof"`):]
	if strings.Contains(proof, strings.SplitN(rcpt, " ", 2)[0]) {
		t.Errorf("the proof of filing shows the receipt")
	}
	checkReporterPage(t, resp.body)
	if n := r.concerns(t); n != 1 {
		t.Errorf("got %d concerns, want 1", n)
	}

	// In Welsh, the explanation and dates are Welsh.
	_, cy := r.submit(t, "cy")
	for _, want := range []string{"Mae eich pryder wedi&#39;i anfon", "Byddwn yn ei gydnabod erbyn", `action="/cy/mailbox"`} {
		if !strings.Contains(cy.body, want) {
			t.Errorf("Welsh receipt page lacks %q", want)
		}
	}
	if !regexp.MustCompile(`\d+ (Ionawr|Chwefror|Mawrth|Ebrill|Mai|Mehefin|Gorffennaf|Awst|Medi|Hydref|Tachwedd|Rhagfyr) \d{4}`).MatchString(cy.body) {
		t.Errorf("Welsh receipt page has no Welsh date")
	}
}

// open opens the mailbox with rcpt and returns the cookie value.
func (r *reporting) open(t *testing.T, lang, rcpt string) string {
	t.Helper()
	resp := r.post(t, web.Localise(lang, "/mailbox"), "", url.Values{"receipt": {rcpt}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("open mailbox: got status %d, want 303:\n%s", resp.StatusCode, resp.body)
	}
	if loc := resp.Header.Get("Location"); loc != web.Localise(lang, "/mailbox/thread") {
		t.Errorf("got Location %q, want the thread", loc)
	}
	for _, c := range resp.Cookies() {
		if c.Name == web.MailboxCookie {
			return c.Value
		}
	}
	t.Fatalf("no %s cookie set", web.MailboxCookie)
	return ""
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

func TestMailbox(t *testing.T) {
	r := newReporting(t)
	rcpt, _ := r.submit(t, "en")

	t.Run("wrong receipt", func(t *testing.T) {
		for _, bad := range []string{"K7QM-2XWP-TRHD-9CFA-NBEZ", "nonsense", ""} {
			resp := r.post(t, "/mailbox", "", url.Values{"receipt": {bad}})
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%q: got status %d, want 401", bad, resp.StatusCode)
			}
			if !strings.Contains(resp.body, "That receipt does not open a mailbox.") {
				t.Errorf("%q: page lacks the generic error", bad)
			}
			if got := resp.Header.Values("Set-Cookie"); len(got) != 0 {
				t.Errorf("%q: got Set-Cookie %v, want none", bad, got)
			}
		}
	})

	t.Run("no cookie", func(t *testing.T) {
		resp := r.get(t, "/cy/mailbox/thread", "")
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/cy/mailbox" {
			t.Errorf("got %d to %q, want 303 to /cy/mailbox", resp.StatusCode, resp.Header.Get("Location"))
		}
		resp = r.get(t, "/mailbox/thread", "not-a-token")
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/mailbox?done=expired" {
			t.Errorf("bad token: got %d to %q, want 303 to /mailbox?done=expired", resp.StatusCode, resp.Header.Get("Location"))
		}
	})

	t.Run("cross-site post", func(t *testing.T) {
		// Another site's form must not sign a reporter into a mailbox of its choosing.
		for header, value := range map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"} {
			req := httptest.NewRequest(http.MethodPost, "/mailbox", strings.NewReader(url.Values{"receipt": {rcpt}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set(header, value)
			resp := r.do(t, req)
			if resp.StatusCode != http.StatusForbidden || len(resp.Header.Values("Set-Cookie")) != 0 {
				t.Errorf("%s: %s: got %d with cookies %v, want 403 and no cookie", header, value, resp.StatusCode, resp.Header.Values("Set-Cookie"))
			}
		}
	})

	// The right receipt, typed loosely, opens the mailbox with a well-made cookie.
	resp := r.post(t, "/mailbox", "", url.Values{"receipt": {strings.ToLower(rcpt)}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("got status %d, want 303", resp.StatusCode)
	}
	raw := resp.Header.Get("Set-Cookie")
	for _, want := range []string{web.MailboxCookie + "=", "HttpOnly", "SameSite=Strict", "Secure", "path=/", "max-age=1800"} {
		if !strings.Contains(strings.ToLower(raw), strings.ToLower(want)) {
			t.Errorf("Set-Cookie %q lacks %s", raw, want)
		}
	}
	cookie := r.open(t, "en", rcpt)

	thread := r.get(t, "/mailbox/thread", cookie)
	if thread.StatusCode != http.StatusOK {
		t.Fatalf("thread: got status %d, want 200:\n%s", thread.StatusCode, thread.body)
	}
	for _, want := range []string{"C-", "Received", "Caseloads hidden from inspectors", "There are no messages yet."} {
		if !strings.Contains(thread.body, want) {
			t.Errorf("thread lacks %q", want)
		}
	}
	checkReporterPage(t, thread.body)
	m := csrfRE.FindStringSubmatch(thread.body)
	if m == nil {
		t.Fatal("no CSRF field on the thread page")
	}
	csrf := m[1]

	t.Run("reply", func(t *testing.T) {
		resp := r.post(t, "/mailbox/reply", cookie, url.Values{"csrf": {csrf}, "body": {"Yes, I can send the rota."}, "detriment": {"yes"}})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("got status %d, want 303:\n%s", resp.StatusCode, resp.body)
		}
		page := r.get(t, resp.Header.Get("Location"), cookie)
		for _, want := range []string{"Your message has been sent.", "Yes, I can send the rota.", "From you", "You said you have suffered detriment"} {
			if !strings.Contains(page.body, want) {
				t.Errorf("thread after reply lacks %q", want)
			}
		}
		// An empty reply is an error on the page, in the page's language.
		resp = r.post(t, "/cy/mailbox/reply", cookie, url.Values{"csrf": {csrf}, "body": {"  "}})
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(resp.body, "Eich neges: Rhowch ateb.") {
			t.Errorf("empty reply: got %d, want 400 with the Welsh error", resp.StatusCode)
		}
	})

	t.Run("upload and download", func(t *testing.T) {
		name := `../../etc/pass"wd; ünïcode.txt`
		content := []byte("rota for March\x00\x01 binary")
		resp := r.upload(t, cookie, csrf, name, content)
		review := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusSeeOther || !regexp.MustCompile(`^/mailbox/evidence/[0-9a-f-]{36}$`).MatchString(review) {
			t.Fatalf("got status %d to %q, want 303 to the file's review page:\n%s", resp.StatusCode, review, resp.body)
		}
		// Held until sent: the thread lists it as waiting, with no download, and the
		// council's side of the mailbox does not have it.
		page := r.get(t, "/mailbox/thread", cookie)
		if !strings.Contains(page.body, "Files waiting for you to send") || !strings.Contains(page.body, `href="`+review+`"`) ||
			strings.Contains(page.body, `href="/mailbox/attachments/`) {
			t.Errorf("the thread does not show the file as waiting:\n%s", page.body)
		}
		if m, err := r.svc.Mailbox(context.Background(), mustRef(t, r, cookie)); err != nil || len(m.Attachments) != 0 || len(m.Pending) != 1 {
			t.Fatalf("before sending: got %+v, %v; want one pending file and none sent", m, err)
		}
		rp := r.get(t, review, cookie)
		if rp.StatusCode != http.StatusOK || !strings.Contains(rp.body, "We cannot check this type of file") || !strings.Contains(rp.body, `value="send"`) {
			t.Fatalf("review page: got %d:\n%s", rp.StatusCode, rp.body)
		}
		if resp := r.post(t, review, cookie, url.Values{"csrf": {"0"}, "action": {"send"}}); resp.StatusCode != http.StatusForbidden {
			t.Errorf("send with a bad csrf: got %d, want 403", resp.StatusCode)
		}
		resp = r.post(t, review, cookie, url.Values{"csrf": {csrf}, "action": {"send"}})
		if resp.StatusCode != http.StatusSeeOther || !strings.Contains(r.get(t, resp.Header.Get("Location"), cookie).body, "Your file has been sent.") {
			t.Errorf("send: got %d to %q, want 303 to the thread saying it was sent", resp.StatusCode, resp.Header.Get("Location"))
		}
		if again := r.post(t, review, cookie, url.Values{"csrf": {csrf}, "action": {"send"}}); again.StatusCode != http.StatusNotFound {
			t.Errorf("sending twice: got %d, want 404", again.StatusCode)
		}
		page = r.get(t, "/mailbox/thread", cookie)
		link := regexp.MustCompile(`href="(/mailbox/attachments/[0-9a-f-]{36})"`).FindStringSubmatch(page.body)
		if link == nil {
			t.Fatalf("no download link on the thread:\n%s", page.body)
		}
		dl := r.get(t, link[1], cookie)
		if dl.StatusCode != http.StatusOK || dl.body != string(content) {
			t.Errorf("download: got %d %q, want 200 with the file", dl.StatusCode, dl.body)
		}
		if ct := dl.Header.Get("Content-Type"); ct != "application/octet-stream" {
			t.Errorf("got Content-Type %q, want application/octet-stream", ct)
		}
		cd := dl.Header.Get("Content-Disposition")
		if !strings.HasPrefix(cd, `attachment; filename="`) || !strings.Contains(cd, "filename*=UTF-8''pass%22wd%3B%20%C3%BCn%C3%AFcode.txt") {
			t.Errorf("got Content-Disposition %q", cd)
		}
		if dl.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("download lacks nosniff")
		}
		for _, id := range []string{"999999", "not-a-uuid", "6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b"} {
			if other := r.get(t, "/mailbox/attachments/"+id, cookie); other.StatusCode != http.StatusNotFound {
				t.Errorf("unknown attachment %s: got %d, want 404", id, other.StatusCode)
			}
		}
		// Over the limit: 413 on the thread page, nothing stored.
		resp = r.upload(t, cookie, csrf, "big.bin", bytes.Repeat([]byte("x"), 1<<20+1))
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(resp.body, "The file is too large.") {
			t.Errorf("big file: got %d, want 413 with the error", resp.StatusCode)
		}
		var n int
		if err := r.db.Get(&n, `SELECT count(*) FROM attachments`); err != nil || n != 1 {
			t.Errorf("got %d attachments (%v), want 1", n, err)
		}
	})

	t.Run("csrf mismatch", func(t *testing.T) {
		for _, bad := range []string{"", strings.Repeat("0", 32), csrf + "0"} {
			resp := r.post(t, "/mailbox/reply", cookie, url.Values{"csrf": {bad}, "body": {"forged"}})
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("reply with csrf %q: got %d, want 403", bad, resp.StatusCode)
			}
		}
		if resp := r.upload(t, cookie, "nope", "x.txt", []byte("forged")); resp.StatusCode != http.StatusForbidden {
			t.Errorf("upload with a bad csrf: got %d, want 403", resp.StatusCode)
		}
		if resp := r.post(t, "/mailbox/close", cookie, url.Values{}); resp.StatusCode != http.StatusForbidden {
			t.Errorf("close without csrf: got %d, want 403", resp.StatusCode)
		}
		m, err := r.svc.Mailbox(context.Background(), mustRef(t, r, cookie))
		if err != nil {
			t.Fatal(err)
		}
		for _, msg := range m.Messages {
			if msg.Body == "forged" {
				t.Errorf("a forged message was stored")
			}
		}
		if len(m.Attachments) != 1 {
			t.Errorf("got %d attachments, want 1", len(m.Attachments))
		}
	})

	// After an upload the thread says what cleaning removed, or that the file was not cleaned;
	// a damaged photo is refused against the file question.
	t.Run("cleaning shown", func(t *testing.T) {
		var b bytes.Buffer
		if err := jpeg.Encode(&b, image.NewGray(image.Rect(0, 0, 8, 8)), nil); err != nil {
			t.Fatal(err)
		}
		photo := append([]byte{0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x0F}, "Exif\x00\x00GPS 51N"...)
		photo = append(photo, b.Bytes()[2:]...)
		for _, c := range []struct {
			name    string
			content []byte
			want    []string
		}{
			{"photo.jpg", photo, []string{"we removed these hidden details", "GPS location"}},
			{"minutes.doc", []byte("\xd0\xcf\x11\xe0 office"), []string{"We cannot check this type of file"}},
		} {
			resp := r.upload(t, cookie, csrf, c.name, c.content)
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("%s: got %d, want 303:\n%s", c.name, resp.StatusCode, resp.body)
			}
			page := r.get(t, resp.Header.Get("Location"), cookie)
			for _, want := range c.want {
				if !strings.Contains(page.body, want) {
					t.Errorf("%s: the thread after upload lacks %q", c.name, want)
				}
			}
		}
		if page := r.get(t, "/cy/mailbox/thread?done=file&kind=jpeg&removed=exif+bogus", cookie); !strings.Contains(page.body, "lleoliad GPS") || strings.Contains(page.body, "scrub.bogus") {
			t.Errorf("Welsh thread after upload: lacks what was removed, or shows an unknown code")
		}
		resp := r.upload(t, cookie, csrf, "broken.jpg", photo[:40])
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(resp.body, "This file is damaged") {
			t.Errorf("damaged photo: got %d, want 400 with the error", resp.StatusCode)
		}
	})

	t.Run("close", func(t *testing.T) {
		resp := r.post(t, "/cy/mailbox/close", cookie, url.Values{"csrf": {csrf}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/cy/mailbox?done=closed" {
			t.Errorf("got %d to %q, want 303 to /cy/mailbox?done=closed", resp.StatusCode, resp.Header.Get("Location"))
		}
		raw := resp.Header.Get("Set-Cookie")
		if !strings.Contains(raw, web.MailboxCookie+"=;") || !strings.Contains(strings.ToLower(raw), "expires=") {
			t.Errorf("got Set-Cookie %q, want the cookie deleted", raw)
		}
		// A copy of the old cookie opens nothing: the token itself was ended.
		if resp := r.get(t, "/mailbox/thread", cookie); resp.StatusCode != http.StatusSeeOther ||
			resp.Header.Get("Location") != "/mailbox?done=expired" {
			t.Errorf("old cookie after closing: got %d to %q, want 303 to /mailbox?done=expired", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
}

func mustRef(t *testing.T, r *reporting, cookie string) string {
	t.Helper()
	ref, err := r.svc.MailboxReference(context.Background(), cookie)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func (r *reporting) upload(t *testing.T, cookie, csrf, name string, content []byte) response {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	if err := w.WriteField("csrf", csrf); err != nil {
		t.Fatal(err)
	}
	fw, err := w.CreateFormFile("file", name)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(content)
	w.Close()
	req := httptest.NewRequest(http.MethodPost, "/mailbox/attachments", &b)
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Cookie", web.MailboxCookie+"="+cookie)
	return r.do(t, req)
}
