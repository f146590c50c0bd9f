// Package publicid checks the random ids (UUIDs) by which clients name concerns, messages,
// attachments, investigations and identity requests. Serials stay inside the database, so
// nothing a client sees tells how many came before or which came first. It imports nothing,
// so every layer may use it.
package publicid

// Valid reports whether s is a UUID in its canonical text form, the only form public ids are
// given out in. Lookups answer "not found" for anything else without asking PostgreSQL,
// where a malformed uuid literal would be an error (a 500), not a miss.
func Valid(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
		default:
			return false
		}
	}
	return true
}
