package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"candour/internal/backup"
	"candour/internal/config"
	"candour/internal/database"
	"candour/internal/portal"
	"candour/internal/routing"
)

// backupCmd runs `candour backup [--council SLUG] --out FILE`: the database, the data folder's
// keys and the attachments kept outside PostgreSQL (files of the blob folder, objects of the
// bucket), in one consistent backup sealed to the recipients of
// policies/backup.yaml. With --council, one council's: its rows, its part of the data folder
// (its own keys) and its attachments, sealed to its own folder's backup.yaml. FILE appears only
// once the backup is whole; an existing FILE is never replaced.
func backupCmd(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "the backup file to write (must not exist)")
	only := fs.String("council", "", "back up this council only (its slug), sealed to its own backup.yaml")
	if err := fs.Parse(args); err != nil || *out == "" || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: candour backup [--council SLUG] --out FILE")
		return 2
	}
	cfg, ok := loadConfig(stderr)
	if !ok {
		return 1
	}
	fail := func(err error) int { fmt.Fprintf(stderr, "candour backup: %v\n", err); return 1 }
	councils, err := routing.LoadCouncils(cfg.PolicyDir)
	if err != nil {
		return fail(fmt.Errorf("policy:\n%w", err))
	}
	// The backup.yaml at the top of the policy folder: the council's own, or, for a folder of
	// several councils, the deployment's (a whole backup holds every council's data). One
	// council's backup is sealed to its own folder's: its holders may open its data only.
	recipientsDir := cfg.PolicyDir
	var chosen *routing.CouncilPolicy
	if *only != "" {
		var slugs []string
		for i, c := range councils {
			slugs = append(slugs, c.Slug)
			if c.Slug == *only {
				chosen = &councils[i]
			}
		}
		if chosen == nil {
			fmt.Fprintf(stderr, "candour backup: no council %q in %s: its councils are %s\n", *only, cfg.PolicyDir, strings.Join(slugs, ", "))
			fmt.Fprintln(stderr, "usage: candour backup [--council SLUG] --out FILE")
			return 2
		}
		recipientsDir = chosen.Dir
	}
	recipients, err := routing.LoadBackup(recipientsDir)
	if err != nil {
		return fail(fmt.Errorf("policy:\n%w", err))
	}
	if !cfg.Embedded() && cfg.MigrateURL == "" {
		return fail(errors.New("it needs CANDOUR_MIGRATE_DATABASE_URL: the dump is taken as the schema's owner"))
	}
	if _, err := os.Lstat(*out); err == nil {
		return fail(fmt.Errorf("%s already exists", *out))
	}
	bin, err := backup.BinDir(cfg.PGBinDir)
	if err != nil {
		return fail(err)
	}
	council := portal.DevOrigin(cfg)
	if chosen != nil {
		council = chosen.Slug
		if chosen.Policy.Audit != nil {
			council = chosen.Policy.Audit.Origin
		}
	} else if pol := councils[0].Policy; len(councils) == 1 && pol.Audit != nil {
		council = pol.Audit.Origin
	} else if len(councils) > 1 {
		var slugs []string
		for _, c := range councils {
			slugs = append(slugs, c.Slug)
		}
		council = "councils " + strings.Join(slugs, ", ")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var m *backup.Manifest
	err = portal.WithOwner(ctx, cfg, portal.NewLogger(cfg, stderr), func(ownerURL, servingURL string) error {
		var err error
		src := backup.Source{OwnerURL: ownerURL, DataDir: cfg.DataDir, DataKeyFile: cfg.DataKeyFile, BlobDir: cfg.BlobDir,
			BinDir: bin, Council: council, Recipients: recipients}
		if cfg.BlobS3 != nil {
			if src.Bucket, err = portal.S3Blobs(cfg.BlobS3); err != nil {
				return err
			}
		}
		if chosen != nil {
			src.CouncilSlug = chosen.Slug
			if chosen.Slug == routing.DefaultSlug {
				// A single council's folder: the default council's part is the data folder's top,
				// its key CANDOUR_DATA_KEY_FILE (the deployment's other councils have their own).
				src.DataParts = []string{"keys", "audit", "dev-custodian.key"}
			} else {
				// Its part of the data folder holds its keys, its own data key among them.
				src.DataParts = []string{filepath.Join("councils", chosen.Slug)}
				src.DataKeyFile = ""
			}
		}
		if src.ServingRole, err = roleOf(servingURL); err != nil {
			return err
		}
		return writeNew(*out, func(w io.Writer) error {
			m, err = backup.Write(ctx, src, w)
			return err
		})
	})
	if err != nil {
		return fail(err)
	}
	fmt.Fprintf(stdout, "Backup of %s written to %s: %d files, sealed to %d recipient(s) of %s.\n",
		m.Council, *out, len(m.Members), len(recipients), filepath.Join(recipientsDir, routing.BackupFile))
	return 0
}

