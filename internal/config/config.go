// Package config reads Candour's settings from the environment. Every variable is declared once
// in the table below with its default, its validation and whether it is secret, so the README,
// the error messages and the code cannot drift apart.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Config is the validated configuration of one portal process.
type Config struct {
	DatabaseURL     string // the serving role; empty: start the embedded PostgreSQL
	MigrateURL      string // the owner role, for migrations; empty: never migrate this database
	InsecureDBRole  bool   // serve even as a superuser or the owner (development only)
	DataDir         string
	PGBinDir        string
	Listen          string
	PublicURL       *url.URL
	OnionURL        string // the reporter pages' onion service address, no trailing slash; empty: none
	PolicyDir       string
	DataKeyFile     string
	AutoMigrate     bool
	MaxAttachment   int64
	MailboxQuota    int64   // bytes of evidence one concern may hold in all
	BlobDir         string  // the blob folder: where BlobFiles puts new attachments, and files made before open from
	BlobS3          *BlobS3 // nil: no S3-compatible blob store
	BlobStore       string  // where new attachment bytes go: BlobFiles, BlobPostgres or BlobBucket
	ShutdownTimeout time.Duration
	ShutdownDrain   time.Duration // how long a stopping portal answers /healthz 503 before it stops taking connections
	MemoryLimit     int64         // bytes the Go runtime aims to stay under; 0: none (GOMEMLIMIT wins when set)
	ReadTimeout     time.Duration // longest a whole request, upload included, may take to arrive
	UploadMinRate   int64         // bytes a second; 0: no minimum
	UploadGrace     time.Duration // how long an upload may be slower than UploadMinRate at first
	// UploadContendedRate is the rate (bytes a second) an upload must keep to hold its slot
	// while every slot is taken; 0: a newcomer never takes a slot for being faster.
	UploadContendedRate int64
	FilingsAtOnce       int // anonymous filings served at once, the rest queued; 0: no bound
	LogLevel            string
	SMTPAddr            string
	SMTPFrom            string
	SMTPUsername        string
	SMTPPassword        string
	SMTPTLS             string // SMTPStartTLS, SMTPImplicitTLS or SMTPPlain
	SMTPCAFile          string // empty: the system's roots
}

// How the portal speaks to its mail server (CANDOUR_SMTP_TLS).
const (
	SMTPStartTLS    = "starttls" // STARTTLS, required, with the server's name checked
	SMTPImplicitTLS = "tls"      // TLS from the first byte (port 465)
	SMTPPlain       = "none"     // no TLS: only to a relay on this machine, never with AUTH
)

// Where new attachment bytes go (CANDOUR_BLOB_STORE). Blobs already stored keep opening from
// where they are, whatever it says.
const (
	BlobFiles    = "files"    // files in CANDOUR_BLOB_DIR (one machine, or a shared filesystem)
	BlobPostgres = "postgres" // blob_chunks rows: slower (docs/design-changes.md), kept for those who chose it
	BlobBucket   = "s3"       // CANDOUR_BLOB_URL's bucket: portals on several machines
)

// Embedded reports whether the portal runs its own private PostgreSQL.
func (c *Config) Embedded() bool { return c.DatabaseURL == "" }

// SecureCookies reports whether cookies must carry the Secure flag.
func (c *Config) SecureCookies() bool { return c.PublicURL.Scheme == "https" }

// Var describes one environment variable.
type Var struct {
	Name    string
	Default string
	Secret  bool // never printed, never logged
	Help    string
	set     func(c *Config, v string) error
}

