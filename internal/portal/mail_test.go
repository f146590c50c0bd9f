package portal_test

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"candour/internal/mailtest"
	"candour/internal/portaltest"
)

// startWithMail runs a portal that sends through a real mail server requiring STARTTLS, whose
// certificate the council's CA file vouches for.
func startWithMail(t *testing.T) (*portaltest.Env, *mailtest.Server) {
	t.Helper()
	pki := mailtest.NewPKI(t)
	srv := mailtest.Start(t, pki, mailtest.STARTTLS)
	return portaltest.Start(t, portaltest.Setting("CANDOUR_SMTP_ADDR", srv.Addr),
		portaltest.Setting("CANDOUR_SMTP_CA_FILE", pki.CAFile)), srv
}

// A safeguarding report filed through the API reaches the safeguarding hub on a real mail
// server, over STARTTLS with the server's certificate checked against the council's CA file,
// within the minute the design allows for "at once". An ordinary report filed beside it waits
// for the hour, and neither e-mail says more than the reference.
func TestSafeguardingAlertReachesTheMailServer(t *testing.T) {
	e, srv := startWithMail(t)
	filedAt := time.Now()
	urgent := fileChildAlone(t, e, true, "Unique phrase osprey-lantern.").Reference
	routine := fileChildAlone(t, e, false, "Unique phrase heron-anchor.").Reference

	const hub = "safeguarding@enghraifft.example"
	toHub := func(ms []mailtest.Received) bool {
		return slices.ContainsFunc(ms, func(m mailtest.Received) bool { return m.To == hub })
	}
	got := srv.WaitUntil(toHub, time.Minute)
	if !toHub(got) {
		t.Fatalf("no safeguarding alert to %s within a minute of filing; got %d e-mails; log:\n%s", hub, len(got), e.Logs)
	}
	t.Logf("safeguarding alert at the mail server %s after filing", time.Since(filedAt).Round(time.Millisecond))
	for _, m := range got {
		if !m.TLS || !strings.Contains(m.Data, urgent) {
			t.Errorf("got mail to %s (TLS %v), want only mail over TLS about %s:\n%s", m.To, m.TLS, urgent, m.Data)
		}
		if strings.Contains(m.Data, routine) || strings.Contains(m.Data, "osprey-lantern") {
			t.Errorf("the alert says more than the reference, or names the routine report:\n%s", m.Data)
		}
	}
}

// fileChildAlone files an anonymous report through the API about a child left alone at night,
// a safeguarding one if safeguarding, and returns its reference and receipt.
func fileChildAlone(t *testing.T, e *portaltest.Env, safeguarding bool, details string) (filed struct{ Reference, Receipt string }) {
	t.Helper()
	r := portaltest.DoJSON(t, e.URL(), "POST", "/api/v1/reports", map[string]any{"mode": "anonymous",
		"service_area": "childrens-services", "category": "safeguarding", "summary": "A child left alone at night",
		"details": details, "safeguarding": safeguarding, "named_people": []string{}, "identity": nil, "lang": "en"})
	if r.Status != http.StatusCreated {
		t.Fatalf("file: %d %s", r.Status, r.Body)
	}
	if err := json.Unmarshal(r.Body, &filed); err != nil {
		t.Fatal(err)
	}
	return filed
}

