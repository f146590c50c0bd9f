package portal_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"candour/internal/mailtest"
	"candour/internal/portaltest"
)

// A safeguarding report filed through the API reaches the safeguarding hub on a real mail
// server, over STARTTLS with the server's certificate checked against the council's CA file,
// within the minute the design allows for "at once". An ordinary report filed beside it waits
// for the hour, and neither e-mail says more than the reference.
func TestSafeguardingAlertReachesTheMailServer(t *testing.T) {
	pki := mailtest.NewPKI(t)
	srv := mailtest.Start(t, pki, mailtest.STARTTLS)
	e := portaltest.Start(t, portaltest.Setting("CANDOUR_SMTP_ADDR", srv.Addr),
		portaltest.Setting("CANDOUR_SMTP_CA_FILE", pki.CAFile))
	file := func(safeguarding bool, details string) string {
		r := portaltest.DoJSON(t, e.URL(), "POST", "/api/v1/reports", map[string]any{"mode": "anonymous",
			"service_area": "childrens-services", "category": "safeguarding", "summary": "A child left alone at night",
			"details": details, "safeguarding": safeguarding, "named_people": []string{}, "identity": nil, "lang": "en"})
		if r.Status != http.StatusCreated {
			t.Fatalf("file: %d %s", r.Status, r.Body)
		}
		var out struct{ Reference string }
		if err := json.Unmarshal(r.Body, &out); err != nil {
			t.Fatal(err)
		}
		return out.Reference
	}
	filedAt := time.Now()
	urgent := file(true, "Unique phrase osprey-lantern.")
	routine := file(false, "Unique phrase heron-anchor.")

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
	r := portaltest.DoJSON(t, e.URL(), "POST", "/api/v1/reports", map[string]any{"mode": "anonymous",
		"service_area": "childrens-services", "category": "safeguarding", "summary": "A child left alone at night",
		"details": "Seen twice this week.", "safeguarding": true, "named_people": []string{}, "identity": nil, "lang": "en"})
	if r.Status != http.StatusCreated {
		t.Fatalf("file: %d %s", r.Status, r.Body)
	}
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
