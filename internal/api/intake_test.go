package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"candour/internal/apicontract"
	"candour/internal/dbtest"
	"candour/internal/portaltest"
	"candour/internal/receipt"
	"candour/internal/store"
	"candour/internal/token"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

type apiError struct {
	Error struct {
		Code    string            `json:"code"`
		Message string            `json:"message"`
		Fields  map[string]string `json:"fields"`
	} `json:"error"`
}

// decode reads a JSON response body into a T.
func decode[T any](t *testing.T, r portaltest.Response) T {
	t.Helper()
	return jsonField[T](t, string(r.Body))
}

func postJSON(t *testing.T, e *portaltest.Env, path string, body any, headers ...string) portaltest.Response {
	t.Helper()
	return portaltest.DoJSON(t, e.URL(), "POST", path, body, headers...)
}

func anonymousReport() map[string]any {
	return map[string]any{"mode": "anonymous", "service_area": "childrens-services", "category": "misconduct",
		"summary": "Cases moved off the system before the inspection", "details": "Our team leader told us to close cases early.",
		"safeguarding": false, "named_people": []string{}, "identity": nil, "lang": "en"}
}

type filed struct {
	Reference string `json:"reference"`
	Receipt   string `json:"receipt"`
	Status    string `json:"status"`
	Route     struct {
		Rule        string `json:"rule"`
		Explanation string `json:"explanation"`
	} `json:"route"`
	AcknowledgeBy string `json:"acknowledge_by"`
	FeedbackBy    string `json:"feedback_by"`
}

func TestReportAPI(t *testing.T) {
	e := portaltest.Start(t)
	e.AddCustodian(t)

	areas := decode[[]map[string]string](t, e.Do(t, "GET", "/api/v1/service-areas", "", nil))
	if len(areas) == 0 || areas[0]["code"] == "" || areas[0]["name_cy"] == "" {
		t.Fatalf("service areas: got %v", areas)
	}

	r := postJSON(t, e, "/api/v1/reports", anonymousReport())
	if r.Status != 201 {
		t.Fatalf("anonymous report: got %d %s, want 201", r.Status, r.Body)
	}
	f := decode[filed](t, r)
	if f.Status != "received" || f.Route.Rule != "staff-whistleblowing" || f.Route.Explanation == "" || f.AcknowledgeBy == "" || f.FeedbackBy == "" {
		t.Errorf("got %+v", f)
	}
	if _, ok := receipt.Normalize(f.Receipt); !ok {
		t.Errorf("receipt %q does not normalize", f.Receipt)
	}
	if len(r.Header.Values("Set-Cookie")) != 0 {
		t.Errorf("report submission set a cookie")
	}

	for _, mode := range []string{"confidential", "open"} {
		body := anonymousReport()
		body["mode"] = mode
		body["identity"] = map[string]string{"name": "Gwen Whistleblower", "email": "gwen@example.org", "phone": "", "role": "social worker"}
		body["lang"] = "cy"
		r := postJSON(t, e, "/api/v1/reports", body)
		if r.Status != 201 {
			t.Fatalf("%s: got %d %s, want 201", mode, r.Status, r.Body)
		}
		if f := decode[filed](t, r); !strings.Contains(f.Route.Explanation, "Swyddog Monitro") {
			t.Errorf("%s in Welsh: explanation %q is not Welsh", mode, f.Route.Explanation)
		}
	}
}

