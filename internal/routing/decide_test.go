package routing

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
)

var (
	loadOnce  sync.Once
	sample    *Policy
	sampleErr error
)

func samplePolicy(t testing.TB) *Policy {
	t.Helper()
	loadOnce.Do(func() { sample, sampleErr = Load(defaultPolicy) })
	if sampleErr != nil {
		t.Fatalf("Load(%s): %v", defaultPolicy, sampleErr)
	}
	return sample
}

// People of the sample directory.
const (
	mo           = "elin.rowlands@enghraifft.example"
	deputyMO     = "owain.bevan@enghraifft.example"
	chiefExec    = "catrin.howells@enghraifft.example"
	strategicDir = "huw.pritchard@enghraifft.example" // Strategic Director of Social Services
	childrenLM   = "cllr.rhodri.evans@enghraifft.example"
	childrenHoS  = "sioned.parry@enghraifft.example"
	housingHoS   = "ffion.davies@enghraifft.example"
)

func TestDecideDefaultPolicy(t *testing.T) {
	p := samplePolicy(t)
	tests := []struct {
		name      string
		facts     Facts
		rule      string
		route     []string // emails, in order
		informed  []string // emails
		conflicts []Conflict
		link      bool
	}{
		{
			name:     "rule 1: anonymous report of a child at risk",
			facts:    Facts{Channel: "web", Mode: "anonymous", ServiceArea: "childrens-services", Category: "safeguarding", Safeguarding: true},
			rule:     "safeguarding",
			route:    []string{"safeguarding@enghraifft.example"},
			informed: []string{mo},
		},
		{
			name:     "rule 1: category safeguarding without the flag, from a councillor",
			facts:    Facts{Channel: "councillor", Mode: "open", ServiceArea: "adult-social-care", Category: "safeguarding"},
			rule:     "safeguarding",
			route:    []string{"safeguarding@enghraifft.example"},
			informed: []string{mo},
		},
		{
			name:     "rule 1 wins over rule 6: passing on staff concerns about a child at risk",
			facts:    Facts{Channel: "councillor", ServiceArea: "childrens-services", Safeguarding: true, PassingOnStaffConcerns: true},
			rule:     "safeguarding",
			route:    []string{"safeguarding@enghraifft.example"},
			informed: []string{mo},
		},
		{
			name:      "rule 1: Monitoring Officer named is not informed",
			facts:     Facts{Channel: "web", Mode: "anonymous", Safeguarding: true, NamedPeople: []string{mo}},
			rule:      "safeguarding",
			route:     []string{"safeguarding@enghraifft.example"},
			informed:  nil,
			conflicts: nil,
		},
		{
			name:  "rule 2: anonymous staff report",
			facts: Facts{Channel: "web", Mode: "anonymous", ServiceArea: "finance", Category: "fraud"},
			rule:  "staff-whistleblowing",
			route: []string{mo},
		},
		{
			name:  "rule 2: concern recorded on the reporter's behalf",
			facts: Facts{Channel: "recorded", Mode: "open", Category: "health_safety"},
			rule:  "staff-whistleblowing",
			route: []string{mo},
		},
		{
			name:      "rule 2 fallback: Monitoring Officer named goes to the deputy",
			facts:     Facts{Channel: "web", Mode: "confidential", Category: "misconduct", NamedPeople: []string{"Elin.Rowlands@Enghraifft.example "}},
			rule:      "staff-whistleblowing",
			route:     []string{deputyMO},
			conflicts: []Conflict{{Role: "monitoring_officer", Fallback: "deputy_monitoring_officer"}},
		},
		{
			name:      "rule 2 fallback: Monitoring Officer and deputy named go to the Chief Executive",
			facts:     Facts{Channel: "web", Mode: "anonymous", NamedPeople: []string{mo, deputyMO}},
			rule:      "staff-whistleblowing",
			route:     []string{chiefExec},
			conflicts: []Conflict{{Role: "monitoring_officer", Fallback: "chief_executive"}},
		},
		{
			name:  "rule 6: the design case, four social workers' concerns naming the Strategic Director",
			facts: Facts{Channel: "councillor", Mode: "open", ServiceArea: "childrens-services", NamedPeople: []string{strategicDir}, PassingOnStaffConcerns: true},
			rule:  "councillor-passing-on-staff-concerns",
			route: []string{mo},
			link:  true,
		},
		{
			name:  "rule 3: councillor names the Strategic Director",
			facts: Facts{Channel: "councillor", Mode: "open", ServiceArea: "childrens-services", NamedPeople: []string{strategicDir}},
			rule:  "councillor-conflict",
			route: []string{mo},
		},
		{
			name:  "rule 3: councillor names the area's Lead Member",
			facts: Facts{Channel: "councillor", ServiceArea: "childrens-services", NamedPeople: []string{childrenLM}},
			rule:  "councillor-conflict",
			route: []string{mo},
		},
		{
			name:  "rule 3 conflict: Head of Service named goes to the Monitoring Officer",
			facts: Facts{Channel: "councillor", ServiceArea: "housing", NamedPeople: []string{housingHoS}},
			rule:  "councillor-conflict",
			route: []string{mo},
		},
		{
			name:      "rule 3 fallback: Head of Service and Monitoring Officer named go to the deputy",
			facts:     Facts{Channel: "councillor", ServiceArea: "housing", NamedPeople: []string{housingHoS, mo}},
			rule:      "councillor-conflict",
			route:     []string{deputyMO},
			conflicts: []Conflict{{Role: "monitoring_officer", Fallback: "deputy_monitoring_officer"}},
		},
		{
			name:     "rule 4: raised with both, unresolved: Monitoring Officer, Chief Executive informed",
			facts:    Facts{Channel: "councillor", ServiceArea: "childrens-services", RaisedWith: []string{"lead_member", "head_of_service"}, RaisedOutcome: "unresolved", EvidenceReviewed: []string{"cs-performance-2024-25"}},
			rule:     "councillor-escalation",
			route:    []string{mo},
			informed: []string{chiefExec},
		},
		{
			name:     "rule 4: raised with both, no response",
			facts:    Facts{Channel: "councillor", ServiceArea: "education", RaisedWith: []string{"head_of_service", "lead_member"}, RaisedOutcome: "no_response"},
			rule:     "councillor-escalation",
			route:    []string{mo},
			informed: []string{chiefExec},
		},
		{
			name:      "rule 4 fallback: Monitoring Officer named goes to the deputy, Chief Executive still informed",
			facts:     Facts{Channel: "councillor", ServiceArea: "finance", RaisedWith: []string{"lead_member", "head_of_service"}, RaisedOutcome: "unresolved", NamedPeople: []string{mo}},
			rule:      "councillor-escalation",
			route:     []string{deputyMO},
			informed:  []string{chiefExec},
			conflicts: []Conflict{{Role: "monitoring_officer", Fallback: "deputy_monitoring_officer"}},
		},
		{
			name:  "rule 5: raised with the Lead Member only, unresolved: still the guidance route",
			facts: Facts{Channel: "councillor", ServiceArea: "housing", RaisedWith: []string{"lead_member"}, RaisedOutcome: "unresolved"},
			rule:  "councillor-service-area",
			route: []string{"cllr.ieuan.williams@enghraifft.example", housingHoS},
		},
		{
			name:  "rule 5: raised with both, resolved",
			facts: Facts{Channel: "councillor", ServiceArea: "environment", RaisedWith: []string{"lead_member", "head_of_service"}, RaisedOutcome: "resolved"},
			rule:  "councillor-service-area",
			route: []string{"cllr.emyr.jones@enghraifft.example", "lowri.edwards@enghraifft.example"},
		},
		{
			name:  "rule 5: another area's Head of Service named is no conflict here",
			facts: Facts{Channel: "councillor", ServiceArea: "childrens-services", NamedPeople: []string{housingHoS}, EvidenceReviewed: []string{"cs-performance-2024-25", "cs-ciw-inspection-2024"}},
			rule:  "councillor-service-area",
			route: []string{childrenLM, childrenHoS},
		},
		{
			name:  "default: councillor concern with no service area",
			facts: Facts{Channel: "councillor", Mode: "open", Category: "other"},
			rule:  "default",
			route: []string{mo},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := p.Decide(tt.facts)
			if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			if d.Rule != tt.rule {
				t.Errorf("rule: got %s, want %s", d.Rule, tt.rule)
			}
			if got := emails(d.Route); !slices.Equal(got, tt.route) {
				t.Errorf("route: got %v, want %v", got, tt.route)
			}
			if got := emails(d.Informed); !slices.Equal(got, tt.informed) {
				t.Errorf("informed: got %v, want %v", got, tt.informed)
			}
			if !slices.Equal(d.Conflicts, tt.conflicts) {
				t.Errorf("conflicts: got %v, want %v", d.Conflicts, tt.conflicts)
			}
			if d.GiveAnonymousLink != tt.link {
				t.Errorf("give_anonymous_link: got %t, want %t", d.GiveAnonymousLink, tt.link)
			}
			if d.PolicyVersion != p.Version {
				t.Errorf("policy version: got %q, want %q", d.PolicyVersion, p.Version)
			}
			if d.Explanation["en"] == "" || d.Explanation["cy"] == "" {
				t.Errorf("explanation: got %v, want en and cy", d.Explanation)
			}
			for _, h := range d.Route {
				if slices.Contains(normAll(tt.facts.NamedPeople), h.Email) {
					t.Errorf("route holder %s is named in the concern", h.Email)
				}
			}
		})
	}
}

