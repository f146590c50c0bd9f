package routing

import (
	"fmt"
	"sort"
	"strings"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
	"github.com/goccy/go-yaml/ast"
)

// The values the engine accepts in Facts. CEL string literals compared with
// these variables are checked against the same lists at load.
var (
	Channels        = []string{"web", "councillor", "recorded"}
	Modes           = []string{"anonymous", "confidential", "open"}
	Categories      = []string{"safeguarding", "fraud", "misconduct", "health_safety", "discrimination", "data_protection", "other"}
	RaisedWithRoles = []string{roleLeadMember, roleHeadOfService}
	RaisedOutcomes  = []string{"", "resolved", "unresolved", "no_response"}
)

// celVars is the declared concern type: one CEL variable per fact.
var celVars = []cel.EnvOption{
	cel.Variable("channel", cel.StringType),
	cel.Variable("mode", cel.StringType),
	cel.Variable("service_area", cel.StringType),
	cel.Variable("category", cel.StringType),
	cel.Variable("safeguarding", cel.BoolType),
	cel.Variable("named_roles", cel.ListType(cel.StringType)),
	cel.Variable("raised_with", cel.ListType(cel.StringType)),
	cel.Variable("raised_outcome", cel.StringType),
	cel.Variable("evidence_reviewed", cel.ListType(cel.StringType)),
	cel.Variable("passing_on_staff_concerns", cel.BoolType),
}

func newEnv() (*cel.Env, error) { return cel.NewEnv(celVars...) }

// rule is one compiled routing rule.
type rule struct {
	id                string
	when              string
	prg               cel.Program
	isDefault         bool
	route             []string
	fallback          []string
	informed          []string
	clocks            map[Clock]Period
	explanation       map[string]string
	nextSteps         map[string][]string
	giveAnonymousLink bool
}

type rawRouting struct {
	Rules []rawRule `yaml:"rules"`
}

type rawRule struct {
	ID                string      `yaml:"id"`
	When              string      `yaml:"when"`
	Route             []string    `yaml:"route"`
	Fallback          []string    `yaml:"fallback"`
	Informed          []string    `yaml:"informed"`
	Clocks            rawClockSet `yaml:"clocks"`
	Explanation       rawText     `yaml:"explanation"`
	NextSteps         rawTextList `yaml:"next_steps"`
	GiveAnonymousLink bool        `yaml:"give_anonymous_link"`
}

type rawClockSet struct {
	Acknowledge  string `yaml:"acknowledge"`
	Decide       string `yaml:"decide"`
	Feedback     string `yaml:"feedback"`
	Safeguarding string `yaml:"safeguarding"`
}

func (c rawClockSet) each(f func(Clock, string)) {
	f(ClockAcknowledge, c.Acknowledge)
	f(ClockDecide, c.Decide)
	f(ClockFeedback, c.Feedback)
	f(ClockSafeguarding, c.Safeguarding)
}

type rawText struct {
	En string `yaml:"en"`
	Cy string `yaml:"cy"`
}

type rawTextList struct {
	En []string `yaml:"en"`
	Cy []string `yaml:"cy"`
}

