package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestDefaults(t *testing.T) {
	c, err := Parse(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Embedded() {
		t.Errorf("Embedded() = false, want true without DATABASE_URL")
	}
	if c.Listen != "127.0.0.1:8080" {
		t.Errorf("Listen = %q, want 127.0.0.1:8080", c.Listen)
	}
	if got := c.PublicURL.String(); got != "http://127.0.0.1:8080" {
		t.Errorf("PublicURL = %q, want http://127.0.0.1:8080", got)
	}
	if !strings.HasSuffix(c.DataKeyFile, "/.candour/keys/data.key") {
		t.Errorf("DataKeyFile = %q, want under the data dir", c.DataKeyFile)
	}
	if c.MaxAttachment != 100<<20 || !c.AutoMigrate || c.SecureCookies() {
		t.Errorf("unexpected defaults: %+v", c)
	}
}

func TestBadValuesNameTheVariable(t *testing.T) {
	cases := []struct{ name, value string }{
		{"CANDOUR_LISTEN", "8080"},
		{"CANDOUR_LISTEN", "127.0.0.1:99999"},
		{"CANDOUR_PUBLIC_URL", "ftp://x"},
		{"CANDOUR_PUBLIC_URL", "not a url"},
		{"DATABASE_URL", "nonsense"},
		{"CANDOUR_AUTO_MIGRATE", "perhaps"},
		{"CANDOUR_MAX_ATTACHMENT_MB", "0"},
		{"CANDOUR_SHUTDOWN_TIMEOUT", "forever"},
		{"CANDOUR_LOG_LEVEL", "loud"},
		{"CANDOUR_MIGRATE_DATABASE_URL", "nonsense"},
		{"CANDOUR_INSECURE_DB_ROLE", "yes"},
		{"CANDOUR_ONION_URL", "http://example.gov.uk"},
		{"CANDOUR_ONION_URL", "http://expyuzz4wqqyqhjn.onion"}, // version 2: no longer served by Tor
		{"CANDOUR_ONION_URL", "ftp://" + onion},
		{"CANDOUR_ONION_URL", "http://" + onion[1:]},
		{"CANDOUR_ONION_URL", "http://" + onion[:55] + "1.onion"},
		{"CANDOUR_ONION_URL", "http://" + onion + "/?x=1"},
	}
	for _, tc := range cases {
		_, err := Parse(env(map[string]string{tc.name: tc.value}))
		var ce *Error
		if !errors.As(err, &ce) || ce.Var != tc.name {
			t.Errorf("%s=%q: got %v, want an error naming %s", tc.name, tc.value, err, tc.name)
		}
	}
}

// The owner's URL only makes sense beside the serving role's: the embedded default keeps both
// roles itself.
func TestMigrateURLNeedsDatabaseURL(t *testing.T) {
	_, err := Parse(env(map[string]string{"CANDOUR_MIGRATE_DATABASE_URL": "postgres://owner:pw@db/candour"}))
	var ce *Error
	if !errors.As(err, &ce) || ce.Var != "CANDOUR_MIGRATE_DATABASE_URL" || !strings.Contains(err.Error(), "DATABASE_URL") {
		t.Errorf("got %v, want an error saying it needs DATABASE_URL", err)
	}
	c, err := Parse(env(map[string]string{"DATABASE_URL": "postgres://app:pw@db/candour",
		"CANDOUR_MIGRATE_DATABASE_URL": "postgres://owner:pw@db/candour", "CANDOUR_INSECURE_DB_ROLE": "allow"}))
	if err != nil || c.MigrateURL == "" || !c.InsecureDBRole {
		t.Errorf("got %+v, %v; want both URLs and the escape hatch", c, err)
	}
}

func TestSecretNeverInError(t *testing.T) {
	_, err := Parse(env(map[string]string{"DATABASE_URL": "hunter2secret"}))
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("got %v, want an error without the value", err)
	}
}

func TestHTTPSMeansSecureCookies(t *testing.T) {
	c, err := Parse(env(map[string]string{"CANDOUR_PUBLIC_URL": "https://whistle.example.gov.uk/"}))
	if err != nil {
		t.Fatal(err)
	}
	if !c.SecureCookies() || c.PublicURL.String() != "https://whistle.example.gov.uk" {
		t.Errorf("got %v secure=%v, want https without trailing slash and secure cookies", c.PublicURL, c.SecureCookies())
	}
}

