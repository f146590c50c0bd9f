package api_test

import (
	"bytes"
	"candour/internal/portaltest"
	"encoding/base64"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var (
	uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	// References are two random groups from the receipt alphabet, never a year and a counter.
	concernRef       = regexp.MustCompile(`^C-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}$`)
	investigationRef = regexp.MustCompile(`^I-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}$`)
)

// publicIDKeys are the JSON fields that name a concern, message, attachment, investigation or
// identity request. User ids (requester_id, user_id) are out of scope: staff accounts are few
// and known to each other.
var publicIDKeys = map[string]bool{"id": true, "concern_id": true, "investigation_id": true,
	"source_concern_id": true, "investigations": true}

// checkIDs walks a JSON document and fails on any id field that is not a UUIDv4 string.
// Allegations and recommendations are not among the five kinds: their own ids are left out
// (an allegation is numbered within its investigation), the concerns they name are not.
func checkIDs(t *testing.T, what string, v any, key string) {
	t.Helper()
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if (key == "allegations" || key == "recommendations") && k == "id" {
				continue
			}
			checkIDs(t, what, x, k)
		}
	case []any:
		for _, x := range v {
			checkIDs(t, what, x, key)
		}
	case float64:
		if publicIDKeys[key] {
			t.Errorf("%s: %s = %v, want a UUIDv4 string", what, key, v)
		}
	case nil:
	case string:
		if publicIDKeys[key] && !uuidV4.MatchString(v) {
			t.Errorf("%s: %s = %q, want a UUIDv4", what, key, v)
		}
	default:
		if publicIDKeys[key] {
			t.Errorf("%s: %s = %v (%T), want a UUIDv4 string", what, key, v, v)
		}
	}
}