// A mail server whose certificate nobody vouches for refuses every alert: the refusal is
// retried, shown to the Monitoring Officer on the staff home page in both languages and to an
// operator in the readiness answer, and no e-mail reaches the server in clear.
func TestRefusedMailIsSeen(t *testing.T) {
	pki := mailtest.NewPKI(t)
	srv := mailtest.Start(t, pki, mailtest.STARTTLS)
	// No CA file: the system's roots do not vouch for the test authority.
	e := portaltest.Start(t, portaltest.Setting("CANDOUR_SMTP_ADDR", srv.Addr))
	mo := portaltest.NewStaff(t, e.Portal, "elin.rowlands@enghraifft.example", "monitoring_officer")
	lead := portaltest.NewStaff(t, e.Portal, "lead@enghraifft.example", "service_lead")
	fileChildAlone(t, e, true, "Seen twice this week.")
	var ready struct {
		Mail struct{ Retrying, Failed int }
	}
	for end := time.Now().Add(time.Minute); time.Now().Before(end) && ready.Mail.Retrying == 0; time.Sleep(200 * time.Millisecond) {
		res := e.Do(t, "GET", "/readyz", "", nil)
		if err := json.Unmarshal(res.Body, &ready); err != nil {
			t.Fatalf("readyz: %s", res.Body)
		}
	}
	if ready.Mail.Retrying == 0 {
		t.Fatalf("readiness never showed the refused mail; log:\n%s", e.Logs)
	}
	if !strings.Contains(e.Logs.String(), "notification not delivered") || !strings.Contains(e.Logs.String(), "certificate") {
		t.Errorf("the refusal is not in the log with its reason")
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("%d e-mails reached the server", n)
	}
	en, cy := mo.Get("/staff"), mo.Get("/cy/staff")
	if !strings.Contains(en.Body, `id="mail-backlog"`) || !strings.Contains(en.Body, "refused by the mail server and") {
		t.Errorf("English staff home does not show the refused mail:\n%s", en.Body)
	}
	if !strings.Contains(cy.Body, "Gwrthododd y gweinydd e-bost") {
		t.Errorf("Welsh staff home does not show the refused mail")
	}
	if p := lead.Get("/staff"); strings.Contains(p.Body, `id="mail-backlog"`) {
		t.Errorf("a service lead sees the mail backlog; only the Monitoring Officer and deputy should")
	}
	if !strings.Contains(en.Body, `id="safeguarding-undelivered"`) || !strings.Contains(cy.Body, "Nid yw rhybuddion diogelu") {
		t.Errorf("the staff home does not show prominently, in both languages, that a safeguarding alert is undelivered")
	}

	// A quarter of an hour of refusals (four, the pauses doubling from a minute): the deputy is
	// told, once per concern, however many runs of the notifier follow.
	e.DB.MustExec(`UPDATE notifications SET attempts = 4, not_before = now() WHERE kind = 'routed'`)
	escalations := func() int {
		var n int
		if err := e.DB.Get(&n, `SELECT count(*) FROM notifications WHERE kind = 'escalation' AND recipient = 'owain.bevan@enghraifft.example'`); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for end := time.Now().Add(time.Minute); time.Now().Before(end) && escalations() == 0; time.Sleep(200 * time.Millisecond) {
	}
	time.Sleep(6 * time.Second) // at least one more run of the notifier
	if n := escalations(); n != 1 {
		t.Errorf("got %d escalations to the deputy, want exactly 1; log:\n%s", n, e.Logs)
	}
	if !strings.Contains(e.Logs.String(), "escalated") {
		t.Errorf("the escalation is not in the log")
	}
}

// mailTo waits (a minute at most) for an e-mail to to whose text contains want, and returns it.
func mailTo(t *testing.T, srv *mailtest.Server, e *portaltest.Env, to, want string) mailtest.Received {
	t.Helper()
	match := func(m mailtest.Received) bool { return m.To == to && strings.Contains(m.Data, want) }
	got := srv.WaitUntil(func(ms []mailtest.Received) bool { return slices.ContainsFunc(ms, match) }, time.Minute)
	if i := slices.IndexFunc(got, match); i >= 0 {
		return got[i]
	}
	t.Fatalf("no e-mail to %s saying %q within a minute; got %d e-mails; log:\n%s", to, want, len(got), e.Logs)
	return mailtest.Received{}
}

// The whole conversation through a real mail server over STARTTLS: the reporter replies, the
// people handling the concern are e-mailed (reference and link only), one of them answers
// through the link's concern, and the reporter reads the answer in their mailbox.
func TestConversationLoopsThroughMail(t *testing.T) {
	e, srv := startWithMail(t)
	hub := portaltest.NewStaff(t, e.Portal, "safeguarding@enghraifft.example", "safeguarding")
	filed := fileChildAlone(t, e, true, "Seen twice this week.")
	r := portaltest.DoJSON(t, e.URL(), "POST", "/api/v1/mailbox/session", map[string]string{"receipt": filed.Receipt})
	var session struct{ Token string }
	if err := json.Unmarshal(r.Body, &session); err != nil || session.Token == "" {
		t.Fatalf("mailbox session: %d %s", r.Status, r.Body)
	}
	reporter := "Authorization: Bearer " + session.Token
	if r := portaltest.DoJSON(t, e.URL(), "POST", "/api/v1/mailbox/messages",
		map[string]any{"body": "He was there again last night. Unique phrase kestrel-ledger."}, reporter); r.Status != http.StatusCreated {
		t.Fatalf("reply: %d %s", r.Status, r.Body)
	}

	m := mailTo(t, srv, e, "safeguarding@enghraifft.example", "The reporter has written on concern "+filed.Reference)
	if !m.TLS || strings.Contains(m.Data, "kestrel-ledger") {
		t.Errorf("the handlers' e-mail went in clear (%v) or carries the reply:\n%s", !m.TLS, m.Data)
	}
	link := regexp.MustCompile(`/staff/concerns/([0-9a-f-]{36})`).FindStringSubmatch(m.Data)
	if link == nil {
		t.Fatalf("no link to the concern in the e-mail:\n%s", m.Data)
	}
	if c := hub.API("GET", "/api/v1/concerns/"+link[1], nil); c.Status != http.StatusOK || !strings.Contains(string(c.Body), "kestrel-ledger") {
		t.Fatalf("the link's concern: %d, want 200 with the reply: %s", c.Status, c.Body)
	}
	if a := hub.API("POST", "/api/v1/concerns/"+link[1]+"/messages", map[string]string{"body": "Thank you. Unique phrase otter-quill."}); a.Status != http.StatusCreated {
		t.Fatalf("answer: %d %s", a.Status, a.Body)
	}
	r = portaltest.DoJSON(t, e.URL(), "GET", "/api/v1/mailbox", nil, reporter)
	if r.Status != http.StatusOK || !strings.Contains(string(r.Body), "otter-quill") {
		t.Errorf("the reporter does not see the answer: %d %s", r.Status, r.Body)
	}
}

// A councillor's concern is a conversation: the council's message reaches the councillor as an
// e-mail (reference and a link to their own concern), they read and answer it and add
// evidence, the Monitoring Officer sees both, and the outcome reaches the councillor. Another
// councillor cannot read or write on it, nor learn it exists.
func TestCouncillorConversation(t *testing.T) {
	e, srv := startWithMail(t)
	e.AddCustodian(t)
	mo := portaltest.NewStaff(t, e.Portal, "elin.rowlands@enghraifft.example", "monitoring_officer")
	cllr := portaltest.NewStaff(t, e.Portal, "cllr.dai.jones@enghraifft.example", "councillor")
	other := portaltest.NewStaff(t, e.Portal, "cllr.ffion.morgan@enghraifft.example", "councillor")
	r := cllr.API("POST", "/api/v1/councillor/concerns", map[string]any{
		"service_area": "childrens-services", "category": "misconduct", "summary": "Assessment team staff say caseloads are unsafe",
		"details": "Four social workers told me caseloads are far too high.", "evidence_reviewed": []string{},
		"raised_with": []string{}, "named_people": []string{}, "passing_on_staff_concerns": true,
		"safeguarding": false, "confidential": false})
	if r.Status != http.StatusCreated {
		t.Fatalf("file: %d %s", r.Status, r.Body)
	}
	var filed struct{ ID, Reference string }
	if err := json.Unmarshal(r.Body, &filed); err != nil || filed.ID == "" {
		t.Fatalf("no id in %s", r.Body)
	}
	thread := "/api/v1/councillor/concerns/" + filed.ID

	if a := mo.API("POST", "/api/v1/concerns/"+filed.ID+"/acknowledge", nil); a.Status != http.StatusOK {
		t.Fatalf("acknowledge: %d %s", a.Status, a.Body)
	}
	if a := mo.API("POST", "/api/v1/concerns/"+filed.ID+"/messages", map[string]string{"body": "Which months? Unique phrase wren-tally."}); a.Status != http.StatusCreated {
		t.Fatalf("message: %d %s", a.Status, a.Body)
	}
	m := mailTo(t, srv, e, "cllr.dai.jones@enghraifft.example", "The council has written to you on your concern "+filed.Reference)
	if !m.TLS || strings.Contains(m.Data, "wren-tally") || !strings.Contains(m.Data, "/councillor/concerns/"+filed.ID) {
		t.Errorf("the councillor's e-mail: TLS %v, want the reference and a link to their concern only:\n%s", m.TLS, m.Data)
	}

	if g := cllr.API("GET", thread, nil); g.Status != http.StatusOK || !strings.Contains(string(g.Body), "wren-tally") {
		t.Fatalf("the councillor's thread: %d %s", g.Status, g.Body)
	}
	if a := cllr.API("POST", thread+"/messages", map[string]any{"body": "March to May. Unique phrase badger-spool."}); a.Status != http.StatusCreated {
		t.Fatalf("answer: %d %s", a.Status, a.Body)
	}
	up := uploadAs(t, e, cllr.Token, thread+"/attachments", "rota.csv", "week,cases\n1,31\n")
	if up.Status != http.StatusCreated {
		t.Fatalf("evidence: %d %s", up.Status, up.Body)
	}
	var att struct{ ID string }
	_ = json.Unmarshal(up.Body, &att)
	if d := e.Do(t, "GET", thread+"/attachments/"+att.ID, "", nil, "Authorization: Bearer "+cllr.Token); d.Status != http.StatusOK || string(d.Body) != "week,cases\n1,31\n" {
		t.Errorf("the councillor's download: %d %q", d.Status, d.Body)
	}
	if c := mo.API("GET", "/api/v1/concerns/"+filed.ID, nil); !strings.Contains(string(c.Body), "badger-spool") || !strings.Contains(string(c.Body), "rota.csv") {
		t.Errorf("the Monitoring Officer does not see the councillor's answer and evidence: %s", c.Body)
	}

	// Another councillor: every door answers as if the concern did not exist.
	for _, try := range []struct{ method, path string }{{"GET", thread}, {"POST", thread + "/messages"},
		{"GET", thread + "/attachments/" + att.ID}} {
		var in any
		if try.method == "POST" {
			in = map[string]string{"body": "Let me in."}
		}
		if got := other.API(try.method, try.path, in); got.Status != http.StatusNotFound {
			t.Errorf("another councillor %s %s: got %d, want 404", try.method, try.path, got.Status)
		}
	}
	if up := uploadAs(t, e, other.Token, thread+"/attachments", "x.txt", "x"); up.Status != http.StatusNotFound {
		t.Errorf("another councillor's upload: got %d, want 404", up.Status)
	}
	if p := other.Get("/councillor/concerns/" + filed.ID); p.Status != http.StatusNotFound {
		t.Errorf("another councillor's page: got %d, want 404", p.Status)
	}
	if mo.API("GET", thread, nil).Status != http.StatusNotFound {
		t.Errorf("the councillor thread answers the Monitoring Officer; it is the councillor's own door")
	}

	// The page's upload form: its CSRF field must come first and match the session, or nothing
	// of the file is read.
	page := "/councillor/concerns/" + filed.ID
	csrf := cllr.CSRF(page)
	for name, fields := range map[string][][2]string{
		"no CSRF field": {{"file", "x"}}, "a wrong one": {{"csrf", "forged"}, {"file", "x"}},
		"CSRF after the file": {{"file", "x"}, {"csrf", csrf}}} {
		if got := pageUpload(t, e, cllr.Token, page+"/attachments", fields); got != http.StatusForbidden {
			t.Errorf("%s: got %d, want 403", name, got)
		}
	}
	if got := pageUpload(t, e, cllr.Token, page+"/attachments", [][2]string{{"csrf", csrf}, {"file", "week,cases\n2,29\n"}}); got != http.StatusSeeOther {
		t.Errorf("the page's upload: got %d, want 303", got)
	}
	if c := mo.API("GET", "/api/v1/concerns/"+filed.ID, nil); strings.Count(string(c.Body), "rota.csv") != 2 {
		t.Errorf("want exactly the two good uploads stored: %s", c.Body)
	}

	// The outcome reaches the councillor.
	if a := mo.API("POST", "/api/v1/concerns/"+filed.ID+"/decision", map[string]string{"action": "decline", "reason": "Already in hand."}); a.Status != http.StatusOK {
		t.Fatalf("decline: %d %s", a.Status, a.Body)
	}
	if a := mo.API("POST", "/api/v1/concerns/"+filed.ID+"/decision", map[string]string{"action": "close", "reason": "Unique phrase heron-outcome."}); a.Status != http.StatusOK {
		t.Fatalf("close: %d %s", a.Status, a.Body)
	}
	var out struct {
		Status   string
		Feedback *string
	}
	if g := cllr.API("GET", thread, nil); json.Unmarshal(g.Body, &out) != nil || out.Status != "closed" || out.Feedback == nil || !strings.Contains(*out.Feedback, "heron-outcome") {
		t.Errorf("the councillor does not see the outcome: %s", g.Body)
	}
	for _, lang := range []string{"", "/cy"} {
		p := cllr.Get(lang + "/councillor/concerns/" + filed.ID)
		if p.Status != http.StatusOK || !strings.Contains(p.Body, "heron-outcome") || !strings.Contains(p.Body, "badger-spool") {
			t.Errorf("%s page: %d, want the conversation and outcome", lang, p.Status)
		}
	}
}

// uploadAs sends one file as multipart with a staff token, checked against the API document.
func uploadAs(t *testing.T, e *portaltest.Env, token, path, name, content string) portaltest.Response {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	f, err := w.CreateFormFile("file", name)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte(content))
	w.Close()
	return e.Do(t, "POST", path, w.FormDataContentType(), &b, "Authorization: Bearer "+token)
}