// Vars is the table of every setting, in the order the README documents them.
var Vars = []Var{
	{Name: "DATABASE_URL", Secret: true, Help: "PostgreSQL connection URL of the least-privilege role the portal serves as (README, Database roles); unset: start the embedded PostgreSQL under CANDOUR_DATA_DIR",
		set: func(c *Config, v string) error { return databaseURL(&c.DatabaseURL, v) }},
	{Name: "CANDOUR_MIGRATE_DATABASE_URL", Secret: true, Help: "PostgreSQL connection URL of the role that owns the schema, for `candour migrate` and CANDOUR_AUTO_MIGRATE; same database as DATABASE_URL; unset: the portal only checks that the schema is current",
		set: func(c *Config, v string) error {
			if v != "" && c.DatabaseURL == "" {
				return errors.New("needs DATABASE_URL: the embedded default keeps its own roles")
			}
			return databaseURL(&c.MigrateURL, v)
		}},
	{Name: "CANDOUR_INSECURE_DB_ROLE", Help: "allow: serve even as a superuser or the schema's owner, with a warning at every start (development only; lets the serving connection rewrite the audit trail)",
		set: func(c *Config, v string) error {
			switch v {
			case "":
			case "allow":
				c.InsecureDBRole = true
			default:
				return errors.New("the only value is allow")
			}
			return nil
		}},
	{Name: "CANDOUR_DATA_DIR", Default: "./.candour", Help: "folder for the embedded database and generated keys",
		set: func(c *Config, v string) error {
			abs, err := filepath.Abs(v)
			if err != nil {
				return err
			}
			c.DataDir = abs
			return nil
		}},
	{Name: "CANDOUR_PG_BIN", Help: "folder holding initdb and postgres for the embedded default; default: PATH, pg_config --bindir, /usr/lib/postgresql/*/bin",
		set: func(c *Config, v string) error {
			c.PGBinDir = v
			return nil
		}},
	{Name: "CANDOUR_LISTEN", Default: "127.0.0.1:8080", Help: "address the HTTP server listens on",
		set: func(c *Config, v string) error {
			_, port, err := net.SplitHostPort(v)
			if err != nil {
				return errors.New("want host:port")
			}
			if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
				return errors.New("port must be 0-65535")
			}
			c.Listen = v
			return nil
		}},
	{Name: "CANDOUR_PUBLIC_URL", Help: "the address people use to reach the portal (links in e-mails; https turns on Secure cookies); default http://CANDOUR_LISTEN",
		set: func(c *Config, v string) error {
			if v == "" {
				v = "http://" + c.Listen
			}
			u, err := url.Parse(v)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return errors.New("want an absolute http(s) URL")
			}
			u.Path = strings.TrimSuffix(u.Path, "/")
			c.PublicURL = u
			return nil
		}},
	{Name: "CANDOUR_ONION_URL", Help: "the onion service address of the portal (http(s)://<56 characters>.onion); set: reporter pages send Onion-Location and show it (README, Onion service)",
		set: func(c *Config, v string) error {
			if v == "" {
				return nil
			}
			u, err := url.Parse(v)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || !OnionHost(u.Hostname()) ||
				u.User != nil || u.RawQuery != "" || u.Fragment != "" {
				return errors.New("want an http(s) URL of a v3 onion address: 56 letters a-z and digits 2-7, then .onion")
			}
			c.OnionURL = strings.TrimSuffix(u.String(), "/")
			return nil
		}},
	{Name: "CANDOUR_POLICY_DIR", Default: "./policies", Help: "folder of the council's policy files",
		set: func(c *Config, v string) error {
			abs, err := filepath.Abs(v)
			if err != nil {
				return err
			}
			c.PolicyDir = abs
			return nil
		}},
	{Name: "CANDOUR_DATA_KEY_FILE", Help: "server key that wraps each concern's data key; default CANDOUR_DATA_DIR/keys/data.key",
		set: func(c *Config, v string) error {
			if v == "" {
				v = filepath.Join(c.DataDir, "keys", "data.key")
			}
			abs, err := filepath.Abs(v)
			if err != nil {
				return err
			}
			c.DataKeyFile = abs
			return nil
		}},
	{Name: "CANDOUR_AUTO_MIGRATE", Default: "true", Help: "migrate the schema on start, as the owner (the embedded default, or CANDOUR_MIGRATE_DATABASE_URL when set); false: refuse to serve a schema that is behind",
		set: func(c *Config, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return errors.New("want true or false")
			}
			c.AutoMigrate = b
			return nil
		}},
	{Name: "CANDOUR_MAX_ATTACHMENT_MB", Default: "100", Help: "largest evidence file accepted, in MiB",
		set: func(c *Config, v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 1 || n > 4096 {
				return errors.New("want a whole number of MiB between 1 and 4096")
			}
			c.MaxAttachment = n << 20
			return nil
		}},
	{Name: "CANDOUR_MAILBOX_QUOTA_MB", Default: "1024", Help: "most evidence one concern may hold in all, in MiB (and at most 100 files)",
		set: func(c *Config, v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 1 || n > 1<<20 {
				return errors.New("want a whole number of MiB between 1 and 1048576")
			}
			c.MailboxQuota = n << 20
			return nil
		}},
	{Name: "CANDOUR_BLOB_DIR", Help: "folder for attachment bytes (age ciphertext, one file per blob named by its id; rows stay in PostgreSQL); default CANDOUR_DATA_DIR/blobs. One machine only (or a shared filesystem): portals on several machines need CANDOUR_BLOB_URL",
		set: func(c *Config, v string) error {
			if v == "" {
				v = filepath.Join(c.DataDir, "blobs")
			}
			abs, err := filepath.Abs(v)
			if err != nil {
				return err
			}
			c.BlobDir = abs
			return nil
		}},
	{Name: "CANDOUR_BLOB_URL", Help: "S3-compatible bucket for attachment bytes: s3://BUCKET/PREFIX?endpoint=https://HOST[:PORT]&region=R (endpoint default https://s3.amazonaws.com; plain http only to this machine); new blobs go there, those in CANDOUR_BLOB_DIR or PostgreSQL keep opening from there; unset: CANDOUR_BLOB_DIR or PostgreSQL",
		set: func(c *Config, v string) error {
			if v == "" {
				return nil
			}
			b, err := parseBlobURL(v)
			if err != nil {
				return err
			}
			c.BlobS3 = b
			return nil
		}},
	{Name: "CANDOUR_BLOB_ACCESS_KEY", Secret: true, Help: "access key id for CANDOUR_BLOB_URL; or CANDOUR_BLOB_ACCESS_KEY_FILE",
		set: func(c *Config, v string) error { return blobKey(c, v, func(b *BlobS3) { b.AccessKey = v }) }},
	{Name: "CANDOUR_BLOB_SECRET_KEY", Secret: true, Help: "secret access key for CANDOUR_BLOB_URL; or CANDOUR_BLOB_SECRET_KEY_FILE",
		set: func(c *Config, v string) error { return blobKey(c, v, func(b *BlobS3) { b.SecretKey = v }) }},
	{Name: "CANDOUR_BLOB_STORE", Help: "where new attachment bytes go: files (CANDOUR_BLOB_DIR; the default), s3 (CANDOUR_BLOB_URL; the default when it is set; needed by portals on several machines) or postgres (blob_chunks rows, the default before: about a tenth of files' upload speed). Blobs stored before keep opening from where they are",
		set: func(c *Config, v string) error {
			switch {
			case v == "" && c.BlobS3 != nil, v == BlobBucket && c.BlobS3 != nil:
				c.BlobStore = BlobBucket
			case v == BlobBucket:
				return errors.New("s3 needs CANDOUR_BLOB_URL")
			case c.BlobS3 != nil:
				return errors.New("CANDOUR_BLOB_URL is set, so new attachments go to its bucket: leave this unset or s3")
			case v == "", v == BlobFiles:
				c.BlobStore = BlobFiles
			case v == BlobPostgres:
				c.BlobStore = BlobPostgres
			default:
				return errors.New("want files, s3 or postgres")
			}
			return nil
		}},
	{Name: "CANDOUR_READ_TIMEOUT", Default: "2m", Help: "longest a whole request may take to arrive, evidence upload included; past it: 408",
		set: func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d < time.Second || d > time.Hour {
				return errors.New("want a duration such as 2m (from 1s to 1h)")
			}
			c.ReadTimeout = d
			return nil
		}},
	{Name: "CANDOUR_UPLOAD_MIN_RATE_KB", Default: "4", Help: "slowest average rate, in KiB a second, an evidence upload may arrive at once past CANDOUR_UPLOAD_GRACE; slower: dropped with 408 too_slow. 0: no minimum",
		set: func(c *Config, v string) error { return kibPerSecond(v, &c.UploadMinRate) }},
	{Name: "CANDOUR_UPLOAD_GRACE", Default: "30s", Help: "how long an evidence upload may take to reach CANDOUR_UPLOAD_MIN_RATE_KB",
		set: func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 || d > time.Hour {
				return errors.New("want a duration such as 30s (at most 1h)")
			}
			c.UploadGrace = d
			return nil
		}},
	{Name: "CANDOUR_UPLOAD_CONTENDED_RATE_KB", Default: "64", Help: "while every evidence upload slot is taken, an upload slower than this (KiB a second, judged after a second's wait) loses its slot to a newcomer: 408 too_slow. 0: never",
		set: func(c *Config, v string) error { return kibPerSecond(v, &c.UploadContendedRate) }},
	{Name: "CANDOUR_FILINGS_AT_ONCE", Default: "8", Help: "anonymous report filings doing their own work at once across the deployment (a turn is handed on when the filing queues for its batch); 64 held in all, waiting 5 s at most for a turn, past that: 503 busy with Retry-After. 0: no bound",
		set: func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 1024 {
				return errors.New("want a whole number from 0 to 1024")
			}
			c.FilingsAtOnce = n
			return nil
		}},
	{Name: "CANDOUR_SHUTDOWN_TIMEOUT", Default: "15s", Help: "how long in-flight requests get to finish on SIGINT/SIGTERM",
		set: func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 || d > 5*time.Minute {
				return errors.New("want a duration such as 15s (at most 5m)")
			}
			c.ShutdownTimeout = d
			return nil
		}},
	{Name: "CANDOUR_SHUTDOWN_DRAIN", Default: "1s", Help: "on SIGINT/SIGTERM, how long the portal goes on taking requests, /healthz and /readyz answering 503, so a load balancer takes it out before it stops answering; part of CANDOUR_SHUTDOWN_TIMEOUT. 0: none",
		set: func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 || d >= c.ShutdownTimeout {
				return errors.New("want a duration such as 1s, shorter than CANDOUR_SHUTDOWN_TIMEOUT (0: none)")
			}
			c.ShutdownDrain = d
			return nil
		}},
	{Name: "CANDOUR_MEMORY_LIMIT_MB", Default: "200", Help: "soft memory limit of the Go runtime, in MiB (0: none); GOMEMLIMIT, when set, wins",
		set: func(c *Config, v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 || (n > 0 && n < 64) || n > 1<<20 {
				return errors.New("want 0 or a whole number of MiB between 64 and 1048576")
			}
			c.MemoryLimit = n << 20
			return nil
		}},
	{Name: "CANDOUR_SMTP_ADDR", Help: "mail server host:port for staff notifications; unset: notifications are written to the log",
		set: func(c *Config, v string) error {
			if v != "" {
				if _, _, err := net.SplitHostPort(v); err != nil {
					return errors.New("want host:port")
				}
			}
			c.SMTPAddr = v
			return nil
		}},
	{Name: "CANDOUR_SMTP_FROM", Default: "candour@localhost", Help: "sender address of notifications",
		set: func(c *Config, v string) error {
			if !strings.Contains(v, "@") {
				return errors.New("want an e-mail address")
			}
			c.SMTPFrom = v
			return nil
		}},
	{Name: "CANDOUR_SMTP_USERNAME", Help: "mail server user (AUTH PLAIN; needs STARTTLS)",
		set: func(c *Config, v string) error { c.SMTPUsername = v; return nil }},
	{Name: "CANDOUR_SMTP_PASSWORD", Secret: true, Help: "mail server password; or CANDOUR_SMTP_PASSWORD_FILE",
		set: func(c *Config, v string) error { c.SMTPPassword = v; return nil }},
	{Name: "CANDOUR_SMTP_TLS", Default: SMTPStartTLS, Help: "starttls (required, the default), tls (implicit, port 465) or none (a relay on this machine only)",
		set: func(c *Config, v string) error {
			switch v {
			case SMTPStartTLS, SMTPImplicitTLS:
			case SMTPPlain:
				// Mail in clear may only go to a relay on this machine, and never carries a password.
				if host, _, _ := net.SplitHostPort(c.SMTPAddr); c.SMTPAddr != "" && !loopback(host) {
					return errors.New("none is only for a relay on this machine (localhost, 127.0.0.1, ::1)")
				}
				if c.SMTPUsername != "" {
					return errors.New("none cannot be used with CANDOUR_SMTP_USERNAME: AUTH only over TLS")
				}
			default:
				return errors.New("want starttls, tls or none")
			}
			c.SMTPTLS = v
			return nil
		}},
	{Name: "CANDOUR_SMTP_CA_FILE", Help: "PEM file of the certificate authorities that may sign the mail server's certificate; unset: the system's",
		set: func(c *Config, v string) error {
			if v != "" {
				if _, err := os.Stat(v); err != nil {
					return errors.New("cannot read the file")
				}
			}
			c.SMTPCAFile = v
			return nil
		}},
	{Name: "CANDOUR_LOG_LEVEL", Default: "info", Help: "debug, info, warn or error",
		set: func(c *Config, v string) error {
			switch v {
			case "debug", "info", "warn", "error":
				c.LogLevel = v
				return nil
			}
			return errors.New("want debug, info, warn or error")
		}},
}

