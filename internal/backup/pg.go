package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"candour/internal/database"
)

// BinDir is the folder of the PostgreSQL programs a backup and a restore run: dir when set
// (CANDOUR_PG_BIN), else where the embedded default finds initdb and postgres.
func BinDir(dir string) (string, error) {
	if dir == "" {
		var err error
		if dir, err = database.FindBinaries(); err != nil {
			return "", err
		}
	}
	for _, p := range []string{"pg_dump", "pg_restore", "psql"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			return "", fmt.Errorf("PostgreSQL programs (CANDOUR_PG_BIN=%s): %w", dir, err)
		}
	}
	return dir, nil
}

// runPG runs one of PostgreSQL's programs connected as url, with stdin (nil: none) and, when
// stdout is set, its output handed to stdout as it comes. The error carries the end of what
// the program said.
func runPG(ctx context.Context, binDir, program, url string, stdin io.Reader, stdout func(io.Reader) error, args ...string) error {
	return runPGAs(ctx, binDir, program, url, allCouncils, stdin, stdout, args...)
}

// allCouncils is what a session reads under row-level security by default: a whole-installation
// backup reads every council's rows (the owner may, under migration 00031's whole_backup policy,
// read only).
const allCouncils = "-c candour.all_councils=on"

// inCouncil is the session setting that binds the owner to one council's rows (its policy).
func inCouncil(id int64) string { return fmt.Sprintf("-c candour.council=%d", id) }

// runPGAs is runPG with the session's settings pgOptions (PGOPTIONS).
func runPGAs(ctx context.Context, binDir, program, url, pgOptions string, stdin io.Reader, stdout func(io.Reader) error, args ...string) error {
	dsn, err := database.ParseDSN(url)
	if err != nil {
		return err
	}
	conninfo, password := dsn.ForLibpq()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, program), append(args, "--no-password", "--dbname="+conninfo)...)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+password, "PGCONNECT_TIMEOUT=30", "PGOPTIONS="+pgOptions)
	cmd.Stdin = stdin
	var errOut tail
	cmd.Stderr = &errOut
	var out io.ReadCloser
	if stdout != nil {
		if out, err = cmd.StdoutPipe(); err != nil {
			return err
		}
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: %w", program, err)
	}
	var readErr error
	if stdout != nil {
		readErr = stdout(out)
		if readErr != nil {
			_ = cmd.Process.Kill()
		}
		_, _ = io.Copy(io.Discard, out) // let it finish writing, so Wait returns
	}
	waitErr := cmd.Wait()
	if readErr != nil {
		return readErr
	}
	if waitErr != nil {
		return fmt.Errorf("%s: %w: %s", program, waitErr, strings.TrimSpace(errOut.String()))
	}
	return nil
}

// tail keeps the last 4 KiB written to it: enough of a program's error messages to say what
// went wrong, never a whole stream.
type tail struct{ b []byte }

func (t *tail) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if over := len(t.b) - 4096; over > 0 {
		t.b = t.b[over:]
	}
	return len(p), nil
}

func (t *tail) String() string { return string(t.b) }

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

var errNotEmpty = errors.New("not empty")
