// Package pdftest writes small, valid PDF files for tests: the objects given, a correct
// cross-reference table and a trailer, as mat2 and exiftool expect.
package pdftest

import (
	"bytes"
	"fmt"
)

// Build numbers objs from 1 (the first must be the catalog) and writes them as a PDF; trailer
// is added to the trailer dictionary (for example "/Info 6 0 R").
func Build(objs []string, trailer string) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n")
	offs := make([]int, 0, len(objs))
	for i, o := range objs {
		offs = append(offs, b.Len())
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, o := range offs {
		fmt.Fprintf(&b, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&b, "trailer\n<</Size %d/Root 1 0 R%s>>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, trailer, xref)
	return b.Bytes()
}

// Page is a one-page document whose page draws content with resources; more objects follow
// from number 5.
func Page(content, resources string, more ...string) []string {
	return append([]string{"<</Type/Catalog/Pages 2 0 R>>", "<</Type/Pages/Kids[3 0 R]/Count 1>>",
		"<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]/Contents 4 0 R/Resources<<" + resources + ">>>>",
		fmt.Sprintf("<</Length %d>>stream\n%s\nendstream", len(content), content)}, more...)
}

// Text is a one-page PDF showing text in Helvetica.
func Text(text string) []byte {
	return Build(Page("BT /F1 12 Tf 20 100 Td ("+text+") Tj ET", "/Font<</F1 5 0 R>>",
		"<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>"), "")
}