func TestReportAPIBadInput(t *testing.T) {
	e := portaltest.Start(t)
	big := anonymousReport()
	big["details"] = strings.Repeat("x", 300<<10)
	tooMany := anonymousReport()
	names := make([]string, 21)
	for i := range names {
		names[i] = fmt.Sprintf("Person %d", i)
	}
	tooMany["named_people"] = names
	unknownArea := anonymousReport()
	unknownArea["service_area"] = "moon-base"
	unknownArea["category"] = "gossip"
	withIdentity := anonymousReport()
	withIdentity["identity"] = map[string]string{"name": "Gwen"}
	noCustodian := anonymousReport()
	noCustodian["mode"] = "confidential"
	noCustodian["identity"] = map[string]string{"name": "Gwen"}
	anonymousNotice := anonymousReport()
	anonymousNotice["notice_email"] = "gwen@example.org"
	withNotice := func(address string) map[string]any {
		r := anonymousReport()
		r["mode"], r["identity"], r["notice_email"] = "confidential", map[string]string{"name": "Gwen"}, address
		return r
	}
	marshal := func(v any) []byte { b, _ := json.Marshal(v); return b }

	cases := []struct {
		name        string
		contentType string
		body        []byte
		status      int
		code        string
		fields      []string
	}{
		{"over the size limit", "application/json", marshal(big), 413, "too_large", nil},
		{"wrong content type", "text/plain", marshal(anonymousReport()), 415, "unsupported_media_type", nil},
		{"malformed JSON", "application/json", []byte(`{"mode":`), 400, "malformed_json", nil},
		{"two values", "application/json", []byte(`{} {}`), 400, "malformed_json", nil},
		{"invalid UTF-8", "application/json", []byte("{\"summary\":\"\xff\xfe\"}"), 400, "invalid_encoding", nil},
		{"unknown field", "application/json", []byte(`{"mode":"anonymous","colour":"red"}`), 400, "invalid", []string{"colour"}},
		{"wrong type", "application/json", []byte(`{"safeguarding":"yes"}`), 400, "invalid", []string{"safeguarding"}},
		{"missing everything", "application/json", []byte(`{}`), 400, "invalid", []string{"mode", "service_area", "category", "summary", "details"}},
		{"too many names", "application/json", marshal(tooMany), 400, "invalid", []string{"named_people"}},
		{"unknown area and category", "application/json", marshal(unknownArea), 400, "invalid", []string{"service_area", "category"}},
		{"identity in anonymous mode", "application/json", marshal(withIdentity), 400, "invalid", []string{"identity"}},
		{"confidential without custodians", "application/json", marshal(noCustodian), 400, "no_custodians", []string{"mode"}},
		{"notice address in anonymous mode", "application/json", marshal(anonymousNotice), 400, "invalid", []string{"notice_email"}},
		{"notice address malformed", "application/json", marshal(withNotice("Gwen <gwen@example.org>")), 400, "invalid", []string{"notice_email"}},
		{"notice address too long", "application/json", marshal(withNotice(strings.Repeat("g", 250) + "@example.org")), 400, "invalid", []string{"notice_email"}},
	}
	for _, tc := range cases {
		r := e.Do(t, "POST", "/api/v1/reports", tc.contentType, bytes.NewReader(tc.body))
		got := decode[apiError](t, r)
		if r.Status != tc.status || got.Error.Code != tc.code || got.Error.Message == "" {
			t.Errorf("%s: got %d %s, want %d %s", tc.name, r.Status, r.Body, tc.status, tc.code)
			continue
		}
		for _, f := range tc.fields {
			if got.Error.Fields[f] == "" {
				t.Errorf("%s: no message for field %q in %s", tc.name, f, r.Body)
			}
		}
	}
	// The same errors in Welsh.
	r := e.Do(t, "POST", "/api/v1/reports", "application/json", bytes.NewReader([]byte(`{}`)), "Accept-Language: cy")
	if got := decode[apiError](t, r); got.Error.Fields["summary"] != "Rhowch ateb." {
		t.Errorf("Welsh field error: got %q, want Rhowch ateb.", got.Error.Fields["summary"])
	}
	// An anonymous reporter is told why the address is refused, in Welsh too.
	for lang, want := range map[string]string{"en": "would tie you to this portal", "cy": "byddai'n eich cysylltu â'r porth hwn"} {
		r := e.Do(t, "POST", "/api/v1/reports", "application/json", bytes.NewReader(marshal(anonymousNotice)), "Accept-Language: "+lang)
		if got := decode[apiError](t, r); !strings.Contains(got.Error.Fields["notice_email"], want) {
			t.Errorf("%s: notice_email error %q, want it to say %q", lang, got.Error.Fields["notice_email"], want)
		}
	}
	// The officer recording a concern would see the address typed: refused there too.
	mo := portaltest.NewStaff(t, e.Portal, "elin.rowlands@enghraifft.example", "monitoring_officer")
	if r := mo.API("POST", "/api/v1/recorded-concerns", withNotice("gwen@example.org")); r.Status != 400 ||
		decode[apiError](t, r).Error.Fields["notice_email"] == "" {
		t.Errorf("recorded concern with a notice address: got %d %s, want 400 naming notice_email", r.Status, r.Body)
	}
	var n int
	if err := e.DB.Get(&n, `SELECT count(*) FROM concerns`); err != nil || n != 0 {
		t.Errorf("got %d concerns after bad input only, want 0", n)
	}
}

