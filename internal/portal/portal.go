// Package portal assembles one running Candour from its configuration, in one place and by
// hand: config → logger → database → services → HTTP. It also owns the order things stop in.
package portal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jmoiron/sqlx"

	"candour/internal/auth"
	"candour/internal/config"
	"candour/internal/database"
	"candour/internal/i18n"
	"candour/internal/intake"
	"candour/internal/jobs"
	"candour/internal/keyfile"
	"candour/internal/notify"
	"candour/internal/receipt"
	"candour/internal/routing"
	"candour/internal/seal"
	"candour/internal/server"
	"candour/internal/store"
	"candour/internal/token"
)

// Portal is a running Candour: one process serving one council, or several sharing it.
// It embeds the first council, so a single-council deployment reads as it always did
// (p.Intake, p.Policy()).
type Portal struct {
	*Council
	Config *config.Config
	Logger *slog.Logger
	DB     *sqlx.DB
	// App serves every council: each request goes to the council whose host it names.
	App *fiber.App
	// Councils are the deployment's councils in policy folder order; the first is embedded.
	Councils []*Council
	// FileBlobs is the attachment folder (CANDOUR_BLOB_DIR, by default in the data folder):
	// where new attachments go unless CANDOUR_BLOB_STORE says otherwise.
	FileBlobs *store.FileBlobs
	// S3Blobs is the attachment bucket (CANDOUR_BLOB_URL); nil: none.
	S3Blobs   *store.S3Blobs
	storage   *Storage
	router    *hostRouter // nil: one council
	jobs      *jobs.Runner
	stopWatch context.CancelFunc
	watchDone chan struct{}
	listener  net.Listener
	served    chan error
	stopping  atomic.Bool // Shutdown has begun: the health checks fail
}

// Storage is the database pool and, on the embedded default, the PostgreSQL behind it.
type Storage struct {
	DB       *sqlx.DB
	URL      string // for LISTEN, which needs a connection of its own
	embedded *database.Embedded
}

// Close closes the pool, then stops the embedded PostgreSQL if there is one.
func (s *Storage) Close() error {
	var errs []error
	if s.DB != nil {
		// Closing a connection the server already dropped fails; nothing is lost by that.
		_ = s.DB.Close()
		s.DB = nil
	}
	if s.embedded != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		errs = append(errs, s.embedded.Stop(ctx))
		s.embedded = nil
	}
	return errors.Join(errs...)
}

// OpenDatabase connects as the serving role (DATABASE_URL, or the embedded PostgreSQL it
// starts), after bringing the schema up to date as the owner when it may (CANDOUR_AUTO_MIGRATE
// and an owner's URL). It refuses a schema that is behind, and a serving role that could change
// the schema or the audit trail unless CANDOUR_INSECURE_DB_ROLE=allow.
//
// On the embedded default it uses the server the running portal has, if there is one, so the
// subcommands work while it serves.
func OpenDatabase(ctx context.Context, cfg *config.Config, log *slog.Logger) (_ *Storage, err error) {
	return openDatabase(ctx, cfg, log, true)
}

func openDatabase(ctx context.Context, cfg *config.Config, log *slog.Logger, share bool) (_ *Storage, err error) {
	st, servingURL, ownerURL, err := startDatabase(ctx, cfg, log, share)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = st.Close()
		}
	}()
	if cfg.AutoMigrate && ownerURL != "" {
		if err := database.Migrate(ctx, ownerURL, servingURL); err != nil {
			return nil, err
		}
	}
	if st.DB, err = database.Open(ctx, servingURL); err != nil {
		return nil, err
	}
	if err := database.EnsureCurrent(ctx, st.DB.DB); err != nil {
		return nil, err
	}
	if err := database.CheckServingRole(ctx, st.DB); err != nil {
		if !errors.Is(err, database.ErrPrivilegedRole) || !cfg.InsecureDBRole {
			return nil, err
		}
		log.Warn("INSECURE: CANDOUR_INSECURE_DB_ROLE=allow: serving anyway; this connection can rewrite the "+
			"audit trail and the schema. Never run a council's portal like this", "reason", err.Error())
	}
	st.URL = servingURL
	return st, nil
}

