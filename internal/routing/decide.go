package routing

import (
	"fmt"
	"maps"
	"strings"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/interpreter"
)

// Facts are what the engine knows about a concern. In a rule's CEL condition
// each field is a variable of the same name in snake_case; named_people is
// not visible, the engine gives named_roles instead.
type Facts struct {
	Channel          string   `yaml:"channel" json:"channel"`                     // web | councillor | recorded
	Mode             string   `yaml:"mode" json:"mode"`                           // anonymous | confidential | open ("" if not stated)
	ServiceArea      string   `yaml:"service_area" json:"service_area"`           // directory code, "" if not known
	Category         string   `yaml:"category" json:"category"`                   // see Categories, "" if not stated
	Safeguarding     bool     `yaml:"safeguarding" json:"safeguarding"`           // a child or adult at risk
	NamedPeople      []string `yaml:"named_people" json:"named_people"`           // emails; people not in the directory are ignored
	RaisedWith       []string `yaml:"raised_with" json:"raised_with"`             // lead_member, head_of_service
	RaisedOutcome    string   `yaml:"raised_outcome" json:"raised_outcome"`       // "", resolved, unresolved, no_response
	EvidenceReviewed []string `yaml:"evidence_reviewed" json:"evidence_reviewed"` // evidence ids of ServiceArea
	// PassingOnStaffConcerns: a councillor passing on what staff told them.
	PassingOnStaffConcerns bool `yaml:"passing_on_staff_concerns" json:"passing_on_staff_concerns"`
}

// Holder is a person (or team mailbox) a concern is routed to or who is told
// of it. ServiceArea is set for lead_member and head_of_service.
type Holder struct {
	Role        string `json:"role"`
	Name        string `json:"name"`
	Email       string `json:"email"`
	ServiceArea string `json:"service_area,omitempty"`
}

// Conflict records that a route role was passed to a fallback role, because
// its holder was named in the concern (or the role is not held for the
// concern's service area). It carries roles only, never who was named.
type Conflict struct {
	Role     string `json:"role"`
	Fallback string `json:"fallback"`
}

// Decision is where a concern goes and why. It is plain data: store it with
// the concern as it is (it marshals to JSON).
type Decision struct {
	Rule          string `json:"rule"`
	PolicyVersion string `json:"policy_version"`
	// Route is who handles the concern, after conflict fallback.
	Route []Holder `json:"route"`
	// Informed are told of the concern but do not handle it; named people are left out.
	Informed []Holder `json:"informed"`
	// Conflicts lists the route roles that fell back, for the staff view.
	Conflicts []Conflict `json:"conflicts,omitempty"`
	// Explanation is shown to the reporter before they submit: keys "en" and "cy".
	Explanation map[string]string `json:"explanation"`
	// NextSteps, when the rule has them, are shown on the confirmation page: keys "en" and "cy".
	NextSteps map[string][]string `json:"next_steps,omitempty"`
	// GiveAnonymousLink: give the councillor the anonymous reporting link to hand to staff.
	GiveAnonymousLink bool   `json:"give_anonymous_link"`
	Clocks            Clocks `json:"clocks"`
}

// RouteRoles lists the roles of Route, in order.
func (d Decision) RouteRoles() []string { return holderRoles(d.Route) }

// InformedRoles lists the roles of Informed, in order.
func (d Decision) InformedRoles() []string { return holderRoles(d.Informed) }

func holderRoles(hs []Holder) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.Role
	}
	return out
}

// Validate checks facts against the policy's lists and directory. Decide
// calls it; a form handler can call it first to report field errors.
func (p *Policy) Validate(f Facts) error {
	if !contains(Channels, f.Channel) {
		return &FactsError{"channel", fmt.Sprintf("%q is not one of %s", f.Channel, quoteAll(Channels))}
	}
	if f.Mode != "" && !contains(Modes, f.Mode) {
		return &FactsError{"mode", fmt.Sprintf("%q is not one of %s", f.Mode, quoteAll(Modes))}
	}
	if f.Category != "" && !contains(Categories, f.Category) {
		return &FactsError{"category", fmt.Sprintf("%q is not one of %s", f.Category, quoteAll(Categories))}
	}
	var area ServiceArea
	if f.ServiceArea != "" {
		a, ok := p.Directory.ServiceArea(f.ServiceArea)
		if !ok {
			return &FactsError{"service_area", fmt.Sprintf("unknown service area %q", f.ServiceArea)}
		}
		area = a
	}
	for _, r := range f.RaisedWith {
		if !contains(RaisedWithRoles, r) {
			return &FactsError{"raised_with", fmt.Sprintf("%q is not one of %s", r, quoteAll(RaisedWithRoles))}
		}
	}
	if !contains(RaisedOutcomes, f.RaisedOutcome) {
		return &FactsError{"raised_outcome", fmt.Sprintf("%q is not one of %s", f.RaisedOutcome, quoteAll(RaisedOutcomes[1:]))}
	}
	for _, id := range f.EvidenceReviewed {
		if f.ServiceArea == "" {
			return &FactsError{"evidence_reviewed", "evidence given without a service area"}
		}
		if _, ok := area.EvidenceItem(id); !ok {
			return &FactsError{"evidence_reviewed", fmt.Sprintf("%q is not published evidence of service area %q", id, f.ServiceArea)}
		}
	}
	return nil
}

