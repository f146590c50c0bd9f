// Package fault is the vocabulary the use cases speak when a request cannot be done. The HTTP
// edge maps each kind to one status code, so domain code never returns HTTP errors and the HTML
// and JSON surfaces say the same thing.
package fault

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"time"
)

// Kind classifies a failure.
type Kind int

const (
	Invalid      Kind = iota + 1 // the input is wrong: 400 with fields
	NotFound                     // unknown, or not yours to know about: 404
	Unauthorized                 // no valid credentials: 401
	Forbidden                    // known, allowed to know, not allowed to do: 403
	Conflict                     // out of order or already done: 409
	TooLarge                     // over a size limit: 413
	Unsupported                  // wrong content type: 415
	TooMany                      // throttled: 429
	Unavailable                  // a dependency is down: 503
	Integrity                    // stored data is not what was written (moved or altered): 500
	Timeout                      // the client sent too slowly: 408
)

// Error is a failure a person can act on. Code is stable for API clients; Message and each field
// value are translation keys, rendered in the reader's language at the edge.
type Error struct {
	Kind    Kind
	Code    string
	Message string
	Fields  map[string]string
	// RetryAfter, when set, is sent as Retry-After: when trying again may work (TooMany,
	// Unavailable).
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if len(e.Fields) == 0 {
		return e.Code
	}
	names := slices.Sorted(maps.Keys(e.Fields))
	return e.Code + ": " + strings.Join(names, ", ")
}

// New builds an error without fields.
func New(kind Kind, code, message string) *Error {
	return &Error{Kind: kind, Code: code, Message: message}
}

// Fields collects field errors while validating a request; the first error per field wins.
type Fields map[string]string

// Add records msg against field unless the field already has an error.
func (f Fields) Add(field, msg string) {
	if _, ok := f[field]; !ok {
		f[field] = msg
	}
}

// Err returns nil when no field failed, else an Invalid error carrying them.
func (f Fields) Err() error {
	if len(f) == 0 {
		return nil
	}
	return &Error{Kind: Invalid, Code: "invalid", Message: "error.invalid", Fields: f}
}

// As extracts a *Error from err's chain.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// Is reports whether err is a fault of the given kind.
func Is(err error, kind Kind) bool {
	e, ok := As(err)
	return ok && e.Kind == kind
}
