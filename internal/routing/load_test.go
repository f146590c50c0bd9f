package routing

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

const defaultPolicy = "../../policies"

// variant is the sample policy with the files of testdata/name laid over it.
func variant(t *testing.T, name string) fstest.MapFS {
	t.Helper()
	fsys := fstest.MapFS{}
	for _, f := range Files {
		b, err := os.ReadFile(filepath.Join(defaultPolicy, f))
		if err != nil {
			t.Fatal(err)
		}
		fsys[f] = &fstest.MapFile{Data: b}
	}
	if name == "" {
		return fsys
	}
	over, err := os.ReadDir(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range over {
		b, err := os.ReadFile(filepath.Join("testdata", name, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		fsys[e.Name()] = &fstest.MapFile{Data: b}
	}
	return fsys
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		variant string
		file    string
		line    int
		reason  string // substring
	}{
		{"yaml-syntax", "routing.yaml", 5, "yaml: "},
		{"unknown-field", "routing.yaml", 6, `unknown field "explaination"`},
		{"cel-syntax", "routing.yaml", 5, `rule "staff": CEL syntax error`},
		{"cel-type", "routing.yaml", 5, `rule "conflict": CEL type error: found no matching overload for '_==_' applied to '(list(string), string)'`},
		{"cel-not-bool", "routing.yaml", 3, `rule "by-channel": CEL type error: condition must be a bool, but it is string`},
		{"unknown-area-rule", "routing.yaml", 5, `rule "children": unknown service area "social-services" (known: childrens-services, adult-social-care`},
		{"unknown-area-fixture", "fixtures.yaml", 6, `unknown service area "social-services" (known: childrens-services`},
		{"role-nobody-holds", "routing.yaml", 5, `rule "default": fallback to role "director_of_social_services", which nobody holds in directory.yaml`},
		{"duplicate-rule-id", "routing.yaml", 7, `duplicate rule id "staff" (first used on line 2)`},
		{"no-default-rule", "routing.yaml", 8, `no default rule: the last rule ("councillor") must have when: "true"`},
		{"fixture-mismatch", "fixtures.yaml", 9, `fixture "councillor names the Head of Housing": rule: got councillor-conflict, want councillor-service-area; route: got [monitoring_officer], want [lead_member, head_of_service]`},
		{"unknown-role-literal", "routing.yaml", 5, `rule "conflict": "head_of_servce" is not a possible value of named roles`},
		{"weekend-bank-holiday", "clocks.yaml", 8, "bank holiday 2026-12-26 (Boxing Day) falls on a Saturday: list the substitute weekday instead"},
		{"custodian-bad-recipient", "custodians.yaml", 4, "not an age X25519 recipient"},
		{"custodian-none", "custodians.yaml", 2, "no custodian: list at least one"},
		{"custodian-duplicate", "custodians.yaml", 7, "the same recipient as $.custodians[0]"},
		{"backup-none", "backup.yaml", 1, "no backup recipient: list at least one"},
		{"backup-bad-recipient", "backup.yaml", 4, "not an age X25519 recipient"},
		{"council-no-out-of-hours", "council.yaml", 21, "safeguarding.out_of_hours_phone is required"},
		{"council-no-name-cy", "council.yaml", 8, "name_cy is required"},
		{"council-bad-email", "council.yaml", 40, `privacy.data_protection_officer.email: "dpo at enghraifft" is not an e-mail address`},
		{"council-bad-host", "council.yaml", 52, `hosts: "https://whistle.enghraifft.example:443" is not a host name`},
		{"directory-old-council", "directory.yaml", 8, "council: has moved to council.yaml (name and name_cy"},
		{"perturbation-biased", "perturbation.yaml", 7, "count 1: the perturbations average 128/256, want 0 (unbiased)"},
		{"perturbation-negative", "perturbation.yaml", 7, "perturbation -2 would make count 1 negative"},
	}
	for _, tt := range tests {
		t.Run(tt.variant, func(t *testing.T) {
			p, err := LoadFS(variant(t, tt.variant))
			if err == nil {
				t.Fatalf("got policy %s, want an error", p.Version)
			}
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("got %T %v, want a *LoadError", err, err)
			}
			if le.File != tt.file || le.Line != tt.line || !strings.Contains(le.Reason, tt.reason) {
				t.Errorf("got %q, want %s:%d: ...%s...", err, tt.file, tt.line, tt.reason)
			}
		})
	}
}

// Custodians pinned in the policy load in file order, addresses lower-cased, and change the
// policy's version; without the file there are none.
func TestPinnedCustodians(t *testing.T) {
	none, err := LoadFS(variant(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	if len(none.Custodians) != 0 {
		t.Errorf("the sample policy pins %d custodians, want none", len(none.Custodians))
	}
	p, err := LoadFS(variant(t, "custodians-good"))
	if err != nil {
		t.Fatal(err)
	}
	rs := p.CustodianRecipients()
	if len(rs) != 2 || p.Custodians[1].Email != "tomos.custodian@enghraifft.example" || rs[0] == rs[1] {
		t.Errorf("got %+v, want the two custodians in file order", p.Custodians)
	}
	if p.Version == none.Version {
		t.Errorf("pinning custodians did not change the policy version")
	}
}

// Backup recipients are optional: none in the sample policy, the listed ones with backup.yaml.
func TestBackupRecipients(t *testing.T) {
	none, err := LoadFS(variant(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	if len(none.BackupRecipients) != 0 {
		t.Errorf("the sample policy has %d backup recipients, want none", len(none.BackupRecipients))
	}
	p, err := LoadFS(variant(t, "backup-good"))
	if err != nil {
		t.Fatal(err)
	}
	want := "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
	if len(p.BackupRecipients) != 1 || p.BackupRecipients[0] != want {
		t.Errorf("got %q, want [%s]", p.BackupRecipients, want)
	}
}

// A policy without council.yaml does not load: the council's details have no other home.
func TestCouncilFileRequired(t *testing.T) {
	fsys := variant(t, "")
	delete(fsys, CouncilFile)
	_, err := LoadFS(fsys)
	var le *LoadError
	if !errors.As(err, &le) || le.File != CouncilFile || !strings.Contains(le.Reason, "missing: a policy needs council.yaml") {
		t.Errorf("got %v, want council.yaml: missing", err)
	}
}

// The sample profile loads whole: both names, the banner's numbers and the dates parsed.
func TestCouncilProfile(t *testing.T) {
	p, err := LoadFS(variant(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	c := p.Council
	if c.Name == "" || c.NameCy == "" || c.Safeguarding.OutOfHoursPhone == "" || c.Privacy.DPO.Email == "" {
		t.Errorf("got %+v, want names, numbers and the data protection officer", c)
	}
	if c.Accessibility.PreparedOn.IsZero() || c.Accessibility.ReplyWorkingDays == 0 || len(c.OtherBodies) == 0 {
		t.Errorf("got accessibility %+v and %d other bodies, want a prepared date, a reply time and a body", c.Accessibility, len(c.OtherBodies))
	}
}
