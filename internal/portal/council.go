package portal

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"candour/internal/access"
	"candour/internal/accounts"
	"candour/internal/api"
	"candour/internal/audit"
	"candour/internal/auth"
	"candour/internal/casework"
	"candour/internal/config"
	"candour/internal/i18n"
	"candour/internal/intake"
	"candour/internal/jobs"
	"candour/internal/notify"
	"candour/internal/oversight"
	"candour/internal/receipt"
	"candour/internal/routing"
	"candour/internal/server"
	"candour/internal/store"
	"candour/internal/web"
)

// Council is one council of a deployment: its policy, its store (bound to its rows by
// row-level security), the services and HTTP application built on them, and its audit log's
// checkpoints. Everything a council's staff or reporters reach goes through its Council, so
// nothing of one council is wired to another's.
type Council struct {
	Slug      string
	ID        int64
	PolicyDir string
	Store     *store.Store
	// Config is the deployment's configuration as this council sees it: its public URL names
	// its own host, and its audit anchors live in its own part of the data folder.
	Config    *config.Config
	App       *fiber.App
	Intake    *intake.Service
	Casework  *casework.Service
	Auth      *auth.Service // staff sign-in and sessions
	Accounts  *accounts.Service
	Oversight *oversight.Service
	Site      *web.Site // the pages and forms
	// Set on the embedded default's first start (see dev.go), to be shown once.
	DevCustodianKey string
	DevOfficer      *DevOfficer

	log         *slog.Logger
	policy      atomic.Pointer[routing.Policy]
	checkpoints *audit.Checkpointer
}

// Policy returns the council's policy in force.
func (c *Council) Policy() *routing.Policy { return c.policy.Load() }

// CouncilConfig is cfg as council slug sees it. The default council keeps the deployment's
// own public URL, data folder and data key, so a single-council installation is unchanged; any
// other council's links name its first host, and its keys and audit anchors are kept under
// councils/<slug> (CouncilDataDir).
func CouncilConfig(cfg *config.Config, slug string, pol *routing.Policy) *config.Config {
	if slug == routing.DefaultSlug {
		return cfg
	}
	c := *cfg
	c.DataDir = CouncilDataDir(cfg, slug)
	c.DataKeyFile = DataKeyFile(cfg, slug)
	if pol == nil || pol.Council == nil {
		return &c // only its folders and keys are wanted
	}
	if hosts := pol.Council.Hosts; len(hosts) > 0 {
		u := *cfg.PublicURL
		u.Host = hosts[0]
		if port := cfg.PublicURL.Port(); port != "" {
			u.Host = net.JoinHostPort(hosts[0], port)
		}
		c.PublicURL = &u
	}
	return &c
}

// CouncilDataDir is council slug's part of the data folder: the data folder itself for the
// default council, councils/<slug> inside it for any other.
func CouncilDataDir(cfg *config.Config, slug string) string {
	if slug == routing.DefaultSlug {
		return cfg.DataDir
	}
	return filepath.Join(cfg.DataDir, "councils", slug)
}

// DataKeyFile is where council slug's server key (wrapping each of its concerns' data keys and
// sealing its staff's second-factor secrets) is kept: CANDOUR_DATA_KEY_FILE for the default
// council, as it always was; keys/data.key in its own part of the data folder for any other,
// so that one council's key (and so its backup) opens no other council's data.
func DataKeyFile(cfg *config.Config, slug string) string {
	if slug == routing.DefaultSlug {
		return cfg.DataKeyFile
	}
	return filepath.Join(CouncilDataDir(cfg, slug), "keys", "data.key")
}

// councilDeps is what every council shares: the default council's keys (every other council
// loads its own), translations and mail.
type councilDeps struct {
	keys    *keySet
	catalog *i18n.Catalog
	mailer  notify.Mailer
	outage  *server.Outage      // one database, one outage for every council
	uploads *intake.UploadSlots // and one pool of upload slots
	filings *server.Filings     // and the same cores to file reports on
}