// An attacker who files reports, or a member of staff who sees several, learns nothing about
// volume or order from anything the portal shows them: twenty concerns are filed one after
// another, and every id and reference seen by the reporters and by staff is random, and the
// ids are not in filing order (by chance with probability 2/20!).
func TestNothingAClientSeesTellsTheOrder(t *testing.T) {
	e := start(t)
	custodian := e.user("custodian@enghraifft.example", "custodian")
	mo := e.user("mo@enghraifft.example", "monitoring_officer")
	seen := map[string]string{} // what → body, everything a client was shown
	look := func(what string, status int, body string, want int) string {
		t.Helper()
		e.must(status, want, body, what)
		seen[what] = body
		return body
	}

	const n = 20
	var refs, mailboxes []string
	var firstAttachment string
	for i := range n {
		st, body, _ := e.do("POST", "/api/v1/reports", "", map[string]any{"mode": "confidential", "service_area": "finance",
			"category": "fraud", "summary": "Split invoices", "details": "Invoices split to avoid approval.",
			"identity": map[string]string{"name": "Gwen", "email": "gwen@example.org"}, "lang": "en"})
		filed := jsonField[struct{ Reference, Receipt string }](t, look("report "+string(rune('a'+i)), st, body, 201))
		refs = append(refs, filed.Reference)
		st, body, _ = e.do("POST", "/api/v1/mailbox/session", "", map[string]string{"receipt": filed.Receipt})
		mbox := jsonField[struct{ Token string }](t, look("session", st, body, 200)).Token
		mailboxes = append(mailboxes, mbox)
		if i < 3 {
			att := uploadEvidence(t, e, mbox, "rota.csv")
			seen["upload "+att] = att
			if i == 0 {
				firstAttachment = jsonField[struct{ ID string }](t, att).ID
			}
		}
		st, body, _ = e.do("GET", "/api/v1/mailbox", mbox, nil)
		look("mailbox "+filed.Reference, st, body, 200)
	}

	// Staff: the queue (in pages, so the cursor is seen too), each concern, an investigation
	// for two of them, an identity request and the custodian's list.
	var ids []string
	cursor := ""
	for {
		st, body, _ := e.do("GET", "/api/v1/triage?limit=7&cursor="+cursor, mo.token, nil)
		page := jsonField[struct {
			Items []struct {
				ID        string
				Reference string
			}
			NextCursor *string `json:"next_cursor"`
		}](t, look("triage "+cursor, st, body, 200))
		for _, it := range page.Items {
			ids = append(ids, it.ID)
		}
		if page.NextCursor == nil {
			break
		}
		cursor = *page.NextCursor
		raw, _ := base64.RawURLEncoding.DecodeString(cursor)
		var cur map[string]any
		if err := json.Unmarshal(raw, &cur); err != nil || !uuidV4.MatchString(cur["i"].(string)) {
			t.Errorf("cursor %s: want the last row's public id in it", raw)
		}
	}
	if len(ids) != n {
		t.Fatalf("queue: got %d concerns, want %d", len(ids), n)
	}
	byRef := map[string]string{}
	for _, id := range ids {
		st, body, _ := e.do("GET", "/api/v1/concerns/"+id, mo.token, nil)
		v := jsonField[struct{ Reference string }](t, look("concern "+id, st, body, 200))
		byRef[v.Reference] = id
	}
	var filedOrder []string
	for _, r := range refs {
		filedOrder = append(filedOrder, byRef[r])
	}
	st, body, _ := e.do("POST", "/api/v1/investigations", mo.token, map[string]string{"title": "Invoices",
		"terms_of_reference": "Whether invoices were split.", "investigating_officer": "External Auditor", "due_at": "2027-03-31"})
	inv := jsonField[struct{ ID, Reference string }](t, look("commission", st, body, 201))
	for _, id := range filedOrder[:2] {
		e.must(func() int { s, _, _ := e.do("POST", "/api/v1/concerns/"+id+"/acknowledge", mo.token, nil); return s }(), 200, "", "ack")
		st, body, _ = e.do("POST", "/api/v1/investigations/"+inv.ID+"/concerns", mo.token, map[string]string{"concern_id": id})
		e.must(st, 201, body, "link")
	}
	st, body, _ = e.do("POST", "/api/v1/investigations/"+inv.ID+"/allegations", mo.token,
		map[string]string{"source_concern_id": filedOrder[1], "text": "Invoices were split."})
	seen["allegation"] = `{"allegations": [` + look("allegation", st, body, 201) + `]}`
	st, body, _ = e.do("GET", "/api/v1/investigations/"+inv.ID, mo.token, nil)
	look("investigation", st, body, 200)
	st, body, _ = e.do("GET", "/api/v1/investigations", mo.token, nil)
	look("investigations", st, body, 200)
	st, body, _ = e.do("GET", "/api/v1/concerns/"+filedOrder[0], mo.token, nil)
	look("linked concern", st, body, 200)
	st, body, _ = e.do("POST", "/api/v1/concerns/"+filedOrder[0]+"/identity-requests", mo.token, map[string]string{"reason": "Interview."})
	look("identity request", st, body, 201)
	st, body, _ = e.do("GET", "/api/v1/identity-requests", custodian.token, nil)
	look("pending requests", st, body, 200)

	for what, body := range seen {
		var v any
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		checkIDs(t, what, v, "")
	}
	for _, r := range refs {
		if !concernRef.MatchString(r) {
			t.Errorf("concern reference %q is not random", r)
		}
	}
	if !investigationRef.MatchString(inv.Reference) {
		t.Errorf("investigation reference %q is not random", inv.Reference)
	}
	for what, ids := range map[string][]string{"concern ids": filedOrder, "concern references": refs} {
		reversed := slices.Clone(ids)
		slices.Reverse(reversed)
		if slices.IsSorted(ids) || slices.IsSorted(reversed) {
			t.Errorf("%s are in filing order: %v", what, ids)
		}
	}
	if slices.Equal(ids, filedOrder) {
		t.Errorf("the queue lists concerns with equal deadlines in filing order")
	}
	if slices.Contains(filedOrder, "") || len(byRef) != n {
		t.Fatalf("not every filed concern was found in the queue: %v", filedOrder)
	}

	// A malformed id, a serial, and a well-formed unknown one are all a plain 404 (never a 500
	// from PostgreSQL); another reporter's evidence is 404 too.
	unknown := "6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b"
	bad := []string{unknown, "1", "not-a-uuid", "6f1d2c3b4a5e4f608a7b9c0d1e2f3a4b", "{" + unknown + "}",
		strings.Replace(unknown, "-", "'", 1), unknown + "0", "%27%3B"}
	for _, id := range bad {
		for _, r := range []struct{ method, path, token string }{
			{"GET", "/api/v1/concerns/" + id, mo.token},
			{"POST", "/api/v1/concerns/" + id + "/acknowledge", mo.token},
			{"GET", "/api/v1/concerns/" + filedOrder[0] + "/attachments/" + id, mo.token},
			{"GET", "/api/v1/investigations/" + id, mo.token},
			{"POST", "/api/v1/identity-requests/" + id + "/decision", custodian.token},
			{"GET", "/api/v1/concerns/" + id + "/identity", custodian.token},
			{"GET", "/api/v1/mailbox/attachments/" + id, mailboxes[0]},
		} {
			var in any
			if strings.HasSuffix(r.path, "/decision") {
				in = map[string]any{"approve": true, "reason": "x"}
			}
			if st, body, _ := e.do(r.method, r.path, r.token, in); st != 404 {
				t.Errorf("%s %s: got %d %s, want 404", r.method, r.path, st, body)
			}
		}
	}
	if st, _, _ := e.do("GET", "/api/v1/mailbox/attachments/"+firstAttachment, mailboxes[1], nil); st != 404 {
		t.Errorf("another reporter's evidence: got %d, want 404", st)
	}
	if st, _, _ := e.do("GET", "/api/v1/mailbox/attachments/"+firstAttachment, mailboxes[0], nil); st != 200 {
		t.Errorf("own evidence: got %d, want 200", st)
	}
	st, body, _ = e.do("POST", "/api/v1/investigations/"+inv.ID+"/concerns", mo.token, map[string]string{"concern_id": "12"})
	if st != 404 {
		t.Errorf("link a serial: got %d %s, want 404", st, body)
	}
}

func uploadEvidence(t *testing.T, e *env, mbox, name string) string {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", name)
	fw.Write([]byte("case,closed\n1,2026-03-01\n"))
	mw.Close()
	req, _ := http.NewRequest("POST", e.p.URL()+"/api/v1/mailbox/attachments", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+mbox)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	out.ReadFrom(resp.Body)
	if resp.StatusCode != 201 {
		t.Fatalf("upload: %d %s", resp.StatusCode, out.String())
	}
	portaltest.SendEvidence(t, e.p.URL(), "Authorization: Bearer "+mbox, jsonField[struct{ ID string }](t, out.String()).ID)
	return out.String()
}
