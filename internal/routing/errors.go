package routing

import (
	"errors"
	"fmt"
	"strings"
)

// LoadError is one problem in a policy file.
type LoadError struct {
	File   string // path of the file, as given to Load (or its name in the fs.FS)
	Line   int    // 1-based; 0 when the problem concerns the whole file
	Reason string
}

func (e *LoadError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Reason)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Reason)
}

// LoadErrors is every problem found while loading a policy, in file order.
// Load always returns its errors as LoadErrors; errors.As(err, &*LoadError)
// finds the first one.
type LoadErrors []*LoadError

func (l LoadErrors) Error() string {
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap gives errors.Is and errors.As access to each LoadError.
func (l LoadErrors) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

// FactsError reports a concern's facts that the policy cannot decide on, such
// as an unknown service area or evidence item. Field is the JSON/YAML name of
// the field ("service_area", "evidence_reviewed", ...), so a caller can turn it
// into a 400 with field errors.
type FactsError struct {
	Field  string
	Reason string
}

func (e *FactsError) Error() string {
	return fmt.Sprintf("routing: %s: %s", e.Field, e.Reason)
}

// ErrNoHolder is returned by Decide when every holder on a rule's route and its
// fallback list is named in the concern (or not held), so nobody free of
// conflict can take it.
var ErrNoHolder = errors.New("routing: no route holder free of conflict")