// multipartFile is a multipart form with data as the file part field, after the fields
// given as name, value pairs.
func multipartFile(t *testing.T, field, name string, data []byte, fields ...string) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for i := 0; i+1 < len(fields); i += 2 {
		w.WriteField(fields[i], fields[i+1])
	}
	fw, err := w.CreateFormFile(field, name)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	w.Close()
	return w.FormDataContentType(), buf.Bytes()
}

func TestMailboxAPI(t *testing.T) {
	e := portaltest.Start(t, portaltest.Setting("CANDOUR_MAX_ATTACHMENT_MB", "2"))
	f := decode[filed](t, postJSON(t, e, "/api/v1/reports", anonymousReport()))

	wrong1 := postJSON(t, e, "/api/v1/mailbox/session", map[string]string{"receipt": "K7QM-2XWP-TRHD-9CFA-NBEZ"})
	wrong2 := postJSON(t, e, "/api/v1/mailbox/session", map[string]string{"receipt": "x"})
	if wrong1.Status != 401 || wrong2.Status != 401 || !bytes.Equal(wrong1.Body, wrong2.Body) {
		t.Fatalf("wrong receipts: got %d %s and %d %s, want the same 401", wrong1.Status, wrong1.Body, wrong2.Status, wrong2.Body)
	}
	r := postJSON(t, e, "/api/v1/mailbox/session", map[string]string{"receipt": f.Receipt})
	if r.Status != 200 {
		t.Fatalf("right receipt: got %d %s", r.Status, r.Body)
	}
	tok := decode[map[string]string](t, r)["token"]
	auth := "Authorization: Bearer " + tok

	if r := e.Do(t, "GET", "/api/v1/mailbox", "", nil); r.Status != 401 {
		t.Errorf("mailbox without token: got %d, want 401", r.Status)
	}
	if r := postJSON(t, e, "/api/v1/mailbox/messages", map[string]any{"body": "It happened in March.", "detriment": false}, auth); r.Status != 201 {
		t.Fatalf("reply: got %d %s", r.Status, r.Body)
	}
	// The council answers through casework, as the Monitoring Officer would.
	mo := &store.User{Email: "mo@enghraifft.example", Name: "MO", Roles: []string{"monitoring_officer"}, Language: "en", Status: "active"}
	if err := store.New(e.DB).InsertUser(t.Context(), mo); err != nil {
		t.Fatal(err)
	}
	c, err := store.New(e.DB).ConcernByReference(t.Context(), f.Reference)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Casework.Message(t.Context(), mo, c.ID, "Thank you. Who else saw this?"); err != nil {
		t.Fatal(err)
	}
	evidence := bytes.Repeat([]byte{0, 1, 2, 3, 'e', 'v'}, 100000)
	ct, body := multipartFile(t, "file", "caseloads.xlsx", evidence)
	r = e.Do(t, "POST", "/api/v1/mailbox/attachments", ct, bytes.NewReader(body), auth)
	if r.Status != 201 {
		t.Fatalf("upload: got %d %s", r.Status, r.Body)
	}
	att := decode[struct {
		ID   string `json:"id"`
		Name string `json:"name"`
		Size int64  `json:"size"`
	}](t, r)
	if att.Name != "caseloads.xlsx" || att.Size != int64(len(evidence)) {
		t.Errorf("got %+v", att)
	}
	portaltest.SendEvidence(t, e.URL(), auth, att.ID)

	m := decode[struct {
		Reference   string `json:"reference"`
		Status      string `json:"status"`
		Messages    []struct{ From, Body string }
		Attachments []struct{ ID string }
		Feedback    *string `json:"feedback"`
	}](t, e.Do(t, "GET", "/api/v1/mailbox", "", nil, auth))
	if m.Reference != f.Reference || m.Status != "received" || len(m.Messages) != 2 || m.Messages[0].From != "you" ||
		m.Messages[1].From != "council" || len(m.Attachments) != 1 || m.Feedback != nil {
		t.Fatalf("mailbox: got %+v", m)
	}

	dl := e.Do(t, "GET", "/api/v1/mailbox/attachments/"+att.ID, "", nil, auth)
	if dl.Status != 200 || !bytes.Equal(dl.Body, evidence) {
		t.Fatalf("download: got %d, %d bytes, want 200 and %d bytes", dl.Status, len(dl.Body), len(evidence))
	}
	if cd := dl.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") || dl.Header.Get("X-Content-Type-Options") != "nosniff" ||
		dl.Header.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("download headers: %v", dl.Header)
	}
	if r := e.Do(t, "GET", "/api/v1/mailbox/attachments/999999", "", nil, auth); r.Status != 404 {
		t.Errorf("unknown attachment: got %d, want 404", r.Status)
	}

	// Over the limit: 413 and nothing stored.
	ct, body = multipartFile(t, "file", "huge.bin", bytes.Repeat([]byte("z"), 3<<20))
	if r := e.Do(t, "POST", "/api/v1/mailbox/attachments", ct, bytes.NewReader(body), auth); r.Status != 413 {
		t.Errorf("over the limit: got %d %s, want 413", r.Status, r.Body)
	}
	// No file part.
	ct, body = multipartFile(t, "other", "x.txt", []byte("x"))
	if r := e.Do(t, "POST", "/api/v1/mailbox/attachments", ct, bytes.NewReader(body), auth); r.Status != 400 {
		t.Errorf("no file part: got %d %s, want 400", r.Status, r.Body)
	}
	var blobs, atts int
	e.DB.Get(&blobs, `SELECT count(*) FROM blobs`)
	e.DB.Get(&atts, `SELECT count(*) FROM attachments`)
	if blobs != 1 || atts != 1 {
		t.Errorf("got %d blobs and %d attachments, want only the first upload's", blobs, atts)
	}

	// A mailbox token is refused on a staff route; a staff token is refused on the mailbox.
	if r := e.Do(t, "GET", "/api/v1/triage", "", nil, auth); r.Status != 401 {
		t.Errorf("mailbox token on a staff route: got %d, want 401", r.Status)
	}
	keys, err := token.LoadOrCreate(e.DataDir + "/keys/signing")
	if err != nil {
		t.Fatal(err)
	}
	staffTok, _, _ := keys.Issue(token.AudienceStaff, f.Reference, "s", 60e9)
	if r := e.Do(t, "GET", "/api/v1/mailbox", "", nil, "Authorization: Bearer "+staffTok); r.Status != 401 {
		t.Errorf("staff token on the mailbox: got %d, want 401", r.Status)
	}

	// Closing the mailbox ends the token itself, not just a cookie.
	if r := e.Do(t, "POST", "/api/v1/mailbox/close", "", nil, auth); r.Status != 204 {
		t.Fatalf("close: got %d %s, want 204", r.Status, r.Body)
	}
	if r := e.Do(t, "GET", "/api/v1/mailbox", "", nil, auth); r.Status != 401 {
		t.Errorf("closed token: got %d, want 401", r.Status)
	}
	_ = io.Discard
}

