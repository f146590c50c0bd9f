package routing

import "testing"

// The sample table: zero stays zero, the noise stays within ±2, never goes below zero, and
// averages zero over the 256 cell keys for every count; the last row serves larger counts.
func TestPerturbationSample(t *testing.T) {
	p, err := LoadFS(variant(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	pt := p.Perturbation
	if pt.Version != "candour-ck-2.1" || pt.Max != 2 {
		t.Errorf("got version %q max %d, want candour-ck-2.1 and 2", pt.Version, pt.Max)
	}
	for _, count := range []int64{0, 1, 2, 3, 7, 1000} {
		var sum int64
		seen := map[int64]bool{}
		for key := int64(0); key < CellKeys; key++ {
			v := pt.Publish(count, key)
			if v < 0 || v < count-2 || v > count+2 {
				t.Errorf("count %d key %d: got %d, want within ±2 and not negative", count, key, v)
			}
			sum += v - count
			seen[v] = true
		}
		if sum != 0 {
			t.Errorf("count %d: perturbations sum to %d over the keys, want 0", count, sum)
		}
		if count > 0 && len(seen) < 3 {
			t.Errorf("count %d: only %d published values, want noise", count, len(seen))
		}
	}
	if got := pt.Publish(0, 77); got != 0 {
		t.Errorf("count 0: got %d, want 0", got)
	}
}

// Lookup follows the key ranges in file order, reduces the cell key modulo 256 (a rollup
// sum may be large, or negative while deltas net out) and uses the last row above the table.
func TestPerturbationLookup(t *testing.T) {
	p, err := LoadFS(variant(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		count, key, want int64
	}{
		{1, 0, 0}, {1, 95, 0}, {1, 96, 1}, {1, 191, 1}, {1, 192, 2}, {1, 224, 3}, {1, 255, 3},
		{2, 0, 0}, {2, 31, 0}, {2, 32, 1}, {2, 80, 2}, {2, 176, 3}, {2, 224, 4},
		{50, 0, 48}, {50, 128, 50}, {50, 255, 52},
		{1, 256 + 96, 1}, {1, -1, 3}, {50, 10*256 + 200, 51},
	}
	for _, tt := range tests {
		if got := p.Perturbation.Publish(tt.count, tt.key); got != tt.want {
			t.Errorf("Publish(%d, %d): got %d, want %d", tt.count, tt.key, got, tt.want)
		}
	}
}
