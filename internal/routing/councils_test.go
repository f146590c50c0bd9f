package routing_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"candour/internal/policytest"
	"candour/internal/routing"
)

// A folder of councils loads each by its slug; a folder with council.yaml at its top is one
// council, "default", as before.
func TestCouncilsOfAFolder(t *testing.T) {
	councils, err := routing.LoadCouncils(policytest.Deployment(t, "north", "south"))
	if err != nil {
		t.Fatal(err)
	}
	if len(councils) != 2 || councils[0].Slug != "north" || councils[1].Slug != "south" ||
		councils[1].Policy.Council.Hosts[0] != "south.example" {
		t.Fatalf("councils: %+v", councils)
	}
	one, err := routing.LoadCouncils(policytest.Dir(t))
	if err != nil || len(one) != 1 || one[0].Slug != routing.DefaultSlug {
		t.Fatalf("a single council's folder: %+v, %v", one, err)
	}
}

// The host alone chooses a council, so two councils claiming one host, or a council of several
// that lists none, is refused with the file and line.
func TestCouncilsHostsAreTheirOwn(t *testing.T) {
	dir := policytest.Deployment(t, "north", "south")
	south := filepath.Join(dir, "south", routing.CouncilFile)
	b, _ := os.ReadFile(south)
	if err := os.WriteFile(south, []byte(strings.Replace(string(b), "- south.example", "- north.example", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := routing.LoadCouncils(dir)
	var le *routing.LoadError
	if !errors.As(err, &le) || le.File != south || le.Line == 0 || !strings.Contains(le.Reason, `"north.example" is claimed by council "north"`) {
		t.Fatalf("two councils claiming one host: got %v", err)
	}
	if err := os.WriteFile(south, []byte(strings.Replace(string(b), "hosts:\n  - south.example\n", "", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := routing.LoadCouncils(dir); err == nil || !strings.Contains(err.Error(), "hosts: required when several councils") {
		t.Fatalf("a council of several without hosts: got %v", err)
	}
	if err := os.Mkdir(filepath.Join(dir, "Bad_Slug"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "Bad_Slug", routing.CouncilFile), b, 0o644)
	if _, err := routing.LoadCouncils(dir); err == nil || !strings.Contains(err.Error(), "named by its slug") {
		t.Fatalf("a council folder with a bad name: got %v", err)
	}
}
