package routing

import (
	"fmt"
	"slices"
	"strings"
)

// Fixture is an example concern from fixtures.yaml with the decision it must get.
type Fixture struct {
	Name  string
	File  string
	Line  int
	Facts Facts
	// WantRule and WantRoute (roles, after conflict fallback) are always checked;
	// WantInformed and WantAnonymousLink only when the fixture gives them.
	WantRule          string
	WantRoute         []string
	WantInformed      []string // nil: not checked
	WantAnonymousLink *bool    // nil: not checked
}

// FixtureResult is the outcome of one fixture, for `candour policy test`.
type FixtureResult struct {
	Fixture  Fixture
	Decision Decision // zero if Err is set
	Err      error    // Decide failed
	Pass     bool
	// Problems says what differed, one line each; empty when Pass.
	Problems []string
}

type rawFixture struct {
	Name   string    `yaml:"name"`
	Facts  Facts     `yaml:"facts"`
	Expect rawExpect `yaml:"expect"`
}

type rawExpect struct {
	Rule              string    `yaml:"rule"`
	Route             []string  `yaml:"route"`
	Informed          *[]string `yaml:"informed"`
	GiveAnonymousLink *bool     `yaml:"give_anonymous_link"`
}

func buildFixtures(s *source, raw *rawFixtures, p *Policy) ([]Fixture, []*LoadError) {
	var errs []*LoadError
	bad := func(path, format string, args ...any) { errs = append(errs, s.errorf(path, format, args...)) }
	var out []Fixture
	ids := p.RuleIDs()
	if len(raw.Fixtures) == 0 {
		bad("$", "no fixtures: give at least one example concern per rule")
	}
	for i, rf := range raw.Fixtures {
		path := fmt.Sprintf("$.fixtures[%d]", i)
		if rf.Name == "" {
			bad(path, "fixture %d has no name", i+1)
		}
		if err := p.Validate(rf.Facts); err != nil {
			fe := err.(*FactsError)
			reason := fe.Reason
			if fe.Field == "service_area" {
				reason = fmt.Sprintf("unknown service area %q (known: %s)", rf.Facts.ServiceArea, strings.Join(p.Directory.areaCodes(), ", "))
			}
			bad(path+".facts."+fe.Field, "fixture %q: %s: %s", rf.Name, fe.Field, reason)
		}
		if !slices.Contains(ids, rf.Expect.Rule) {
			bad(path+".expect.rule", "fixture %q: expects rule %q, which routing.yaml does not have (rules: %s)", rf.Name, rf.Expect.Rule, strings.Join(ids, ", "))
		}
		if len(rf.Expect.Route) == 0 {
			bad(path+".expect", "fixture %q: expect.route is required", rf.Name)
		}
		for field, roles := range map[string][]string{"route": rf.Expect.Route, "informed": deref(rf.Expect.Informed)} {
			for j, r := range roles {
				if !p.Directory.routable(r) {
					bad(fmt.Sprintf("%s.expect.%s[%d]", path, field, j), "fixture %q: role %q, which nobody holds in directory.yaml", rf.Name, r)
				}
			}
		}
		fx := Fixture{
			Name: rf.Name, File: s.path, Line: s.line(path + ".expect"), Facts: rf.Facts,
			WantRule: rf.Expect.Rule, WantRoute: rf.Expect.Route, WantAnonymousLink: rf.Expect.GiveAnonymousLink,
		}
		if rf.Expect.Informed != nil {
			fx.WantInformed = append([]string{}, (*rf.Expect.Informed)...)
		}
		out = append(out, fx)
	}
	return out, errs
}

func deref(p *[]string) []string {
	if p == nil {
		return nil
	}
	return *p
}

// Fixtures lists the policy's fixtures.
func (p *Policy) Fixtures() []Fixture { return append([]Fixture(nil), p.fixtures...) }

// RunFixtures decides every fixture and compares the decision with what the
// fixture expects.
func (p *Policy) RunFixtures() []FixtureResult {
	out := make([]FixtureResult, 0, len(p.fixtures))
	for _, fx := range p.fixtures {
		out = append(out, p.runFixture(fx))
	}
	return out
}

func (p *Policy) runFixture(fx Fixture) FixtureResult {
	res := FixtureResult{Fixture: fx}
	d, err := p.Decide(fx.Facts)
	if err != nil {
		res.Err = err
		res.Problems = []string{"decide: " + err.Error()}
		return res
	}
	res.Decision = d
	if d.Rule != fx.WantRule {
		res.Problems = append(res.Problems, fmt.Sprintf("rule: got %s, want %s", d.Rule, fx.WantRule))
	}
	if got := d.RouteRoles(); !slices.Equal(got, fx.WantRoute) {
		res.Problems = append(res.Problems, fmt.Sprintf("route: got [%s], want [%s]", rolesString(got), rolesString(fx.WantRoute)))
	}
	if fx.WantInformed != nil {
		if got := d.InformedRoles(); !slices.Equal(got, fx.WantInformed) {
			res.Problems = append(res.Problems, fmt.Sprintf("informed: got [%s], want [%s]", rolesString(got), rolesString(fx.WantInformed)))
		}
	}
	if fx.WantAnonymousLink != nil && d.GiveAnonymousLink != *fx.WantAnonymousLink {
		res.Problems = append(res.Problems, fmt.Sprintf("give_anonymous_link: got %t, want %t", d.GiveAnonymousLink, *fx.WantAnonymousLink))
	}
	res.Pass = len(res.Problems) == 0
	return res
}

// CheckFixtures runs the fixtures and returns LoadErrors, one per failing
// fixture at the line of its expect block, or nil if all pass. Load calls it,
// so a loaded policy passes its own fixtures.
func (p *Policy) CheckFixtures() error {
	var errs LoadErrors
	for _, r := range p.RunFixtures() {
		if r.Pass {
			continue
		}
		errs = append(errs, &LoadError{File: r.Fixture.File, Line: r.Fixture.Line,
			Reason: fmt.Sprintf("fixture %q: %s", r.Fixture.Name, strings.Join(r.Problems, "; "))})
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// String is one line of `candour policy test` output, e.g.
// "PASS councillor-conflict: councillor names the Head of Housing -> monitoring_officer".
func (r FixtureResult) String() string {
	if r.Pass {
		return fmt.Sprintf("PASS %s: %s -> %s", r.Decision.Rule, r.Fixture.Name, rolesString(r.Decision.RouteRoles()))
	}
	return fmt.Sprintf("FAIL %s:%d: %s: %s", r.Fixture.File, r.Fixture.Line, r.Fixture.Name, strings.Join(r.Problems, "; "))
}
