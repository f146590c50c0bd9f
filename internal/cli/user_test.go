package cli

import (
	"bytes"
	"strings"
	"testing"
)

func TestUserAddUsageErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"unknown role", []string{"user", "add", "--email", "a@b.c", "--name", "A", "--role", "overlord", "--password-stdin"}, "--role: That role does not exist"},
		{"no role", []string{"user", "add", "--email", "a@b.c", "--name", "A", "--password-stdin"}, "--role: Select at least one role"},
		{"password on argv refused", []string{"user", "add", "--email", "a@b.c", "--name", "A", "--role", "auditor"}, "--password-stdin is required"},
		{"unknown subcommand", []string{"user", "promote"}, "unknown command"},
		{"sso-unbind without an address", []string{"user", "sso-unbind"}, "candour user sso-unbind: --email is required"},
		{"audit without verify", []string{"audit"}, "usage: candour audit verify"},
	}
	for _, tc := range cases {
		var out, errOut bytes.Buffer
		if code := Run(tc.args, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%s: got exit %d, stderr %q; want exit 2 mentioning %q", tc.name, code, errOut.String(), tc.want)
		}
	}
}

func TestUserAddWeakPasswordIsUsageError(t *testing.T) {
	var out, errOut bytes.Buffer
	code := userAdd([]string{"--email", "a@b.c", "--name", "A", "--role", "auditor", "--password-stdin"},
		strings.NewReader("short\n"), &out, &errOut)
	if code != 2 || !strings.Contains(errOut.String(), "password.too_short") {
		t.Errorf("got exit %d, stderr %q; want 2 and too_short", code, errOut.String())
	}
}
