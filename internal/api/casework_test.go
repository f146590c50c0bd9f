package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"candour/internal/accounts"
	"candour/internal/apicontract"
	"candour/internal/audit"
	"candour/internal/intake"
	"candour/internal/portaltest"
)

func (e *env) must(status int, want int, body string, what string) {
	e.t.Helper()
	if status != want {
		e.t.Fatalf("%s: got %d %s, want %d", what, status, body, want)
	}
}

func jsonField[T any](t *testing.T, body string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return v
}

// The whole story through the API: anonymous report → acknowledged → question to the reporter
// → reply with evidence → accepted into a new investigation → a second concern linked → two
// allegations with findings and a recommendation → reported → closed with feedback → the
// reporter reads the outcome in Welsh.
func TestWholeStory(t *testing.T) {
	e := start(t)
	mo := e.user("mo@enghraifft.example", "monitoring_officer")
	inv := e.user("investigator@enghraifft.example", "investigator")
	outsider := e.user("clerk@enghraifft.example", "service_lead")

	// The reporter writes in Welsh.
	st, body, _ := e.do("POST", "/api/v1/reports", "", map[string]any{"mode": "anonymous", "service_area": "childrens-services",
		"category": "misconduct", "summary": "Achosion wedi'u cau'n gynnar", "details": "Caewyd achosion cyn yr arolygiad.", "lang": "cy"})
	e.must(st, 201, body, "report")
	filed := jsonField[struct {
		Reference, Receipt string
		FeedbackBy         time.Time `json:"feedback_by"`
	}](t, body)
	st, body, _ = e.do("POST", "/api/v1/mailbox/session", "", map[string]string{"receipt": filed.Receipt})
	e.must(st, 200, body, "mailbox session")
	mbox := jsonField[struct{ Token string }](t, body).Token

	st, body, _ = e.do("GET", "/api/v1/triage", mo.token, nil)
	e.must(st, 200, body, "triage")
	queue := jsonField[struct {
		Items []struct {
			ID        string
			Reference string
			Status    string
		}
	}](t, body)
	if len(queue.Items) != 1 || queue.Items[0].Reference != filed.Reference {
		t.Fatalf("queue: got %+v, want the report", queue.Items)
	}
	if strings.Contains(body, "Caewyd") || strings.Contains(body, "cynnar") {
		t.Errorf("the queue shows content: %s", body)
	}
	id := queue.Items[0].ID
	path := "/api/v1/concerns/" + id

	// Deciding before acknowledging is out of order.
	st, body, _ = e.do("POST", path+"/decision", mo.token, map[string]any{"action": "decline", "reason": "Not enough"})
	e.must(st, 409, body, "decide before acknowledge")
	e.must(func() int { s, _, _ := e.do("POST", path+"/acknowledge", mo.token, nil); return s }(), 200, "", "acknowledge")
	st, body, _ = e.do("POST", path+"/acknowledge", mo.token, nil)
	e.must(st, 409, body, "acknowledge twice")
	st, body, _ = e.do("POST", path+"/messages", mo.token, map[string]string{"body": "Which month did this happen?"})
	e.must(st, 201, body, "question to the reporter")
	st, body, _ = e.do("POST", path+"/decision", mo.token, map[string]any{"action": "refer"})
	e.must(st, 400, body, "refer without a reason")
	if f := jsonField[apiError](t, body).Error.Fields; f["reason"] == "" || f["refer_to"] == "" {
		t.Errorf("missing fields not named: %s", body)
	}

	// The reporter answers and adds evidence.
	st, body, _ = e.do("POST", "/api/v1/mailbox/messages", mbox, map[string]any{"body": "Mawrth, cyn yr arolygiad."})
	e.must(st, 201, body, "reply")
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", "rhestr-achosion.csv")
	fw.Write([]byte("case,closed\n1,2026-03-01\n"))
	mw.Close()
	req, _ := http.NewRequest("POST", e.p.URL()+"/api/v1/mailbox/attachments", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+mbox)
	resp, b := apicontract.Do(t, http.DefaultClient, req)
	if resp.StatusCode != 201 {
		t.Fatalf("evidence upload: got %d %s, want 201", resp.StatusCode, b)
	}
	portaltest.SendEvidence(t, e.p.URL(), "Authorization: Bearer "+mbox, jsonField[struct{ ID string }](t, string(b)).ID)

	// The Monitoring Officer commissions an investigation and accepts the concern into it.
	st, body, _ = e.do("POST", "/api/v1/investigations", mo.token, map[string]string{"title": "Child and family assessment team",
		"terms_of_reference":    "Establish whether cases were closed early to meet targets.",
		"investigating_officer": "investigator@enghraifft.example", "due_at": "2027-03-31"})
	e.must(st, 201, body, "commission")
	created := jsonField[struct {
		ID        string
		Reference string
	}](t, body)
	ipath := "/api/v1/investigations/" + created.ID
	st, body, _ = e.do("POST", path+"/decision", mo.token, map[string]any{"action": "accept", "reason": "Serious and specific", "investigation_id": created.ID})
	e.must(st, 200, body, "accept")

	// A second concern about the same team is linked; linking it twice is refused.
	second, _ := e.report()
	e.must(func() int {
		s, _, _ := e.do("POST", "/api/v1/concerns/"+second+"/acknowledge", mo.token, nil)
		return s
	}(), 200, "", "ack second")
	st, body, _ = e.do("POST", ipath+"/concerns", mo.token, map[string]string{"concern_id": second})
	e.must(st, 201, body, "link second")
	st, body, _ = e.do("POST", ipath+"/concerns", mo.token, map[string]string{"concern_id": second})
	e.must(st, 409, body, "link twice")

	// The investigator sees the investigation and the linked concerns; the outsider sees nothing.
	st, body, _ = e.do("GET", ipath, outsider.token, nil)
	e.must(st, 404, body, "outsider on the investigation")
	st, body, _ = e.do("GET", path, outsider.token, nil)
	e.must(st, 404, body, "outsider on the concern")
	st, body, _ = e.do("GET", path, inv.token, nil)
	e.must(st, 200, body, "investigator reads a linked concern")
	if !strings.Contains(body, "Mawrth, cyn yr arolygiad.") || !strings.Contains(body, "rhestr-achosion.csv") {
		t.Errorf("concern page lacks the reply or the evidence: %s", body)
	}

	addAllegation := func(source string, text string) int64 {
		st, body, _ := e.do("POST", ipath+"/allegations", inv.token, map[string]any{"source_concern_id": source, "text": text,
			"evidence": "Case management system extract; interview with team manager."})
		e.must(st, 201, body, "allegation")
		return jsonField[struct{ ID int64 }](t, body).ID
	}
	a1 := addAllegation(id, "Cases were closed early to meet targets.")
	a2 := addAllegation(second, "Feedback to referrers was poor.")
	st, body, _ = e.do("POST", ipath+"/status", inv.token, map[string]string{"status": "reported", "conclusion": "x"})
	e.must(st, 409, body, "report before in progress")
	e.must(func() int {
		s, _, _ := e.do("POST", ipath+"/status", inv.token, map[string]string{"status": "in_progress"})
		return s
	}(), 200, "", "in progress")
	st, body, _ = e.do("POST", ipath+"/status", inv.token, map[string]string{"status": "reported", "conclusion": "Mostly unfounded."})
	e.must(st, 409, body, "report with findings missing")
	for aid, finding := range map[int64]string{a1: "not_upheld", a2: "partly_upheld"} {
		st, body, _ = e.do("POST", fmt.Sprintf("%s/allegations/%d/finding", ipath, aid), inv.token,
			map[string]string{"finding": finding, "finding_text": "On the evidence reviewed."})
		e.must(st, 200, body, "finding")
	}
	st, body, _ = e.do("POST", ipath+"/recommendations", inv.token, map[string]string{"text": "Acknowledge every referral within 3 working days.",
		"owner": "Head of Children's Services", "due_at": "2027-06-30"})
	e.must(st, 201, body, "recommendation")
	st, body, _ = e.do("POST", ipath+"/status", inv.token, map[string]string{"status": "reported", "conclusion": "One allegation partly upheld."})
	e.must(st, 200, body, "reported")
	st, body, _ = e.do("GET", ipath, mo.token, nil)
	e.must(st, 200, body, "read investigation")
	v := jsonField[struct {
		Status      string
		Concerns    []struct{ ID string }
		Allegations []struct {
			Number  int
			Finding *string
		}
		Recommendations []struct{ Owner string }
	}](t, body)
	if v.Status != "reported" || len(v.Concerns) != 2 || len(v.Allegations) != 2 || v.Allegations[1].Number != 2 ||
		*v.Allegations[1].Finding != "partly_upheld" || len(v.Recommendations) != 1 {
		t.Fatalf("investigation: got %s", body)
	}

	// Closed with feedback; the reporter reads the outcome in Welsh.
	st, body, _ = e.do("POST", path+"/decision", mo.token, map[string]any{"action": "close",
		"reason": "Canfu'r ymchwiliad fod adborth i atgyfeirwyr yn wael; mae'r tîm yn newid ei drefn."})
	e.must(st, 200, body, "close")
	st, body, _ = e.do("GET", "/api/v1/mailbox", mbox, nil)
	e.must(st, 200, body, "mailbox")
	m := jsonField[struct {
		Status   string
		Messages []struct{ From, Body string }
		Feedback *string
	}](t, body)
	if m.Status != "closed" || m.Feedback == nil || !strings.Contains(*m.Feedback, "adborth i atgyfeirwyr") {
		t.Errorf("mailbox after closing: status %s feedback %v", m.Status, m.Feedback)
	}
	// The acknowledgement promises feedback by the concern's own deadline (clocks.yaml), in Welsh.
	london, _ := time.LoadLocation("Europe/London")
	due := fmt.Sprintf("erbyn %d ", filed.FeedbackBy.In(london).Day())
	var sawAck bool
	for _, msg := range m.Messages {
		if strings.Contains(msg.Body, "Diolch am godi eich pryder") && strings.Contains(msg.Body, due) && !strings.Contains(msg.Body, "{{") {
			sawAck = true
		}
	}
	if !sawAck {
		t.Errorf("no Welsh acknowledgement promising feedback %s... in the mailbox: %+v", due, m.Messages)
	}

	// Every step is in a chain that verifies.
	res, err := audit.Check(t.Context(), e.st)
	if err != nil || !res.OK || res.Events < 15 {
		t.Errorf("audit: got %+v %v, want a verified chain of the story", res, err)
	}
}

