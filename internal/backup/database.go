package backup

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"candour/internal/store"
)

// restoreDatabase loads the dump into the empty database as its owner, in one transaction with
// the serving role's grants. pg_restore turns the dump into SQL (objects owned by the restoring
// owner, no privileges: roles belong to the cluster and may be named otherwise here) and psql
// runs it between our BEGIN and COMMIT: the COMMIT is only sent once pg_restore has finished
// without error, so a failure anywhere leaves the database as empty as it was.
//
// blobStore ("fs", "s3" or "") is where the restore put the blobs kept outside PostgreSQL: their
// rows are pointed there in the same transaction.
func restoreDatabase(ctx context.Context, t Target, dump string, globals [][2]string, grants []store.Grant, blobStore string) error {
	grantSQL, err := grantStatements(t.ServingRole, grants)
	if err != nil {
		return err
	}
	pr, pw := io.Pipe()
	fed := make(chan error, 1)
	go func() {
		err := func() error {
			if _, err := io.WriteString(pw, "BEGIN;\n"); err != nil {
				return err
			}
			// Section by section, so that a council's rows of the shared tables (blobs its
			// attachments refer to) are in before post-data adds the foreign keys.
			for _, section := range []string{"pre-data", "data", "post-data"} {
				if section == "post-data" {
					for _, g := range globals {
						if err := copyIn(pw, g[0], g[1]); err != nil {
							return err
						}
					}
				}
				var errOut tail
				cmd := exec.CommandContext(ctx, filepath.Join(t.BinDir, "pg_restore"), "--no-owner", "--no-privileges",
					"--exit-on-error", "--section="+section, "--file=-", dump)
				cmd.Stdout, cmd.Stderr = pw, &errOut
				if err := cmd.Run(); err != nil {
					return fmt.Errorf("pg_restore: %w: %s", err, strings.TrimSpace(errOut.String()))
				}
			}
			repoint := ""
			if blobStore != "" {
				repoint = "UPDATE public.blobs SET store = '" + blobStore + "' WHERE store IN ('fs', 's3');\n"
			}
			_, err := io.WriteString(pw, repoint+grantSQL+"COMMIT;\n")
			return err
		}()
		// Closed with an error, psql's input ends without COMMIT and the server rolls back.
		pw.CloseWithError(err)
		fed <- err
	}()
	err = runPG(ctx, t.BinDir, "psql", t.OwnerURL, pr, nil, "--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=1", "--file=-")
	pr.Close() // psql stopped early: pg_restore's writes now fail instead of blocking
	ferr := <-fed
	// psql's own error says more than pg_restore's broken pipe.
	if err = cmp.Or(err, ferr); err != nil {
		return fmt.Errorf("restore the database: %w", err)
	}
	return nil
}

// copyIn writes a COPY of table's rows, staged in COPY's text format at path, into the SQL
// stream psql runs.
func copyIn(w io.Writer, table, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.WriteString(w, "COPY public."+quoteIdent(table)+" FROM stdin;\n"); err != nil {
		return err
	}
	if _, err := io.Copy(w, f); err != nil {
		return err
	}
	_, err = io.WriteString(w, "\\.\n")
	return err
}

// privileges a backup may give the serving role: anything else in a manifest is refused.
var privileges = []string{"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER", "USAGE"}

// grantStatements gives role what the backed-up serving role had, and the default privileges
// migration 00025 sets, so tables a later migration creates are reachable too.
func grantStatements(role string, grants []store.Grant) (string, error) {
	r := quoteIdent(role)
	var b strings.Builder
	fmt.Fprintf(&b, "GRANT USAGE ON SCHEMA public TO %s;\n", r)
	for _, g := range grants {
		for _, p := range g.Privileges {
			if !slices.Contains(privileges, p) {
				return "", fmt.Errorf("%w: the manifest grants %q on %s", ErrDamaged, p, g.Name)
			}
		}
		kind := "TABLE"
		if g.Sequence {
			kind = "SEQUENCE"
		}
		fmt.Fprintf(&b, "GRANT %s ON %s public.%s TO %s;\n", strings.Join(g.Privileges, ", "), kind, quoteIdent(g.Name), r)
	}
	fmt.Fprintf(&b, "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %s;\n", r)
	fmt.Fprintf(&b, "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO %s;\n", r)
	return b.String(), nil
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