// Mail in clear only to a relay on this machine and never with a password; TLS by default.
func TestSMTPTLSModes(t *testing.T) {
	for _, c := range []struct {
		vars map[string]string
		ok   bool
	}{
		{map[string]string{"CANDOUR_SMTP_ADDR": "mail.example.gov.uk:587"}, true},
		{map[string]string{"CANDOUR_SMTP_ADDR": "mail.example.gov.uk:465", "CANDOUR_SMTP_TLS": "tls"}, true},
		{map[string]string{"CANDOUR_SMTP_ADDR": "127.0.0.1:25", "CANDOUR_SMTP_TLS": "none"}, true},
		{map[string]string{"CANDOUR_SMTP_ADDR": "localhost:25", "CANDOUR_SMTP_TLS": "none"}, true},
		{map[string]string{"CANDOUR_SMTP_ADDR": "mail.example.gov.uk:25", "CANDOUR_SMTP_TLS": "none"}, false},
		{map[string]string{"CANDOUR_SMTP_ADDR": "127.0.0.1:25", "CANDOUR_SMTP_TLS": "none", "CANDOUR_SMTP_USERNAME": "u"}, false},
		{map[string]string{"CANDOUR_SMTP_TLS": "ssl"}, false},
		{map[string]string{"CANDOUR_SMTP_CA_FILE": "/nonexistent/ca.pem"}, false},
	} {
		cfg, err := Parse(env(c.vars))
		var ce *Error
		switch {
		case c.ok && err != nil:
			t.Errorf("%v: %v", c.vars, err)
		case !c.ok && (!errors.As(err, &ce) || !strings.HasPrefix(ce.Var, "CANDOUR_SMTP_")):
			t.Errorf("%v: got %v, want an error naming the SMTP setting", c.vars, err)
		case c.ok && c.vars["CANDOUR_SMTP_TLS"] == "" && cfg.SMTPTLS != SMTPStartTLS:
			t.Errorf("%v: mode %q, want starttls by default", c.vars, cfg.SMTPTLS)
		}
	}
}

// A v3 onion address (the Tor Project's own), for the tests.
const onion = "2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion"

func TestOnionURL(t *testing.T) {
	c, err := Parse(env(nil))
	if err != nil || c.OnionURL != "" {
		t.Fatalf("default: got %q, %v; want no onion address", c.OnionURL, err)
	}
	c, err = Parse(env(map[string]string{"CANDOUR_ONION_URL": "http://" + onion + "/"}))
	if err != nil || c.OnionURL != "http://"+onion {
		t.Errorf("got %q, %v; want the address without its trailing slash", c.OnionURL, err)
	}
}

// CANDOUR_BLOB_URL names a bucket, a prefix and an endpoint; its credentials come from their
// own variables (or _FILE), each needed with it and refused without it.
func TestBlobURL(t *testing.T) {
	keys := map[string]string{"CANDOUR_BLOB_ACCESS_KEY": "AK", "CANDOUR_BLOB_SECRET_KEY": "SK"}
	with := func(m map[string]string) map[string]string {
		for k, v := range keys {
			if _, set := m[k]; !set {
				m[k] = v
			}
		}
		return m
	}
	c, err := Parse(env(with(map[string]string{"CANDOUR_BLOB_URL": "s3://evidence/candour/live/?endpoint=http://127.0.0.1:9000&region=eu-west-2"})))
	if err != nil {
		t.Fatal(err)
	}
	want := BlobS3{Endpoint: "127.0.0.1:9000", Region: "eu-west-2", Bucket: "evidence", Prefix: "candour/live/", AccessKey: "AK", SecretKey: "SK"}
	if *c.BlobS3 != want {
		t.Errorf("got %+v, want %+v", *c.BlobS3, want)
	}
	c, err = Parse(env(with(map[string]string{"CANDOUR_BLOB_URL": "s3://evidence"})))
	if err != nil || c.BlobS3.Endpoint != "s3.amazonaws.com" || !c.BlobS3.Secure || c.BlobS3.Prefix != "" {
		t.Errorf("default endpoint: %+v %v", c.BlobS3, err)
	}
	file := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(file, []byte("from-file\n"), 0o600)
	c, err = Parse(env(map[string]string{"CANDOUR_BLOB_URL": "s3://evidence", "CANDOUR_BLOB_ACCESS_KEY": "AK", "CANDOUR_BLOB_SECRET_KEY_FILE": file}))
	if err != nil || c.BlobS3.SecretKey != "from-file" {
		t.Errorf("secret from file: %v", err)
	}
	for _, tc := range []struct {
		env  map[string]string
		name string
	}{
		{with(map[string]string{"CANDOUR_BLOB_URL": "https://evidence"}), "CANDOUR_BLOB_URL"},
		{with(map[string]string{"CANDOUR_BLOB_URL": "s3://Evidence_Bucket"}), "CANDOUR_BLOB_URL"},
		{with(map[string]string{"CANDOUR_BLOB_URL": "s3://evidence?endpoint=http://s3.example.com"}), "CANDOUR_BLOB_URL"},
		{with(map[string]string{"CANDOUR_BLOB_URL": "s3://evidence?endpont=https://s3.example.com"}), "CANDOUR_BLOB_URL"},
		{with(map[string]string{"CANDOUR_BLOB_URL": "s3://AK:SK@evidence"}), "CANDOUR_BLOB_URL"},
		{with(map[string]string{"CANDOUR_BLOB_URL": "s3://evidence", "CANDOUR_BLOB_SECRET_KEY": ""}), "CANDOUR_BLOB_SECRET_KEY"},
		{with(map[string]string{"CANDOUR_BLOB_URL": "s3://evidence", "CANDOUR_BLOB_ACCESS_KEY": ""}), "CANDOUR_BLOB_ACCESS_KEY"},
		{map[string]string{"CANDOUR_BLOB_ACCESS_KEY": "AK"}, "CANDOUR_BLOB_ACCESS_KEY"},
	} {
		_, err := Parse(env(tc.env))
		var ce *Error
		if !errors.As(err, &ce) || ce.Var != tc.name {
			t.Errorf("%v: got %v, want an error naming %s", tc.env, err, tc.name)
		}
		if err != nil && strings.Contains(err.Error(), "SK") {
			t.Errorf("%v: the secret is in the error: %v", tc.env, err)
		}
	}
}

