package api_test

import (
	"candour/internal/intake"
	"context"
	"strings"
	"testing"
)

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
