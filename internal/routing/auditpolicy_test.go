package routing

import (
	"strings"
	"testing"
	"testing/fstest"
)

// TestAuditPolicy: audit.yaml pins the log key under the council's origin and at least one
// witness; each mistake is refused at its file and line.
func TestAuditPolicy(t *testing.T) {
	const (
		logKey     = "test-council/candour-audit+e60cf01d+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
		witnessKey = "witness.test+dc374e96+BEy1q/atefv1q7zK/MJp2FzSZR7UuIW1hp8kGu3wpbop"
	)
	cases := []struct{ name, yaml, want string }{
		{"good", "council: test-council\nlog_key: " + logKey + "\nwitnesses:\n  - url: https://w.test/\n    key: " + witnessKey + "\n", ""},
		{"no witness", "council: test-council\nlog_key: " + logKey + "\nwitnesses: []\n", "audit.yaml:3: at least one witness is required"},
		{"key of another log", "council: other\nlog_key: " + logKey + "\nwitnesses:\n  - url: https://w.test/\n    key: " + witnessKey + "\n",
			`audit.yaml:2: log_key is named "test-council/candour-audit", want the log's origin "other/candour-audit"`},
		{"bad witness key", "council: test-council\nlog_key: " + logKey + "\nwitnesses:\n  - url: https://w.test/\n    key: nonsense\n",
			"audit.yaml:5: witness key: a key is name+hash+base64"},
		{"bad url", "council: test-council\nlog_key: " + logKey + "\nwitnesses:\n  - url: ftp:/x\n    key: " + witnessKey + "\n",
			`audit.yaml:4: witness url "ftp:/x"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fsys := variant(t, "")
			fsys[AuditFile] = &fstest.MapFile{Data: []byte(tc.yaml)}
			p, err := LoadFS(fsys)
			if tc.want == "" {
				if err != nil || p.Audit == nil || len(p.Audit.Witnesses) != 1 || p.Audit.Origin != "test-council/candour-audit" {
					t.Fatalf("got %v, want the pins loaded", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}
