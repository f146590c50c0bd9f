package api_test

import "testing"

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
	for field, value := range map[string]any{"email": "not an address", "name": "", "language": "fr", "age_recipient": "age1nonsense"} {
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
