package api_test

import (
	"context"
	"regexp"

	"encoding/json"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"candour/internal/intake"
	"candour/internal/portaltest"
	"candour/internal/store"
)

func TestStatsAccessAndShape(t *testing.T) {
	e := start(t)
	auditor := e.user("aud@enghraifft.example", "auditor")
	mo := e.user("mo@enghraifft.example", "monitoring_officer")
	deputy := e.user("dmo@enghraifft.example", "deputy_monitoring_officer")
	councillor := e.user("cllr@enghraifft.example", "councillor")
	admin := e.user("admin@enghraifft.example", "admin")
	lead := e.user("lead@enghraifft.example", "service_lead")

	q := "/api/v1/stats?" + lastMonth()
	for _, who := range []struct {
		name  string
		token string
		want  int
	}{{"auditor", auditor.token, 200}, {"monitoring officer", mo.token, 200}, {"deputy", deputy.token, 200},
		{"councillor", councillor.token, 404}, {"admin", admin.token, 404}, {"service lead", lead.token, 404}, {"nobody", "", 401}} {
		if status, body, _ := e.do("GET", q, who.token, nil); status != who.want {
			t.Errorf("%s: got %d %s, want %d", who.name, status, body, who.want)
		}
	}

	// Bad dates: 400 naming the field.
	for _, tt := range []struct{ query, field string }{
		{"from=2025-02-30", "from"}, {"to=yesterday", "to"}, {"from=2025-06-01&to=2025-01-01", "to"},
		{thisMonth(), "to"}, // a month still running
	} {
		status, body, _ := e.do("GET", "/api/v1/stats?"+tt.query, auditor.token, nil)
		var out struct {
			Error struct {
				Code   string            `json:"code"`
				Fields map[string]string `json:"fields"`
			} `json:"error"`
		}
		_ = json.Unmarshal([]byte(body), &out)
		if status != 400 || out.Error.Fields[tt.field] == "" {
			t.Errorf("%s: got %d %s, want 400 with field %s", tt.query, status, body, tt.field)
		}
	}

	// Four concerns, then five, then twelve: the count is perturbed by at most 2 (the sample
	// table) and shown when the published figure reaches 5. Statistics cover months that have
	// ended, so the concerns are moved back into last month.
	for i := 0; i < 12; i++ {
		if i == 4 || i == 5 {
			e.backdate()
			assertReceived(t, e, auditor.token, q, int64(i))
		}
		e.report()
	}
	e.backdate()
	assertReceived(t, e, auditor.token, q, 12)

	// Reading and exporting statistics are audited.
	status, body, _ := e.do("GET", "/api/v1/audit/events?object=&actor="+itoa64(auditor.User.ID), auditor.token, nil)
	if status != 200 || !strings.Contains(body, `"stats.read"`) || !strings.Contains(body, `"verification":{"ok":true`) {
		t.Errorf("audit events: got %d %s, want stats.read events and a verified chain", status, body)
	}
	if status, body, _ := e.do("GET", "/api/v1/audit/events", mo.token, nil); status != 404 {
		t.Errorf("audit events as the monitoring officer: got %d %s, want 404", status, body)
	}
	status, body, h := e.do("GET", "/api/v1/audit/events?format=csv&object=concern", auditor.token, nil)
	if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/csv") || !strings.HasPrefix(body, "seq,at,actor,action") {
		t.Errorf("audit CSV: got %d %s %s", status, h.Get("Content-Type"), body)
	}
	if status, body, _ := e.do("GET", "/api/v1/audit/events?actor=nobody!", auditor.token, nil); status != 400 || !strings.Contains(body, `"actor"`) {
		t.Errorf("bad actor: got %d %s, want 400 on actor", status, body)
	}
}

// assertReceived checks the concerns received, truly n, as published: within the table's
// ±2 of n, suppressed exactly when the published figure is under 5, and the same when asked
// again.
func assertReceived(t *testing.T, e *env, token, q string, n int64) {
	t.Helper()
	status, body, _ := e.do("GET", q, token, nil)
	var out struct {
		From     string `json:"from"`
		Received struct {
			Value      *int64 `json:"value"`
			Suppressed bool   `json:"suppressed"`
		} `json:"received"`
		Threshold    int `json:"suppression_threshold"`
		Perturbation struct {
			Method  string `json:"method"`
			Version string `json:"version"`
			Max     int64  `json:"max_perturbation"`
		} `json:"perturbation"`
	}
	if err := json.Unmarshal([]byte(body), &out); status != 200 || err != nil {
		t.Fatalf("stats: got %d %s", status, body)
	}
	v := out.Received.Value
	switch {
	case out.Threshold != 5:
		t.Errorf("threshold: got %d, want 5 from policies/retention.yaml", out.Threshold)
	case out.Perturbation.Method != "cell-key" || out.Perturbation.Version != "candour-ck-2.1" || out.Perturbation.Max != 2:
		t.Errorf("perturbation: got %+v, want cell-key, candour-ck-2.1, 2 from policies/perturbation.yaml", out.Perturbation)
	case out.Received.Suppressed && (v != nil || n-2 >= 5):
		t.Errorf("received %d: got %s, want a figure of 5 or more shown", n, body)
	case !out.Received.Suppressed && (v == nil || *v < 5 || *v < n-2 || *v > n+2):
		t.Errorf("received %d: got %s, want %d±2, or suppressed under 5", n, body, n)
	}
	generated := regexp.MustCompile(`"generated_at":"[^"]*"`)
	if _, again, _ := e.do("GET", q, token, nil); generated.ReplaceAllString(again, "") != generated.ReplaceAllString(body, "") {
		t.Errorf("the same query twice: got %s then %s, want the same figures", body, again)
	}
}