// Identity disclosure: the reporter is told first, a custodian other than the requester
// decides, and the custodian opens the sealed identity offline with the age CLI.
func TestIdentityDisclosureTwoPersonRule(t *testing.T) {
	e := start(t)
	mo := e.user("mo@enghraifft.example", "monitoring_officer")
	id, _ := age.GenerateX25519Identity()
	rcpt := id.Recipient().String()
	portaltest.PinCustodian(t, e.p, "custodian@enghraifft.example", rcpt)
	custodian := e.login(portaltest.Account(t, e.p, accounts.NewUser{Email: "custodian@enghraifft.example",
		Roles: []string{"custodian"}, AgeRecipient: &rcpt}))
	// The Monitoring Officer is also a custodian: still may not approve their own request.
	mo2Rcpt := rcpt
	deputy := e.login(portaltest.Account(t, e.p, accounts.NewUser{Email: "deputy@enghraifft.example",
		Roles: []string{"deputy_monitoring_officer", "custodian"}, AgeRecipient: &mo2Rcpt}))

	st, body, _ := e.do("POST", "/api/v1/reports", "", map[string]any{"mode": "confidential", "service_area": "finance",
		"category": "fraud", "summary": "Split invoices", "details": "Invoices split to avoid approval.",
		"identity": map[string]string{"name": "Gwen Whistleblower", "email": "gwen@example.org"}, "lang": "en"})
	e.must(st, 201, body, "report")
	filed := jsonField[struct{ Reference, Receipt string }](t, body)
	concern, _ := e.st.ConcernByReference(t.Context(), filed.Reference)
	path := "/api/v1/concerns/" + concern.ID

	st, body, _ = e.do("GET", path+"/identity", custodian.token, nil)
	if st != 403 {
		t.Fatalf("download before approval: got %d %s, want 403", st, body)
	}
	st, body, _ = e.do("POST", path+"/identity-requests", deputy.token, map[string]string{"reason": "Needed to interview the witness."})
	e.must(st, 201, body, "request")
	reqID := jsonField[struct{ ID string }](t, body).ID

	// The reporter hears first.
	_, body, _ = e.do("POST", "/api/v1/mailbox/session", "", map[string]string{"receipt": filed.Receipt})
	mbox := jsonField[struct{ Token string }](t, body).Token
	_, body, _ = e.do("GET", "/api/v1/mailbox", mbox, nil)
	if !strings.Contains(body, "Needed to interview the witness.") {
		t.Errorf("the reporter was not told first: %s", body)
	}

	decision := "/api/v1/identity-requests/" + reqID + "/decision"
	st, body, _ = e.do("POST", decision, deputy.token, map[string]any{"approve": true, "reason": "self"})
	e.must(st, 409, body, "approve own request")
	st, body, _ = e.do("POST", decision, mo.token, map[string]any{"approve": true, "reason": "not a custodian"})
	e.must(st, 404, body, "non-custodian decides")
	st, body, _ = e.do("POST", decision, custodian.token, map[string]any{"approve": true, "reason": "Proportionate and necessary."})
	e.must(st, 200, body, "custodian approves")
	st, body, _ = e.do("POST", decision, custodian.token, map[string]any{"approve": false, "reason": "changed my mind"})
	e.must(st, 409, body, "decide twice")

	st, body, _ = e.do("GET", path+"/identity", custodian.token, nil)
	e.must(st, 200, body, "download sealed identity")
	sealed := jsonField[struct{ Sealed string }](t, body).Sealed
	if !strings.HasPrefix(sealed, "-----BEGIN AGE ENCRYPTED FILE-----") || strings.Contains(sealed, "Gwen") {
		t.Fatalf("not an armored age file: %.80s", sealed)
	}
	if plain := portaltest.Unseal(t, sealed, id); !strings.Contains(plain, "Gwen Whistleblower") {
		t.Errorf("opened identity: %s", plain)
	}
	// The same with the upstream CLI and the custodian's key file, as a custodian would.
	dir := t.TempDir()
	keyFile, sealedFile := filepath.Join(dir, "key.txt"), filepath.Join(dir, "identity.age")
	os.WriteFile(keyFile, []byte(id.String()+"\n"), 0o600)
	os.WriteFile(sealedFile, []byte(sealed), 0o600)
	out, err := exec.Command("age", "-d", "-i", keyFile, sealedFile).Output()
	if err != nil || !strings.Contains(string(out), "gwen@example.org") {
		t.Fatalf("age -d: %v %s", err, out)
	}
	var n int
	if err := e.db.Get(&n, `SELECT count(*) FROM audit_events WHERE action LIKE 'identity.%'`); err != nil || n != 3 {
		t.Errorf("got %d identity audit events, want request, approve, download", n)
	}
}