func emails(hs []Holder) []string {
	var out []string
	for _, h := range hs {
		out = append(out, h.Email)
	}
	return out
}

func normAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = normEmail(s)
	}
	return out
}

func TestDecideHolderDetails(t *testing.T) {
	p := samplePolicy(t)
	d, err := p.Decide(Facts{Channel: "councillor", ServiceArea: "childrens-services"})
	if err != nil {
		t.Fatal(err)
	}
	want := []Holder{
		{Role: "lead_member", Name: "Cllr Rhodri Evans", Email: childrenLM, ServiceArea: "childrens-services"},
		{Role: "head_of_service", Name: "Sioned Parry", Email: childrenHoS, ServiceArea: "childrens-services"},
	}
	if !slices.Equal(d.Route, want) {
		t.Errorf("route: got %+v, want %+v", d.Route, want)
	}
	if len(d.NextSteps["en"]) != 3 || len(d.NextSteps["cy"]) != 3 {
		t.Errorf("next steps: got %v, want 3 in each language", d.NextSteps)
	}
	if !strings.Contains(d.NextSteps["en"][2], "Public Services Ombudsman for Wales") {
		t.Errorf("next steps: got %q, want the Ombudsman", d.NextSteps["en"][2])
	}
}

func TestDecideNoHolder(t *testing.T) {
	p := samplePolicy(t)
	_, err := p.Decide(Facts{Channel: "web", Mode: "anonymous", NamedPeople: []string{mo, deputyMO, chiefExec}})
	if !errors.Is(err, ErrNoHolder) {
		t.Errorf("got %v, want ErrNoHolder", err)
	}
}

