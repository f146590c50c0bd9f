package cli

import (
	"fmt"
	"io"

	"candour/internal/routing"
)

// policyCmd runs `candour policy check` and `candour policy test` on CANDOUR_POLICY_DIR.
// Both load the policy exactly as serve does (which also runs the fixtures); test then prints
// every fixture with the rule it hit, and how often each rule was hit.
func policyCmd(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	if len(args) != 1 || (args[0] != "check" && args[0] != "test") {
		fmt.Fprintln(stderr, "usage: candour policy check|test")
		return 2
	}
	cfg, ok := loadConfig(stderr)
	if !ok {
		return 1
	}
	p, err := routing.Load(cfg.PolicyDir)
	if err != nil {
		fmt.Fprintf(stderr, "policy %s is not valid:\n%v\n", cfg.PolicyDir, err)
		return 1
	}
	if args[0] == "check" {
		fmt.Fprintf(stdout, "policy %s is valid (version %s, %d rules, %d fixtures)\n",
			cfg.PolicyDir, p.Version, len(p.RuleIDs()), len(p.Fixtures()))
		return 0
	}
	hits := map[string]int{}
	failed := 0
	for _, r := range p.RunFixtures() {
		fmt.Fprintln(stdout, r.String())
		if !r.Pass {
			failed++
		}
		hits[r.Decision.Rule]++
	}
	fmt.Fprintln(stdout, "\nrule hits:")
	rules := p.RuleIDs()
	for _, id := range rules {
		fmt.Fprintf(stdout, "  %-40s %d\n", id, hits[id])
	}
	if failed > 0 {
		fmt.Fprintf(stderr, "%d fixture(s) failed\n", failed)
		return 1
	}
	return 0
}