// A concern taken down by phone: the reporter gets a receipt through the officer and reads,
// corrects and approves the written record in the mailbox.
func TestRecordedOnBehalf(t *testing.T) {
	e := start(t)
	mo := e.user("mo@enghraifft.example", "monitoring_officer")
	lead := e.user("lead@enghraifft.example", "service_lead")
	report := map[string]any{"mode": "anonymous", "service_area": "environment", "category": "health_safety",
		"summary": "Unsafe depot", "details": "Caller says the depot's fire exits are chained shut.", "lang": "en"}
	st, body, _ := e.do("POST", "/api/v1/recorded-concerns", lead.token, report)
	e.must(st, 404, body, "service lead records")
	st, body, _ = e.do("POST", "/api/v1/recorded-concerns", mo.token, report)
	e.must(st, 201, body, "record on behalf")
	filed := jsonField[struct{ Reference, Receipt string }](t, body)

	_, body, _ = e.do("POST", "/api/v1/mailbox/session", "", map[string]string{"receipt": filed.Receipt})
	mbox := jsonField[struct{ Token string }](t, body).Token
	_, body, _ = e.do("GET", "/api/v1/mailbox", mbox, nil)
	m := jsonField[struct {
		Record *struct {
			Details  string
			Approved bool
		}
	}](t, body)
	if m.Record == nil || m.Record.Approved || !strings.Contains(m.Record.Details, "chained shut") {
		t.Fatalf("mailbox record: got %s", body)
	}
	st, body, _ = e.do("POST", "/api/v1/mailbox/messages", mbox, map[string]any{"body": "Correction: it was the north exit only."})
	e.must(st, 201, body, "correction")
	st, body, _ = e.do("POST", "/api/v1/mailbox/record/approve", mbox, nil)
	e.must(st, 200, body, "approve")
	st, body, _ = e.do("POST", "/api/v1/mailbox/record/approve", mbox, nil)
	e.must(st, 409, body, "approve twice")
	_, body, _ = e.do("GET", "/api/v1/mailbox", mbox, nil)
	if !strings.Contains(body, `"approved":true`) {
		t.Errorf("approval not shown: %s", body)
	}
	var channel string
	var createdBy int64
	e.db.QueryRow(`SELECT channel, created_by FROM concerns WHERE reference = $1`, filed.Reference).Scan(&channel, &createdBy)
	if channel != "recorded" || createdBy != mo.User.ID {
		t.Errorf("got channel %s created by %d, want recorded by the officer", channel, createdBy)
	}
}

