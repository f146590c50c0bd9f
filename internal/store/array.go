package store

import (
	"encoding/binary"
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

// byteaArray builds a bytea[] in PostgreSQL's binary form (array_send's): sent as a []byte
// argument, which pools from database.Open pass in binary (binary_parameters), the server
// copies each element as it is, where the text form would cost a hex encoding here and a
// decoding there of every byte of ciphertext.
type byteaArray struct {
	b     []byte // a header's room, then each element: its length (-1: NULL) and its bytes
	n     int
	nulls bool
}

const (
	byteaArrayHeader = 20 // dimensions, has-nulls, element type; one dimension's size and lower bound
	byteaOID         = 17
)

// newByteaArray returns an empty array with room for elements of size bytes in all.
func newByteaArray(size int) byteaArray {
	return byteaArray{b: make([]byte, byteaArrayHeader, byteaArrayHeader+size)}
}

// add appends p; nil is NULL.
func (a *byteaArray) add(p []byte) {
	if a.b == nil {
		a.b = make([]byte, byteaArrayHeader)
	}
	a.n++
	if p == nil {
		a.nulls = true
		a.b = binary.BigEndian.AppendUint32(a.b, 0xFFFFFFFF)
		return
	}
	a.b = binary.BigEndian.AppendUint32(a.b, uint32(len(p)))
	a.b = append(a.b, p...)
}

// value is the array's binary form.
func (a *byteaArray) value() []byte {
	if a.n == 0 {
		return binary.BigEndian.AppendUint32(make([]byte, 8), byteaOID) // no dimensions, no nulls
	}
	binary.BigEndian.PutUint32(a.b[0:], 1)
	if a.nulls {
		binary.BigEndian.PutUint32(a.b[4:], 1)
	} else {
		binary.BigEndian.PutUint32(a.b[4:], 0)
	}
	binary.BigEndian.PutUint32(a.b[8:], byteaOID)
	binary.BigEndian.PutUint32(a.b[12:], uint32(a.n))
	binary.BigEndian.PutUint32(a.b[16:], 1)
	return a.b
}
