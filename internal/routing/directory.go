package routing

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// Contact is a named person or team mailbox in the directory.
type Contact struct {
	Name    string `yaml:"name" json:"name"`
	Email   string `yaml:"email" json:"email"`
	Title   string `yaml:"title" json:"title,omitempty"`
	TitleCy string `yaml:"title_cy" json:"title_cy,omitempty"`
}

// Team is a team within a service area (for display only).
type Team struct {
	Name   string `yaml:"name" json:"name"`
	NameCy string `yaml:"name_cy" json:"name_cy"`
}

// Evidence is a published document about a service: a performance report, an
// inspection report. Councillors are shown it before they raise a concern.
type Evidence struct {
	ID      string `yaml:"id" json:"id"`
	Title   string `yaml:"title" json:"title"`
	TitleCy string `yaml:"title_cy" json:"title_cy"`
	URL     string `yaml:"url" json:"url"`
}

// ServiceArea is one service of the council.
type ServiceArea struct {
	Code          string     `yaml:"code" json:"code"`
	Name          string     `yaml:"name" json:"name"`
	NameCy        string     `yaml:"name_cy" json:"name_cy"`
	Teams         []Team     `yaml:"teams" json:"teams,omitempty"`
	LeadMember    Contact    `yaml:"lead_member" json:"lead_member"`
	HeadOfService Contact    `yaml:"head_of_service" json:"head_of_service"`
	Evidence      []Evidence `yaml:"evidence" json:"evidence"`
}

// EvidenceItem finds one of the area's published evidence items by id.
func (a ServiceArea) EvidenceItem(id string) (Evidence, bool) {
	for _, e := range a.Evidence {
		if e.ID == id {
			return e, true
		}
	}
	return Evidence{}, false
}

// Officer is a senior officer from directory.yaml.
type Officer struct {
	Contact      `yaml:",inline"`
	Role         string   `yaml:"role" json:"role"`
	ServiceAreas []string `yaml:"service_areas" json:"service_areas"`
}

// Person is someone in the directory, for the "people involved" picker and for
// conflict checks. Roles are their directory roles ("lead_member",
// "head_of_service", "senior_officer", "monitoring_officer", ...); ServiceAreas
// the codes of the areas they lead, head or oversee.
type Person struct {
	Name         string   `json:"name"`
	Email        string   `json:"email"`
	Title        string   `json:"title,omitempty"`
	TitleCy      string   `json:"title_cy,omitempty"`
	Roles        []string `json:"roles"`
	ServiceAreas []string `json:"service_areas,omitempty"`
}

// Directory is the council's service directory. It is read-only once loaded.
type Directory struct {
	areas    []ServiceArea
	areaIdx  map[string]int
	roles    map[string]Contact
	officers []Officer
	people   []Person
	byEmail  map[string]*personRoles
	evidence map[string]string // evidence id -> area code
}

// personRoles is what the engine needs to compute named_roles quickly.
type personRoles struct {
	global []string        // council roles and officer roles
	leadOf map[string]bool // area codes where the person is Lead Member
	headOf map[string]bool // area codes where the person is Head of Service
}

// ServiceAreas lists the service areas in directory order.
func (d *Directory) ServiceAreas() []ServiceArea { return append([]ServiceArea(nil), d.areas...) }

// ServiceArea finds a service area by code.
func (d *Directory) ServiceArea(code string) (ServiceArea, bool) {
	i, ok := d.areaIdx[code]
	if !ok {
		return ServiceArea{}, false
	}
	return d.areas[i], true
}

// Role returns the holder of a council-wide role such as "monitoring_officer".
func (d *Directory) Role(role string) (Contact, bool) {
	c, ok := d.roles[role]
	return c, ok
}

// Roles lists the council-wide roles, sorted.
func (d *Directory) Roles() []string {
	rs := slices.Sorted(maps.Keys(d.roles))
	return rs
}

// Officers lists the senior officers.
func (d *Directory) Officers() []Officer { return append([]Officer(nil), d.officers...) }

// People lists everyone in the directory once, for the "people involved"
// picker: council roles, senior officers, then each area's Lead Member and Head
// of Service.
func (d *Directory) People() []Person {
	out := make([]Person, len(d.people))
	copy(out, d.people)
	return out
}

// Person finds someone by email (case-insensitive).
func (d *Directory) Person(email string) (Person, bool) {
	key := normEmail(email)
	for _, p := range d.people {
		if normEmail(p.Email) == key {
			return p, true
		}
	}
	return Person{}, false
}

