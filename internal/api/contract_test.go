package api_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestContractHoldsWhenThereIsNothing tries to break the API contract where it broke before:
// a concern that names no one, and every list while it is still empty. The validator
// (apicontract) checks each exchange against the document; the test also reads the JSON
// itself, so a null where an array is promised fails here even if the document loosened.
func TestContractHoldsWhenThereIsNothing(t *testing.T) {
	e := start(t)
	mo := e.user("mo@enghraifft.example", "monitoring_officer")
	custodian := e.user("custodian@enghraifft.example", "custodian")
	cllr := e.user("cllr@enghraifft.example", "councillor")

	// Empty lists first, before anything is filed.
	for _, c := range []struct{ path, token, field string }{
		{"/api/v1/triage", mo.token, "items"},
		{"/api/v1/investigations", mo.token, "items"},
		{"/api/v1/identity-requests", custodian.token, "items"},
		{"/api/v1/councillor/concerns", cllr.token, "items"},
	} {
		st, body, _ := e.do("GET", c.path, c.token, nil)
		e.must(st, 200, body, "GET "+c.path)
		mustEmptyArray(t, "GET "+c.path, body, c.field)
	}

	// A report that names no one: the field is left out, as a client may.
	st, body, _ := e.do("POST", "/api/v1/reports", "", map[string]any{"mode": "anonymous", "service_area": "housing",
		"category": "other", "summary": "Repairs signed off unseen", "details": "Jobs are closed without a visit.", "lang": "en"})
	e.must(st, 201, body, "report")
	receipt := jsonField[struct{ Receipt string }](t, body).Receipt
	st, body, _ = e.do("POST", "/api/v1/mailbox/session", "", map[string]string{"receipt": receipt})
	e.must(st, 200, body, "mailbox session")
	mbox := jsonField[struct{ Token string }](t, body).Token
	st, body, _ = e.do("GET", "/api/v1/mailbox", mbox, nil)
	e.must(st, 200, body, "mailbox")
	mustEmptyArray(t, "GET /mailbox", body, "messages", "attachments")

	st, body, _ = e.do("GET", "/api/v1/triage", mo.token, nil)
	e.must(st, 200, body, "triage")
	items := jsonField[struct {
		Items []struct{ ID json.RawMessage }
	}](t, body).Items
	if len(items) != 1 {
		t.Fatalf("triage: got %s, want the one report", body)
	}
	concern := "/api/v1/concerns/" + pathID(t, items[0].ID)
	st, body, _ = e.do("GET", concern, mo.token, nil)
	e.must(st, 200, body, "GET concern")
	mustEmptyArray(t, "GET "+concern, body, "named_people", "messages", "notes", "attachments", "investigations")

	// Acknowledge takes no body: one sent with it is refused, and nothing happens.
	st, body, _ = e.do("POST", concern+"/acknowledge", mo.token, map[string]string{"note": "seen"})
	e.must(st, 413, body, "acknowledge with a body")
	st, body, _ = e.do("POST", concern+"/acknowledge", mo.token, nil)
	e.must(st, 200, body, "acknowledge")

	// A new investigation has nothing linked, alleged or recommended yet.
	st, body, _ = e.do("POST", "/api/v1/investigations", mo.token, map[string]string{"title": "Repairs sign-off",
		"terms_of_reference": "Whether repairs were closed unseen.", "investigating_officer": "An External Investigator",
		"due_at": "2027-06-30"})
	e.must(st, 201, body, "commission")
	inv := "/api/v1/investigations/" + pathID(t, jsonField[struct{ ID json.RawMessage }](t, body).ID)
	st, body, _ = e.do("GET", inv, mo.token, nil)
	e.must(st, 200, body, "GET investigation")
	mustEmptyArray(t, "GET "+inv, body, "concerns", "allegations", "recommendations")
}

// mustEmptyArray checks that each named member of the JSON object body is exactly [].
func mustEmptyArray(t *testing.T, what, body string, fields ...string) {
	t.Helper()
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &obj); err != nil {
		t.Fatalf("%s: %v in %s", what, err, body)
	}
	for _, f := range fields {
		if got := strings.TrimSpace(string(obj[f])); got != "[]" {
			t.Errorf("%s: %s is %q, want []", what, f, got)
		}
	}
}

// pathID turns an id from a response (a number, or a string) into its path segment.
func pathID(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	if len(raw) == 0 {
		t.Fatal("no id")
	}
	return string(raw)
}