// pageUpload posts a multipart form with the staff cookie, its parts in order (a part named
// "file" is a file called rota.csv), and returns the status.
func pageUpload(t *testing.T, e *portaltest.Env, token, path string, parts [][2]string) int {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for _, p := range parts {
		var err error
		var f io.Writer
		if p[0] == "file" {
			f, err = w.CreateFormFile("file", "rota.csv")
		} else {
			f, err = w.CreateFormField(p[0])
		}
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte(p[1]))
	}
	w.Close()
	req, err := http.NewRequest("POST", e.URL()+path, &b)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.AddCookie(&http.Cookie{Name: "candour_staff", Value: token})
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// An open reporter who left an address hears of the council's message from a real mail server
// over STARTTLS, in their language, with nothing in the e-mail that says which concern or what
// was written; the address is in no column of a dump, no log, no staff page and no API answer.
func TestOpenReporterToldOfNewMessage(t *testing.T) {
	e, srv := startWithMail(t)
	e.AddCustodian(t)
	mo := portaltest.NewStaff(t, e.Portal, "elin.rowlands@enghraifft.example", "monitoring_officer")

	type report struct{ address, lang, reference, receipt, id string }
	reports := []*report{{address: "wren.hollis@example.org", lang: "en"}, {address: "Dylan.Pritchard@example.net", lang: "cy"}}
	for _, r := range reports {
		res := portaltest.DoJSON(t, e.URL(), "POST", "/api/v1/reports", map[string]any{"mode": "open", "lang": r.lang,
			"service_area": "finance", "category": "fraud", "summary": "Invoices split to dodge approval",
			"details": "Unique phrase cormorant-ledger.", "safeguarding": false, "named_people": []string{},
			"identity": map[string]string{"name": "Wren Hollis", "email": "", "phone": "", "role": "accounts"}, "notice_email": r.address})
		if res.Status != http.StatusCreated {
			t.Fatalf("file: %d %s", res.Status, res.Body)
		}
		var out struct{ Reference, Receipt string }
		if err := json.Unmarshal(res.Body, &out); err != nil {
			t.Fatal(err)
		}
		r.reference, r.receipt = out.Reference, out.Receipt
		if err := e.DB.Get(&r.id, `SELECT public_id FROM concerns WHERE reference = $1`, r.reference); err != nil {
			t.Fatal(err)
		}
		// Two messages in one hour: one e-mail.
		for _, body := range []string{"Unique phrase heron-quill: can you send the invoices?", "And the dates, please."} {
			if res := mo.API("POST", "/api/v1/concerns/"+r.id+"/messages", map[string]string{"body": body}); res.Status != http.StatusCreated {
				t.Fatalf("message: %d %s", res.Status, res.Body)
			}
		}
	}
	var queued []struct {
		Recipient *string
		Later     bool
	}
	if err := e.DB.Select(&queued, `SELECT recipient, not_before > now() AS later FROM notifications WHERE kind = 'reporter_new_message'`); err != nil {
		t.Fatal(err)
	}
	if len(queued) != len(reports) {
		t.Fatalf("got %d reporter notifications, want one per concern however many messages: %+v", len(queued), queued)
	}
	for _, q := range queued {
		if q.Recipient != nil || !q.Later {
			t.Errorf("queued notification names recipient %v and is held to the hour %v; want no recipient, held", q.Recipient, q.Later)
		}
	}
	// The hour has passed.
	e.DB.MustExec(`UPDATE notifications SET not_before = now() WHERE kind = 'reporter_new_message'`)
	// Only the reporters' e-mails count: staff accounts get their enrolment links by mail too.
	toAll := func(ms []mailtest.Received) bool {
		n := 0
		for _, m := range ms {
			if slices.ContainsFunc(reports, func(r *report) bool { return r.address == m.To }) {
				n++
			}
		}
		return n >= len(reports)
	}
	got := srv.WaitUntil(toAll, time.Minute)
	if !toAll(got) {
		t.Fatalf("got %d e-mails within a minute, want %d; log:\n%s", len(got), len(reports), e.Logs)
	}
	for _, r := range reports {
		i := slices.IndexFunc(got, func(m mailtest.Received) bool { return m.To == r.address })
		if i < 0 {
			t.Errorf("no e-mail to %s among %d", r.address, len(got))
			continue
		}
		m := got[i]
		if !m.TLS {
			t.Errorf("the e-mail to %s went in clear", r.address)
		}
		want, link := "There is a new message in your mailbox.", e.URL()+"/mailbox\r\n"
		if r.lang == "cy" {
			want, link = "Mae neges newydd yn eich blwch negeseuon.", e.URL()+"/cy/mailbox\r\n"
		}
		if !strings.Contains(m.Data, want) || !strings.Contains(m.Data, link) {
			t.Errorf("the e-mail to %s does not say %q with a link to %s:\n%s", r.address, want, link, m.Data)
		}
		for _, secret := range append([]string{r.reference, r.id, "heron-quill", "invoices", "cormorant-ledger", "Wren Hollis"},
			strings.Split(r.receipt, "-")...) {
			if strings.Contains(strings.ToLower(m.Data), strings.ToLower(secret)) {
				t.Errorf("the e-mail to %s carries %q:\n%s", r.address, secret, m.Data)
			}
		}
	}

	// Nowhere in clear: a dump of every table, the log, the staff page, the concern in the API.
	dump := pgDump(t, e)
	if !bytes.Contains(dump, []byte("COPY public.reporter_notices")) || !bytes.Contains(dump, []byte(reports[0].reference)) {
		t.Fatalf("the dump does not hold the notices and concerns; the test would prove nothing")
	}
	for _, r := range reports {
		for enc, needle := range encodings(r.address) {
			if bytes.Contains(dump, needle) {
				t.Errorf("pg_dump contains %s (%s)", r.address, enc)
			}
			if strings.Contains(e.Logs.String(), string(needle)) {
				t.Errorf("the log contains %s (%s)", r.address, enc)
			}
		}
		page, api := mo.Get("/staff/concerns/"+r.id), mo.API("GET", "/api/v1/concerns/"+r.id, nil)
		if page.Status != http.StatusOK || api.Status != http.StatusOK || !strings.Contains(page.Body, "Wren Hollis") {
			t.Fatalf("concern page %d, API %d: want both, with the open identity", page.Status, api.Status)
		}
		if strings.Contains(strings.ToLower(page.Body), strings.ToLower(r.address)) ||
			bytes.Contains(bytes.ToLower(api.Body), []byte(strings.ToLower(r.address))) {
			t.Errorf("the staff concern page or the concern API shows the reporter's notice address %s", r.address)
		}
	}
}