// BlobS3 is an S3-compatible bucket holding attachment bytes (CANDOUR_BLOB_URL).
type BlobS3 struct {
	Endpoint  string // host[:port]
	Secure    bool   // https
	Region    string // empty: asked of the server
	Bucket    string
	Prefix    string // empty, or ends in "/"
	AccessKey string
	SecretKey string
}

// String is the bucket as CANDOUR_BLOB_URL names it, without credentials.
func (b *BlobS3) String() string {
	scheme := "http"
	if b.Secure {
		scheme = "https"
	}
	return "s3://" + b.Bucket + "/" + b.Prefix + "?endpoint=" + scheme + "://" + b.Endpoint
}

func parseBlobURL(v string) (*BlobS3, error) {
	u, err := url.Parse(v)
	if err != nil || u.Scheme != "s3" || u.Host == "" || u.User != nil || u.Fragment != "" {
		return nil, errors.New("want s3://BUCKET/PREFIX?endpoint=https://HOST[:PORT] (credentials go in CANDOUR_BLOB_ACCESS_KEY and CANDOUR_BLOB_SECRET_KEY)")
	}
	b := &BlobS3{Bucket: u.Host, Prefix: strings.Trim(u.Path, "/")}
	if !validBucket(b.Bucket) {
		return nil, errors.New("the bucket name must be 3-63 lower-case letters, digits, dots and hyphens")
	}
	if b.Prefix != "" {
		b.Prefix += "/"
	}
	q := u.Query()
	for k := range q {
		if k != "endpoint" && k != "region" {
			return nil, fmt.Errorf("unknown parameter %q (want endpoint, region)", k)
		}
	}
	endpoint := q.Get("endpoint")
	if endpoint == "" {
		endpoint = "https://s3.amazonaws.com"
	}
	e, err := url.Parse(endpoint)
	if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" || (e.Path != "" && e.Path != "/") || e.User != nil || e.RawQuery != "" {
		return nil, errors.New("endpoint: want https://HOST[:PORT]")
	}
	// Plain http lets anyone on the path replace or delete evidence: only on this machine.
	if e.Scheme == "http" && !loopback(e.Hostname()) {
		return nil, errors.New("endpoint: http is only for a server on this machine (localhost, 127.0.0.1, ::1); use https")
	}
	b.Endpoint, b.Secure, b.Region = e.Host, e.Scheme == "https", q.Get("region")
	return b, nil
}