// Whose turn it is: once the reporter writes, the concern is "waiting for us" in the queue
// (and only it, with ?waiting=true) and on its page; a staff answer hands the turn back. Evidence
// counts as writing. Nobody outside the case learns it.
func TestWaitingForUs(t *testing.T) {
	e := start(t)
	mo := e.user("mo@enghraifft.example", "monitoring_officer")
	lead := e.user("lead@enghraifft.example", "service_lead")
	quiet, _ := e.report()
	concern, mailbox := e.report()
	waiting := func() (inQueue []string, onPage bool) {
		t.Helper()
		status, body, _ := e.do("GET", "/api/v1/triage?waiting=true", mo.token, nil)
		e.must(status, 200, body, "waiting queue")
		for _, it := range jsonField[struct {
			Items []struct {
				ID           string `json:"id"`
				WaitingForUs bool   `json:"waiting_for_us"`
			} `json:"items"`
		}](t, body).Items {
			if !it.WaitingForUs {
				t.Errorf("%s is in the waiting queue but not marked waiting", it.ID)
			}
			inQueue = append(inQueue, it.ID)
		}
		status, body, _ = e.do("GET", "/api/v1/concerns/"+concern, mo.token, nil)
		e.must(status, 200, body, "concern")
		return inQueue, strings.Contains(body, `"waiting_for_us":true`)
	}
	if q, page := waiting(); len(q) != 0 || page {
		t.Fatalf("before the reporter writes: queue %v, page %v; want nothing waiting", q, page)
	}
	status, body, _ := e.do("POST", "/api/v1/mailbox/messages", mailbox, map[string]string{"body": "Any news?"})
	e.must(status, 201, body, "reporter reply")
	if q, page := waiting(); len(q) != 1 || q[0] != concern || !page {
		t.Errorf("after the reporter wrote: queue %v, page %v; want only %s, marked", q, page, concern)
	}
	status, body, _ = e.do("POST", "/api/v1/concerns/"+concern+"/messages", mo.token, map[string]string{"body": "We are looking into it."})
	e.must(status, 201, body, "staff answer")
	if q, page := waiting(); len(q) != 0 || page {
		t.Errorf("after the answer: queue %v, page %v; want nothing waiting", q, page)
	}
	// Evidence is the reporter writing too.
	status, body, _ = e.do("GET", "/api/v1/concerns/"+concern, mo.token, nil)
	ref := jsonField[struct{ Reference string }](t, body).Reference
	if _, err := e.p.Intake.AddAttachment(context.Background(), ref, "reporter", "rota.csv", strings.NewReader("a,b\n")); err != nil {
		t.Fatal(err)
	}
	if q, page := waiting(); len(q) != 1 || !page {
		t.Errorf("after new evidence: queue %v, page %v; want the concern waiting", q, page)
	}
	// A service lead the concern is not routed to sees no queue entry for it, waiting or not.
	status, body, _ = e.do("GET", "/api/v1/triage?waiting=true", lead.token, nil)
	if status != 200 || strings.Contains(body, concern) || strings.Contains(body, quiet) {
		t.Errorf("service lead's waiting queue: %d %s", status, body)
	}
}