// OwnerURL is the connection string of the role that owns the schema: the embedded server's,
// or CANDOUR_MIGRATE_DATABASE_URL ("" when not configured).
func (p *Portal) OwnerURL() string {
	if p.storage != nil && p.storage.embedded != nil {
		return p.storage.embedded.OwnerURL()
	}
	return p.Config.MigrateURL
}

// ServingURL is the serving role's connection string, as the portal connects.
func (p *Portal) ServingURL() string { return p.storage.URL }

// Migrate brings the schema up to date as the owner and stops (`candour migrate`).
func Migrate(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	if !cfg.Embedded() && cfg.MigrateURL == "" {
		return errors.New("candour migrate needs CANDOUR_MIGRATE_DATABASE_URL, the connection of the role that owns " +
			"the schema: DATABASE_URL is the serving role, which may not change it")
	}
	return WithOwner(ctx, cfg, log, func(ownerURL, servingURL string) error {
		return database.Migrate(ctx, ownerURL, servingURL)
	})
}

// WithOwner runs fn with the owner's and the serving role's connection strings, with the
// embedded PostgreSQL started for as long as it runs when there is no DATABASE_URL (or the
// running portal's used).
func WithOwner(ctx context.Context, cfg *config.Config, log *slog.Logger, fn func(ownerURL, servingURL string) error) error {
	st, servingURL, ownerURL, err := startDatabase(ctx, cfg, log, true)
	if err != nil {
		return err
	}
	return errors.Join(fn(ownerURL, servingURL), st.Close())
}

// startDatabase starts the embedded PostgreSQL when cfg has no DATABASE_URL, and returns the
// serving role's and the owner's connection strings (the owner's is empty when not configured).
// share: use the embedded server another candour process runs rather than refuse.
func startDatabase(ctx context.Context, cfg *config.Config, log *slog.Logger, share bool) (*Storage, string, string, error) {
	if !cfg.Embedded() {
		return &Storage{}, cfg.DatabaseURL, cfg.MigrateURL, nil
	}
	emb, err := database.StartEmbedded(ctx, database.EmbeddedOptions{DataDir: cfg.DataDir, BinDir: cfg.PGBinDir, Logger: log, Fsync: true, Share: share})
	if err != nil {
		return nil, "", "", fmt.Errorf("embedded PostgreSQL: %w", err)
	}
	return &Storage{embedded: emb}, emb.URL(), emb.OwnerURL(), nil
}

// gcPercent is the collector's target when GOGC is not set. Almost nothing a filed report
// allocates outlives its request, so the fewer times the collector runs the more reports are
// filed: at 400 the portal's CPU per filing is about a fifth lower than at 150 (issue 20,
// external benchmark), and the memory limit (CANDOUR_MEMORY_LIMIT_MB) still bounds the heap.
// An upload into PostgreSQL piles up garbage (the driver's copies of each chunk) that must stay
// within the 64 MiB of growth a large upload is allowed: 150 is the highest target that keeps it there, so
// that store keeps it (make bench; figures in the README).
func gcPercent(blobStore string) int {
	if blobStore == config.BlobPostgres {
		return 150
	}
	return 400
}

