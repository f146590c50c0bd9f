package api_test

import (
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"candour/internal/access"
	"candour/internal/api"
	"candour/internal/domain"
)

// anyParam fills every path parameter: a gate refuses before any handler reads one.
var anyParam = regexp.MustCompile(`:[a-z]+`)

// Every route names a gate the access package knows, and the gate is what the portal enforces:
// without a staff token every staff route answers 401, and each role the gate does not admit
// gets 404, whatever the route would do for someone it admits.
func TestEveryRouteIsGated(t *testing.T) {
	known := map[string]access.Gate{}
	for _, g := range access.Gates() {
		known[g.Name] = g
	}
	routes := api.New(api.Deps{}).Routes()
	if len(routes) < 40 {
		t.Fatalf("only %d routes in the table", len(routes))
	}
	for _, r := range routes {
		if g, ok := known[r.Gate.Name]; !ok || g.Caller != r.Gate.Caller {
			t.Errorf("%s %s: gate %q is not one of access.Gates()", r.Method, r.Path, r.Gate.Name)
		}
		public := r.Gate.Caller == access.Anyone
		if public != slices.Contains([]string{"/openapi.yaml", "/service-areas", "/reports", "/mailbox/session", "/auth/login", "/enrolment"}, r.Path) {
			t.Errorf("%s %s: gate %q; only the reporting, receipt, document, sign-in and enrolment routes are public", r.Method, r.Path, r.Gate.Name)
		}
		if strings.HasPrefix(r.Path, "/mailbox/") && r.Path != "/mailbox/session" && r.Gate.Caller != access.Reporter {
			t.Errorf("%s %s: a mailbox route must take a mailbox token, has %q", r.Method, r.Path, r.Gate.Name)
		}
	}

	e := start(t)
	signedIn := map[string]*account{}
	for _, role := range domain.Roles {
		signedIn[role] = e.user(role+"@gates.example", role)
	}
	_, mailboxToken := e.report()
	for _, r := range routes {
		if r.Gate.Caller != access.Staff {
			continue
		}
		path := "/api/v1" + anyParam.ReplaceAllString(r.Path, "1")
		for _, token := range []string{"", mailboxToken, "not.a.token"} {
			if status, body, _ := e.do(r.Method, path, token, nil); status != http.StatusUnauthorized {
				t.Errorf("%s %s with token %.12q: got %d %s, want 401", r.Method, r.Path, token, status, body)
			}
		}
		for role, a := range signedIn {
			if r.Gate.Allows(a.User) {
				continue
			}
			if status, body, _ := e.do(r.Method, path, a.token, nil); status != http.StatusNotFound {
				t.Errorf("%s %s as %s (gate %s): got %d %s, want 404", r.Method, r.Path, role, r.Gate.Name, status, body)
			}
		}
	}
}
