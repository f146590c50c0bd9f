package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"

	"candour/internal/accounts"
	"candour/internal/auth"
	"candour/internal/config"
	"candour/internal/domain"
	"candour/internal/fault"
	"candour/internal/i18n"
	"candour/internal/portal"
	"candour/internal/routing"
	"candour/internal/seal"
	"candour/internal/store"
)

const userUsage = `usage:
  candour user add [--council SLUG] --email E --name N --role R [--role R2] [--service-area A]
                   [--age-recipient age1…] [--language en|cy] [--must-change] --password-stdin [--json]
  candour user disable [--council SLUG] --email E
  candour user sso-unbind [--council SLUG] --email E
  candour user list [--council SLUG] [--json]

--council names the council's policy folder; it is needed only when the deployment serves several.

roles: ` + "monitoring_officer, deputy_monitoring_officer, service_lead, safeguarding, investigator,\n       custodian, councillor, auditor, admin\n"

// multi collects a repeatable flag.
type multi []string

func (m *multi) String() string { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*m = append(*m, p)
		}
	}
	return nil
}

func user(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, userUsage)
		return 2
	}
	switch args[0] {
	case "add":
		return userAdd(args[1:], stdin, stdout, stderr)
	case "disable":
		return userDisable(args[1:], stdout, stderr)
	case "sso-unbind":
		return userSSOUnbind(args[1:], stdout, stderr)
	case "list":
		return userList(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, userUsage)
		return 0
	}
	fmt.Fprintf(stderr, "candour user: unknown command %q\n\n%s", args[0], userUsage)
	return 2
}

// councilOf is the council a command works on: the one named (--council), or the only one.
func councilOf(cfg *config.Config, slug string) (routing.CouncilPolicy, error) {
	councils, err := routing.CouncilDirs(cfg.PolicyDir)
	if err != nil {
		return routing.CouncilPolicy{}, fmt.Errorf("policy (CANDOUR_POLICY_DIR=%s): %w", cfg.PolicyDir, err)
	}
	var slugs []string
	for _, c := range councils {
		if c.Slug == slug || (slug == "" && len(councils) == 1) {
			return c, nil
		}
		slugs = append(slugs, c.Slug)
	}
	if slug == "" {
		return routing.CouncilPolicy{}, fmt.Errorf("--council is required: this deployment serves %s", strings.Join(slugs, ", "))
	}
	return routing.CouncilPolicy{}, fmt.Errorf("--council %s: no such council; this deployment serves %s", slug, strings.Join(slugs, ", "))
}

// withStore opens the database (as `migrate` does, without migrating) and runs fn on council
// slug's rows ("": the only council).
func withStore(stderr io.Writer, slug string, fn func(ctx context.Context, st *store.Store, svc *accounts.Service) int) int {
	cfg, ok := loadConfig(stderr)
	if !ok {
		return 1
	}
	council, err := councilOf(cfg, slug)
	if err != nil {
		fmt.Fprintf(stderr, "candour: %v\n", err)
		return 2
	}
	log := portal.NewLogger(cfg, os.Stderr)
	ctx := context.Background()
	storage, err := portal.OpenDatabase(ctx, cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "candour: %v\n", err)
		return 1
	}
	defer storage.Close()
	st := store.New(storage.DB)
	id, err := st.EnsureCouncil(ctx, council.Slug)
	if err != nil {
		fmt.Fprintf(stderr, "candour: council %s: %v\n", council.Slug, err)
		return 1
	}
	st = st.ForCouncil(id)
	return fn(ctx, st, consoleAccounts(cfg, council, st, stderr))
}

