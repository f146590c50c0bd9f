package web

import (
	"strings"
	"testing"

	"candour/internal/access"
	"candour/internal/accounts"
	"candour/internal/auth"
	"candour/internal/casework"
	"candour/internal/intake"
	"candour/internal/oversight"
	"candour/internal/routing"
)

// Every page and form names a gate the access package knows; every staff page needs a staff
// session, every mailbox page a mailbox, and only the information, reporting and sign-in pages
// are open to anyone.
func TestEveryPageIsGated(t *testing.T) {
	s := newSite(t)
	// The table only reads which services exist; nothing here is called.
	s.deps.Intake, s.deps.Policy = &intake.Service{}, func() *routing.Policy { return nil }
	s.deps.Auth, s.deps.Casework = &auth.Service{}, &casework.Service{}
	s.deps.Oversight, s.deps.Accounts = &oversight.Service{}, &accounts.Service{}
	known := map[string]access.Gate{}
	for _, g := range access.Gates() {
		known[g.Name] = g
	}
	routes := s.Routes()
	if len(routes) < 55 {
		t.Fatalf("only %d routes in the table", len(routes))
	}
	public := map[string]bool{"/": true, "/accessibility": true, "/privacy": true, "/external": true, "/report": true,
		"/mailbox": true, "/staff/login": true, "/staff/enrol": true,
		// Single sign-on is a way to sign in: the provider, the flow cookie or the e-mailed code
		// is the credential.
		"/staff/sso": true, "/staff/sso/callback": true, "/staff/sso/code": true,
		// Back from the provider's sign-out: the portal's session has already ended.
		"/staff/sso/signed-out": true}
	for _, r := range routes {
		where := r.Method + " " + r.Path
		if g, ok := known[r.Gate.Name]; !ok || g.Caller != r.Gate.Caller {
			t.Errorf("%s: gate %q is not one of access.Gates()", where, r.Gate.Name)
		}
		switch {
		case public[r.Path]:
			if r.Gate.Caller != access.Anyone {
				t.Errorf("%s: gate %q, want public", where, r.Gate.Name)
			}
		case strings.HasPrefix(r.Path, "/mailbox/"):
			if r.Gate.Caller != access.Reporter {
				t.Errorf("%s: gate %q, want the mailbox", where, r.Gate.Name)
			}
		case strings.HasPrefix(r.Path, "/staff"), strings.HasPrefix(r.Path, "/councillor"):
			if r.Gate.Caller != access.Staff {
				t.Errorf("%s: gate %q, want a staff gate", where, r.Gate.Name)
			}
		default:
			t.Errorf("%s: a path the test does not know; say who may call it here", where)
		}
		if strings.HasPrefix(r.Path, "/staff/admin/") && r.Gate.Name != access.Admin.Name {
			t.Errorf("%s: gate %q, want admin", where, r.Gate.Name)
		}
		if r.Gate.Setup && !strings.HasPrefix(r.Path, "/staff/totp") && !strings.HasPrefix(r.Path, "/staff/password") &&
			r.Path != "/staff/logout" {
			t.Errorf("%s: a setup session may only enrol, change its password or sign out", where)
		}
	}
}
