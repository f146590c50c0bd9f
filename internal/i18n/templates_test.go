package i18n

import (
	"io/fs"
	"regexp"
	"testing"

	"candour/frontend"
)

// templateKey finds literal message ids in templates: {{t "id"}}, {{n "id" …}}
// and the same inside parentheses.
var templateKey = regexp.MustCompile(`[{(]\s*-?\s*[tn]\s+"([^"]+)"`)

func TestTemplateKeysExist(t *testing.T) {
	c := load(t)
	files, err := fs.Glob(frontend.Templates, "*.html")
	if err != nil || len(files) == 0 {
		t.Fatalf("no templates found: %v", err)
	}
	found := 0
	for _, f := range files {
		b, err := fs.ReadFile(frontend.Templates, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range templateKey.FindAllSubmatch(b, -1) {
			found++
			id := string(m[1])
			for _, lang := range Languages {
				if !c.Has(lang, id) {
					t.Errorf("%s uses %q, missing from %s.json", f, id, lang)
				}
			}
		}
	}
	if found < 20 {
		t.Errorf("found only %d message ids in templates; is the regexp still right?", found)
	}
}
