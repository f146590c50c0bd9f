package accounts_test

import (
	"strings"
	"testing"

	"candour/internal/accounts"
)

// Check is the one validator behind the admin pages, the API and `candour user add`: each bad
// field is named with the message every surface shows.
func TestCheckNamesEachBadField(t *testing.T) {
	svc := accounts.New(accounts.Deps{})
	key := "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
	good := func() accounts.NewUser {
		return accounts.NewUser{Email: "nia@enghraifft.example", Name: "Nia Newydd", Roles: []string{"investigator"},
			Language: "cy", Password: "a long enough passphrase"}
	}
	cases := map[string]struct {
		edit  func(*accounts.NewUser)
		field string
		msg   string
	}{
		"no e-mail":            {func(n *accounts.NewUser) { n.Email = "  " }, "email", "field.required"},
		"two at signs":         {func(n *accounts.NewUser) { n.Email = "a@b@c" }, "email", "field.email"},
		"display name form":    {func(n *accounts.NewUser) { n.Email = "Nia <nia@enghraifft.example>" }, "email", "field.email"},
		"too long e-mail":      {func(n *accounts.NewUser) { n.Email = strings.Repeat("a", 250) + "@b.cy" }, "email", "field.email"},
		"no name":              {func(n *accounts.NewUser) { n.Name = "" }, "name", "field.required"},
		"long name":            {func(n *accounts.NewUser) { n.Name = strings.Repeat("ŵ", 201) }, "name", "field.too_long"},
		"control in name":      {func(n *accounts.NewUser) { n.Name = "Nia\x1b[2J" }, "name", "field.control"},
		"bad UTF-8 name":       {func(n *accounts.NewUser) { n.Name = "Nia \xff" }, "name", "field.invalid"},
		"no role":              {func(n *accounts.NewUser) { n.Roles = nil }, "roles", "admin.roles.required"},
		"unknown role":         {func(n *accounts.NewUser) { n.Roles = []string{"overlord"} }, "roles", "user.role_unknown"},
		"unknown service area": {func(n *accounts.NewUser) { n.ServiceAreas = []string{"nowhere"} }, "service_areas", "field.choice"},
		"language":             {func(n *accounts.NewUser) { n.Language = "fr" }, "language", "field.choice"},
		"custodian, no key":    {func(n *accounts.NewUser) { n.Roles = []string{"custodian"} }, "age_recipient", "admin.age.required"},
		"bad key": {func(n *accounts.NewUser) {
			n.Roles, n.AgeRecipient = []string{"custodian"}, new(string)
			*n.AgeRecipient = "age1notakey"
		}, "age_recipient", "admin.age.invalid"},
		"short password":  {func(n *accounts.NewUser) { n.Password = "short" }, "password", "password.too_short"},
		"common password": {func(n *accounts.NewUser) { n.Password = "password1234" }, "password", "password.common"},
	}
	for name, c := range cases {
		n := good()
		c.edit(&n)
		f := svc.Check(&n)
		if f[c.field] != c.msg {
			t.Errorf("%s: got %v, want %s: %s", name, f, c.field, c.msg)
		}
	}
	n := good()
	n.Email, n.Roles, n.AgeRecipient = "  nia@enghraifft.example ", []string{"custodian"}, &key
	if f := svc.Check(&n); len(f) != 0 || n.Email != "nia@enghraifft.example" {
		t.Errorf("a good custodian: got %v, e-mail %q; want no problems and a trimmed address", f, n.Email)
	}
}
