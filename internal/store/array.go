package store

import (
	"encoding/hex"
	"strconv"
	"time"
)

// pgArray builds a one-dimensional array in PostgreSQL's text form, element by element; the
// server casts it to the parameter's array type. The zero value is an empty array.
type pgArray struct{ b []byte }

func (a *pgArray) next() {
	if len(a.b) == 0 {
		a.b = append(a.b, '{')
	} else {
		a.b = append(a.b, ',')
	}
}

func (a *pgArray) null() {
	a.next()
	a.b = append(a.b, "NULL"...)
}

// text quotes s, so that no content of it (commas, braces, "NULL") reads as syntax.
func (a *pgArray) text(s string) {
	a.next()
	a.b = append(a.b, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			a.b = append(a.b, '\\')
		}
		a.b = append(a.b, s[i])
	}
	a.b = append(a.b, '"')
}

// bytes is p in bytea's hex form; nil is NULL.
func (a *pgArray) bytes(p []byte) {
	if p == nil {
		a.null()
		return
	}
	a.next()
	a.b = append(a.b, `"\\x`...)
	a.b = hex.AppendEncode(a.b, p)
	a.b = append(a.b, '"')
}

func (a *pgArray) int(n int64) {
	a.next()
	a.b = strconv.AppendInt(a.b, n, 10)
}

func (a *pgArray) bool(v bool) {
	a.next()
	if v {
		a.b = append(a.b, 't')
	} else {
		a.b = append(a.b, 'f')
	}
}

// time is t's instant, in UTC: RFC 3339 spells offsets to the minute only, and zones once had
// offsets with seconds. PostgreSQL rounds it to the microsecond, as a time.Time parameter.
func (a *pgArray) time(t time.Time) {
	a.next()
	a.b = append(a.b, '"')
	a.b = t.UTC().AppendFormat(a.b, time.RFC3339Nano)
	a.b = append(a.b, '"')
}

func (a *pgArray) String() string {
	if len(a.b) == 0 {
		return "{}"
	}
	return string(append(a.b, '}'))
}