// Start builds the portal and starts serving on cfg.Listen. Call Shutdown to stop it.
func Start(ctx context.Context, cfg *config.Config, log *slog.Logger) (_ *Portal, err error) {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(gcPercent(cfg.BlobStore))
	}
	// A soft limit makes the collector work harder, and the scavenger give memory back, as the
	// process nears it, rather than let a burst (password hashes are 64 MiB each) grow it
	// further. GOMEMLIMIT is Go's own and wins.
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set && cfg.MemoryLimit > 0 {
		debug.SetMemoryLimit(cfg.MemoryLimit)
	}
	p := &Portal{Config: cfg, Logger: log, served: make(chan error, 1)}
	defer func() {
		if err != nil {
			if p.listener != nil {
				p.listener.Close()
			}
			p.closeStorage()
		}
	}()
	p.storage, err = openDatabase(ctx, cfg, log, false)
	if err != nil {
		return nil, err
	}
	p.DB = p.storage.DB
	p.listener, err = net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s (CANDOUR_LISTEN): %w", cfg.Listen, err)
	}
	// Listening on port 0 (tests): links people hand on must name the port actually chosen.
	if cfg.PublicURL.Port() == "0" {
		u := *cfg.PublicURL
		u.Host = p.listener.Addr().String()
		cfg.PublicURL = &u
	}
	councils, err := routing.LoadCouncils(cfg.PolicyDir)
	if err != nil {
		return nil, fmt.Errorf("policy (CANDOUR_POLICY_DIR=%s):\n%w", cfg.PolicyDir, err)
	}
	keys, err := loadKeys(cfg)
	if err != nil {
		return nil, err
	}
	st := store.New(p.DB)
	// Always opened: with another store chosen for new attachments, files made before still
	// open from it.
	if p.FileBlobs, err = openFileBlobs(ctx, cfg, p.DB, st, log); err != nil {
		return nil, err
	}
	st = st.WithFileBlobs(p.FileBlobs)
	if cfg.BlobStore == config.BlobPostgres {
		st = st.WithPostgresBlobs()
	}
	if cfg.BlobS3 != nil {
		if p.S3Blobs, err = openS3Blobs(ctx, cfg.BlobS3, st, log); err != nil {
			return nil, err
		}
		st = st.WithS3Blobs(p.S3Blobs)
	}
	catalog, err := i18n.Load()
	if err != nil {
		return nil, err
	}
	mailer, err := newMailer(cfg, log)
	if err != nil {
		return nil, err
	}
	deps := councilDeps{keys: keys, catalog: catalog, mailer: mailer, uploads: intake.NewUploadSlots(cfg.UploadContendedRate),
		outage: server.NewOutage(log, p.DB), filings: server.NewFilings(cfg.FilingsAtOnce)}
	var work []jobs.Job
	for _, cp := range councils {
		c, cj, err := p.startCouncil(ctx, cp, st, deps)
		if err != nil {
			return nil, err
		}
		p.Councils = append(p.Councils, c)
		work = append(work, cj...)
		p.Logger.Info("policy loaded", "council", c.Slug, "version", c.Policy().Version)
	}
	p.Council = p.Councils[0]
	p.App = p.Council.App
	if len(p.Councils) > 1 {
		// The first council's server (its timeouts and limits are every council's) takes every
		// request and hands it to the council it is for.
		p.router = newHostRouter(p.Councils)
		p.App.Server().Handler = p.router.serve
	}
	p.startWatch()
	p.jobs = jobs.Start(log, append(work,
		jobs.Job{Name: "blob-sweep", Every: 10 * time.Minute, Run: func(ctx context.Context) error {
			var errs []error
			if p.S3Blobs != nil {
				_, err := p.S3Blobs.Sweep(ctx, st, store.SweepGrace)
				errs = append(errs, err)
			}
			if p.FileBlobs != nil {
				_, err := p.FileBlobs.Sweep(ctx, st, store.SweepGrace)
				errs = append(errs, err)
			}
			return errors.Join(errs...)
		}})...)
	go func() { p.served <- p.App.Listener(p.listener) }()
	return p, nil
}