// pausingReader serves n bytes of a multipart body and, once past `at`, runs check once.
type pausingReader struct {
	r     io.Reader
	read  int64
	at    int64
	check func()
	done  bool
}

func (p *pausingReader) Read(b []byte) (int, error) {
	if !p.done && p.read >= p.at {
		p.done = true
		p.check()
	}
	n, err := p.r.Read(b)
	p.read += int64(n)
	return n, err
}

// An evidence upload of known length (as a browser sends it) streams through age: no
// temporary file ever holds it in clear. fasthttp's default would spool any part over 16 MB to
// a multipart-* file in the temporary folder before the handler runs.
func TestUploadNeverSpoolsToDisk(t *testing.T) {
	e := portaltest.Start(t, portaltest.Setting("CANDOUR_MAX_ATTACHMENT_MB", "64"))
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // after the database is up: the test PostgreSQL lives in the old one
	f := decode[filed](t, postJSON(t, e, "/api/v1/reports", anonymousReport()))
	tok := decode[map[string]string](t, postJSON(t, e, "/api/v1/mailbox/session", map[string]string{"receipt": f.Receipt}))["token"]

	ct, body := multipartFile(t, "file", "cctv-export.bin", bytes.Repeat([]byte("frame "), 5<<20)) // 30 MB
	spooled := []string{}
	reader := &pausingReader{r: bytes.NewReader(body), at: 24 << 20, check: func() {
		time.Sleep(300 * time.Millisecond) // let the server catch up with what it has been sent
		entries, _ := os.ReadDir(tmp)
		for _, en := range entries {
			spooled = append(spooled, en.Name())
		}
	}}
	req, _ := http.NewRequest("POST", e.URL()+"/api/v1/mailbox/attachments", reader)
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, _ := apicontract.Do(t, http.DefaultClient, req)
	if resp.StatusCode != 201 {
		t.Fatalf("upload: got %d, want 201", resp.StatusCode)
	}
	if len(spooled) != 0 {
		t.Errorf("files in the temporary folder during the upload: %v, want none", spooled)
	}
}