// The safeguarding hub stops its own 24-hour clock: it acknowledges a concern routed to it, and
// nothing else; a service lead cannot acknowledge at all.
func TestSafeguardingHubAcknowledgesItsOwn(t *testing.T) {
	e := start(t)
	hub := e.user("hub.worker@enghraifft.example", "safeguarding")
	lead := e.user("lead@enghraifft.example", "service_lead")
	file := func(safeguarding bool) string {
		filed, err := e.p.Intake.Submit(context.Background(), intake.ReportSubmission{Mode: "anonymous",
			ServiceArea: "childrens-services", Category: map[bool]string{true: "safeguarding", false: "misconduct"}[safeguarding],
			Summary: "A child left alone", Details: "Seen twice this week.", Safeguarding: safeguarding, Lang: "en"})
		if err != nil {
			t.Fatal(err)
		}
		c, err := e.st.ConcernByReference(context.Background(), filed.Reference)
		if err != nil {
			t.Fatal(err)
		}
		return c.ID
	}
	urgent, other := file(true), file(false)
	if status, body, _ := e.do("POST", "/api/v1/concerns/"+other+"/acknowledge", hub.token, nil); status != 404 {
		t.Errorf("hub acknowledging a concern not routed to it: %d %s, want 404", status, body)
	}
	if status, body, _ := e.do("POST", "/api/v1/concerns/"+urgent+"/acknowledge", lead.token, nil); status != 404 {
		t.Errorf("service lead acknowledging: %d %s, want 404", status, body)
	}
	status, body, _ := e.do("POST", "/api/v1/concerns/"+urgent+"/acknowledge", hub.token, nil)
	e.must(status, 200, body, "hub acknowledges what is routed to it")
	status, body, _ = e.do("GET", "/api/v1/concerns/"+urgent, hub.token, nil)
	if status != 200 || !strings.Contains(body, `"status":"acknowledged"`) {
		t.Errorf("after the hub acknowledged: %d %s", status, body)
	}
}