func TestDecideInvalidFacts(t *testing.T) {
	p := samplePolicy(t)
	tests := []struct {
		facts Facts
		field string
	}{
		{Facts{Channel: "email"}, "channel"},
		{Facts{Channel: "web", Mode: "secret"}, "mode"},
		{Facts{Channel: "web", Category: "gossip"}, "category"},
		{Facts{Channel: "councillor", ServiceArea: "social-services"}, "service_area"},
		{Facts{Channel: "councillor", ServiceArea: "housing", RaisedWith: []string{"leader"}}, "raised_with"},
		{Facts{Channel: "councillor", ServiceArea: "housing", RaisedOutcome: "ignored"}, "raised_outcome"},
		{Facts{Channel: "councillor", ServiceArea: "housing", EvidenceReviewed: []string{"cs-performance-2024-25"}}, "evidence_reviewed"},
		{Facts{Channel: "councillor", EvidenceReviewed: []string{"cs-performance-2024-25"}}, "evidence_reviewed"},
	}
	for _, tt := range tests {
		_, err := p.Decide(tt.facts)
		var fe *FactsError
		if !errors.As(err, &fe) || fe.Field != tt.field {
			t.Errorf("Decide(%+v): got %v, want a FactsError on %s", tt.facts, err, tt.field)
		}
	}
}

func TestNamedRoles(t *testing.T) {
	p := samplePolicy(t)
	tests := []struct {
		area  string
		named []string
		want  []string
	}{
		{"childrens-services", []string{childrenLM, childrenHoS}, []string{"lead_member", "head_of_service"}},
		{"housing", []string{childrenLM, childrenHoS}, []string{"other_lead_member", "other_head_of_service"}},
		{"", []string{childrenLM}, []string{"other_lead_member"}},
		{"housing", []string{strategicDir, mo, "someone@elsewhere.example"}, []string{"senior_officer", "monitoring_officer"}},
		{"housing", nil, []string{}},
	}
	for _, tt := range tests {
		got := p.NamedRoles(Facts{ServiceArea: tt.area, NamedPeople: tt.named})
		if !slices.Equal(got, tt.want) {
			t.Errorf("NamedRoles(%s, %v): got %v, want %v", tt.area, tt.named, got, tt.want)
		}
	}
}

