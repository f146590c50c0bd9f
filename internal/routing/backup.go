package routing

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"
)

// BackupFile names the age recipients `candour backup` seals to. It is optional: without it
// the portal runs, but no backup can be made. The keys that open a backup stay offline with
// whoever the council trusts with all of its data; the policy only says who they are, and it is
// reviewed like any policy file, so nobody can add a key of their own to read the next backup.
const BackupFile = "backup.yaml"

type rawBackup struct {
	Recipients []string `yaml:"recipients"`
}

// buildBackup checks backup.yaml: at least one age X25519 recipient, none twice.
func buildBackup(s *source, raw *rawBackup) ([]string, []*LoadError) {
	if len(raw.Recipients) == 0 {
		return nil, []*LoadError{s.errorf("$.recipients", "no backup recipient: list at least one age1… key, or nobody could open a backup")}
	}
	var errs []*LoadError
	seen := map[string]string{}
	out := make([]string, 0, len(raw.Recipients))
	for i, r := range raw.Recipients {
		r = strings.TrimSpace(r)
		if e := checkRecipient(s, fmt.Sprintf("$.recipients[%d]", i), r, seen); e != nil {
			errs = append(errs, e)
		}
		out = append(out, r)
	}
	return out, errs
}

// checkRecipient reports r at path unless it is an age X25519 recipient not already in seen
// (recipient → path of its first use), and records it there.
func checkRecipient(s *source, path, r string, seen map[string]string) *LoadError {
	if _, err := age.ParseX25519Recipient(r); err != nil {
		return s.errorf(path, "not an age X25519 recipient (age1…): %q", r)
	}
	if other, dup := seen[r]; dup {
		return s.errorf(path, "the same recipient as %s", other)
	}
	seen[r] = path
	return nil
}

// LoadBackup reads the backup.yaml of dir alone: in a folder of several councils, the one at
// its top names who a backup of the whole deployment is sealed to (each council's own names
// who may open that council's data, which a whole backup holds more than). None: no file.
func LoadBackup(dir string) ([]string, error) {
	path := filepath.Join(dir, BackupFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	s := &source{path: path, data: data}
	var raw rawBackup
	if e := s.decode(&raw); e != nil {
		return nil, LoadErrors{e}
	}
	recipients, errs := buildBackup(s, &raw)
	if len(errs) > 0 {
		return nil, LoadErrors(errs)
	}
	return recipients, nil
}
