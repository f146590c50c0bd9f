package routing

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// DefaultSlug names the council of a policy folder that is one council's (council.yaml at its
// top), and the council every row belonged to before a deployment could serve several.
const DefaultSlug = "default"

// slugPattern is what a council folder may be called: it names the council in URLs of the
// operator's tools, in the database and in the data folder.
var slugPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// CouncilPolicy is one council of a deployment and the policy it is served under.
type CouncilPolicy struct {
	Slug   string
	Dir    string // its policy folder
	Policy *Policy
}

// CouncilDirs lists the councils a policy folder holds. A folder with council.yaml at its top
// is one council, DefaultSlug (a single-council installation, as before). Otherwise every
// subfolder holding a council.yaml is a council named by the folder, in name order; a folder
// with neither (or none at all) is taken as one council's, so that loading it names what is
// missing.
func CouncilDirs(dir string) ([]CouncilPolicy, error) {
	if _, err := os.Stat(filepath.Join(dir, CouncilFile)); err == nil {
		return []CouncilPolicy{{Slug: DefaultSlug, Dir: dir}}, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil { // loading it says what is wrong, file by file
		return []CouncilPolicy{{Slug: DefaultSlug, Dir: dir}}, nil
	}
	var out []CouncilPolicy
	var errs LoadErrors
	for _, e := range entries {
		sub := filepath.Join(dir, e.Name())
		if !e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(sub, CouncilFile)); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if !slugPattern.MatchString(e.Name()) {
			errs = append(errs, &LoadError{File: sub, Reason: "a council's folder is named by its slug: lower-case letters, digits and " +
				"hyphens, at most 63 (e.g. cardiff or vale-of-glamorgan)"})
			continue
		}
		out = append(out, CouncilPolicy{Slug: e.Name(), Dir: sub})
	}
	if len(errs) > 0 {
		return nil, errs
	}
	if len(out) == 0 {
		// Neither layout: read it as one council's, so loading names every file it lacks.
		return []CouncilPolicy{{Slug: DefaultSlug, Dir: dir}}, nil
	}
	return out, nil
}

// LoadCouncils loads every council's policy under dir (CouncilDirs). When there are several,
// each must list the host names it answers on, and no two may claim the same one: the request's
// host is all that chooses a council.
func LoadCouncils(dir string) ([]CouncilPolicy, error) {
	councils, err := CouncilDirs(dir)
	if err != nil {
		return nil, err
	}
	var errs LoadErrors
	for i := range councils {
		pol, err := Load(councils[i].Dir)
		var le LoadErrors
		if errors.As(err, &le) {
			errs = append(errs, le...)
			continue
		} else if err != nil {
			return nil, err
		}
		councils[i].Policy = pol
	}
	if len(errs) > 0 {
		return nil, errs
	}
	if err := CheckHosts(councils); err != nil {
		return nil, err
	}
	return councils, nil
}

// CheckHosts checks that each of several councils lists its hosts and that no two claim the
// same host, naming the file and line of each claim.
func CheckHosts(councils []CouncilPolicy) error {
	if len(councils) < 2 {
		return nil
	}
	var errs LoadErrors
	claimed := map[string]string{} // host -> slug
	for _, c := range councils {
		file := filepath.Join(c.Dir, CouncilFile)
		if len(c.Policy.Council.Hosts) == 0 {
			errs = append(errs, &LoadError{File: file, Reason: "hosts: required when several councils share a deployment: " +
				"the request's host name is what chooses the council"})
		}
		for _, h := range c.Policy.Council.Hosts {
			if other, ok := claimed[h]; ok {
				errs = append(errs, &LoadError{File: file, Line: lineOf(file, h),
					Reason: fmt.Sprintf("hosts: %q is claimed by council %q as well: a host belongs to one council", h, other)})
				continue
			}
			claimed[h] = c.Slug
		}
	}
	if len(errs) > 0 {
		sort.SliceStable(errs, func(i, j int) bool { return errs[i].File < errs[j].File })
		return errs
	}
	return nil
}

// lineOf is the first line of file mentioning s, for an error that points at it (0: none).
func lineOf(file, s string) int {
	data, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	for i, line := range strings.Split(string(data), "\n") {
		if strings.Contains(strings.ToLower(line), s) {
			return i + 1
		}
	}
	return 0
}