// Match finds the directory people among what a reporter typed or picked as
// "people involved": each entry matches a person by email or by full name
// (case-insensitive). It returns their emails, once each, in the order given;
// entries that match nobody are left out (they stay in the concern's text).
func (d *Directory) Match(entries []string) []string {
	out := []string{}
	for _, e := range entries {
		key := normEmail(e)
		if key == "" {
			continue
		}
		for _, p := range d.people {
			if normEmail(p.Email) == key || strings.EqualFold(strings.Join(strings.Fields(p.Name), " "), strings.Join(strings.Fields(e), " ")) {
				out = appendUnique(out, p.Email)
				break
			}
		}
	}
	return out
}

func normEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// area roles: relative to the concern's service area.
const (
	roleLeadMember         = "lead_member"
	roleHeadOfService      = "head_of_service"
	roleOtherLeadMember    = "other_lead_member"
	roleOtherHeadOfService = "other_head_of_service"
	roleSeniorOfficer      = "senior_officer"
)

var (
	codeRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	roleRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
)

type rawDirectory struct {
	// Council is where the council's names were before council.yaml; read only to say so.
	Council        any                `yaml:"council"`
	Roles          map[string]Contact `yaml:"roles"`
	SeniorOfficers []Officer          `yaml:"senior_officers"`
	ServiceAreas   []ServiceArea      `yaml:"service_areas"`
}

func buildDirectory(s *source, raw *rawDirectory) (*Directory, []*LoadError) {
	var errs []*LoadError
	bad := func(path, format string, args ...any) { errs = append(errs, s.errorf(path, format, args...)) }
	contact := func(path string, c Contact, what string) {
		if strings.TrimSpace(c.Name) == "" {
			bad(path, "%s has no name", what)
		}
		if !strings.Contains(c.Email, "@") {
			bad(path, "%s has no valid email (got %q)", what, c.Email)
		}
	}

	d := &Directory{
		areaIdx:  map[string]int{},
		roles:    map[string]Contact{},
		byEmail:  map[string]*personRoles{},
		evidence: map[string]string{},
	}
	if raw.Council != nil {
		bad("$.council", "council: has moved to %s (name and name_cy, with the council's contacts): move it there and delete it here", CouncilFile)
	}

	roleNames := slices.Sorted(maps.Keys(raw.Roles))
	for _, r := range roleNames {
		path := "$.roles." + r
		switch {
		case !roleRE.MatchString(r):
			bad(path, "role %q: use lower_snake_case", r)
		case isAreaRole(r) || r == roleSeniorOfficer:
			bad(path, "role %q is reserved (it is given per service area or to senior officers)", r)
		}
		contact(path, raw.Roles[r], "role "+r)
		d.roles[r] = raw.Roles[r]
	}
	if _, ok := raw.Roles["monitoring_officer"]; !ok {
		bad("$.roles", "roles: monitoring_officer is required")
	}

	for i, a := range raw.ServiceAreas {
		path := fmt.Sprintf("$.service_areas[%d]", i)
		if !codeRE.MatchString(a.Code) {
			bad(path+".code", "service area code %q: use lower-case letters, digits and hyphens", a.Code)
		}
		if _, dup := d.areaIdx[a.Code]; dup {
			bad(path+".code", "service area %q is listed twice", a.Code)
			continue
		}
		if a.Name == "" || a.NameCy == "" {
			bad(path, "service area %q needs name and name_cy", a.Code)
		}
		contact(path+".lead_member", a.LeadMember, "lead_member of "+a.Code)
		contact(path+".head_of_service", a.HeadOfService, "head_of_service of "+a.Code)
		for j, e := range a.Evidence {
			ep := fmt.Sprintf("%s.evidence[%d]", path, j)
			if !codeRE.MatchString(e.ID) {
				bad(ep+".id", "evidence id %q: use lower-case letters, digits and hyphens", e.ID)
			}
			if prev, dup := d.evidence[e.ID]; dup {
				bad(ep+".id", "evidence id %q is already used in service area %q", e.ID, prev)
			}
			if e.Title == "" || e.TitleCy == "" {
				bad(ep, "evidence %q needs title and title_cy", e.ID)
			}
			if !strings.HasPrefix(e.URL, "https://") && !strings.HasPrefix(e.URL, "http://") {
				bad(ep+".url", "evidence %q needs an http(s) url (got %q)", e.ID, e.URL)
			}
			d.evidence[e.ID] = a.Code
		}
		d.areaIdx[a.Code] = len(d.areas)
		d.areas = append(d.areas, a)
	}
	if len(d.areas) == 0 {
		bad("$.service_areas", "at least one service area is required")
	}

	for i, o := range raw.SeniorOfficers {
		path := fmt.Sprintf("$.senior_officers[%d]", i)
		contact(path, o.Contact, "senior officer")
		if o.Role == "" {
			o.Role = roleSeniorOfficer
		}
		if !roleRE.MatchString(o.Role) || isAreaRole(o.Role) {
			bad(path+".role", "senior officer role %q: use lower_snake_case, not an area role", o.Role)
		}
		for j, code := range o.ServiceAreas {
			if _, ok := d.areaIdx[code]; !ok {
				bad(fmt.Sprintf("%s.service_areas[%d]", path, j), "unknown service area %q (known: %s)", code, strings.Join(d.areaCodes(), ", "))
			}
		}
		d.officers = append(d.officers, o)
	}

	d.indexPeople()
	return d, errs
}