// consoleAccounts is account administration as the server's console (st nil: checks only).
// Service areas are checked against the council's directory, as on the admin pages; a policy
// that does not load leaves none known (`candour policy check` says why).
func consoleAccounts(cfg *config.Config, council routing.CouncilPolicy, st *store.Store, stderr io.Writer) *accounts.Service {
	policy := sync.OnceValue(func() *routing.Policy {
		pol, err := routing.Load(council.Dir)
		if err != nil {
			fmt.Fprintf(stderr, "candour: policy: %v\n", err)
			return nil
		}
		return pol
	})
	// The council's data key seals second-factor secrets and enrolment links, as the portal
	// does: each council has its own (portal.DataKeyFile).
	if _, err := portal.AdoptSharedKeys(cfg, council.Slug); err != nil {
		fmt.Fprintf(stderr, "candour: council %s's keys: %v\n", council.Slug, err)
	}
	key, err := seal.LoadOrCreateServerKey(portal.DataKeyFile(cfg, council.Slug))
	if err != nil {
		fmt.Fprintf(stderr, "candour: data key (%s): %v\n", portal.DataKeyFile(cfg, council.Slug), err)
	}
	// Links in the council's e-mails name its own host.
	publicURL := cfg.PublicURL.String()
	if pol := policy(); pol != nil {
		publicURL = portal.CouncilConfig(cfg, council.Slug, pol).PublicURL.String()
	}
	return accounts.New(accounts.Deps{Store: st, Auth: auth.New(auth.Deps{Store: st, Secrets: key,
		PublicURL: publicURL}), Policy: policy})
}

// flagOf names the flag a field of accounts.NewUser comes from.
var flagOf = map[string]string{"roles": "--role", "service_areas": "--service-area", "age_recipient": "--age-recipient",
	"language": "--language", "email": "--email", "name": "--name", "password": "password (standard input)"}

// printFields writes each field's problem in English, one line each, sorted.
func printFields(stderr io.Writer, f fault.Fields) {
	catalog, err := i18n.Load()
	for _, field := range slices.Sorted(maps.Keys(f)) {
		msg := f[field]
		if err == nil && catalog.Has(i18n.English, msg) {
			msg = catalog.T(i18n.English, msg)
		}
		name := flagOf[field]
		if name == "" {
			name = field
		}
		fmt.Fprintf(stderr, "candour user add: %s: %s (%s)\n", name, msg, f[field])
	}
}

func userAdd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("user add", flag.ContinueOnError)
	fs.SetOutput(stderr)
	councilSlug := fs.String("council", "", "the council's slug (its policy folder), when the deployment serves several")
	var roles, areas multi
	email := fs.String("email", "", "e-mail address (sign-in name)")
	name := fs.String("name", "", "full name")
	fs.Var(&roles, "role", "role (repeatable)")
	fs.Var(&areas, "service-area", "service area code for service_lead (repeatable)")
	recipient := fs.String("age-recipient", "", "age X25519 recipient (custodians)")
	lang := fs.String("language", "en", "preferred language: en or cy")
	mustChange := fs.Bool("must-change", false, "force a password change at first sign-in")
	passwordStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	asJSON := fs.Bool("json", false, `print {"id","totp_secret"} as JSON`)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var problems []string
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	if !*passwordStdin {
		problems = append(problems, "--password-stdin is required (passwords never go on the command line)")
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintf(stderr, "candour user add: %s\n", p)
		}
		fmt.Fprint(stderr, "\n"+userUsage)
		return 2
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, auth.MaxPasswordLength+2)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		fmt.Fprintf(stderr, "candour user add: read password: %v\n", err)
		return 1
	}
	password := strings.TrimRight(line, "\r\n")
	var rcpt *string
	if *recipient != "" {
		rcpt = recipient
	}
	n := accounts.NewUser{Email: *email, Name: *name, Roles: roles, ServiceAreas: areas, AgeRecipient: rcpt,
		Language: *lang, Password: password, MustChange: *mustChange}
	cfg, ok := loadConfig(stderr)
	if !ok {
		return 1
	}
	council, err := councilOf(cfg, *councilSlug)
	if err != nil {
		fmt.Fprintf(stderr, "candour user add: %v\n", err)
		return 2
	}
	// The same checks as the admin pages, before any database is opened: a typo is a usage error.
	if f := consoleAccounts(cfg, council, nil, stderr).Check(&n); len(f) > 0 {
		printFields(stderr, f)
		return 2
	}
	return withStore(stderr, council.Slug, func(ctx context.Context, st *store.Store, svc *accounts.Service) int {
		created, err := svc.Create(ctx, accounts.Console(), n)
		if err != nil {
			if fe, ok := fault.As(err); ok && len(fe.Fields) > 0 {
				printFields(stderr, fe.Fields)
				return 2
			}
			fmt.Fprintf(stderr, "candour user add: %v\n", err)
			return 1
		}
		if *asJSON {
			_ = json.NewEncoder(stdout).Encode(map[string]any{"id": created.User.ID, "totp_secret": created.TOTPSecret})
			return 0
		}
		fmt.Fprintf(stdout, "Created user %d (%s).\nTOTP secret (give it to the user once, for their authenticator app): %s\n",
			created.User.ID, created.User.Email, created.TOTPSecret)
		return 0
	})
}

