package web

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"candour/internal/i18n"
	"candour/internal/policytest"
	"candour/internal/routing"
)

// councilText is every piece of text the council's profile holds (names, numbers, addresses,
// descriptions), once each, with each phone number also as a tel: link writes it.
func councilText(c *routing.Council) []string {
	var out []string
	seen := map[string]bool{}
	add := func(s string) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Struct:
			for i := range v.NumField() {
				walk(v.Field(i))
			}
		case reflect.Slice:
			for i := range v.Len() {
				walk(v.Index(i))
			}
		case reflect.String:
			if s := v.String(); s != "" {
				add(s)
				if routing.PhoneNumber(s) {
					add(strings.NewReplacer(" ", "", "-", "").Replace(s))
				}
			}
		}
	}
	walk(reflect.ValueOf(*c))
	return out
}

// findText lists "file:line: has %q" for each needle in the files of fsys that keep says to.
func findText(fsys fs.FS, keep func(name string) bool, needles []string) ([]string, error) {
	var found []string
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !keep(name) {
			return err
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(b), "\n") {
			for _, n := range needles {
				if strings.Contains(strings.ToLower(line), strings.ToLower(n)) {
					found = append(found, fmt.Sprintf("%s:%d: has %q", name, i+1, n))
				}
			}
		}
		return nil
	})
	return found, err
}

// The council's details live in council.yaml only: none of the sample council's names,
// numbers or addresses is written in the templates, the catalogues or the web code, so another
// council changes them without touching either.
func TestNoCouncilTextInCode(t *testing.T) {
	p, err := routing.Load(policytest.Sample())
	if err != nil {
		t.Fatal(err)
	}
	needles := councilText(p.Council)
	if len(needles) < 15 {
		t.Fatalf("got %d texts from the sample council.yaml, want its names, numbers and addresses: %q", len(needles), needles)
	}
	for _, root := range []struct {
		dir  string
		keep func(string) bool
	}{
		{"../../frontend/templates", func(n string) bool { return strings.HasSuffix(n, ".html") }},
		{"../i18n/locales", func(n string) bool { return strings.HasSuffix(n, ".json") }},
		{".", func(n string) bool { return strings.HasSuffix(n, ".go") && !strings.HasSuffix(n, "_test.go") }},
	} {
		found, err := findText(os.DirFS(root.dir), root.keep, needles)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range found {
			t.Errorf("%s/%s: the council's details belong in council.yaml", root.dir, f)
		}
	}
}

// The search finds the council's Welsh name, a number as a tel: link writes it and an address,
// whatever their case, so TestNoCouncilTextInCode can fail.
func TestCouncilTextSearchFinds(t *testing.T) {
	p, err := routing.Load(policytest.Sample())
	if err != nil {
		t.Fatal(err)
	}
	c := p.Council
	fsys := fstest.MapFS{
		"layout.html": {Data: []byte("<p>\n© " + strings.ToUpper(c.NameCy) + "</p>")},
		"web.go":      {Data: []byte(`var tel = "tel:` + strings.ReplaceAll(c.Safeguarding.OutOfHoursPhone, " ", "") + `"`)},
		"cy.json":     {Data: []byte(`{"x": "` + c.Accessibility.Email + `"}`)},
		"clean.html":  {Data: []byte("<p>{{.CouncilName}}</p>")},
	}
	found, err := findText(fsys, func(string) bool { return true }, councilText(c))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"cy.json:1:", "layout.html:2:", "web.go:1:"}
	if len(found) != len(want) {
		t.Fatalf("got %q, want one finding in each of %q", found, want)
	}
	for i, w := range want {
		if !strings.HasPrefix(found[i], w) {
			t.Errorf("finding %d: got %q, want %s...", i, found[i], w)
		}
	}
}

// The pages show the council's details from council.yaml, in the page's language.
func TestCouncilProfileOnPages(t *testing.T) {
	app, s := newApp(t)
	c := s.deps.Policy().Council
	tests := []struct {
		path string
		want []string
	}{
		{"/", []string{"<title>Raise a concern about wrongdoing – Candour – " + c.Name + "</title>", `href="tel:01632960002"`, c.Contact.Email, "© " + c.Name}},
		{"/cy", []string{"– " + c.NameCy + "</title>", "© " + c.NameCy}},
		{"/accessibility", []string{"the " + c.Name + " service", "mailto:" + c.Accessibility.Email, c.Accessibility.Phone, "within 5 working days", "prepared on 26 November 2026"}},
		{"/cy/accessibility", []string{"gwasanaeth " + c.NameCy + " ar gyfer", "26 Tachwedd 2026"}},
		{"/privacy", []string{c.Privacy.Controller + " is the data controller", c.Privacy.ICORegistration, c.Privacy.DPO.Name, "mailto:" + c.Privacy.DPO.Email}},
		{"/cy/privacy", []string{c.Privacy.ControllerCy + " yw&#39;r rheolydd data", c.Privacy.DPO.NameCy}},
		{"/external", []string{"Care Inspectorate Wales", c.OtherBodies[0].Name, c.OtherBodies[0].Address}},
		{"/cy/external", []string{"Arolygiaeth Gofal Cymru", c.OtherBodies[0].NameCy}},
	}
	for _, tt := range tests {
		resp, body := get(t, app, tt.path)
		if resp.StatusCode != 200 {
			t.Errorf("GET %s: got %d, want 200", tt.path, resp.StatusCode)
		}
		for _, w := range tt.want {
			if !strings.Contains(body, w) {
				t.Errorf("GET %s: no %q", tt.path, w)
			}
		}
	}
}

// The statistics name the limits clocks.yaml sets, in words in each language.
func TestClockLimitsFromPolicy(t *testing.T) {
	dir := policytest.Dir(t)
	clocks := filepath.Join(dir, "clocks.yaml")
	b, err := os.ReadFile(clocks)
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.Replace(b, []byte("acknowledge: 7 days"), []byte("acknowledge: 2 working days"), 1)
	if err := os.WriteFile(clocks, b, 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := routing.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := i18n.Load()
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Deps{Catalog: cat, Policy: func() *routing.Policy { return p }})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ lang, id, want string }{
		{"en", "acknowledge_late", "Acknowledged after the limit of 2 working days"},
		{"cy", "acknowledge_late", "Cydnabuwyd ar ôl y terfyn o 2 ddiwrnod gwaith"},
		{"en", "decide_late", "Decided after the limit of 15 working days"},
		{"cy", "feedback_late", "Adborth ar ôl y terfyn o 3 mis"},
	}
	for _, tt := range tests {
		if got := s.labels(tt.lang, 5).Figure(tt.id); got != tt.want {
			t.Errorf("%s %s: got %q, want %q", tt.lang, tt.id, got, tt.want)
		}
	}
}