// New attachments go to files in the data folder unless told otherwise: to the bucket whenever
// CANDOUR_BLOB_URL is set, to PostgreSQL only when CANDOUR_BLOB_STORE says so.
func TestBlobStore(t *testing.T) {
	bucket := map[string]string{"CANDOUR_BLOB_URL": "s3://evidence", "CANDOUR_BLOB_ACCESS_KEY": "AK", "CANDOUR_BLOB_SECRET_KEY": "SK"}
	plus := func(m map[string]string, k, v string) map[string]string {
		out := map[string]string{k: v}
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	for _, tc := range []struct {
		env       map[string]string
		store     string
		dir, fail string
	}{
		{map[string]string{"CANDOUR_DATA_DIR": "/srv/candour"}, BlobFiles, "/srv/candour/blobs", ""},
		{map[string]string{"CANDOUR_DATA_DIR": "/srv/candour", "CANDOUR_BLOB_DIR": "/evidence"}, BlobFiles, "/evidence", ""},
		{map[string]string{"CANDOUR_DATA_DIR": "/srv/candour", "CANDOUR_BLOB_STORE": "postgres"}, BlobPostgres, "/srv/candour/blobs", ""},
		{plus(bucket, "CANDOUR_DATA_DIR", "/srv/candour"), BlobBucket, "/srv/candour/blobs", ""},
		{plus(bucket, "CANDOUR_BLOB_STORE", "s3"), BlobBucket, "", ""},
		{plus(bucket, "CANDOUR_BLOB_STORE", "postgres"), "", "", "CANDOUR_BLOB_STORE"},
		{plus(bucket, "CANDOUR_BLOB_STORE", "files"), "", "", "CANDOUR_BLOB_STORE"},
		{map[string]string{"CANDOUR_BLOB_STORE": "s3"}, "", "", "CANDOUR_BLOB_STORE"},
		{map[string]string{"CANDOUR_BLOB_STORE": "disk"}, "", "", "CANDOUR_BLOB_STORE"},
	} {
		c, err := Parse(env(tc.env))
		var ce *Error
		switch {
		case tc.fail != "" && (!errors.As(err, &ce) || ce.Var != tc.fail):
			t.Errorf("%v: got %v, want an error naming %s", tc.env, err, tc.fail)
		case tc.fail == "" && err != nil:
			t.Errorf("%v: %v", tc.env, err)
		case tc.fail == "" && (c.BlobStore != tc.store || tc.dir != "" && c.BlobDir != tc.dir):
			t.Errorf("%v: got store %q in %q, want %q in %q", tc.env, c.BlobStore, c.BlobDir, tc.store, tc.dir)
		}
	}
}
