package server

import (
	"strings"
	"testing"
)

func TestContentDisposition(t *testing.T) {
	cases := map[string]string{
		"evidence.pdf":        `attachment; filename="evidence.pdf"; filename*=UTF-8''evidence.pdf`,
		"../../etc/passwd":    `attachment; filename=".._.._etc_passwd"; filename*=UTF-8''..%2F..%2Fetc%2Fpasswd`,
		"a\"b;c\r\nd%e.txt":   `attachment; filename="a_b_c__d_e.txt"; filename*=UTF-8''a%22b%3Bc%0D%0Ad%25e.txt`,
		"Adroddiad Gwên.docx": `attachment; filename="Adroddiad Gw_n.docx"; filename*=UTF-8''Adroddiad%20Gw%C3%AAn.docx`,
		"x=1&y@z:a.csv":       `attachment; filename="x=1&y@z:a.csv"; filename*=UTF-8''x%3D1&y%40z%3Aa.csv`,
	}
	for name, want := range cases {
		got := ContentDisposition(name)
		if got != want {
			t.Errorf("%q: got %s, want %s", name, got, want)
		}
		if strings.ContainsAny(got, "\r\n") {
			t.Errorf("%q: header contains a line break", name)
		}
	}
}