// Interim feedback reaches the reporter and restarts the feedback clock from now, so a long
// investigation that keeps the reporter informed is not breached; it is the Monitoring
// Officer's to give, and only once the concern is acknowledged.
func TestInterimFeedbackRestartsTheClock(t *testing.T) {
	e := start(t)
	mo := e.user("mo@enghraifft.example", "monitoring_officer")
	lead := e.user("lead@enghraifft.example", "service_lead")
	concern, mailbox := e.report()
	body := map[string]string{"body": "The investigation has started; we will write again."}
	status, resp, _ := e.do("POST", "/api/v1/concerns/"+concern+"/interim-feedback", mo.token, body)
	if status != 409 {
		t.Errorf("before acknowledgement: %d %s, want 409", status, resp)
	}
	status, resp, _ = e.do("POST", "/api/v1/concerns/"+concern+"/acknowledge", mo.token, nil)
	e.must(status, 200, resp, "acknowledge")
	// As if the feedback deadline were a day away: the clock nearly run out.
	e.db.MustExec(`UPDATE concerns SET feedback_by = now() + interval '1 day' WHERE public_id = $1`, concern)
	if status, resp, _ := e.do("POST", "/api/v1/concerns/"+concern+"/interim-feedback", lead.token, body); status != 404 {
		t.Errorf("service lead: %d %s, want 404", status, resp)
	}
	status, resp, _ = e.do("POST", "/api/v1/concerns/"+concern+"/interim-feedback", mo.token, body)
	e.must(status, 200, resp, "interim feedback")
	by := jsonField[struct {
		FeedbackBy time.Time `json:"feedback_by"`
	}](t, resp).FeedbackBy
	// The policy's feedback period is three months.
	if want := time.Now().AddDate(0, 3, 0); by.Before(want.Add(-2*time.Hour)) || by.After(want.Add(2*time.Hour)) {
		t.Errorf("new feedback date %s, want about %s", by, want)
	}
	// The queue's next deadline is the earliest clock still running: not yet decided, that is
	// the decide clock, well before the new feedback date.
	var stored struct {
		Next     time.Time `db:"next_deadline"`
		DecideBy time.Time `db:"decide_by"`
		Feedback time.Time `db:"feedback_by"`
	}
	if err := e.db.Get(&stored, `SELECT next_deadline, decide_by, feedback_by FROM concerns WHERE public_id = $1`, concern); err != nil ||
		!stored.Feedback.Equal(by) || !stored.Next.Equal(stored.DecideBy) || !stored.DecideBy.Before(by) {
		t.Errorf("stored clocks %+v (%v), want feedback_by %s and next_deadline the earlier decide_by", stored, err, by)
	}
	status, resp, _ = e.do("GET", "/api/v1/mailbox", mailbox, nil)
	if status != 200 || !strings.Contains(resp, "The investigation has started") {
		t.Errorf("the reporter does not see the interim feedback: %d %s", status, resp)
	}
}