func isAreaRole(r string) bool {
	switch r {
	case roleLeadMember, roleHeadOfService, roleOtherLeadMember, roleOtherHeadOfService:
		return true
	}
	return false
}

func (d *Directory) areaCodes() []string {
	cs := make([]string, len(d.areas))
	for i, a := range d.areas {
		cs[i] = a.Code
	}
	return cs
}

// indexPeople builds People() and the email index used by Decide.
func (d *Directory) indexPeople() {
	pos := map[string]int{}
	add := func(c Contact, role, area string) {
		key := normEmail(c.Email)
		pr := d.byEmail[key]
		if pr == nil {
			pr = &personRoles{leadOf: map[string]bool{}, headOf: map[string]bool{}}
			d.byEmail[key] = pr
		}
		switch role {
		case roleLeadMember:
			pr.leadOf[area] = true
		case roleHeadOfService:
			pr.headOf[area] = true
		default:
			if !contains(pr.global, role) {
				pr.global = append(pr.global, role)
			}
		}
		i, seen := pos[key]
		if !seen {
			i = len(d.people)
			pos[key] = i
			d.people = append(d.people, Person{Name: c.Name, Email: c.Email, Title: c.Title, TitleCy: c.TitleCy})
		}
		p := &d.people[i]
		if !contains(p.Roles, role) {
			p.Roles = append(p.Roles, role)
		}
		if area != "" && !contains(p.ServiceAreas, area) {
			p.ServiceAreas = append(p.ServiceAreas, area)
		}
	}
	for _, r := range d.Roles() {
		add(d.roles[r], r, "")
	}
	for _, o := range d.officers {
		add(o.Contact, o.Role, "")
		for _, a := range o.ServiceAreas {
			add(o.Contact, o.Role, a)
		}
	}
	for _, a := range d.areas {
		add(a.LeadMember, roleLeadMember, a.Code)
		add(a.HeadOfService, roleHeadOfService, a.Code)
	}
}

// namedRoles computes the CEL variable named_roles: the directory roles of the
// named people, relative to the concern's service area.
func (d *Directory) namedRoles(named []string, area string, out []string) []string {
	for _, email := range named {
		pr := d.byEmail[normEmail(email)]
		if pr == nil {
			continue
		}
		for _, r := range pr.global {
			out = appendUnique(out, r)
		}
		for a := range pr.leadOf {
			if a == area {
				out = appendUnique(out, roleLeadMember)
			} else {
				out = appendUnique(out, roleOtherLeadMember)
			}
		}
		for a := range pr.headOf {
			if a == area {
				out = appendUnique(out, roleHeadOfService)
			} else {
				out = appendUnique(out, roleOtherHeadOfService)
			}
		}
	}
	return out
}

// allNamedRoles is every value named_roles can hold under this directory.
func (d *Directory) allNamedRoles() []string {
	rs := []string{roleLeadMember, roleHeadOfService, roleOtherLeadMember, roleOtherHeadOfService, roleSeniorOfficer}
	for _, o := range d.officers {
		rs = appendUnique(rs, o.Role)
	}
	for r := range d.roles {
		rs = appendUnique(rs, r)
	}
	sort.Strings(rs)
	return rs
}

// holder resolves a route role to the person holding it for a service area.
func (d *Directory) holder(role, area string) (Holder, bool) {
	switch role {
	case roleLeadMember, roleHeadOfService:
		i, ok := d.areaIdx[area]
		if !ok {
			return Holder{}, false
		}
		c := d.areas[i].LeadMember
		if role == roleHeadOfService {
			c = d.areas[i].HeadOfService
		}
		return Holder{Role: role, Name: c.Name, Email: c.Email, ServiceArea: area}, true
	}
	c, ok := d.roles[role]
	if !ok {
		return Holder{}, false
	}
	return Holder{Role: role, Name: c.Name, Email: c.Email}, true
}

// routable reports whether a rule may name role in route, fallback or informed.
func (d *Directory) routable(role string) bool {
	if role == roleLeadMember || role == roleHeadOfService {
		return true
	}
	_, ok := d.roles[role]
	return ok
}

func (d *Directory) routableRoles() []string {
	return append([]string{roleLeadMember, roleHeadOfService}, d.Roles()...)
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func appendUnique(ss []string, s string) []string {
	if contains(ss, s) {
		return ss
	}
	return append(ss, s)
}