// An upload's form carries one file and ends: a second file part is refused (it used to be
// dropped while the first was stored and 201 answered), and a body cut before its closing
// boundary is the client's fault, 400, never 500. Neither leaves anything stored.
func TestUploadFormMustEndAfterOneFile(t *testing.T) {
	e := start(t)
	_, mbox := e.report()
	post := func(body string, boundary string) (int, string) {
		req, err := http.NewRequest("POST", e.p.URL()+"/api/v1/mailbox/attachments", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "multipart/form-data; boundary="+boundary)
		req.Header.Set("Authorization", "Bearer "+mbox)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	part := func(name string) string {
		return "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" + name + "\"\r\nContent-Type: text/plain\r\n\r\nrota\r\n"
	}
	for name, body := range map[string]string{
		"a second file":          part("a.txt") + part("b.txt") + "--B--\r\n",
		"no closing boundary":    part("a.txt"),
		"cut in the file itself": "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nrota, and th",
	} {
		status, out := post(body, "B")
		if status != http.StatusBadRequest || !strings.Contains(out, `"file"`) {
			t.Errorf("%s: got %d %s, want 400 naming file", name, status, out)
		}
	}
	if status, out := post(part("a.txt")+"--B--\r\n", "B"); status != http.StatusCreated {
		t.Fatalf("one file, well formed: got %d %s, want 201", status, out)
	}
	var n int
	if err := e.db.Get(&n, `SELECT count(*) FROM attachments`); err != nil || n != 1 {
		t.Errorf("attachments stored: %d (%v), want only the well-formed one", n, err)
	}
}
