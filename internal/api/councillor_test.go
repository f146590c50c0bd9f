package api_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"filippo.io/age"

	"candour/internal/portaltest"
	"candour/internal/store"
)

// addCustodian adds an identity custodian, so a councillor's name can be sealed.
func (e *env) addCustodian() {
	e.t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		e.t.Fatal(err)
	}
	r := id.Recipient().String()
	portaltest.PinCustodian(e.t, e.p, "custodian@enghraifft.example", r)
	if err := e.st.InsertUser(context.Background(), &store.User{Email: "custodian@enghraifft.example", Name: "Cara Custodian",
		Roles: []string{"custodian"}, AgeRecipient: &r, Language: "en"}); err != nil {
		e.t.Fatal(err)
	}
}

// designCase is the case Candour was designed from: a councillor passing on what four social
// workers in the children's assessment team told him, naming the Strategic Director.
func designCase() map[string]any {
	return map[string]any{
		"service_area": "childrens-services",
		"category":     "misconduct",
		"summary":      "Assessment team staff say caseloads are unsafe",
		"details": "Four social workers in the Child and Family Assessment Team told me caseloads are far too high, " +
			"agency staff keep leaving and supervision has stopped. They say the Strategic Director knows.",
		"evidence_reviewed":         []string{},
		"raised_with":               []string{},
		"named_people":              []string{"huw.pritchard@enghraifft.example"},
		"passing_on_staff_concerns": true,
		"safeguarding":              false,
		"confidential":              false,
	}
}

type councillorOut struct {
	Reference string `json:"reference"`
	Route     struct {
		Rule        string `json:"rule"`
		Explanation string `json:"explanation"`
	} `json:"route"`
	NextSteps     []string `json:"next_steps"`
	AnonymousLink string   `json:"anonymous_link"`
}

