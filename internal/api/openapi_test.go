package api_test

import (
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"candour/internal/access"
	"candour/internal/api"
	"candour/internal/portaltest"
)

// openAPIDoc is the part of the OpenAPI document the test checks.
type openAPIDoc struct {
	OpenAPI string                               `yaml:"openapi"`
	Servers []struct{ URL string }               `yaml:"servers"`
	Paths   map[string]map[string]map[string]any `yaml:"paths"` // path → method (or "parameters"...) → operation
}

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// pathParam turns fiber's :id into OpenAPI's {id}.
var pathParam = regexp.MustCompile(`:([A-Za-z_][A-Za-z0-9_]*)`)

// TestOpenAPIDocumentsEveryRoute checks the served document against the routes fiber has
// registered under /api/v1, both ways, so the document and the route table cannot drift.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	e := portaltest.Start(t)

	r := e.Do(t, "GET", "/api/v1/openapi.yaml", "", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("GET /api/v1/openapi.yaml: got %d, want 200", r.Status)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/yaml" {
		t.Errorf("content type: got %q, want application/yaml", ct)
	}
	var doc openAPIDoc
	if err := yaml.Unmarshal(r.Body, &doc); err != nil {
		t.Fatalf("parse openapi.yaml: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Errorf("openapi: got %q, want 3.1.x", doc.OpenAPI)
	}
	if len(doc.Servers) != 1 || doc.Servers[0].URL != "/api/v1" {
		t.Fatalf("servers: got %+v, want one, /api/v1", doc.Servers)
	}

	documented := map[string]bool{} // "GET /concerns/{id}"
	for path, item := range doc.Paths {
		for key, op := range item {
			if !slices.Contains(httpMethods, key) {
				continue
			}
			route := strings.ToUpper(key) + " " + path
			documented[route] = true
			if op["summary"] == nil {
				t.Errorf("%s: no summary (say who may call it)", route)
			}
			if op["responses"] == nil {
				t.Errorf("%s: no responses", route)
			}
			if op["security"] == nil {
				t.Errorf("%s: no security (use [] for anyone)", route)
			}
		}
	}

	registered := map[string]bool{}
	for _, rt := range e.App.GetRoutes(true) {
		path, ok := strings.CutPrefix(rt.Path, "/api/v1/")
		if !ok || rt.Method == http.MethodHead || path == "*" {
			continue
		}
		registered[rt.Method+" /"+pathParam.ReplaceAllString(path, "{$1}")] = true
	}
	if len(registered) == 0 {
		t.Fatal("no routes registered under /api/v1")
	}

	for route := range registered {
		if !documented[route] {
			t.Errorf("%s is registered but not in openapi.yaml", route)
		}
	}
	for route := range documented {
		if !registered[route] {
			t.Errorf("%s is in openapi.yaml but no such route is registered", route)
		}
	}
}

// TestOpenAPIGatesMatchTheRouteTable: each operation names in x-candour-gate the gate its route
// line declares, and its security scheme fits the kind of caller the gate admits, so the
// document cannot promise a permission the portal does not enforce, or the other way round.
func TestOpenAPIGatesMatchTheRouteTable(t *testing.T) {
	var doc openAPIDoc
	if err := yaml.Unmarshal(api.OpenAPIDocument(), &doc); err != nil {
		t.Fatal(err)
	}
	scheme := map[access.Caller]string{access.Anyone: "", access.Reporter: "mailbox", access.Staff: "staff"}
	for _, r := range api.New(api.Deps{}).Routes() {
		path := pathParam.ReplaceAllString(r.Path, "{$1}")
		op := doc.Paths[path][strings.ToLower(r.Method)]
		where := r.Method + " " + path
		if op == nil {
			t.Errorf("%s: not in the document", where)
			continue
		}
		if got := op["x-candour-gate"]; got != r.Gate.Name {
			t.Errorf("%s: x-candour-gate %v, the route table says %q", where, got, r.Gate.Name)
		}
		var names []string
		security, _ := op["security"].([]any)
		for _, req := range security {
			for name := range req.(map[string]any) {
				names = append(names, name)
			}
		}
		want := scheme[r.Gate.Caller]
		if (want == "" && len(names) != 0) || (want != "" && !slices.Equal(names, []string{want})) {
			t.Errorf("%s: security %v, want %q for gate %s", where, names, want, r.Gate.Name)
		}
	}
}

// TestAuditTrailShapeOnlyForTheAuditor: audit sequence numbers and the trail's size would let
// whoever sees them count the events between two moments, and so place a reporter's doing
// among staff events. Only operations the auditor's gate admits may answer with an audit
// schema or any object with a seq.
func TestAuditTrailShapeOnlyForTheAuditor(t *testing.T) {
	var doc map[string]any
	if err := yaml.Unmarshal(api.OpenAPIDocument(), &doc); err != nil {
		t.Fatal(err)
	}
	// reveals reports whether v, following $refs into the document, describes an audit event,
	// the trail's verification, or anything with a seq.
	var reveals func(v any, seen map[string]bool) bool
	reveals = func(v any, seen map[string]bool) bool {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok && !seen[ref] {
				seen[ref] = true
				if strings.HasPrefix(ref, "#/components/schemas/Audit") {
					return true
				}
				var target any = doc
				for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
					target, _ = target.(map[string]any)[part]
				}
				if reveals(target, seen) {
					return true
				}
			}
			if props, ok := v["properties"].(map[string]any); ok && props["seq"] != nil {
				return true
			}
			for _, x := range v {
				if reveals(x, seen) {
					return true
				}
			}
		case []any:
			for _, x := range v {
				if reveals(x, seen) {
					return true
				}
			}
		}
		return false
	}
	var found int
	for path, item := range doc["paths"].(map[string]any) {
		for method, op := range item.(map[string]any) {
			o, ok := op.(map[string]any)
			if !ok || !slices.Contains(httpMethods, method) || !reveals(o["responses"], map[string]bool{}) {
				continue
			}
			found++
			if o["x-candour-gate"] != access.Auditor.Name {
				t.Errorf("%s %s (gate %v) answers with the audit trail's shape; only the auditor may", method, path, o["x-candour-gate"])
			}
		}
	}
	if found == 0 {
		t.Error("no operation answers with audit events: the check looks at nothing")
	}
}
