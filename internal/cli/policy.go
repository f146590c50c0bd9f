package cli

import (
	"fmt"
	"io"

	"candour/internal/routing"
)

// policyCmd runs `candour policy check` and `candour policy test` on CANDOUR_POLICY_DIR, every
// council's policy when it holds several. Both load the policies exactly as serve does (which
// also runs the fixtures, and checks that no two councils claim a host); test then prints
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
	councils, err := routing.LoadCouncils(cfg.PolicyDir)
	if err != nil {
		fmt.Fprintf(stderr, "policy %s is not valid:\n%v\n", cfg.PolicyDir, err)
		return 1
	}
	failed := 0
	for _, c := range councils {
		p, dir := c.Policy, c.Dir
		if args[0] == "check" {
			fmt.Fprintf(stdout, "policy %s is valid (version %s, %d rules, %d fixtures)\n",
				dir, p.Version, len(p.RuleIDs()), len(p.Fixtures()))
			continue
		}
		if len(councils) > 1 {
			fmt.Fprintf(stdout, "council %s (%s):\n", c.Slug, dir)
		}
		failed += testFixtures(p, stdout)
	}
	if failed > 0 {
		fmt.Fprintf(stderr, "%d fixture(s) failed\n", failed)
		return 1
	}
	return 0
}

// testFixtures prints every fixture of p with the rule it hit, and how often each rule was
// hit; it returns how many failed.
func testFixtures(p *routing.Policy, stdout io.Writer) int {
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
	for _, id := range p.RuleIDs() {
		fmt.Fprintf(stdout, "  %-40s %d\n", id, hits[id])
	}
	return failed
}