func userDisable(args []string, stdout, stderr io.Writer) int {
	return onAccount("disable", args, stdout, stderr, func(ctx context.Context, svc *accounts.Service, u *domain.User) (string, error) {
		return fmt.Sprintf("Disabled %s; their sessions have ended.", u.Email), svc.Disable(ctx, accounts.Console(), u.ID)
	})
}

// userSSOUnbind removes an account's single sign-on binding, at once (the console's rule).
func userSSOUnbind(args []string, stdout, stderr io.Writer) int {
	return onAccount("sso-unbind", args, stdout, stderr, func(ctx context.Context, svc *accounts.Service, u *domain.User) (string, error) {
		_, err := svc.UnbindSSO(ctx, accounts.Console(), u.ID)
		return fmt.Sprintf("Removed the single sign-on binding of %s; their sessions have ended. "+
			"Their next sign-in through the provider needs the code e-mailed to the account.", u.Email), err
	})
}

// onAccount runs `candour user <cmd> [--council SLUG] --email E`: act on the account with
// that address, printing what act says it did.
func onAccount(cmd string, args []string, stdout, stderr io.Writer,
	act func(context.Context, *accounts.Service, *domain.User) (string, error)) int {
	fs := flag.NewFlagSet("user "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	councilSlug := fs.String("council", "", "the council's slug, when the deployment serves several")
	email := fs.String("email", "", "e-mail address of the account")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *email == "" || fs.NArg() > 0 {
		fmt.Fprintf(stderr, "candour user %s: --email is required\n\n%s", cmd, userUsage)
		return 2
	}
	return withStore(stderr, *councilSlug, func(ctx context.Context, st *store.Store, svc *accounts.Service) int {
		u, err := svc.UserByEmail(ctx, *email)
		if fault.Is(err, fault.NotFound) {
			fmt.Fprintf(stderr, "candour user %s: no user %s\n", cmd, *email)
			return 1
		}
		var done string
		if err == nil {
			done, err = act(ctx, svc, u)
		}
		if err != nil {
			fmt.Fprintf(stderr, "candour user %s: %v\n", cmd, err)
			return 1
		}
		fmt.Fprintln(stdout, done)
		return 0
	})
}

func userList(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("user list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	councilSlug := fs.String("council", "", "the council's slug, when the deployment serves several")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	return withStore(stderr, *councilSlug, func(ctx context.Context, _ *store.Store, svc *accounts.Service) int {
		us, err := svc.Users(ctx, accounts.Console())
		if err != nil {
			fmt.Fprintf(stderr, "candour user list: %v\n", err)
			return 1
		}
		if *asJSON {
			type row struct {
				ID           int64    `json:"id"`
				Email        string   `json:"email"`
				Name         string   `json:"name"`
				Roles        []string `json:"roles"`
				ServiceAreas []string `json:"service_areas"`
				Status       string   `json:"status"`
			}
			rows := make([]row, 0, len(us))
			for _, u := range us {
				rows = append(rows, row{u.ID, u.Email, u.Name, u.Roles, u.ServiceAreas, u.Status})
			}
			_ = json.NewEncoder(stdout).Encode(rows)
			return 0
		}
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tEMAIL\tNAME\tROLES\tSTATUS")
		for _, u := range us {
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\n", u.ID, u.Email, u.Name, strings.Join(u.Roles, ","), u.Status)
		}
		_ = w.Flush()
		return 0
	})
}
