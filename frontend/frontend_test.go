package frontend

import (
	"io/fs"
	"strings"
	"testing"
)

func TestBuiltCSSHasNoGOVUKFont(t *testing.T) {
	b, err := fs.ReadFile(Static, "govuk.css")
	if err != nil {
		t.Fatalf("read govuk.css: %v (run npm run build in frontend/)", err)
	}
	css := string(b)
	for _, banned := range []string{"GDS Transport", "@font-face", ".woff"} {
		if strings.Contains(css, banned) {
			t.Errorf("govuk.css contains %q, want none: the GOV.UK font is for GOV.UK only", banned)
		}
	}
	if !strings.Contains(css, "font-family:arial,helvetica,sans-serif") {
		t.Errorf("govuk.css lacks the Arial/Helvetica font stack")
	}
}

func TestStaticAssetsPresent(t *testing.T) {
	for _, name := range []string{"govuk.css", "govuk-frontend.min.js", "app.js"} {
		if _, err := fs.Stat(Static, name); err != nil {
			t.Errorf("static/%s: %v", name, err)
		}
	}
	app, err := fs.ReadFile(Static, "app.js")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(app), `from "./govuk-frontend.min.js"`) {
		t.Errorf("app.js must import GOV.UK Frontend relatively, got:\n%s", app)
	}
	js, err := fs.ReadFile(Static, "govuk-frontend.min.js")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(js), "initAll") || strings.Contains(string(js), "sourceMappingURL") {
		t.Errorf("govuk-frontend.min.js: want the ES module without a source map reference")
	}
}

func TestNoFontsShipped(t *testing.T) {
	err := fs.WalkDir(Static, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		for _, ext := range []string{".woff", ".woff2", ".ttf", ".otf"} {
			if strings.HasSuffix(path, ext) {
				t.Errorf("static/%s: no font files may be shipped", path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
