package intake

import (
	"strings"
	"testing"

	"candour/internal/fault"
)

func TestCheckText(t *testing.T) {
	for _, tc := range []struct {
		name, v   string
		required  bool
		max       int
		multiline bool
		want      string // message key, "" for none
	}{
		{"ok", "Caseloads hidden", true, 200, false, ""},
		{"invalid UTF-8", "bad \xff byte", true, 200, false, "field.encoding"},
		{"a real replacement character is text", "odd \uFFFD mark", true, 200, false, ""},
		{"invalid UTF-8 beats everything else", " \t\xff", true, 1, false, "field.encoding"},
		{"blank", " \t\u00a0\u3000", true, 200, false, "field.required"},
		{"blank but optional", "   ", false, 200, false, ""},
		{"empty optional", "", false, 200, false, ""},
		{"characters, not bytes", strings.Repeat("ŵ", 200), true, 200, false, ""},
		{"one too many", strings.Repeat("ŵ", 201), true, 200, false, "field.too_long"},
		{"too long beats control", strings.Repeat("a\x01", 3), true, 4, false, "field.too_long"},
		{"newline in one line", "two\nlines", true, 200, false, "field.control"},
		{"newline in details", "two\r\nlines\tand a tab", true, 200, true, ""},
		{"NUL in details", "a\x00b", true, 200, true, "field.control"},
		{"C1 control", "a\u0085b", true, 200, true, "field.control"},
	} {
		f := fault.Fields{}
		checkText(f, "x", tc.v, tc.required, tc.max, tc.multiline)
		if got := f["x"]; got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}