// activation exposes Facts to CEL without building a map per decision.
type activation struct {
	f     *Facts
	roles []string
}

func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case "channel":
		return a.f.Channel, true
	case "mode":
		return a.f.Mode, true
	case "service_area":
		return a.f.ServiceArea, true
	case "category":
		return a.f.Category, true
	case "safeguarding":
		return a.f.Safeguarding, true
	case "named_roles":
		return a.roles, true
	case "raised_with":
		return a.f.RaisedWith, true
	case "raised_outcome":
		return a.f.RaisedOutcome, true
	case "evidence_reviewed":
		return a.f.EvidenceReviewed, true
	case "passing_on_staff_concerns":
		return a.f.PassingOnStaffConcerns, true
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }

// NamedRoles is the value of named_roles for these facts: the directory roles
// of the named people, relative to the concern's service area.
func (p *Policy) NamedRoles(f Facts) []string {
	return p.Directory.namedRoles(f.NamedPeople, f.ServiceArea, []string{})
}

// Decide finds the first rule whose condition holds and resolves its route
// through the directory. Errors: *FactsError for facts the policy does not
// know, ErrNoHolder when everyone on the route and fallback is named.
func (p *Policy) Decide(f Facts) (Decision, error) {
	if err := p.Validate(f); err != nil {
		return Decision{}, err
	}
	act := &activation{f: &f, roles: p.Directory.namedRoles(f.NamedPeople, f.ServiceArea, make([]string, 0, 4))}
	for _, r := range p.rules {
		out, _, err := r.prg.Eval(act)
		if err != nil {
			return Decision{}, fmt.Errorf("routing: rule %q: %w", r.id, err)
		}
		if out != types.True {
			continue
		}
		return p.resolve(r, f)
	}
	// Unreachable: Load requires a last rule that is always true.
	return Decision{}, fmt.Errorf("routing: no rule matched")
}

func (p *Policy) resolve(r *rule, f Facts) (Decision, error) {
	named := make(map[string]bool, len(f.NamedPeople))
	for _, e := range f.NamedPeople {
		named[normEmail(e)] = true
	}
	used := map[string]bool{}
	d := Decision{
		Rule:              r.id,
		PolicyVersion:     p.Version,
		Route:             make([]Holder, 0, len(r.route)),
		Informed:          []Holder{},
		Explanation:       maps.Clone(r.explanation), // callers may not change the policy
		NextSteps:         maps.Clone(r.nextSteps),
		GiveAnonymousLink: r.giveAnonymousLink,
		Clocks:            p.Clocks,
	}
	free := func(role string) (Holder, bool) {
		h, ok := p.Directory.holder(role, f.ServiceArea)
		return h, ok && !named[normEmail(h.Email)]
	}
	for _, role := range r.route {
		if h, ok := free(role); ok {
			if !used[normEmail(h.Email)] {
				used[normEmail(h.Email)] = true
				d.Route = append(d.Route, h)
			}
			continue
		}
		taken := false
		for _, fb := range r.fallback {
			h, ok := free(fb)
			if !ok {
				continue
			}
			d.Conflicts = append(d.Conflicts, Conflict{Role: role, Fallback: fb})
			if !used[normEmail(h.Email)] {
				used[normEmail(h.Email)] = true
				d.Route = append(d.Route, h)
			}
			taken = true
			break
		}
		if !taken {
			return Decision{}, fmt.Errorf("%w: rule %q, role %s", ErrNoHolder, r.id, role)
		}
	}
	for _, role := range r.informed {
		if h, ok := free(role); ok && !used[normEmail(h.Email)] {
			used[normEmail(h.Email)] = true
			d.Informed = append(d.Informed, h)
		}
	}
	for k, per := range r.clocks {
		d.Clocks.set(k, per)
	}
	return d, nil
}

// Rule ids in order, for `candour policy test` and coverage reports.
func (p *Policy) RuleIDs() []string {
	ids := make([]string, len(p.rules))
	for i, r := range p.rules {
		ids[i] = r.id
	}
	return ids
}

// String of a decision's route, e.g. "lead_member, head_of_service".
func rolesString(rs []string) string { return strings.Join(rs, ", ") }
