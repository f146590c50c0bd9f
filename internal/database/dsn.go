package database

import (
	"fmt"
	"strings"

	"github.com/lib/pq"
)

// DSN is a connection string taken apart: its key=value pairs in order. postgres:// URLs are
// read into the same form, so every caller can change one setting (the database, the user)
// without caring which form the operator wrote.
type DSN [][2]string

// ParseDSN reads a postgres:// URL or a lib/pq key=value string. Errors never quote s, which
// may carry a password.
func ParseDSN(s string) (DSN, error) {
	if strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://") {
		s, hosts, ports := cutHostList(s)
		kv, err := pq.ParseURL(s)
		if err != nil {
			return nil, fmt.Errorf("connection string: not a valid postgres:// URL")
		}
		d, err := parseKeyValue(kv)
		if err != nil || hosts == "" {
			return d, err
		}
		return d.With("host", hosts).With("port", ports), nil
	}
	return parseKeyValue(s)
}

// cutHostList takes the several servers out of a URL such as pg_auto_failover's
// (postgres://u@a:5432,b:5433/db?target_session_attrs=read-write), which pq.ParseURL (Go's
// url.Parse) refuses or misreads, and returns them as libpq's lists (host=a,b port=5432,5433).
// A URL of one server comes back as it was, with empty lists.
func cutHostList(s string) (rest, hosts, ports string) {
	scheme, tail, _ := strings.Cut(s, "://")
	end := strings.IndexAny(tail, "/?#")
	if end < 0 {
		end = len(tail)
	}
	authority := tail[:end]
	at := strings.LastIndexByte(authority, '@') + 1
	list := authority[at:]
	if !strings.Contains(list, ",") {
		return s, "", ""
	}
	var hs, ps []string
	for _, item := range strings.Split(list, ",") {
		host, port := item, ""
		if i := strings.LastIndexByte(item, ':'); i >= 0 && i > strings.LastIndexByte(item, ']') {
			host, port = item[:i], item[i+1:]
		}
		hs = append(hs, strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
		ps = append(ps, port) // empty: the default, 5432
	}
	// Any one host will do for the parse: the lists replace it.
	return scheme + "://" + authority[:at] + "localhost" + tail[end:], strings.Join(hs, ","), strings.Join(ps, ",")
}

// Get returns the value of key, or "" when it is not set.
func (d DSN) Get(key string) string {
	for _, kv := range d {
		if kv[0] == key {
			return kv[1]
		}
	}
	return ""
}

// With returns a copy of d with key set to value.
func (d DSN) With(key, value string) DSN {
	out := make(DSN, 0, len(d)+1)
	for _, kv := range d {
		if kv[0] != key {
			out = append(out, kv)
		}
	}
	return append(out, [2]string{key, value})
}

// String is the key=value form lib/pq reads.
func (d DSN) String() string {
	parts := make([]string, len(d))
	for i, kv := range d {
		parts[i] = kv[0] + "=" + quoteDSN(kv[1])
	}
	return strings.Join(parts, " ")
}

// parseKeyValue splits a key=value connection string, honouring single quotes and
// backslash escapes as lib/pq does.
func parseKeyValue(s string) (DSN, error) {
	var out DSN
	r := []rune(s)
	i := 0
	skipSpace := func() {
		for i < len(r) && (r[i] == ' ' || r[i] == '\t' || r[i] == '\n') {
			i++
		}
	}
	for {
		skipSpace()
		if i >= len(r) {
			return out, nil
		}
		start := i
		for i < len(r) && r[i] != '=' && r[i] != ' ' {
			i++
		}
		key := string(r[start:i])
		skipSpace()
		if i >= len(r) || r[i] != '=' || key == "" {
			return nil, fmt.Errorf("connection string: missing \"=\" after a key")
		}
		i++
		skipSpace()
		var val strings.Builder
		if i < len(r) && r[i] == '\'' {
			i++
			for {
				if i >= len(r) {
					return nil, fmt.Errorf("connection string: unterminated quote in value of %q", key)
				}
				if r[i] == '\\' && i+1 < len(r) {
					val.WriteRune(r[i+1])
					i += 2
					continue
				}
				if r[i] == '\'' {
					i++
					break
				}
				val.WriteRune(r[i])
				i++
			}
		} else {
			for i < len(r) && r[i] != ' ' && r[i] != '\t' && r[i] != '\n' {
				if r[i] == '\\' && i+1 < len(r) {
					i++
				}
				val.WriteRune(r[i])
				i++
			}
		}
		out = append(out, [2]string{key, val.String()})
	}
}

// quoteDSN quotes a value for a key=value connection string when it needs it.
func quoteDSN(v string) string {
	if v != "" && !strings.ContainsAny(v, " '\\\t\n") {
		return v
	}
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// ForLibpq splits d for PostgreSQL's own programs (pg_dump, pg_restore, psql): the connection
// string without the password, which goes to them in PGPASSWORD so that no other user of the
// machine reads it in the process list, and without lib/pq's own settings, which libpq refuses.
func (d DSN) ForLibpq() (conninfo, password string) {
	out := make(DSN, 0, len(d))
	for _, kv := range d {
		switch kv[0] {
		case "password":
			password = kv[1]
		case "binary_parameters", "disable_prepared_binary_result":
		default:
			out = append(out, kv)
		}
	}
	return out.String(), password
}