func TestFixturesPassAndCoverEveryRule(t *testing.T) {
	p := samplePolicy(t)
	hit := map[string]bool{}
	for _, r := range p.RunFixtures() {
		if !r.Pass {
			t.Errorf("%s:%d: fixture %q: %v", r.Fixture.File, r.Fixture.Line, r.Fixture.Name, r.Problems)
		}
		hit[r.Decision.Rule] = true
	}
	for _, id := range p.RuleIDs() {
		if !hit[id] {
			t.Errorf("rule %s: no fixture reaches it", id)
		}
	}
	if err := p.CheckFixtures(); err != nil {
		t.Errorf("CheckFixtures: %v", err)
	}
	if got, want := p.RunFixtures()[0].String(), "PASS councillor-passing-on-staff-concerns: councillor passes on four social workers' concerns about the assessment team -> monitoring_officer"; got != want {
		t.Errorf("String: got %q, want %q", got, want)
	}
	design := p.Fixtures()[0]
	if design.WantRule != "councillor-passing-on-staff-concerns" || design.WantAnonymousLink == nil || !*design.WantAnonymousLink {
		t.Errorf("first fixture: got %+v, want the design case with the anonymous link", design)
	}
}

func TestLoadDirAndVersion(t *testing.T) {
	p := samplePolicy(t)
	if len(p.Version) != 12 || strings.Trim(p.Version, "0123456789abcdef") != "" {
		t.Errorf("version: got %q, want 12 hex digits", p.Version)
	}
	q, err := LoadFS(variant(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	if q.Version != p.Version {
		t.Errorf("version of the same files: got %s, want %s", q.Version, p.Version)
	}
	fsys := variant(t, "")
	fsys["retention.yaml"].Data = append(fsys["retention.yaml"].Data, []byte("\n# a comment changes the version\n")...)
	r, err := LoadFS(fsys)
	if err != nil {
		t.Fatal(err)
	}
	if r.Version == p.Version {
		t.Errorf("version after an edit: got %s again, want a new one", r.Version)
	}

	// Load names files with the directory it was given.
	_, err = Load("testdata/no-such-policy")
	var le *LoadError
	if !errors.As(err, &le) || le.File != "testdata/no-such-policy/council.yaml" || !strings.Contains(le.Reason, "missing") {
		t.Errorf("Load of a missing folder: got %v, want testdata/no-such-policy/council.yaml: missing", err)
	}
}

func TestDirectory(t *testing.T) {
	p := samplePolicy(t)
	d := p.Directory
	if p.Council.NameCy != "Cyngor Bwrdeistref Sirol Enghraifft" {
		t.Errorf("council: got %q", p.Council.NameCy)
	}
	codes := []string{}
	for _, a := range d.ServiceAreas() {
		codes = append(codes, a.Code)
	}
	want := []string{"childrens-services", "adult-social-care", "housing", "finance", "environment", "education"}
	if !slices.Equal(codes, want) {
		t.Errorf("service areas: got %v, want %v", codes, want)
	}
	cs, ok := d.ServiceArea("childrens-services")
	if !ok || cs.NameCy != "Gwasanaethau Plant" || cs.Teams[0].Name != "Child and Family Assessment Team" {
		t.Fatalf("childrens-services: got %+v", cs)
	}
	if _, ok := cs.EvidenceItem("cs-ciw-inspection-2024"); !ok {
		t.Errorf("evidence cs-ciw-inspection-2024: not found")
	}
	if _, ok := d.ServiceArea("nope"); ok {
		t.Errorf("ServiceArea(nope): found, want not found")
	}
	h, ok := d.Person(strategicDir)
	if !ok || !slices.Equal(h.Roles, []string{"senior_officer"}) || !slices.Equal(h.ServiceAreas, []string{"childrens-services", "adult-social-care"}) {
		t.Errorf("Person(strategic director): got %+v", h)
	}
	seen := map[string]bool{}
	for _, p := range d.People() {
		if seen[p.Email] {
			t.Errorf("People: %s listed twice", p.Email)
		}
		seen[p.Email] = true
	}
	// Seven council-wide roles (four of them referral holders), four officers, twelve area roles.
	if len(seen) != 7+4+12 {
		t.Errorf("People: got %d, want 23", len(seen))
	}
	got := d.Match([]string{" Sioned  Parry", "ELIN.ROWLANDS@enghraifft.example", "A. Manager", "sioned.parry@enghraifft.example", ""})
	if want := []string{childrenHoS, mo}; !slices.Equal(got, want) {
		t.Errorf("Match: got %v, want %v", got, want)
	}
	if c, ok := d.Role("monitoring_officer"); !ok || c.Email != mo {
		t.Errorf("Role(monitoring_officer): got %+v", c)
	}
}

func TestRetention(t *testing.T) {
	r := samplePolicy(t).Retention
	if r.SuppressionThreshold != 5 {
		t.Errorf("suppression threshold: got %d, want 5", r.SuppressionThreshold)
	}
	for kind, want := range map[string]string{"concern": "6 years", "declined_concern": "1 year", "audit_event": "7 years"} {
		if p, ok := r.KeepFor(kind); !ok || p.String() != want {
			t.Errorf("KeepFor(%s): got %v, want %s", kind, p, want)
		}
	}
}