// newMailer is the SMTP server of the configuration, or the log when there is none.
func newMailer(cfg *config.Config, log *slog.Logger) (notify.Mailer, error) {
	if cfg.SMTPAddr == "" {
		return notify.LogMailer{Logger: log}, nil
	}
	smtp := notify.SMTP{Addr: cfg.SMTPAddr, From: cfg.SMTPFrom, Username: cfg.SMTPUsername, Password: cfg.SMTPPassword,
		TLS: cfg.SMTPTLS}
	if cfg.SMTPCAFile != "" {
		var err error
		if smtp.RootCAs, err = notify.LoadCAs(cfg.SMTPCAFile); err != nil {
			return nil, err
		}
	}
	return smtp, nil
}

// openFileBlobs prepares CANDOUR_BLOB_DIR and sweeps what a rolled-back upload or a killed
// process left in it. Blob files are made durable (fsync) exactly when the database is: a
// blob is no safer than the row that points to it, and a PostgreSQL run with fsync off (the
// tests) gets blob writes without fsync too.
func openFileBlobs(ctx context.Context, cfg *config.Config, db *sqlx.DB, st *store.Store, log *slog.Logger) (*store.FileBlobs, error) {
	var fsync string
	if err := db.GetContext(ctx, &fsync, `SHOW fsync`); err != nil {
		return nil, fmt.Errorf("blob folder: %w", err)
	}
	fb, err := store.OpenFileBlobs(cfg.BlobDir, fsync == "on")
	if err != nil {
		return nil, fmt.Errorf("CANDOUR_BLOB_DIR=%s: %w", cfg.BlobDir, err)
	}
	if err := fb.Claim(ctx, st); err != nil {
		return nil, fmt.Errorf("CANDOUR_BLOB_DIR=%s: %w", cfg.BlobDir, err)
	}
	// At start nothing of this process is in flight, and other instances' uploads hold their
	// blob locks: no grace period is needed.
	n, err := fb.Sweep(ctx, st, 0)
	if err != nil {
		return nil, fmt.Errorf("blob folder sweep: %w", err)
	}
	log.Info("blob folder", "dir", cfg.BlobDir, "fsync", fsync == "on", "swept", n)
	return fb, nil
}

// openS3Blobs connects to CANDOUR_BLOB_URL's bucket, binds its prefix to this installation and
// sweeps what a rolled-back upload or a killed process left in it. Its first request is the
// claim: a refusal is said with the variable to check.
func openS3Blobs(ctx context.Context, bc *config.BlobS3, st *store.Store, log *slog.Logger) (*store.S3Blobs, error) {
	b, err := S3Blobs(bc)
	if err != nil {
		return nil, err
	}
	if err := b.Claim(ctx, st); err != nil {
		check := "CANDOUR_BLOB_URL"
		var se *store.S3Error
		if errors.As(err, &se) {
			switch se.Setting {
			case "access key":
				check = "CANDOUR_BLOB_ACCESS_KEY"
			case "secret key":
				check = "CANDOUR_BLOB_SECRET_KEY"
			}
		}
		return nil, fmt.Errorf("blob bucket %s: %w (check %s)", bc, err, check)
	}
	// At start nothing of this process is in flight, and other instances' uploads hold their
	// blob locks: no grace period is needed.
	n, err := b.Sweep(ctx, st, 0)
	if err != nil {
		return nil, fmt.Errorf("blob bucket sweep (CANDOUR_BLOB_URL=%s): %w", bc, err)
	}
	log.Info("blob bucket", "url", bc.String(), "swept", n)
	return b, nil
}

// S3Blobs is a client of CANDOUR_BLOB_URL's bucket; nothing is asked of the server yet (the
// backup and restore commands use it without claiming the prefix).
func S3Blobs(bc *config.BlobS3) (*store.S3Blobs, error) {
	b, err := store.OpenS3Blobs(store.S3Config{Endpoint: bc.Endpoint, Secure: bc.Secure, Region: bc.Region,
		Bucket: bc.Bucket, Prefix: bc.Prefix, AccessKey: bc.AccessKey, SecretKey: bc.SecretKey})
	if err != nil {
		return nil, fmt.Errorf("CANDOUR_BLOB_URL=%s: %w", bc, err)
	}
	return b, nil
}

