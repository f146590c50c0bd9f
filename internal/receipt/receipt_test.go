package receipt

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestAlphabet(t *testing.T) {
	if len(Alphabet) != 32 {
		t.Fatalf("got alphabet of %d characters, want 32", len(Alphabet))
	}
	seen := map[rune]bool{}
	for _, c := range Alphabet {
		if seen[c] {
			t.Fatalf("got %q twice in the alphabet, want each once", c)
		}
		seen[c] = true
	}
	for _, c := range "0O1I" {
		if seen[c] {
			t.Fatalf("got ambiguous %q in the alphabet, want it excluded", c)
		}
	}
	if Bits < 80 {
		t.Fatalf("got %d bits, want at least 80", Bits)
	}
}

func TestNew(t *testing.T) {
	const n = 4000
	counts := map[byte]int{}
	seen := map[string]bool{}
	for range n {
		r, err := New()
		if err != nil {
			t.Fatal(err)
		}
		if len(r) != 24 {
			t.Fatalf("got %q (%d bytes), want 24", r, len(r))
		}
		for i, g := range strings.Split(r, "-") {
			if len(g) != 4 {
				t.Fatalf("got group %d %q in %q, want 4 characters", i, g, r)
			}
		}
		norm, ok := Normalize(r)
		if !ok {
			t.Fatalf("Normalize(%q): got false, want true", r)
		}
		if got := Format(norm); got != r {
			t.Fatalf("Format(Normalize(%q)): got %q, want the same", r, got)
		}
		if seen[norm] {
			t.Fatalf("got duplicate receipt %q", r)
		}
		seen[norm] = true
		for i := 0; i < len(norm); i++ {
			counts[norm[i]]++
		}
	}
	// Every character is used, roughly uniformly: expected 2500 each; a
	// count outside ±20% is a ~10-sigma event for a uniform source.
	want := n * Length / len(Alphabet)
	for i := 0; i < len(Alphabet); i++ {
		c := Alphabet[i]
		if got := counts[c]; got < want*8/10 || got > want*12/10 {
			t.Errorf("character %q: got %d occurrences, want about %d", c, got, want)
		}
	}
	if len(counts) != len(Alphabet) {
		t.Fatalf("got %d distinct characters, want %d", len(counts), len(Alphabet))
	}
}

func TestNormalize(t *testing.T) {
	const canon = "K7QM2XWPTRHD9CFANBEZ"
	const withL = "LLQM2XWPTRHD9CFANBEZ"
	tests := []struct {
		name  string
		input string
		want  string
		ok    bool
	}{
		{"canonical", canon, canon, true},
		{"display form", "K7QM-2XWP-TRHD-9CFA-NBEZ", canon, true},
		{"lower case", "k7qm-2xwp-trhd-9cfa-nbez", canon, true},
		{"spaces", "  K7QM 2XWP\tTRHD 9CFA NBEZ \n", canon, true},
		{"odd grouping", "K7-QM2XW-PTRHD9C-FANBEZ", canon, true},
		{"mixed separators", "K7QM – 2XWP — TRHD\u00a09CFA\u2011NBEZ", canon, true},
		{"L lookalikes", "1iQM-2XWP-TRHD-9CFA-NBEZ", withL, true},
		{"L lookalikes upper", "I|QM-2XWP-TRHD-9CFA-NBEZ", withL, true},
		{"lower l", "llqm-2xwp-trhd-9cfa-nbez", withL, true},
		{"empty", "", "", false},
		{"only separators", "---- ----", "", false},
		{"too short", "K7QM-2XWP-TRHD-9CFA-NBE", "", false},
		{"too long", "K7QM-2XWP-TRHD-9CFA-NBEZ-A", "", false},
		{"zero", "K7QM-2XWP-TRHD-9CFA-NBE0", "", false},
		{"letter O", "K7QM-2XWP-TRHD-9CFA-NBEO", "", false},
		{"punctuation", "K7QM-2XWP-TRHD-9CFA-NBE!", "", false},
		{"non-ASCII letter", "K7QM-2XWP-TRHD-9CFA-NBEÉ", "", false},
		{"fullwidth", "K7QM-2XWP-TRHD-9CFA-NBEＺ", "", false},
		{"invalid UTF-8", "K7QM-2XWP-TRHD-9CFA-NBE\xff", "", false},
		{"NUL", "K7QM-2XWP-TRHD-9CFA-NBE\x00Z", "", false},
		{"over the input cap", canon + strings.Repeat(" ", MaxInputSize), "", false},
		{"at the input cap", canon + strings.Repeat(" ", MaxInputSize-Length), canon, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Normalize(tt.input)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("Normalize(%q): got %q, %v, want %q, %v", tt.input, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestFormat(t *testing.T) {
	if got, want := Format("K7QM2XWPTRHD9CFANBEZ"), "K7QM-2XWP-TRHD-9CFA-NBEZ"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if got := Format("short"); got != "short" {
		t.Fatalf("got %q, want input unchanged", got)
	}
}

func FuzzNormalize(f *testing.F) {
	// More seeds live in testdata/fuzz/FuzzNormalize.
	f.Add("K7QM-2XWP-TRHD-9CFA-NBEZ")
	f.Add("k7qm 2xwp trhd 9cfa nbez")
	f.Fuzz(func(t *testing.T, input string) {
		got, ok := Normalize(input)
		if !ok {
			if got != "" {
				t.Fatalf("Normalize(%q): got %q with false, want empty", input, got)
			}
			return
		}
		if len(input) > MaxInputSize {
			t.Fatalf("Normalize accepted %d bytes, want at most %d", len(input), MaxInputSize)
		}
		if len(got) != Length || !utf8.ValidString(got) {
			t.Fatalf("Normalize(%q): got %q, want %d characters", input, got, Length)
		}
		for _, c := range got {
			if !strings.ContainsRune(Alphabet, c) {
				t.Fatalf("Normalize(%q): got %q with %q outside the alphabet", input, got, c)
			}
		}
		if again, ok := Normalize(got); !ok || again != got {
			t.Fatalf("Normalize not idempotent: %q → %q → %q, %v", input, got, again, ok)
		}
		if again, ok := Normalize(Format(got)); !ok || again != got {
			t.Fatalf("Normalize(Format(%q)): got %q, %v, want the same", got, again, ok)
		}
		if again, ok := Normalize(strings.ToLower(Format(got))); !ok || again != got {
			t.Fatalf("Normalize(lower(Format(%q))): got %q, %v, want the same", got, again, ok)
		}
	})
}
