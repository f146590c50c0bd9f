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
