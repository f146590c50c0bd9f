package i18n

import (
	"io/fs"
	"regexp"
	"testing"

	"candour/frontend"
)

// templateKey finds literal message ids in templates: {{t "id"}}, {{n "id" …}}
// and the same inside parentheses; partialKey those given to a partial, whose
// dict keys naming a message id are listed here, and listKeys the columns of a
// table head: "Cols" (list "id" "id"…). Other lists hold values, such as a
// question's options, not message ids.
var (
	templateKey = regexp.MustCompile(`[{(]\s*-?\s*[tn]\s+"([^"]+)"`)
	partialKey  = regexp.MustCompile(`"(?:Label|Hint|Legend|Caption|None|Detriment|Key|Prefix|Title|Heading|BackLabel|NoticeTitle|Choose|Button)"\s+"([^"]+)"`)
	listKeys    = regexp.MustCompile(`"Cols"\s+\(list((?:\s+"[^"]+")+)\)`)
	quoted      = regexp.MustCompile(`"([^"]+)"`)
)

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
		var ids [][]byte
		for _, re := range []*regexp.Regexp{templateKey, partialKey} {
			for _, m := range re.FindAllSubmatch(b, -1) {
				ids = append(ids, m[1])
			}
		}
		for _, m := range listKeys.FindAllSubmatch(b, -1) {
			for _, q := range quoted.FindAllSubmatch(m[1], -1) {
				ids = append(ids, q[1])
			}
		}
		for _, raw := range ids {
			found++
			id := string(raw)
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