// Auditors get signed checkpoints of the audit log by e-mail (over STARTTLS), so copies live
// outside the server: one made after a security event, here a policy load, goes at once, and it
// is the checkpoint the portal wrote to its own file.
func TestAuditorsAreMailedCheckpoints(t *testing.T) {
	e, srv := startWithMail(t)
	portaltest.NewStaff(t, e.Portal, "aud@enghraifft.example", "auditor")
	e.AddCustodian(t) // a policy load: a security event
	m := mailTo(t, srv, e, "aud@enghraifft.example", "candour-audit")
	body := strings.ReplaceAll(m.Data, "\r\n", "\n")
	i := strings.Index(body, "\n\n"+e.Config.PublicURL.Hostname()+"/candour-audit")
	if i < 0 {
		t.Fatalf("no checkpoint note in the e-mail:\n%s", m.Data)
	}
	note := body[i+2:]
	if !m.TLS || !strings.Contains(note, "\n\u2014 ") {
		t.Errorf("want a signed note over TLS; got TLS %v:\n%s", m.TLS, note)
	}
	file, err := os.ReadFile(filepath.Join(e.DataDir, "audit", "checkpoints"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(file), strings.TrimSpace(note)) {
		t.Errorf("the e-mailed checkpoint is not one the portal wrote to its file:\n%s", note)
	}
}
