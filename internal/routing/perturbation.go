package routing

import "fmt"

// PerturbationFile is the cell-key perturbation table the statistics are published with.
const PerturbationFile = "perturbation.yaml"

// CellKeys is the number of distinct record and cell keys (0..255).
const CellKeys = 256

// Perturbation is a cell-key perturbation table (ONS, Census 2021): for a true count and
// the cell key of the records it counts, the noise to add. Read-only.
type Perturbation struct {
	Version string
	Max     int // largest perturbation either way
	// noise[c][k] is the perturbation of count c under cell key k; the last row serves
	// every larger count.
	noise [][CellKeys]int8
}

// Publish returns count perturbed for cellKey (the sum of the counted records' keys, any
// integer: it is reduced modulo 256 here). The result is never negative.
func (p *Perturbation) Publish(count, cellKey int64) int64 {
	if count <= 0 {
		return count
	}
	row := p.noise[min(count, int64(len(p.noise)-1))]
	return count + int64(row[((cellKey%CellKeys)+CellKeys)%CellKeys])
}

type rawPerturbation struct {
	Version string `yaml:"version"`
	Max     int    `yaml:"max_perturbation"`
	Rows    []struct {
		Count         int     `yaml:"count"`
		Perturbations [][]int `yaml:"perturbations"`
	} `yaml:"rows"`
}

// maxPerturbation bounds the table: noise larger than this would spoil the figures more
// than it protects anyone.
const maxPerturbation = 10

func buildPerturbation(s *source, raw *rawPerturbation) (*Perturbation, []*LoadError) {
	var errs []*LoadError
	p := &Perturbation{Version: raw.Version, Max: raw.Max}
	if raw.Version == "" {
		errs = append(errs, s.errorf("$.version", "a perturbation table needs a version: it is published with the figures"))
	}
	if raw.Max < 1 || raw.Max > maxPerturbation {
		errs = append(errs, s.errorf("$.max_perturbation", "max_perturbation must be 1 to %d (got %d)", maxPerturbation, raw.Max))
	}
	if len(raw.Rows) == 0 {
		errs = append(errs, s.errorf("$.rows", "no rows: list the perturbations from count 0 up"))
	}
	for i, r := range raw.Rows {
		path := fmt.Sprintf("$.rows[%d]", i)
		if r.Count != i {
			errs = append(errs, s.errorf(path+".count", "count %d out of order: rows run 0, 1, 2, … (want %d)", r.Count, i))
			continue
		}
		var row [CellKeys]int8
		keys, sum := 0, 0
		for j, pair := range r.Perturbations {
			at := fmt.Sprintf("%s.perturbations[%d]", path, j)
			if len(pair) != 2 {
				errs = append(errs, s.errorf(at, "want [perturbation, keys], got %v", pair))
				continue
			}
			d, n := pair[0], pair[1]
			switch {
			case d < -raw.Max || d > raw.Max:
				errs = append(errs, s.errorf(at, "perturbation %d is beyond max_perturbation %d", d, raw.Max))
			case r.Count+d < 0:
				errs = append(errs, s.errorf(at, "perturbation %d would make count %d negative", d, r.Count))
			case n < 1 || keys+n > CellKeys:
				errs = append(errs, s.errorf(at, "%d keys: the row's keys must be positive and add up to %d", n, CellKeys))
			default:
				for k := keys; k < keys+n; k++ {
					row[k] = int8(d)
				}
				keys += n
				sum += d * n
			}
		}
		switch {
		case keys != CellKeys:
			errs = append(errs, s.errorf(path+".perturbations", "count %d: the keys add up to %d, want %d", r.Count, keys, CellKeys))
		case sum != 0:
			errs = append(errs, s.errorf(path+".perturbations", "count %d: the perturbations average %d/%d, want 0 (unbiased)", r.Count, sum, CellKeys))
		}
		p.noise = append(p.noise, row)
	}
	return p, errs
}
