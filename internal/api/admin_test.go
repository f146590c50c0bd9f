package api_test

import (
	"strings"
	"testing"
	"time"

	"candour/internal/auth"
	"candour/internal/portaltest"
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
		"language": "en"}
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
		"a Monitoring Officer": {"email": "new-mo@enghraifft.example", "name": "X", "roles": []string{"monitoring_officer"}},
		"a custodian":          {"email": "new-c@enghraifft.example", "name": "X", "roles": []string{"custodian"}, "age_recipient": key},
		"a key on anyone":      {"email": "new-i@enghraifft.example", "name": "X", "roles": []string{"investigator"}, "age_recipient": key},
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
		"reset the MO password": {"/api/v1/users/" + itoa64(mo.User.ID) + "/reset-password", nil},
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

// An admin reset of an account that reads no case (a councillor's) ends its sessions and
// clears its credentials: only the new enrolment link, sent to the person's own address, lets
// anyone in again, and nobody but its holder chooses the password.
func TestAdminPasswordReset(t *testing.T) {
	e := start(t)
	admin := e.user("admin@enghraifft.example", "admin")
	cllr := e.user("cllr@enghraifft.example", "councillor")
	path := "/api/v1/users/" + itoa64(cllr.User.ID) + "/reset-password"
	st, body, _ := e.do("POST", path, admin.token, map[string]string{"password": "a brand new passphrase"})
	e.must(st, 413, body, "a password chosen by the admin")
	st, body, _ = e.do("POST", path, cllr.token, nil)
	e.must(st, 404, body, "non-admin resets")
	st, body, _ = e.do("POST", path, admin.token, nil)
	e.must(st, 204, body, "reset")
	st, body, _ = e.do("GET", "/api/v1/councillor/concerns", cllr.token, nil)
	e.must(st, 401, body, "old session after the reset")
	code, _ := authCode(cllr.TOTPSecret)
	st, body, _ = e.do("POST", "/api/v1/auth/login", "", map[string]string{"email": "cllr@enghraifft.example",
		"password": password, "totp": code})
	e.must(st, 401, body, "sign-in with the old credentials")
	portaltest.Enrol(t, e.p, "cllr@enghraifft.example", "a brand new passphrase")
}