// TestStatsNeverCarryContentOrIdentity files concerns with a unique phrase and identity, then
// reads every statistics surface and export: none may contain them.
func TestStatsNeverCarryContentOrIdentity(t *testing.T) {
	e := start(t)
	auditor := e.user("aud@enghraifft.example", "auditor")
	custodian, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	recipient := custodian.Recipient().String()
	portaltest.PinCustodian(t, e.p, "custodian@enghraifft.example", recipient)
	if err := e.st.InsertUser(context.Background(), &store.User{Email: "custodian@enghraifft.example", Name: "Cara Custodian",
		Roles: []string{"custodian"}, AgeRecipient: &recipient, Language: "en"}); err != nil {
		t.Fatal(err)
	}
	const phrase = "zebra-quartz-marmalade-4471"
	const name, email = "Rhiannon Quibblesworth", "rhiannon.q@example.org"
	for i := 0; i < 6; i++ {
		r := intake.ReportSubmission{Mode: "anonymous", ServiceArea: "housing", Category: "fraud",
			Summary: "Summary " + phrase, Details: "Details " + phrase, NamedPeople: []string{name}, Lang: "cy"}
		if i%2 == 1 {
			r.Mode, r.Identity = "confidential", &intake.Identity{Name: name, Email: email, Phone: "01632 960 123", Role: "Social worker"}
		}
		if _, err := e.p.Intake.Submit(context.Background(), r); err != nil {
			t.Fatalf("submit %d: %v", i, err)
		}
	}
	e.backdate()
	period := lastMonth()
	var bodies []string
	for _, path := range []string{"/api/v1/stats?" + period, "/api/v1/stats?format=csv&" + period,
		"/api/v1/stats?format=csv&table=category&" + period, "/api/v1/audit/events", "/api/v1/audit/events?format=csv"} {
		status, body, _ := e.do("GET", path, auditor.token, nil)
		if status != 200 {
			t.Fatalf("%s: got %d %s", path, status, body)
		}
		bodies = append(bodies, body)
	}
	// Six concerns, published within ±2 (the sample table) and so never under the threshold.
	if !regexp.MustCompile(`category,fraud,fraud,([5-8]|fewer than 5),`).MatchString(bodies[1]) {
		t.Errorf("CSV does not count the six concerns:\n%s", bodies[1])
	}
	for i, b := range bodies {
		for _, secret := range []string{phrase, "Rhiannon", "Quibblesworth", email, "960 123", "Social worker"} {
			if strings.Contains(b, secret) {
				t.Errorf("response %d carries %q:\n%s", i, secret, b)
			}
		}
	}
}

// lastMonth is the query for last month: statistics cover months that have ended.
func lastMonth() string {
	london, _ := time.LoadLocation("Europe/London") // council time, as the statistics count
	now := time.Now().In(london)
	first := time.Date(now.Year(), now.Month()-1, 1, 12, 0, 0, 0, london)
	return "from=" + first.Format("2006-01-02") + "&to=" + first.AddDate(0, 1, -1).Format("2006-01-02")
}

// thisMonth is the query for the month still running.
func thisMonth() string {
	london, _ := time.LoadLocation("Europe/London")
	now := time.Now().In(london)
	first := time.Date(now.Year(), now.Month(), 1, 12, 0, 0, 0, london)
	return "from=" + first.Format("2006-01-02") + "&to=" + first.AddDate(0, 1, -1).Format("2006-01-02")
}

// backdate moves every concern received this month into last month, as if filed then.
func (e *env) backdate() {
	e.t.Helper()
	if _, err := e.db.Exec(`UPDATE concerns SET received_at = received_at - interval '1 month'
		WHERE received_at >= date_trunc('month', now() AT TIME ZONE 'Europe/London') AT TIME ZONE 'Europe/London'`); err != nil {
		e.t.Fatal(err)
	}
}

func itoa64(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
