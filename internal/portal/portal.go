// Package portal assembles one running Candour from its configuration, in one place and by
// hand: config → logger → database → services → HTTP. It also owns the order things stop in.
package portal

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jmoiron/sqlx"

	"candour/internal/access"
	"candour/internal/accounts"
	"candour/internal/api"
	"candour/internal/audit"
	"candour/internal/auth"
	"candour/internal/casework"
	"candour/internal/config"
	"candour/internal/database"
	"candour/internal/i18n"
	"candour/internal/intake"
	"candour/internal/jobs"
	"candour/internal/notify"
	"candour/internal/oversight"
	"candour/internal/receipt"
	"candour/internal/routing"
	"candour/internal/seal"
	"candour/internal/server"
	"candour/internal/store"
	"candour/internal/token"
	"candour/internal/web"
)

// Portal is a running Candour.
type Portal struct {
	Config   *config.Config
	Logger   *slog.Logger
	DB       *sqlx.DB
	App      *fiber.App
	Intake   *intake.Service
	Casework *casework.Service
	Auth     *auth.Service // staff sign-in and sessions
	// Accounts administers staff accounts (admin pages, API, `candour user`); Oversight serves
	// statistics and the audit trail. Both are wired once and shared by both surfaces.
	Accounts  *accounts.Service
	Oversight *oversight.Service
	// FileBlobs is the attachment folder (CANDOUR_BLOB_DIR); nil: attachments in PostgreSQL.
	FileBlobs *store.FileBlobs
	policy    atomic.Pointer[routing.Policy]
	storage   *Storage
	// Set on the embedded default's first start (see dev.go), to be shown once.
	DevCustodianKey string
	DevOfficer      *DevOfficer
	jobs            *jobs.Runner
	checkpoints     *audit.Checkpointer
	stopWatch       context.CancelFunc
	watchDone       chan struct{}
	listener        net.Listener
	served          chan error
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
func OpenDatabase(ctx context.Context, cfg *config.Config, log *slog.Logger) (_ *Storage, err error) {
	st, servingURL, ownerURL, err := startDatabase(ctx, cfg, log)
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
// embedded PostgreSQL started for as long as it runs when there is no DATABASE_URL.
func WithOwner(ctx context.Context, cfg *config.Config, log *slog.Logger, fn func(ownerURL, servingURL string) error) error {
	st, servingURL, ownerURL, err := startDatabase(ctx, cfg, log)
	if err != nil {
		return err
	}
	return errors.Join(fn(ownerURL, servingURL), st.Close())
}

// startDatabase starts the embedded PostgreSQL when cfg has no DATABASE_URL, and returns the
// serving role's and the owner's connection strings (the owner's is empty when not configured).
func startDatabase(ctx context.Context, cfg *config.Config, log *slog.Logger) (*Storage, string, string, error) {
	if !cfg.Embedded() {
		return &Storage{}, cfg.DatabaseURL, cfg.MigrateURL, nil
	}
	emb, err := database.StartEmbedded(ctx, database.EmbeddedOptions{DataDir: cfg.DataDir, BinDir: cfg.PGBinDir, Logger: log, Fsync: true})
	if err != nil {
		return nil, "", "", fmt.Errorf("embedded PostgreSQL: %w", err)
	}
	return &Storage{embedded: emb}, emb.URL(), emb.OwnerURL(), nil
}

// defaultGCPercent is the collector's target when GOGC is not set. Almost nothing a filed
// report allocates outlives its request, so the fewer times the collector runs the more
// reports are filed. It is also how much garbage may pile up during a large upload into
// PostgreSQL, whose memory growth must stay within the 64 MiB the issue allows: 150 is the
// highest target that keeps it there (make bench; figures in the README).
const defaultGCPercent = 150

// Start builds the portal and starts serving on cfg.Listen. Call Shutdown to stop it.
func Start(ctx context.Context, cfg *config.Config, log *slog.Logger) (_ *Portal, err error) {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(defaultGCPercent)
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
	p.storage, err = OpenDatabase(ctx, cfg, log)
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
	if err := p.loadPolicy(); err != nil {
		return nil, err
	}
	keys, err := loadKeys(cfg)
	if err != nil {
		return nil, err
	}
	st := store.New(p.DB)
	if cfg.BlobDir != "" {
		if p.FileBlobs, err = openFileBlobs(ctx, cfg, p.DB, st, log); err != nil {
			return nil, err
		}
		st = st.WithFileBlobs(p.FileBlobs)
	}
	// The embedded default is a developer's machine: it gets a custodian key on the server,
	// sealed to only while the policy pins no custodian, and said loudly.
	var devCustodian string
	if cfg.Embedded() {
		if p.DevCustodianKey, devCustodian, err = p.EnsureDevCustodian(ctx); err != nil {
			return nil, err
		}
		if len(p.Policy().Custodians) == 0 {
			log.Warn("DEVELOPMENT CUSTODIAN: identities are sealed to a key kept on this server; pin real custodians in "+
				routing.CustodiansFile+" before any real report", "key", p.DevCustodianKey)
		} else {
			log.Info("custodians pinned in the policy: the development custodian is not used", "pinned", len(p.Policy().Custodians))
		}
	}
	p.Intake = intake.New(intake.Deps{
		Store: st, Policy: p.Policy, ServerKey: keys.data, Receipts: keys.receipts,
		Throttle: receipt.NewThrottle(receiptGuessesPerShard, receiptGuessesPerConnection, receiptGuessBurst),
		Tokens:   keys.tokens, MaxAttachment: cfg.MaxAttachment, MailboxQuota: cfg.MailboxQuota, DevCustodian: devCustodian,
	})
	// Staff sign-in, case access and the audit trail (issue 4). Access hashes named people's
	// e-mail addresses with the intake's key, so it matches what intake stored.
	p.Auth = auth.New(auth.Deps{Store: st, Tokens: keys.tokens, FailureFloor: auth.DefaultFailureFloor,
		Secrets: keys.data, PublicURL: cfg.PublicURL.String(), SSO: func() *routing.SSO { return p.Policy().SSO }})
	// Second-factor secrets stored in plain before they were sealed are sealed now, before anyone
	// signs in: sign-in only reads sealed ones.
	if n, err := p.Auth.SealPlainSecrets(ctx); err != nil {
		return nil, fmt.Errorf("seal TOTP secrets: %w", err)
	} else if n > 0 {
		log.Info("sealed second-factor secrets stored in plain", "accounts", n)
	}
	checker := access.New(keys.receipts)
	if err := p.auditPolicyLoad(ctx); err != nil {
		return nil, err
	}

	catalog, err := i18n.Load()
	if err != nil {
		return nil, err
	}
	p.Casework = casework.New(casework.Deps{Store: st, ServerKey: keys.data, Access: checker, Names: keys.receipts,
		Catalog: catalog, Policy: p.Policy, Intake: p.Intake})
	p.Accounts = accounts.New(accounts.Deps{Store: st, Auth: p.Auth, Policy: p.Policy})
	p.Oversight = oversight.New(st, p.Policy)
	if err := p.startCheckpoints(ctx, st); err != nil {
		return nil, err
	}
	site, err := web.New(web.Deps{Catalog: catalog, Logger: log, Intake: p.Intake, Policy: p.Policy,
		SecureCookies: cfg.SecureCookies(), Auth: p.Auth, Casework: p.Casework, Oversight: p.Oversight,
		Accounts: p.Accounts, PublicURL: cfg.PublicURL.String(), OnionURL: cfg.OnionURL})
	if err != nil {
		return nil, err
	}
	p.App = server.New(server.Deps{
		Logger:        log,
		UntimedLogger: slog.New(untimed{log.Handler()}),
		DB:            p.DB,
		Catalog:       catalog,
		Pages:         site,
		BodyLimit:     int(cfg.MaxAttachment) + 1<<20,
		Hosts: func() []string {
			if pol := p.Policy(); pol != nil && pol.Council != nil {
				return pol.Council.Hosts
			}
			return nil
		},
		Details: func(ctx context.Context) map[string]any {
			b, err := st.UndeliveredMail(ctx)
			if err != nil {
				return map[string]any{"mail": "unknown"}
			}
			return map[string]any{"mail": map[string]int{"retrying": b.Retrying, "failed": b.Failed}}
		},
	})
	api.New(api.Deps{Intake: p.Intake, Casework: p.Casework, Oversight: p.Oversight, Accounts: p.Accounts,
		Policy: p.Policy, Tokens: keys.tokens, Auth: p.Auth, SecureCookies: cfg.SecureCookies(),
		PublicURL: cfg.PublicURL.String()}).Register(p.App)
	site.Register(p.App)

	var mailer notify.Mailer = notify.LogMailer{Logger: log}
	if cfg.SMTPAddr != "" {
		smtp := notify.SMTP{Addr: cfg.SMTPAddr, From: cfg.SMTPFrom, Username: cfg.SMTPUsername, Password: cfg.SMTPPassword,
			TLS: cfg.SMTPTLS}
		if cfg.SMTPCAFile != "" {
			if smtp.RootCAs, err = notify.LoadCAs(cfg.SMTPCAFile); err != nil {
				return nil, err
			}
		}
		mailer = smtp
	}
	p.jobs = jobs.Start(log,
		jobs.Job{Name: "notifications", Every: 5 * time.Second, Run: func(ctx context.Context) error {
			var deputy string
			if pol := p.Policy(); pol != nil {
				if d, ok := pol.Directory.Role("deputy_monitoring_officer"); ok {
					deputy = d.Email
				}
			}
			_, err := notify.Deliver(ctx, st, mailer, cfg.PublicURL.String(), deputy,
				notify.Openers{Address: p.Intake.NoticeAddress, Link: p.Auth.OpenLink, Code: p.Auth.OpenSSOCode}, log)
			return err
		}},
		jobs.Job{Name: "reminders", Every: 5 * time.Minute, Run: func(ctx context.Context) error {
			_, err := p.Casework.SendReminders(ctx)
			return err
		}},
		jobs.Job{Name: "retention", Every: time.Hour, Run: func(ctx context.Context) error {
			_, err := p.Casework.ApplyRetention(ctx)
			return err
		}},
		// Checkpoints at least hourly, whatever happens (DESIGN §9, issue 15).
		jobs.Job{Name: "audit-checkpoint", Every: time.Hour, Run: func(ctx context.Context) error {
			p.checkpoint(ctx, "hourly")
			return nil
		}},
		jobs.Job{Name: "stats-compaction", Every: 10 * time.Minute, Run: st.CompactStats},
		// Evidence a reporter uploaded and never sent (issue 17); its blob files follow at the
		// next blob sweep.
		jobs.Job{Name: "pending-evidence", Every: 10 * time.Minute, Run: func(ctx context.Context) error {
			_, err := p.Intake.SweepEvidence(ctx)
			return err
		}},
		jobs.Job{Name: "blob-sweep", Every: 10 * time.Minute, Run: func(ctx context.Context) error {
			if p.FileBlobs == nil {
				return nil
			}
			_, err := p.FileBlobs.Sweep(ctx, st, store.SweepGrace)
			return err
		}})
	// The embedded default is a developer's machine: give it a Monitoring Officer before the
	// first request, so `make run` can be used at once.
	if cfg.Embedded() {
		if p.DevOfficer, err = p.EnsureDevOfficer(ctx); err != nil {
			return nil, err
		}
	}
	go func() { p.served <- p.App.Listener(p.listener) }()
	return p, nil
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

// Policy returns the routing policy in force.
func (p *Portal) Policy() *routing.Policy { return p.policy.Load() }

// loadPolicy (re)loads CANDOUR_POLICY_DIR. On failure the policy in force, if any, stays.
func (p *Portal) loadPolicy() error {
	pol, err := routing.Load(p.Config.PolicyDir)
	if err != nil {
		return fmt.Errorf("policy (CANDOUR_POLICY_DIR=%s):\n%w", p.Config.PolicyDir, err)
	}
	p.policy.Store(pol)
	p.Logger.Info("policy loaded", "version", pol.Version)
	return nil
}

// ReloadPolicy loads CANDOUR_POLICY_DIR again (on SIGHUP). A bad policy is refused with
// file:line and the reason, and the policy in force stays; a good one is an audit event.
func (p *Portal) ReloadPolicy(ctx context.Context) error {
	if err := p.loadPolicy(); err != nil {
		return err
	}
	return p.auditPolicyLoad(ctx)
}

func (p *Portal) auditPolicyLoad(ctx context.Context) error {
	// The custodian set is part of what was loaded: an auditor sees every change to who
	// identities are sealed to.
	pol := p.Policy()
	set := sha256.Sum256([]byte(strings.Join(pol.CustodianRecipients(), "\n")))
	err := audit.Record(ctx, store.New(p.DB), audit.Event{Action: "policy.load", ObjectType: "policy",
		ObjectID: pol.Version, Details: map[string]string{"custodians": strconv.Itoa(len(pol.Custodians)),
			"custodian_set": hex.EncodeToString(set[:8])}})
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

type keySet struct {
	data     *seal.ServerKey
	receipts *receipt.Hasher
	tokens   *token.Keys
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
	return &ks, nil
}

// Addr is the address the portal listens on (useful when CANDOUR_LISTEN asked for port 0).
func (p *Portal) Addr() string { return p.listener.Addr().String() }

// URL is the base URL of the running portal on its listening address.
func (p *Portal) URL() string { return "http://" + p.Addr() }

// Shutdown stops in order: HTTP (in-flight requests get until ctx's deadline), background jobs,
// the database pool, then the embedded PostgreSQL.
func (p *Portal) Shutdown(ctx context.Context) error {
	var errs []error
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