// writeNew writes path through write, which sees a hidden file beside it: path appears, 0600,
// only when write succeeded and the bytes are on disk, and never replaces a file.
func writeNew(path string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".partial-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	err = write(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Link(f.Name(), path)
}

func roleOf(url string) (string, error) {
	dsn, err := database.ParseDSN(url)
	if err != nil {
		return "", fmt.Errorf("DATABASE_URL: %w", err)
	}
	if dsn.Get("user") == "" {
		return "", errors.New("DATABASE_URL names no user: it must name the serving role")
	}
	return dsn.Get("user"), nil
}

// restoreCmd runs `candour restore --in FILE --identity KEYFILE` into the configured data
// folder, blob folder (or bucket prefix, with CANDOUR_BLOB_URL) and database, which must all be
// empty. Nothing is restored unless all of
// it is. Without DATABASE_URL the database is a fresh embedded PostgreSQL in the data folder,
// which `candour serve` then uses.
func restoreCmd(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	in := fs.String("in", "", "the backup file")
	keyPath := fs.String("identity", "", "an age identity file of a backup recipient")
	if err := fs.Parse(args); err != nil || *in == "" || *keyPath == "" || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: candour restore --in FILE --identity KEYFILE")
		return 2
	}
	cfg, ok := loadConfig(stderr)
	if !ok {
		return 1
	}
	fail := func(err error) int { fmt.Fprintf(stderr, "candour restore: %v\n", err); return 1 }
	if !cfg.Embedded() && cfg.MigrateURL == "" {
		return fail(errors.New("it needs CANDOUR_MIGRATE_DATABASE_URL with DATABASE_URL: the empty database is restored as its owner"))
	}
	ids, err := readIdentities(*keyPath)
	if err != nil {
		return fail(err)
	}
	f, err := os.Open(*in)
	if err != nil {
		return fail(err)
	}
	defer f.Close()
	t, err := restoreTarget(cfg)
	if err != nil {
		return fail(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	t.Logger = portal.NewLogger(cfg, stderr)
	m, err := backup.Restore(ctx, t, f, ids...)
	if err != nil {
		return fail(err)
	}
	fmt.Fprintf(stdout, "Restored the backup of %s made %s: %d files. Start the portal with these settings.\n",
		m.Council, m.Created.Format("2006-01-02 15:04 MST"), len(m.Members))
	return 0
}

func restoreTarget(cfg *config.Config) (backup.Target, error) {
	var role string
	if !cfg.Embedded() {
		var err error
		if role, err = roleOf(cfg.DatabaseURL); err != nil {
			return backup.Target{}, err
		}
	}
	bin, err := backup.BinDir(cfg.PGBinDir)
	if err != nil {
		return backup.Target{}, err
	}
	// The councils the restored portal will serve: a council's backup needs its own among them.
	dirs, err := routing.CouncilDirs(cfg.PolicyDir)
	if err != nil {
		return backup.Target{}, fmt.Errorf("policy:\n%w", err)
	}
	var slugs []string
	for _, d := range dirs {
		slugs = append(slugs, d.Slug)
	}
	t := backup.Target{OwnerURL: cfg.MigrateURL, ServingRole: role, Embedded: cfg.Embedded(), DataDir: cfg.DataDir,
		DataKeyFile: cfg.DataKeyFile, BlobDir: cfg.BlobDir, BinDir: bin, Councils: slugs}
	if cfg.BlobS3 != nil {
		if t.Bucket, err = portal.S3Blobs(cfg.BlobS3); err != nil {
			return backup.Target{}, err
		}
	}
	return t, nil
}