func validBucket(name string) bool {
	if len(name) < 3 || len(name) > 63 {
		return false
	}
	for _, r := range name {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '.' && r != '-' {
			return false
		}
	}
	return true
}

// blobKey sets one of CANDOUR_BLOB_URL's credentials: needed with it, refused without it.
func blobKey(c *Config, v string, set func(*BlobS3)) error {
	switch {
	case c.BlobS3 == nil && v != "":
		return errors.New("set only with CANDOUR_BLOB_URL")
	case c.BlobS3 != nil && v == "":
		return errors.New("needed with CANDOUR_BLOB_URL")
	case c.BlobS3 != nil:
		set(c.BlobS3)
	}
	return nil
}

// databaseURL checks the form of a connection string (never quoting it: it may hold a password).
func databaseURL(into *string, v string) error {
	if v == "" {
		return nil
	}
	if strings.HasPrefix(v, "postgres://") || strings.HasPrefix(v, "postgresql://") {
		if _, err := url.Parse(v); err != nil {
			return errors.New("not a valid URL")
		}
	} else if !strings.Contains(v, "=") {
		return errors.New("want postgres://… or key=value connection string")
	}
	*into = v
	return nil
}

// OnionHost reports whether host is a version 3 onion address: 56 base32 characters (the
// service's key, a checksum and a version), then .onion. Version 2 addresses (16 characters)
// no longer work in Tor.
func OnionHost(host string) bool {
	name, ok := strings.CutSuffix(strings.ToLower(host), ".onion")
	if !ok || len(name) != 56 {
		return false
	}
	for _, r := range name {
		if (r < 'a' || r > 'z') && (r < '2' || r > '7') {
			return false
		}
	}
	return true
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Error names the variable that is wrong. It never includes a secret's value.
type Error struct {
	Var    string
	Reason string
}

func (e *Error) Error() string { return fmt.Sprintf("config: %s: %s", e.Var, e.Reason) }

// kibPerSecond sets *rate (bytes a second) from v, a whole number of KiB a second.
func kibPerSecond(v string, rate *int64) error {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > 1<<20 {
		return errors.New("want a whole number of KiB a second between 0 and 1048576")
	}
	*rate = n << 10
	return nil
}

// Load reads the process environment.
func Load() (*Config, error) { return Parse(os.LookupEnv) }

// Parse reads settings through lookup, applying defaults, in table order (later variables may
// default from earlier ones).
func Parse(lookup func(string) (string, bool)) (*Config, error) {
	c := &Config{}
	for _, v := range Vars {
		val, ok := lookup(v.Name)
		if !ok || val == "" {
			val = v.Default
		}
		// A secret read from a file keeps it out of the process environment.
		if fileVal, ok := lookup(v.Name + "_FILE"); ok && fileVal != "" && v.Secret {
			b, err := os.ReadFile(fileVal)
			if err != nil {
				return nil, &Error{Var: v.Name + "_FILE", Reason: "cannot read the file"}
			}
			val = strings.TrimSpace(string(b))
		}
		if err := v.set(c, strings.TrimSpace(val)); err != nil {
			return nil, &Error{Var: v.Name, Reason: err.Error()}
		}
	}
	return c, nil
}