// startCouncil builds one council's services and HTTP application on st, which it binds to
// the council's rows, and returns it with the background jobs it needs.
func (p *Portal) startCouncil(ctx context.Context, cp routing.CouncilPolicy, st *store.Store, d councilDeps) (*Council, []jobs.Job, error) {
	id, err := st.EnsureCouncil(ctx, cp.Slug)
	if err != nil {
		return nil, nil, fmt.Errorf("council %s: %w", cp.Slug, err)
	}
	cfg := CouncilConfig(p.Config, cp.Slug, cp.Policy)
	log := p.Logger
	if cp.Slug != routing.DefaultSlug {
		log = log.With("council", cp.Slug)
	}
	c := &Council{Slug: cp.Slug, ID: id, PolicyDir: cp.Dir, Store: st.ForCouncil(id), Config: cfg, log: log}
	c.policy.Store(cp.Policy)
	st = c.Store
	// The embedded default is a developer's machine: it gets a custodian key on the server,
	// sealed to only while the policy pins no custodian, and said loudly.
	var devCustodian string
	if p.Config.Embedded() {
		if c.DevCustodianKey, devCustodian, err = c.EnsureDevCustodian(ctx, p.Config.DataDir); err != nil {
			return nil, nil, err
		}
		if len(c.Policy().Custodians) == 0 {
			log.Warn("DEVELOPMENT CUSTODIAN: identities are sealed to a key kept on this server; pin real custodians in "+
				routing.CustodiansFile+" before any real report", "key", c.DevCustodianKey)
		} else {
			log.Info("custodians pinned in the policy: the development custodian is not used", "pinned", len(c.Policy().Custodians))
		}
	}
	keys := d.keys
	if cp.Slug != routing.DefaultSlug {
		if keys, err = loadCouncilKeys(p.Config, cp.Slug, log); err != nil {
			return nil, nil, fmt.Errorf("council %s: %w", cp.Slug, err)
		}
	}
	// Each council signs its tokens with keys of its own, so one council's token opens nothing
	// at another's host.
	tokens := keys.tokens
	c.Intake = intake.New(intake.Deps{
		Store: st, Policy: c.Policy, ServerKey: keys.data, Receipts: keys.receipts,
		Throttle: receipt.NewThrottle(receiptGuessesPerShard, receiptGuessesPerConnection, receiptGuessBurst),
		Tokens:   tokens, MaxAttachment: cfg.MaxAttachment, Uploads: d.uploads, MailboxQuota: cfg.MailboxQuota, DevCustodian: devCustodian,
	})
	// Staff sign-in, case access and the audit trail (issue 4). Access hashes named people's
	// e-mail addresses with the intake's key, so it matches what intake stored.
	c.Auth = auth.New(auth.Deps{Store: st, Tokens: tokens, FailureFloor: auth.DefaultFailureFloor, DeviceKey: keys.devices,
		Secrets: keys.data, PublicURL: cfg.PublicURL.String(), SSO: func() *routing.SSO { return c.Policy().SSO }})
	// Second-factor secrets stored in plain before they were sealed are sealed now, before anyone
	// signs in: sign-in only reads sealed ones.
	if n, err := c.Auth.SealPlainSecrets(ctx); err != nil {
		return nil, nil, fmt.Errorf("seal TOTP secrets: %w", err)
	} else if n > 0 {
		log.Info("sealed second-factor secrets stored in plain", "accounts", n)
	}
	if err := c.auditPolicyLoad(ctx); err != nil {
		return nil, nil, err
	}
	c.Casework = casework.New(casework.Deps{Store: st, ServerKey: keys.data, Access: access.New(keys.receipts),
		Names: keys.receipts, Catalog: d.catalog, Policy: c.Policy, Intake: c.Intake})
	c.Accounts = accounts.New(accounts.Deps{Store: st, Auth: c.Auth, Policy: c.Policy})
	c.Oversight = oversight.New(st, c.Policy)
	if err := c.startCheckpoints(ctx); err != nil {
		return nil, nil, err
	}
	c.Site, err = web.New(web.Deps{Catalog: d.catalog, Logger: log, Intake: c.Intake, Policy: c.Policy,
		SecureCookies: cfg.SecureCookies(), Auth: c.Auth, Casework: c.Casework, Oversight: c.Oversight,
		Accounts: c.Accounts, PublicURL: cfg.PublicURL.String(), OnionURL: cfg.OnionURL})
	if err != nil {
		return nil, nil, err
	}
	c.App = server.New(server.Deps{
		Logger:        log,
		UntimedLogger: slog.New(untimed{log.Handler()}),
		DB:            p.DB,
		Catalog:       d.catalog,
		Pages:         c.Site,
		BodyLimit:     int(cfg.MaxAttachment) + 1<<20,
		Unavailable:   store.IsUnavailable,
		ReadTimeout:   cfg.ReadTimeout,
		Pace:          server.Pace{MinRate: cfg.UploadMinRate, Grace: cfg.UploadGrace},
		Outage:        d.outage,
		Stopping:      p.stopping.Load,
		Filings:       d.filings,
		Hosts:         func() []string { return c.Policy().Council.Hosts },
		Details: func(ctx context.Context) map[string]any {
			b, err := st.UndeliveredMail(ctx)
			if err != nil {
				return map[string]any{"mail": "unknown"}
			}
			return map[string]any{"mail": map[string]int{"retrying": b.Retrying, "failed": b.Failed}}
		},
	})
	api.New(api.Deps{Intake: c.Intake, Casework: c.Casework, Oversight: c.Oversight, Accounts: c.Accounts,
		Policy: c.Policy, Tokens: tokens, Auth: c.Auth, SecureCookies: cfg.SecureCookies(),
		PublicURL: cfg.PublicURL.String()}).Register(c.App)
	c.Site.Register(c.App)
	// The embedded default is a developer's machine: give it a Monitoring Officer before the
	// first request, so `make run` can be used at once.
	if p.Config.Embedded() {
		if c.DevOfficer, err = c.EnsureDevOfficer(ctx); err != nil {
			return nil, nil, err
		}
	}
	return c, c.jobs(cfg, d.mailer), nil
}

