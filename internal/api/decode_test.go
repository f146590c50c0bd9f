package api

import (
	"testing"

	"candour/internal/fault"
	"candour/internal/intake"
)

// The decoder names the field at fault, nested or in a list, and refuses what a lenient
// decoder would quietly reinterpret: a member given twice, a name in the wrong case.
func TestUnmarshalStrictNamesTheField(t *testing.T) {
	for _, tc := range []struct {
		body, code, field, key string
	}{
		{`{"mode":"anonymous","bogus":1}`, "invalid", "bogus", "field.unknown"},
		{`{"identity":{"name":"G","nickname":"x"}}`, "invalid", "identity.nickname", "field.unknown"},
		{`{"named_people":["A",2]}`, "invalid", "named_people", "field.type"},
		{`{"safeguarding":"yes"}`, "invalid", "safeguarding", "field.type"},
		{`{"Mode":"anonymous"}`, "invalid", "Mode", "field.unknown"},
		{`{"mode":"anonymous","mode":"open"}`, "malformed_json", "", ""},
		{`{"mode":"anonymous"} {}`, "malformed_json", "", ""},
		{`[]`, "malformed_json", "", ""},
		{"{\"summary\":\"\xff\"}", "invalid_encoding", "", ""},
	} {
		var r intake.ReportSubmission
		fe, ok := fault.As(unmarshalStrict([]byte(tc.body), &r))
		if !ok || fe.Code != tc.code || (tc.field != "" && fe.Fields[tc.field] != tc.key) {
			t.Errorf("%s: got %+v, want %s with %s=%s", tc.body, fe, tc.code, tc.field, tc.key)
		}
	}
	var r intake.ReportSubmission
	if err := unmarshalStrict([]byte(`{"mode":"open","identity":{"name":"Gwen"},"named_people":["A"]}`), &r); err != nil ||
		r.Mode != "open" || r.Identity.Name != "Gwen" || len(r.NamedPeople) != 1 {
		t.Fatalf("good body: %v %+v", err, r)
	}
}