// Guessing receipts is throttled per receipt prefix and per connection (we keep nothing about
// who guesses; receipt.Throttle): 2 failures a minute in each of the 32,768 prefixes bounds
// guessing at about 65,000 a minute in all, which random guessing cannot reach without
// flooding the server, so a reporter's own prefix stays open; 10 a minute per connection, with
// bursts of 10, leave room for honest typos.
const (
	receiptGuessesPerShard      = 2
	receiptGuessesPerConnection = 10
	receiptGuessBurst           = 10
)

// ReloadPolicy loads every council's policy folder again (on SIGHUP). A bad policy is refused
// with file:line and the reason, and the policy in force stays; a good one is an audit event
// in its council's log.
//
// The councils' policies are taken together or not at all, so two councils can never come to
// claim one host.
func (p *Portal) ReloadPolicy(ctx context.Context) error {
	loaded := make([]routing.CouncilPolicy, len(p.Councils))
	var errs []error
	for i, c := range p.Councils {
		pol, err := routing.Load(c.PolicyDir)
		if err != nil {
			errs = append(errs, fmt.Errorf("policy (%s):\n%w", c.PolicyDir, err))
		}
		loaded[i] = routing.CouncilPolicy{Slug: c.Slug, Dir: c.PolicyDir, Policy: pol}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if err := routing.CheckHosts(loaded); err != nil {
		return err
	}
	for i, c := range p.Councils {
		c.policy.Store(loaded[i].Policy)
		c.log.Info("policy loaded", "version", loaded[i].Policy.Version)
		errs = append(errs, c.auditPolicyLoad(ctx))
	}
	if p.router != nil {
		p.router.rebuild()
	}
	return errors.Join(errs...)
}

// CouncilBySlug is the deployment's council slug, or nil.
func (p *Portal) CouncilBySlug(slug string) *Council {
	for _, c := range p.Councils {
		if c.Slug == slug {
			return c
		}
	}
	return nil
}

type keySet struct {
	data     *seal.ServerKey
	receipts *receipt.Hasher
	tokens   *token.Keys
	devices  []byte // signs device cookies (auth)
}

// loadCouncilKeys reads a council other than the default's keys from its own part of the data
// folder (CouncilConfig), creating them on its first start, so that nothing one council holds
// opens, hashes or signs for another. A council first served before councils had keys of their
// own (its anchors exist, its data key does not) has its concerns wrapped and its receipts hashed
// with the default council's keys: it keeps those, copied into its folder, and says so; its
// token and device keys are its own from now on (its staff sign in again).
func loadCouncilKeys(shared *config.Config, slug string, log *slog.Logger) (*keySet, error) {
	adopted, err := AdoptSharedKeys(shared, slug)
	if err != nil {
		return nil, err
	}
	if adopted {
		log.Warn("this council shares its data and receipt keys with the default council: it was first served before "+
			"councils had keys of their own; its backup carries those keys", "keys", filepath.Dir(DataKeyFile(shared, slug)))
	}
	return loadKeys(CouncilConfig(shared, slug, nil))
}

// AdoptSharedKeys copies the default council's data key and receipt key into council slug's
// keys folder when the council was served before it had keys of its own (its audit log's key
// exists, its data key does not): its rows were sealed and hashed with those. It reports whether
// it did. Anything that loads a council's data key (the portal, the console) calls it first.
func AdoptSharedKeys(shared *config.Config, slug string) (bool, error) {
	if slug == routing.DefaultSlug {
		return false, nil
	}
	cfg := CouncilConfig(shared, slug, nil)
	if _, err := os.Stat(auditLogKeyFile(cfg)); err != nil {
		return false, nil // a new council: its keys are made fresh
	}
	if _, err := os.Stat(cfg.DataKeyFile); err == nil {
		return false, nil
	}
	for _, k := range [][2]string{{shared.DataKeyFile, cfg.DataKeyFile},
		{filepath.Join(shared.DataDir, "keys", "receipt.key"), filepath.Join(cfg.DataDir, "keys", "receipt.key")}} {
		b, err := keyfile.Read(k[0])
		if errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return false, err
		}
		if _, err := keyfile.ReadOrCreate(k[1], func() ([]byte, error) { return b, nil }); err != nil {
			return false, err
		}
	}
	return true, nil
}