// jobs are the council's background work: its outbox, reminders, retention, checkpoints and
// statistics, each run on its own rows.
func (c *Council) jobs(cfg *config.Config, mailer notify.Mailer) []jobs.Job {
	name := func(job string) string {
		if c.Slug == routing.DefaultSlug {
			return job
		}
		return job + ":" + c.Slug
	}
	return []jobs.Job{
		{Name: name("notifications"), Every: 5 * time.Second, Run: func(ctx context.Context) error {
			var deputy string
			if d, ok := c.Policy().Directory.Role("deputy_monitoring_officer"); ok {
				deputy = d.Email
			}
			_, err := notify.Deliver(ctx, c.Store, mailer, cfg.PublicURL.String(), deputy,
				notify.Openers{Address: c.Intake.NoticeAddress, Link: c.Auth.OpenLink, Code: c.Auth.OpenSSOCode}, c.log)
			return err
		}},
		{Name: name("reminders"), Every: 5 * time.Minute, Run: func(ctx context.Context) error {
			_, err := c.Casework.SendReminders(ctx)
			return err
		}},
		{Name: name("retention"), Every: time.Hour, Run: func(ctx context.Context) error {
			_, err := c.Casework.ApplyRetention(ctx)
			return err
		}},
		// Checkpoints at least hourly, whatever happens (DESIGN §9, issue 15).
		{Name: name("audit-checkpoint"), Every: time.Hour, Run: func(ctx context.Context) error {
			c.checkpoint(ctx, "hourly")
			return nil
		}},
		{Name: name("stats-compaction"), Every: 10 * time.Minute, Run: c.Store.CompactStats},
		// Evidence a reporter uploaded and never sent (issue 17); its blob files follow at the
		// next blob sweep.
		{Name: name("pending-evidence"), Every: 10 * time.Minute, Run: func(ctx context.Context) error {
			_, err := c.Intake.SweepEvidence(ctx)
			return err
		}},
	}
}

func (c *Council) auditPolicyLoad(ctx context.Context) error {
	// The custodian set is part of what was loaded: an auditor sees every change to who
	// identities are sealed to.
	pol := c.Policy()
	set := sha256.Sum256([]byte(strings.Join(pol.CustodianRecipients(), "\n")))
	err := audit.Record(ctx, c.Store, audit.Event{Action: "policy.load", ObjectType: "policy",
		ObjectID: pol.Version, Details: map[string]string{"custodians": strconv.Itoa(len(pol.Custodians)),
			"custodian_set": hex.EncodeToString(set[:8])}})
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// hostRouter serves each request with the council whose council.yaml lists the request's host.
// A host no council lists goes to the first council, whose own check answers it with a plain
// 404 (server.New's knownHost), as the health checks are answered whatever the host.
type hostRouter struct {
	councils []*Council
	handlers []fasthttp.RequestHandler
	byHost   atomic.Pointer[map[string]int] // host -> index in councils; rebuilt on reload
}

func newHostRouter(councils []*Council) *hostRouter {
	r := &hostRouter{councils: councils}
	for _, c := range councils {
		r.handlers = append(r.handlers, c.App.Handler())
	}
	r.rebuild()
	return r
}

// rebuild maps the hosts of the policies now in force (routing.CheckHosts has made sure no
// two councils claim one).
func (r *hostRouter) rebuild() {
	m := map[string]int{}
	for i, c := range r.councils {
		for _, h := range c.Policy().Council.Hosts {
			m[h] = i
		}
	}
	r.byHost.Store(&m)
}

func (r *hostRouter) serve(ctx *fasthttp.RequestCtx) {
	host := server.RequestHost(string(ctx.Request.Header.Peek(fiber.HeaderXForwardedHost)), string(ctx.Host()))
	r.handlers[(*r.byHost.Load())[host]](ctx) // 0 when absent: the first council's plain 404
}
