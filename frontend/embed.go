// Package frontend holds Candour's browser-facing files, embedded in the
// binary: the built GOV.UK Frontend assets (static/, produced by
// `npm run build` and committed, so a Go build needs no npm) and the
// html/template pages (templates/).
package frontend

import (
	"embed"
	"io/fs"
)

//go:embed static templates
var files embed.FS

var (
	// Static is the content of static/: govuk.css, govuk-frontend.min.js,
	// app.js and anything else served under /assets/<version>/.
	Static fs.FS = mustSub("static")
	// Templates is the content of templates/: layout.html and the pages.
	Templates fs.FS = mustSub("templates")
)

func mustSub(dir string) fs.FS {
	sub, err := fs.Sub(files, dir)
	if err != nil {
		panic(err) // only if the embed directive and dir disagree
	}
	return sub
}