// loadKeys reads the server's keys from the data folder, creating them on first start.
func loadKeys(cfg *config.Config) (*keySet, error) {
	var ks keySet
	var err error
	if ks.data, err = seal.LoadOrCreateServerKey(cfg.DataKeyFile); err != nil {
		return nil, fmt.Errorf("data key (CANDOUR_DATA_KEY_FILE): %w", err)
	}
	keyDir := filepath.Join(cfg.DataDir, "keys")
	if ks.receipts, err = receipt.LoadOrCreateKey(filepath.Join(keyDir, "receipt.key")); err != nil {
		return nil, fmt.Errorf("receipt key: %w", err)
	}
	if ks.tokens, err = token.LoadOrCreate(filepath.Join(keyDir, "signing")); err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	path := filepath.Join(keyDir, "device.key")
	if ks.devices, err = keyfile.ReadOrCreate(path, newSeed); err != nil {
		return nil, fmt.Errorf("device cookie key: %w", err)
	}
	if len(ks.devices) != auth.DeviceKeySize {
		return nil, fmt.Errorf("device cookie key %s: want %d bytes", path, auth.DeviceKeySize)
	}
	return &ks, nil
}

// Addr is the address the portal listens on (useful when CANDOUR_LISTEN asked for port 0).
func (p *Portal) Addr() string { return p.listener.Addr().String() }

// URL is the base URL of the running portal on its listening address.
func (p *Portal) URL() string { return "http://" + p.Addr() }

// Shutdown stops in order: HTTP (in-flight requests get until ctx's deadline), background jobs,
// the database pool, then the embedded PostgreSQL. For CANDOUR_SHUTDOWN_DRAIN first, the portal
// goes on serving with its health checks failing, so a load balancer stops sending it requests
// before it stops taking them.
func (p *Portal) Shutdown(ctx context.Context) error {
	var errs []error
	p.stopping.Store(true)
	if p.App != nil && p.Config.ShutdownDrain > 0 {
		drain := time.NewTimer(p.Config.ShutdownDrain)
		select {
		case <-drain.C:
		case <-ctx.Done():
			drain.Stop()
		}
	}
	if p.App != nil {
		if err := p.App.ShutdownWithContext(ctx); err != nil {
			errs = append(errs, fmt.Errorf("http: %w", err))
		}
	}
	if p.jobs != nil {
		if err := p.jobs.Stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("jobs: %w", err))
		}
	}
	if p.stopWatch != nil {
		p.stopWatch()
		<-p.watchDone
	}
	errs = append(errs, p.closeStorage())
	return errors.Join(errs...)
}

func (p *Portal) closeStorage() error {
	if p.storage == nil {
		return nil
	}
	return p.storage.Close()
}

// NewLogger returns the process logger: JSON lines on w at the configured level.
func NewLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: logLevel(cfg)}))
}

func logLevel(cfg *config.Config) slog.Level {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	return level
}

// untimed is a log handler that drops each record's time (slog leaves the key out of a record
// with a zero time), for what must not say when a reporter did something.
type untimed struct{ slog.Handler }

func (h untimed) Handle(ctx context.Context, r slog.Record) error {
	r.Time = time.Time{}
	return h.Handler.Handle(ctx, r)
}

func (h untimed) WithAttrs(as []slog.Attr) slog.Handler { return untimed{h.Handler.WithAttrs(as)} }
func (h untimed) WithGroup(name string) slog.Handler    { return untimed{h.Handler.WithGroup(name)} }
