package api_test

import (
	"strings"
	"testing"
	"time"

	"candour/internal/auth"
)

// authCode is a code for the next TOTP step: the one now was spent when the account signed in.
func authCode(secret string) (string, error) {
	return auth.CodeAt(secret, time.Now().Add(30*time.Second))
}

// Bad account details through the API get 400/409 with fields, never a database error.
func TestCreateUserValidation(t *testing.T) {
	e := start(t)
	admin := e.user("admin@enghraifft.example", "admin")
	good := map[string]any{"email": "new@enghraifft.example", "name": "New Person", "roles": []string{"investigator"},
		"password": "a long enough passphrase", "language": "en"}
	st, body, _ := e.do("POST", "/api/v1/users", admin.token, good)
	e.must(st, 201, body, "create")
	st, body, _ = e.do("POST", "/api/v1/users", admin.token, good)
	e.must(st, 409, body, "duplicate e-mail")
	for field, value := range map[string]any{"email": "not an address", "name": "", "language": "fr"} {
		bad := map[string]any{}
		for k, v := range good {
			bad[k] = v
		}
		bad["email"] = "other-" + field + "@enghraifft.example"
		bad[field] = value
		st, body, _ := e.do("POST", "/api/v1/users", admin.token, bad)
		if st != 400 || !jsonHasField(t, body, field) {
			t.Errorf("%s=%v: got %d %s, want 400 naming %s", field, value, st, body, field)
		}
	}
}

func jsonHasField(t *testing.T, body, field string) bool {
	t.Helper()
	return jsonField[apiError](t, body).Error.Fields[field] != ""
}

// One curious administrator must not be able to unmask reporters or read cases: through the
// portal they cannot create or change accounts with case-wide or identity powers, add a
// custodian key, or change their own account. That is done with `candour user` on the server.
func TestAdminCannotGrantProtectedPowers(t *testing.T) {
	e := start(t)
	admin := e.user("admin@enghraifft.example", "admin")
	mo := e.user("mo@enghraifft.example", "monitoring_officer")
	lead := e.user("lead@enghraifft.example", "service_lead")
	key := "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
	for name, body := range map[string]map[string]any{
		"a Monitoring Officer": {"email": "new-mo@enghraifft.example", "name": "X", "roles": []string{"monitoring_officer"}, "password": password},
		"a custodian":          {"email": "new-c@enghraifft.example", "name": "X", "roles": []string{"custodian"}, "password": password, "age_recipient": key},
		"a key on anyone":      {"email": "new-i@enghraifft.example", "name": "X", "roles": []string{"investigator"}, "password": password, "age_recipient": key},
	} {
		st, resp, _ := e.do("POST", "/api/v1/users", admin.token, body)
		if st != 403 || !strings.Contains(resp, "protected_account") {
			t.Errorf("create %s: got %d %s, want 403 protected_account", name, st, resp)
		}
	}
	for name, c := range map[string]struct {
		path string
		body any
	}{
		"promote a lead":        {"/api/v1/users/" + itoa64(lead.User.ID) + "/roles", map[string]any{"roles": []string{"custodian"}}},
		"promote themselves":    {"/api/v1/users/" + itoa64(admin.User.ID) + "/roles", map[string]any{"roles": []string{"admin", "monitoring_officer"}}},
		"reset the MO's 2FA":    {"/api/v1/users/" + itoa64(mo.User.ID) + "/reset-2fa", nil},
		"reset the MO password": {"/api/v1/users/" + itoa64(mo.User.ID) + "/reset-password", map[string]string{"password": "a brand new passphrase"}},
		"disable the MO":        {"/api/v1/users/" + itoa64(mo.User.ID) + "/disable", nil},
	} {
		if st, resp, _ := e.do("POST", c.path, admin.token, c.body); st != 403 {
			t.Errorf("%s: got %d %s, want 403", name, st, resp)
		}
	}
	// The Monitoring Officer's session survived every attempt.
	if st, body, _ := e.do("GET", "/api/v1/triage", mo.token, nil); st != 200 {
		t.Errorf("MO after the attempts: got %d %s, want 200", st, body)
	}
}

// An admin reset ends the user's sessions, and the temporary password only opens a setup
// session: the API answers 403 setup_required until it is changed.
func TestAdminPasswordReset(t *testing.T) {
	e := start(t)
	admin := e.user("admin@enghraifft.example", "admin")
	inv := e.user("inv@enghraifft.example", "investigator")
	path := "/api/v1/users/" + itoa64(inv.User.ID) + "/reset-password"
	st, body, _ := e.do("POST", path, admin.token, map[string]string{"password": "short"})
	e.must(st, 400, body, "weak temporary password")
	st, body, _ = e.do("POST", path, inv.token, map[string]string{"password": "a brand new passphrase"})
	e.must(st, 404, body, "non-admin resets")
	st, body, _ = e.do("POST", path, admin.token, map[string]string{"password": "a brand new passphrase"})
	e.must(st, 204, body, "reset")
	st, body, _ = e.do("GET", "/api/v1/investigations", inv.token, nil)
	e.must(st, 401, body, "old session after the reset")
	code, _ := authCode(inv.TOTPSecret)
	st, body, _ = e.do("POST", "/api/v1/auth/login", "", map[string]string{"email": "inv@enghraifft.example",
		"password": "a brand new passphrase", "totp": code})
	if st != 403 || !strings.Contains(body, "setup_required") {
		t.Errorf("sign-in with the temporary password: got %d %s, want 403 setup_required", st, body)
	}
}
