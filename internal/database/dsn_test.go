package database

import (
	"strings"
	"testing"
)

func TestDSNWith(t *testing.T) {
	tests := []struct{ dsn, want string }{
		{"host=/tmp/pg user=candour dbname=candour sslmode=disable",
			"host=/tmp/pg user=candour sslmode=disable dbname=x"},
		{"host='/tmp/a b' password='it\\'s' user=u",
			"host='/tmp/a b' password='it\\'s' user=u dbname=x"},
		{"postgres://u:p%40ss@localhost:5432/candour?sslmode=disable",
			"host=localhost password=p@ss port=5432 sslmode=disable user=u dbname=x"},
		{"postgresql://localhost", "host=localhost dbname=x"},
		// pg_auto_failover's `pg_autoctl show uri`: every server, in order.
		{"postgres://u@db1:5432,db2:6432,[::1]:7432,db4/candour?target_session_attrs=read-write",
			"target_session_attrs=read-write user=u host=db1,db2,::1,db4 port=5432,6432,7432, dbname=x"},
		{"postgres://u:p@a,b", "password=p user=u host=a,b port=, dbname=x"},
	}
	for _, tt := range tests {
		d, err := ParseDSN(tt.dsn)
		if err != nil {
			t.Errorf("ParseDSN(%q): %v", tt.dsn, err)
			continue
		}
		if got := d.With("dbname", "x").String(); got != tt.want {
			t.Errorf("ParseDSN(%q).With(dbname, x): got %q, want %q", tt.dsn, got, tt.want)
		}
	}
	for _, bad := range []string{"host='unterminated", "postgres://u:s3cret@[::1", "s3cret"} {
		if _, err := ParseDSN(bad); err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("ParseDSN(%q): got %v, want an error without the password", bad, err)
		}
	}
}

func TestQuoteDSN(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/tmp/x", "/tmp/x"},
		{"/tmp/a b", `'/tmp/a b'`},
		{`it's`, `'it\'s'`},
		{"", "''"},
	}
	for _, tt := range tests {
		if got := quoteDSN(tt.in); got != tt.want {
			t.Errorf("quoteDSN(%q): got %q, want %q", tt.in, got, tt.want)
		}
	}
}
