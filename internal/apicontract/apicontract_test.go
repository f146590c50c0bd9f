package apicontract

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// recorder stands in for the test's T, collecting what Check reports instead of failing.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, a ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, a...))
}
func (r *recorder) Fatal(a ...any) { r.errs = append(r.errs, fmt.Sprint(a...)) }

// TestCheckCatchesBreaks feeds Check exchanges that break the document in each way the
// harness must catch, and ones that keep to it.
func TestCheckCatchesBreaks(t *testing.T) {
	for _, c := range []struct {
		name, method, path, body string
		status                   int
		respBody                 string
		want                     string // in the report; "" for none
	}{
		{"keeps to it", "GET", "/api/v1/service-areas", "", 200, `[{"code":"housing","name":"Housing","name_cy":"Tai"}]`, ""},
		{"null for an array", "GET", "/api/v1/service-areas", "", 200, `null`, "response breaks"},
		{"wrong type", "GET", "/api/v1/service-areas", "", 200, `[{"code":1,"name":"Housing","name_cy":"Tai"}]`, "response breaks"},
		{"undocumented status", "GET", "/api/v1/service-areas", "", 418, `{}`, "response breaks"},
		{"undeclared body taken", "POST", "/api/v1/concerns/1/acknowledge", `{"note":"x"}`, 200, `{"status":"acknowledged"}`, "refuses this request"},
		{"undeclared body refused", "POST", "/api/v1/concerns/1/acknowledge", `{"note":"x"}`, 413, `{"error":{"code":"too_large","message":"Too large"}}`, ""},
		{"no token, refused", "GET", "/api/v1/triage", "", 401, `{"error":{"code":"unauthorized","message":"Sign in"}}`, ""},
		{"no token, served", "GET", "/api/v1/triage", "", 200, `{"items":[],"next_cursor":null}`, "refuses this request"},
		{"unknown route, 404", "GET", "/api/v1/no-such-thing", "", 404, `{"error":{"code":"not_found","message":"Not found"}}`, ""},
		{"unknown route served", "GET", "/api/v1/no-such-thing", "", 200, `{}`, "must answer 404"},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := httptest.NewRequest(c.method, "http://127.0.0.1"+c.path, strings.NewReader(c.body))
			if c.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			if strings.Contains(c.path, "/concerns/") {
				req.Header.Set("Authorization", "Bearer x.y.z")
			}
			resp := &http.Response{StatusCode: c.status, Header: http.Header{"Content-Type": {"application/json"}}}
			r := &recorder{TB: t}
			Check(r, req, []byte(c.body), resp, []byte(c.respBody))
			report := strings.Join(r.errs, "\n")
			switch {
			case c.want == "" && report != "":
				t.Errorf("reported a break in an exchange that keeps to the document:\n%s", report)
			case c.want != "" && !strings.Contains(report, c.want):
				t.Errorf("report %q, want one containing %q", report, c.want)
			}
		})
	}
}
