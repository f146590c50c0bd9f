package portal_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"candour/internal/intake"
	"candour/internal/policytest"
	"candour/internal/portaltest"
)

// A referral reaches its holder in the directory: they are e-mailed, find the concern in their
// queue, open it (nobody else in their role can) and record what came of it, once. The outcome
// goes back to the Monitoring Officer by e-mail and on the concern, and to the reporter in
// plain words without the holder's note. A referral to a procedure nobody in the directory
// holds is refused, naming the field.
func TestReferralReachesItsHolder(t *testing.T) {
	dir := policytest.Dir(t)
	e := portaltest.Start(t, portaltest.Setting("CANDOUR_POLICY_DIR", dir))
	ctx := context.Background()
	mo := portaltest.NewStaff(t, e.Portal, "elin.rowlands@enghraifft.example", "monitoring_officer")
	complaints := portaltest.NewStaff(t, e.Portal, "complaints@enghraifft.example", "service_lead")
	lead := portaltest.NewStaff(t, e.Portal, "another.lead@enghraifft.example", "service_lead")

	file := func() (id, receipt string) {
		filed, err := e.Intake.Submit(ctx, intake.ReportSubmission{Mode: "anonymous", ServiceArea: "housing",
			Category: "misconduct", Summary: "Repairs logged as done that were never done", Details: "Since March.", Lang: "cy"})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.DB.Get(&id, `SELECT public_id FROM concerns WHERE reference = $1`, filed.Reference); err != nil {
			t.Fatal(err)
		}
		if r := mo.API("POST", "/api/v1/concerns/"+id+"/acknowledge", nil); r.Status != http.StatusOK {
			t.Fatalf("acknowledge: %d %s", r.Status, r.Body)
		}
		return id, filed.Receipt
	}
	id, receipt := file()

	// Outside the list, and a procedure the directory has nobody for: 400 on refer_to.
	for _, to := range []string{"hr-bob@elsewhere.example", "police"} {
		if to == "police" {
			yaml := filepath.Join(dir, "directory.yaml")
			b, _ := os.ReadFile(yaml)
			cut := strings.Replace(string(b), "  police_liaison:", "  former_police_liaison:", 1)
			if err := os.WriteFile(yaml, []byte(cut), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := e.ReloadPolicy(ctx); err != nil {
				t.Fatal(err)
			}
		}
		r := mo.API("POST", "/api/v1/concerns/"+id+"/decision", map[string]string{"action": "refer", "refer_to": to, "reason": "Not ours."})
		if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), `"refer_to"`) {
			t.Errorf("refer to %s: got %d %s, want 400 naming refer_to", to, r.Status, r.Body)
		}
	}
	if p := mo.Post("/cy/staff/concerns/"+id+"/decision", url.Values{"csrf": {mo.CSRF("/staff/concerns/" + id)}, "action": {"refer"},
		"refer_to": {"police"}, "reason": {"Trosedd?"}}); p.Status != http.StatusBadRequest || !strings.Contains(p.Body, "Nid oes neb yng nghyfeiriadur y cyngor") {
		t.Errorf("the Welsh page's refusal: %d, want 400 saying nobody in the directory holds it", p.Status)
	}

	if r := mo.API("POST", "/api/v1/concerns/"+id+"/decision", map[string]string{"action": "refer", "refer_to": "complaints",
		"reason": "A service complaint."}); r.Status != http.StatusOK {
		t.Fatalf("refer: %d %s", r.Status, r.Body)
	}
	var mailed int
	if err := e.DB.Get(&mailed, `SELECT count(*) FROM notifications WHERE kind = 'referral' AND recipient = 'complaints@enghraifft.example'`); err != nil || mailed != 1 {
		t.Errorf("referral e-mails to the holder: %d (%v), want 1", mailed, err)
	}
	if q := complaints.API("GET", "/api/v1/triage", nil); !strings.Contains(string(q.Body), id) {
		t.Errorf("the concern is not in the holder's queue: %s", q.Body)
	}
	if q := lead.API("GET", "/api/v1/triage", nil); strings.Contains(string(q.Body), id) {
		t.Errorf("another service lead's queue shows the referred concern")
	}
	if c := lead.API("GET", "/api/v1/concerns/"+id, nil); c.Status != http.StatusNotFound {
		t.Errorf("another service lead opens the referred concern: %d, want 404", c.Status)
	}
	outcome := map[string]string{"outcome": "no_action", "note": "Stage 1 complaint already upheld; unique phrase vole-compass."}
	for who, s := range map[string]*portaltest.Staff{"the Monitoring Officer": mo, "another lead": lead} {
		if r := s.API("POST", "/api/v1/concerns/"+id+"/referral-outcome", outcome); r.Status != http.StatusNotFound {
			t.Errorf("%s records the referral's outcome: %d, want 404 (only its holder may)", who, r.Status)
		}
	}
	if r := complaints.API("POST", "/api/v1/concerns/"+id+"/referral-outcome", map[string]string{"outcome": "shrug"}); r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), `"outcome"`) {
		t.Errorf("an unknown outcome: %d %s, want 400 naming outcome", r.Status, r.Body)
	}
	page := complaints.Get("/staff/concerns/" + id)
	if page.Status != http.StatusOK || !strings.Contains(page.Body, `id="referral"`) || !strings.Contains(page.Body, "Record what came of the referral") {
		t.Fatalf("the holder's concern page: %d, want the referral and its outcome form", page.Status)
	}
	if p := complaints.Post("/staff/concerns/"+id+"/referral-outcome", url.Values{"csrf": {portaltest.CSRF(t, page.Body)},
		"outcome": {outcome["outcome"]}, "note": {outcome["note"]}}); p.Status != http.StatusSeeOther {
		t.Fatalf("record the outcome on the page: %d %s", p.Status, p.Body)
	}
	if r := complaints.API("POST", "/api/v1/concerns/"+id+"/referral-outcome", outcome); r.Status != http.StatusConflict {
		t.Errorf("recording it twice: %d, want 409", r.Status)
	}

	var c struct {
		Referral struct {
			To, Holder, Note string
			Outcome          *string
		}
	}
	if r := mo.API("GET", "/api/v1/concerns/"+id, nil); json.Unmarshal(r.Body, &c) != nil || c.Referral.Outcome == nil ||
		*c.Referral.Outcome != "no_action" || c.Referral.Holder != "complaints@enghraifft.example" || !strings.Contains(c.Referral.Note, "vole-compass") {
		t.Errorf("the Monitoring Officer's view of the referral: %s", r.Body)
	}
	if err := e.DB.Get(&mailed, `SELECT count(*) FROM notifications WHERE kind = 'referral_outcome' AND recipient = 'elin.rowlands@enghraifft.example'`); err != nil || mailed != 1 {
		t.Errorf("outcome e-mails to the Monitoring Officer: %d (%v), want 1", mailed, err)
	}
	if p := mo.Get("/cy/staff/concerns/" + id); !strings.Contains(p.Body, "Dim angen gweithredu") {
		t.Errorf("the Welsh concern page does not show the outcome")
	}
	r := portaltest.DoJSON(t, e.URL(), "POST", "/api/v1/mailbox/session", map[string]string{"receipt": receipt})
	var session struct{ Token string }
	_ = json.Unmarshal(r.Body, &session)
	box := portaltest.DoJSON(t, e.URL(), "GET", "/api/v1/mailbox", nil, "Authorization: Bearer "+session.Token)
	if !strings.Contains(string(box.Body), "penderfynu nad oedd angen gweithredu") || strings.Contains(string(box.Body), "vole-compass") {
		t.Errorf("the reporter (in Welsh) is not told the outcome in plain words, or is shown the note: %s", box.Body)
	}
}
