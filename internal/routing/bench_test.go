package routing

import "testing"

// BenchmarkDecide decides a mix of concerns, from the first rule to the
// default, with conflict fallback. Target: ≤ 50 µs per decision.
func BenchmarkDecide(b *testing.B) {
	p := samplePolicy(b)
	cases := []Facts{
		{Channel: "web", Mode: "anonymous", ServiceArea: "childrens-services", Safeguarding: true},
		{Channel: "web", Mode: "confidential", Category: "misconduct", NamedPeople: []string{mo}},
		{Channel: "councillor", Mode: "open", ServiceArea: "childrens-services", NamedPeople: []string{strategicDir}, PassingOnStaffConcerns: true},
		{Channel: "councillor", ServiceArea: "housing", NamedPeople: []string{housingHoS, mo}},
		{Channel: "councillor", ServiceArea: "childrens-services", RaisedWith: []string{"lead_member", "head_of_service"}, RaisedOutcome: "unresolved", EvidenceReviewed: []string{"cs-performance-2024-25"}},
		{Channel: "councillor", ServiceArea: "childrens-services", EvidenceReviewed: []string{"cs-performance-2024-25", "cs-ciw-inspection-2024"}},
		{Channel: "councillor", Mode: "open", Category: "other"},
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := p.Decide(cases[i%len(cases)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecideDefault is the worst case: every rule is evaluated.
func BenchmarkDecideDefault(b *testing.B) {
	p := samplePolicy(b)
	f := Facts{Channel: "councillor", Mode: "open", Category: "other", NamedPeople: []string{"someone@elsewhere.example"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Decide(f); err != nil {
			b.Fatal(err)
		}
	}
}