// compileRules compiles and checks every rule of routing.yaml.
func compileRules(s *source, raw *rawRouting, env *cel.Env, dir *Directory) ([]*rule, []*LoadError) {
	var errs []*LoadError
	bad := func(path, format string, args ...any) { errs = append(errs, s.errorf(path, format, args...)) }
	allowed := literalSets(dir)
	seen := map[string]int{}
	var rules []*rule

	if len(raw.Rules) == 0 {
		bad("$.rules", "no rules: at least a default rule (when: \"true\") is required")
		return nil, errs
	}
	for i, rr := range raw.Rules {
		path := fmt.Sprintf("$.rules[%d]", i)
		r := &rule{id: rr.ID, when: rr.When, giveAnonymousLink: rr.GiveAnonymousLink, clocks: map[Clock]Period{}}
		switch {
		case rr.ID == "":
			bad(path, "rule %d has no id", i+1)
		case !codeRE.MatchString(rr.ID):
			bad(path+".id", "rule id %q: use lower-case letters, digits and hyphens", rr.ID)
		}
		if prev, dup := seen[rr.ID]; dup && rr.ID != "" {
			bad(path+".id", "duplicate rule id %q (first used on line %d)", rr.ID, prev)
		} else {
			seen[rr.ID] = s.line(path + ".id")
		}

		// The condition: parse, then type-check, then check string literals.
		if strings.TrimSpace(rr.When) == "" {
			bad(path, "rule %q has no when condition", rr.ID)
		} else if prg, isTrue, cerrs := compileWhen(s, path+".when", rr.ID, rr.When, env, allowed); len(cerrs) > 0 {
			errs = append(errs, cerrs...)
		} else {
			r.prg, r.isDefault = prg, isTrue
		}

		// Route, fallback, informed.
		if len(rr.Route) == 0 {
			bad(path, "rule %q has no route", rr.ID)
		}
		if len(rr.Fallback) == 0 {
			bad(path, "rule %q has no fallback: when a route holder is named in a concern, someone else must take it", rr.ID)
		}
		for field, roles := range map[string][]string{"route": rr.Route, "fallback": rr.Fallback, "informed": rr.Informed} {
			for j, role := range roles {
				if !dir.routable(role) {
					bad(fmt.Sprintf("%s.%s[%d]", path, field, j), "rule %q: %s to role %q, which nobody holds in directory.yaml (roles: %s)",
						rr.ID, field, role, strings.Join(dir.routableRoles(), ", "))
				}
			}
		}
		r.route, r.fallback, r.informed = rr.Route, rr.Fallback, rr.Informed

		rr.Clocks.each(func(k Clock, v string) {
			if v == "" {
				return
			}
			p, err := ParsePeriod(v)
			if err != nil {
				bad(path+".clocks."+string(k), "rule %q: clock %s: %v", rr.ID, k, err)
				return
			}
			r.clocks[k] = p
		})

		if strings.TrimSpace(rr.Explanation.En) == "" || strings.TrimSpace(rr.Explanation.Cy) == "" {
			bad(path, "rule %q needs an explanation in English (en) and Welsh (cy)", rr.ID)
		}
		r.explanation = map[string]string{"en": strings.TrimSpace(rr.Explanation.En), "cy": strings.TrimSpace(rr.Explanation.Cy)}
		if len(rr.NextSteps.En) != len(rr.NextSteps.Cy) {
			bad(path+".next_steps", "rule %q: next_steps has %d English and %d Welsh items", rr.ID, len(rr.NextSteps.En), len(rr.NextSteps.Cy))
		}
		if len(rr.NextSteps.En) > 0 {
			r.nextSteps = map[string][]string{"en": rr.NextSteps.En, "cy": rr.NextSteps.Cy}
		}
		rules = append(rules, r)
	}

	last := len(raw.Rules) - 1
	if r := rules[last]; r.prg != nil && !r.isDefault {
		bad(fmt.Sprintf("$.rules[%d].when", last), "no default rule: the last rule (%q) must have when: \"true\" so every concern has a route", r.id)
	}
	for i, r := range rules[:last] {
		if r.isDefault {
			bad(fmt.Sprintf("$.rules[%d].when", i), "rule %q is always true, so the rules after it can never match; put it last", r.id)
		}
	}
	return rules, errs
}

// compileWhen compiles one condition. Errors point at the line of the
// offending part of the expression.
func compileWhen(s *source, path, id, src string, env *cel.Env, allowed map[string][]string) (cel.Program, bool, []*LoadError) {
	base := s.line(path)
	if n := s.node(path); n != nil {
		if _, block := n.(*ast.LiteralNode); block {
			base++ // a | or > block starts on the next line
		}
	}
	at := func(exprLine int) int {
		if exprLine < 1 {
			exprLine = 1
		}
		return base + exprLine - 1
	}
	celErrs := func(kind string, iss *cel.Issues) []*LoadError {
		var out []*LoadError
		for _, e := range iss.Errors() {
			msg := strings.TrimPrefix(e.Message, "Syntax error: ")
			out = append(out, &LoadError{File: s.path, Line: at(e.Location.Line()),
				Reason: fmt.Sprintf("rule %q: CEL %s: %s (column %d)", id, kind, msg, e.Location.Column()+1)})
		}
		return out
	}

	parsed, iss := env.Parse(src)
	if iss.Err() != nil {
		return nil, false, celErrs("syntax error", iss)
	}
	checked, iss := env.Check(parsed)
	if iss.Err() != nil {
		return nil, false, celErrs("type error", iss)
	}
	if !checked.OutputType().IsExactType(types.BoolType) {
		return nil, false, []*LoadError{{File: s.path, Line: at(1),
			Reason: fmt.Sprintf("rule %q: CEL type error: condition must be a bool, but it is %s", id, checked.OutputType())}}
	}

	var errs []*LoadError
	native := checked.NativeRep()
	for _, lit := range stringLiterals(native.Expr()) {
		vals, ok := allowed[lit.variable]
		if !ok || contains(vals, lit.value) {
			continue
		}
		line := at(native.SourceInfo().GetStartLocation(lit.id).Line())
		what := strings.ReplaceAll(lit.variable, "_", " ")
		if lit.variable == "service_area" {
			errs = append(errs, &LoadError{File: s.path, Line: line,
				Reason: fmt.Sprintf("rule %q: unknown service area %q (known: %s)", id, lit.value, strings.Join(vals[:len(vals)-1], ", "))})
			continue
		}
		errs = append(errs, &LoadError{File: s.path, Line: line,
			Reason: fmt.Sprintf("rule %q: %q is not a possible value of %s (possible: %s)", id, lit.value, what, quoteAll(vals))})
	}
	if len(errs) > 0 {
		return nil, false, errs
	}

	prg, err := env.Program(checked, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, false, []*LoadError{{File: s.path, Line: at(1), Reason: fmt.Sprintf("rule %q: CEL: %v", id, err)}}
	}
	e := native.Expr()
	isTrue := e.Kind() == celast.LiteralKind && e.AsLiteral() == types.True
	return prg, isTrue, nil
}

