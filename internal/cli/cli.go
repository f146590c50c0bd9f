// Package cli is the candour command: it parses the subcommand and its flags and calls into the
// rest of the program. Exit codes: 0 ok, 1 failure, 2 usage, 3 a database role that may not
// serve (superuser or owner: see README, Database roles).
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"candour/internal/config"
	"candour/internal/database"
	"candour/internal/portal"
)

const usage = `usage: candour [command]

commands:
  serve     run the portal (the default)
  migrate   bring the database schema up to date and exit
  user      add, disable or list staff accounts (candour user help)
  audit     verify the audit trail (candour audit verify)
  policy    check the policy, or run its fixtures (candour policy check|test)
  identity  open a sealed identity offline with a custodian's key (candour identity open --key FILE)
  backup    write a backup sealed to policies/backup.yaml's recipients (candour backup [--council SLUG] --out FILE)
  restore   restore a backup into an empty data folder and database (candour restore --in FILE --identity KEYFILE)
  help      show this text

Configuration comes from the environment; see the README.
`

// exitPrivilegedRole: serve refused a database role that could rewrite history.
const exitPrivilegedRole = 3

// commands are the subcommands by name; each gets the rest of the command line.
var commands = map[string]func(args []string, stdin io.Reader, stdout, stderr io.Writer) int{
	"serve": serve, "migrate": migrate, "user": user, "audit": auditCmd, "policy": policyCmd, "identity": identityCmd,
	"backup": backupCmd, "restore": restoreCmd,
}

// Run executes the command line args (without the program name) and returns the exit code.
func Run(args []string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	if run, ok := commands[cmd]; ok {
		return run(args, os.Stdin, stdout, stderr)
	}
	if cmd == "help" || cmd == "-h" || cmd == "--help" {
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "candour: unknown command %q\n\n%s", cmd, usage)
	return 2
}

func loadConfig(stderr io.Writer) (*config.Config, bool) {
	cfg, err := config.Load()
	if err != nil {
		fmt.Fprintf(stderr, "candour: %v\n", err)
		return nil, false
	}
	return cfg, true
}

func noArgs(name string, args []string, stderr io.Writer) bool {
	if len(args) == 0 {
		return true
	}
	fmt.Fprintf(stderr, "candour %s: unexpected argument %q\n", name, args[0])
	return false
}

// configured starts a command that takes no arguments: its configuration, or the exit code to
// stop with (2: usage, 1: a bad setting).
func configured(name string, args []string, stderr io.Writer) (*config.Config, int) {
	if !noArgs(name, args, stderr) {
		return nil, 2
	}
	cfg, ok := loadConfig(stderr)
	if !ok {
		return nil, 1
	}
	return cfg, 0
}

func serve(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	cfg, code := configured("serve", args, stderr)
	if cfg == nil {
		return code
	}
	log := portal.NewLogger(cfg, os.Stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	p, err := portal.Start(ctx, cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "candour: %v\n", err)
		if errors.Is(err, database.ErrPrivilegedRole) {
			return exitPrivilegedRole
		}
		return 1
	}
	fmt.Fprintf(stdout, "Candour is running at %s (listening on %s)\n", cfg.PublicURL, p.Addr())
	if cfg.Embedded() {
		fmt.Fprintf(stdout, "Embedded PostgreSQL data: %s\n", cfg.DataDir)
		if key := p.DevCustodianKey; key != "" && len(p.Policy().Custodians) == 0 {
			fmt.Fprintf(stdout, "DEVELOPMENT custodian key (identities are sealed to it until custodians are pinned in policies/custodians.yaml): %s\n"+
				"  open a sealed identity with: age -d -i %s identity.age\n", key, key)
		}
		if mo := p.DevOfficer; mo != nil {
			fmt.Fprintf(stdout, "Created a development Monitoring Officer (shown once):\n  sign in at %s/staff/login\n"+
				"  e-mail: %s\n  password: %s\n  TOTP secret (add it to an authenticator app): %s\n",
				cfg.PublicURL, mo.Email, mo.Password, mo.TOTPSecret)
		}
	}
	// SIGHUP reloads the policy; a bad one is logged and the one in force stays.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for waiting := true; waiting; {
		select {
		case <-hup:
			if err := p.ReloadPolicy(context.Background()); err != nil {
				log.Error("policy reload failed; keeping the policy in force", "err", err)
			}
		case <-ctx.Done():
			waiting = false
		}
	}
	stop()
	fmt.Fprintln(stdout, "Stopping…")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := p.Shutdown(shutdownCtx); err != nil {
		fmt.Fprintf(stderr, "candour: shutdown: %v\n", err)
		return 1
	}
	return 0
}

func migrate(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	cfg, code := configured("migrate", args, stderr)
	if cfg == nil {
		return code
	}
	if err := portal.Migrate(context.Background(), cfg, portal.NewLogger(cfg, os.Stderr)); err != nil {
		fmt.Fprintf(stderr, "candour: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, "Schema is up to date.")
	return 0
}
