package layering

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// root is the module's root folder.
func root(t *testing.T) string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// imports maps each non-test Go file (relative to the module root) to what it imports.
func imports(t *testing.T) map[string][]string {
	t.Helper()
	base := root(t)
	out := map[string][]string{}
	err := filepath.WalkDir(base, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) && path != base {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(base, path)
		for _, spec := range f.Imports {
			p, _ := strconv.Unquote(spec.Path.Value)
			out[filepath.ToSlash(rel)] = append(out[filepath.ToSlash(rel)], p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 100 {
		t.Fatalf("read only %d files: is the module root right?", len(out))
	}
	return out
}

func under(file string, dirs ...string) bool {
	for _, d := range dirs {
		if strings.HasPrefix(file, d+"/") {
			return true
		}
	}
	return false
}

// surfaceBreaches: the surfaces reach the database only through the use cases: no store, no
// audit trail written by hand, no SQL driver.
func surfaceBreaches(files map[string][]string) []string {
	banned := []string{"candour/internal/store", "candour/internal/audit", "database/sql", "github.com/jmoiron/sqlx",
		"github.com/lib/pq"}
	var out []string
	for file, imps := range files {
		if !under(file, "internal/web", "internal/api") {
			continue
		}
		for _, p := range imps {
			if slices.Contains(banned, p) {
				out = append(out, file+" imports "+p+": call a use case (intake, casework, oversight, accounts, auth) instead")
			}
		}
	}
	return out
}

// driverBreaches: PostgreSQL's driver is the store's business (and the database package's,
// which opens it, and the test harness's).
func driverBreaches(files map[string][]string) []string {
	var out []string
	for file, imps := range files {
		if under(file, "internal/store", "internal/database", "internal/dbtest", "internal/portaltest", "internal/intaketest") {
			continue
		}
		if slices.Contains(imps, "github.com/lib/pq") {
			out = append(out, file+" imports lib/pq: keep driver types in internal/store")
		}
	}
	return out
}

func TestSurfacesCallUseCasesOnly(t *testing.T) {
	for _, b := range surfaceBreaches(imports(t)) {
		t.Error(b)
	}
}

func TestDriverStaysInTheStore(t *testing.T) {
	for _, b := range driverBreaches(imports(t)) {
		t.Error(b)
	}
}

// The domain types import nothing, so every layer may use them.
func TestDomainImportsNothing(t *testing.T) {
	for file, imps := range imports(t) {
		if under(file, "internal/domain") && len(imps) > 0 {
			t.Errorf("%s imports %v; internal/domain must import nothing", file, imps)
		}
	}
}

// The rules catch a planted breach, and do not mistake a look-alike folder for a surface.
func TestRulesCatchABreach(t *testing.T) {
	planted := map[string][]string{
		"internal/web/admin.go":      {"candour/internal/accounts", "candour/internal/store"},
		"internal/api/oversight.go":  {"candour/internal/audit"},
		"internal/webhooks/a.go":     {"candour/internal/store"},
		"internal/intake/report.go":  {"github.com/lib/pq"},
		"internal/store/concerns.go": {"github.com/lib/pq"},
	}
	if got := surfaceBreaches(planted); len(got) != 2 {
		t.Errorf("surface breaches: got %q, want the web store import and the api audit import", got)
	}
	if got := driverBreaches(planted); len(got) != 1 || !strings.HasPrefix(got[0], "internal/intake/") {
		t.Errorf("driver breaches: got %q, want internal/intake only", got)
	}
}
