package i18n

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func load(t *testing.T) *Catalog {
	t.Helper()
	c, err := Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

func TestEveryKeyInBothLanguages(t *testing.T) {
	c := load(t)
	en, cy := c.Keys(English), c.Keys(Welsh)
	if len(en) == 0 {
		t.Fatal("English catalogue is empty")
	}
	for _, k := range en {
		if !c.Has(Welsh, k) {
			t.Errorf("%q is in en.json but not in cy.json", k)
		}
	}
	for _, k := range cy {
		if !c.Has(English, k) {
			t.Errorf("%q is in cy.json but not in en.json", k)
		}
	}
}

func TestPluralForms(t *testing.T) {
	c := load(t)
	wantCy := []string{"zero", "one", "two", "few", "many", "other"}
	plurals := 0
	for _, k := range c.Keys(English) {
		en, cy := c.PluralForms(English, k), c.PluralForms(Welsh, k)
		if en == nil && cy == nil {
			continue
		}
		plurals++
		if !slices.Contains(en, "one") || !slices.Contains(en, "other") {
			t.Errorf("en %q: got forms %v, want one and other", k, en)
		}
		if !slices.Equal(cy, wantCy) {
			t.Errorf("cy %q: got forms %v, want %v", k, cy, wantCy)
		}
	}
	if plurals == 0 {
		t.Error("no plural messages found; the test would prove nothing")
	}
}

func TestNoEmptyOrUntranslatedMessages(t *testing.T) {
	c := load(t)
	// Ids whose Welsh text may equal the English one (numbers, names).
	same := map[string]bool{
		"site.service":     true, // the product keeps its name in Welsh
		"footer.copyright": true, // a sign and the council's name, from council.yaml
	}
	for _, k := range c.Keys(English) {
		en, cy := c.T(English, k), c.T(Welsh, k)
		if c.PluralForms(English, k) != nil {
			continue
		}
		if strings.TrimSpace(en) == "" || strings.TrimSpace(cy) == "" {
			t.Errorf("%q: empty message", k)
		}
		if en == cy && !same[k] {
			t.Errorf("%q: Welsh text %q is the same as the English", k, cy)
		}
	}
}

func TestT(t *testing.T) {
	c := load(t)
	tests := []struct {
		lang, id string
		data     map[string]any
		want     string
	}{
		{English, "start.report.title", nil, "Report a concern"},
		{Welsh, "start.report.title", nil, "Rhoi gwybod am bryder"},
		{"fr", "start.report.title", nil, "Report a concern"},
		{Welsh, "no.such.key", nil, "no.such.key"},
	}
	for _, tt := range tests {
		var got string
		if tt.data != nil {
			got = c.T(tt.lang, tt.id, tt.data)
		} else {
			got = c.T(tt.lang, tt.id)
		}
		if got != tt.want {
			t.Errorf("T(%q, %q) = %q, want %q", tt.lang, tt.id, got, tt.want)
		}
	}
}

func TestN(t *testing.T) {
	c := load(t)
	tests := []struct {
		lang  string
		count int
		want  string
	}{
		{English, 0, "0 concerns"},
		{English, 1, "1 concern"},
		{English, 2, "2 concerns"},
		{English, 7, "7 concerns"},
		{Welsh, 0, "dim pryderon"}, // zero
		{Welsh, 1, "1 pryder"},     // one
		{Welsh, 2, "2 bryder"},     // two: soft mutation
		{Welsh, 3, "3 phryder"},    // few: aspirate mutation
		{Welsh, 6, "6 phryder"},    // many: aspirate mutation
		{Welsh, 7, "7 pryder"},     // other
		{Welsh, 11, "11 pryder"},   // other
	}
	for _, tt := range tests {
		if got := c.N(tt.lang, "count.concerns", tt.count); got != tt.want {
			t.Errorf("N(%q, count.concerns, %d) = %q, want %q", tt.lang, tt.count, got, tt.want)
		}
	}
	if got, want := c.N(Welsh, "count.days", 2), "2 ddiwrnod"; got != want {
		t.Errorf("N(cy, count.days, 2) = %q, want %q", got, want)
	}
	if got := c.N(Welsh, "no.such.key", 2); got != "no.such.key" {
		t.Errorf("N of a missing key = %q, want the id", got)
	}
}

func TestKeysUnsupported(t *testing.T) {
	c := load(t)
	if got := c.Keys("fr"); got != nil {
		t.Errorf("Keys(fr) = %v, want nil", got)
	}
}

func ExampleCatalog_N() {
	c, err := Load()
	if err != nil {
		panic(err)
	}
	for _, n := range []int{0, 1, 2, 3, 6, 7} {
		fmt.Println(c.N(Welsh, "count.concerns", n))
	}
	// Output:
	// dim pryderon
	// 1 pryder
	// 2 bryder
	// 3 phryder
	// 6 phryder
	// 7 pryder
}