func TestCouncillorConcernAPI(t *testing.T) {
	e := start(t)
	e.addCustodian()
	cllr := e.user("cllr.dai.jones@enghraifft.example", "councillor")

	t.Run("the design case, in English", func(t *testing.T) {
		status, body, _ := e.do("POST", "/api/v1/councillor/concerns", cllr.token, designCase(), "Accept-Language: en-GB,en;q=0.9")
		if status != 201 {
			t.Fatalf("got %d %s, want 201", status, body)
		}
		var out councillorOut
		if err := json.Unmarshal([]byte(body), &out); err != nil {
			t.Fatal(err)
		}
		if out.Route.Rule != "councillor-passing-on-staff-concerns" {
			t.Errorf("got rule %q, want councillor-passing-on-staff-concerns", out.Route.Rule)
		}
		if out.Reference == "" {
			t.Errorf("got no reference: %s", body)
		}
		if !strings.Contains(out.Route.Explanation, "Monitoring Officer") {
			t.Errorf("got explanation %q, want the English one naming the Monitoring Officer", out.Route.Explanation)
		}
		if want := e.p.Config.PublicURL.String() + "/report"; out.AnonymousLink != want {
			t.Errorf("got anonymous link %q, want %q", out.AnonymousLink, want)
		}
		if len(out.NextSteps) == 0 {
			t.Errorf("got no next steps, want the rule's: %s", body)
		}
		stored, err := e.st.ConcernByReference(t.Context(), out.Reference)
		if err != nil {
			t.Fatal(err)
		}
		if stored.Channel != "councillor" || stored.Language != "en" {
			t.Errorf("stored channel %s language %s, want councillor en", stored.Channel, stored.Language)
		}
	})

	t.Run("the design case, in Welsh", func(t *testing.T) {
		status, body, _ := e.do("POST", "/api/v1/councillor/concerns", cllr.token, designCase(), "Accept-Language: cy")
		if status != 201 {
			t.Fatalf("got %d %s, want 201", status, body)
		}
		var out councillorOut
		_ = json.Unmarshal([]byte(body), &out)
		if out.Route.Rule != "councillor-passing-on-staff-concerns" || !strings.Contains(out.Route.Explanation, "Swyddog Monitro") {
			t.Errorf("got rule %q explanation %q, want the passing-on rule explained in Welsh", out.Route.Rule, out.Route.Explanation)
		}
		if want := e.p.Config.PublicURL.String() + "/cy/report"; out.AnonymousLink != want {
			t.Errorf("got anonymous link %q, want %q", out.AnonymousLink, want)
		}
	})

	t.Run("first time, evidence reviewed: no anonymous link", func(t *testing.T) {
		in := designCase()
		in["passing_on_staff_concerns"] = false
		in["named_people"] = []string{}
		in["evidence_reviewed"] = []string{"cs-performance-2024-25"}
		status, body, _ := e.do("POST", "/api/v1/councillor/concerns", cllr.token, in)
		if status != 201 {
			t.Fatalf("got %d %s, want 201", status, body)
		}
		if strings.Contains(body, "anonymous_link") || !strings.Contains(body, `"rule":"councillor-service-area"`) {
			t.Errorf("got %s, want councillor-service-area without an anonymous link", body)
		}
	})

	bad := []struct {
		name  string
		edit  func(m map[string]any)
		field string
	}{
		{"unknown evidence", func(m map[string]any) { m["evidence_reviewed"] = []string{"no-such-report"} }, "evidence_reviewed"},
		{"evidence of another area", func(m map[string]any) { m["evidence_reviewed"] = []string{"housing-performance-2024-25"} }, "evidence_reviewed"},
		{"unknown service area", func(m map[string]any) { m["service_area"] = "moon-base" }, "service_area"},
		{"no summary", func(m map[string]any) { m["summary"] = "" }, "summary"},
		{"unknown field", func(m map[string]any) { m["mode"] = "anonymous" }, "mode"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			in := designCase()
			tc.edit(in)
			status, body, _ := e.do("POST", "/api/v1/councillor/concerns", cllr.token, in)
			var out struct {
				Error struct {
					Fields map[string]string `json:"fields"`
				} `json:"error"`
			}
			_ = json.Unmarshal([]byte(body), &out)
			if status != 400 || out.Error.Fields[tc.field] == "" {
				t.Errorf("got %d %s, want 400 with field %s", status, body, tc.field)
			}
		})
	}

	t.Run("only councillors", func(t *testing.T) {
		mo := e.user("elin.rowlands@enghraifft.example", "monitoring_officer")
		_, mailboxToken := e.report()
		for _, tc := range []struct {
			who, token string
			want       int
		}{
			{"monitoring officer", mo.token, 404},
			{"anonymous", "", 401},
			{"mailbox token", mailboxToken, 401},
		} {
			if status, body, _ := e.do("POST", "/api/v1/councillor/concerns", tc.token, designCase()); status != tc.want {
				t.Errorf("%s: POST got %d %s, want %d", tc.who, status, body, tc.want)
			}
			if status, body, _ := e.do("GET", "/api/v1/councillor/concerns", tc.token, nil); status != tc.want {
				t.Errorf("%s: GET got %d %s, want %d", tc.who, status, body, tc.want)
			}
		}
	})

	t.Run("their own list", func(t *testing.T) {
		status, body, _ := e.do("GET", "/api/v1/councillor/concerns", cllr.token, nil)
		var out struct {
			Items []struct {
				Reference   string `json:"reference"`
				ServiceArea string `json:"service_area"`
				Status      string `json:"status"`
			} `json:"items"`
		}
		if err := json.Unmarshal([]byte(body), &out); err != nil || status != 200 {
			t.Fatalf("got %d %s, want 200", status, body)
		}
		if len(out.Items) != 3 || out.Items[0].ServiceArea != "childrens-services" || out.Items[0].Status != "received" {
			t.Errorf("got %s, want the 3 concerns filed above, received, about children's services", body)
		}
		other := e.user("cllr.other@enghraifft.example", "councillor")
		if _, body, _ := e.do("GET", "/api/v1/councillor/concerns", other.token, nil); body != `{"items":[]}` {
			t.Errorf("another councillor got %s, want an empty list", body)
		}
	})
}