func quoteAll(vs []string) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = fmt.Sprintf("%q", v)
	}
	return strings.Join(q, ", ")
}

// literalSets gives, for each string or list-of-string fact, the values it
// can take under this directory.
func literalSets(d *Directory) map[string][]string {
	var evidence []string
	for id := range d.evidence {
		evidence = append(evidence, id)
	}
	sort.Strings(evidence)
	return map[string][]string{
		"channel":           Channels,
		"mode":              Modes,
		"category":          Categories,
		"service_area":      append(d.areaCodes(), ""), // "" last: see compileWhen
		"raised_with":       RaisedWithRoles,
		"raised_outcome":    RaisedOutcomes,
		"named_roles":       d.allNamedRoles(),
		"evidence_reviewed": evidence,
	}
}

// literalUse is a string literal compared with (or looked up in) a fact.
type literalUse struct {
	variable string
	value    string
	id       int64
}

// stringLiterals finds the string literals a condition compares with facts:
// x == "lit", x != "lit", "lit" in x, x in ["a", "b"], and the same through the
// variable of a comprehension over a list fact (named_roles.exists(r, r == "lit")).
func stringLiterals(root celast.Expr) []literalUse {
	alias := map[string]string{}
	celast.PreOrderVisit(root, celast.NewExprVisitor(func(e celast.Expr) {
		if e.Kind() != celast.ComprehensionKind {
			return
		}
		c := e.AsComprehension()
		if r := c.IterRange(); r.Kind() == celast.IdentKind {
			alias[c.IterVar()] = r.AsIdent()
		}
	}))
	ident := func(e celast.Expr) string {
		if e.Kind() != celast.IdentKind {
			return ""
		}
		if v, ok := alias[e.AsIdent()]; ok {
			return v
		}
		return e.AsIdent()
	}
	str := func(e celast.Expr) (string, bool) {
		if e.Kind() != celast.LiteralKind {
			return "", false
		}
		v, ok := e.AsLiteral().(types.String)
		return string(v), ok
	}

	var out []literalUse
	celast.PreOrderVisit(root, celast.NewExprVisitor(func(e celast.Expr) {
		if e.Kind() != celast.CallKind {
			return
		}
		call := e.AsCall()
		args := call.Args()
		if len(args) != 2 {
			return
		}
		switch call.FunctionName() {
		case operators.Equals, operators.NotEquals:
			for k := 0; k < 2; k++ {
				if v := ident(args[k]); v != "" {
					if lit, ok := str(args[1-k]); ok {
						out = append(out, literalUse{v, lit, args[1-k].ID()})
					}
				}
			}
		case operators.In:
			if v := ident(args[1]); v != "" {
				if lit, ok := str(args[0]); ok {
					out = append(out, literalUse{v, lit, args[0].ID()})
				}
			}
			if v := ident(args[0]); v != "" && args[1].Kind() == celast.ListKind {
				for _, el := range args[1].AsList().Elements() {
					if lit, ok := str(el); ok {
						out = append(out, literalUse{v, lit, el.ID()})
					}
				}
			}
		}
	}))
	return out
}
