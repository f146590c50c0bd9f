package routing

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"time"
)

// Files are the policy files, in the order they are read and hashed.
var Files = []string{CouncilFile, "directory.yaml", "routing.yaml", "clocks.yaml", "retention.yaml", "fixtures.yaml", PerturbationFile}

// optionalFiles are the policy files a council may leave out; each counts towards the version
// when present.
var optionalFiles = []string{CustodiansFile, AuditFile, BackupFile, SSOFile}

// Policy is a loaded, validated policy. It is read-only and safe for
// concurrent use; to reload, Load again and swap the pointer.
type Policy struct {
	// Version identifies the policy content: the first 12 hex digits of a
	// SHA-256 over every file's name and bytes. Stored with each decision.
	Version string
	// Council is the council's profile (council.yaml): names, contacts, statements.
	Council   *Council
	Directory *Directory
	// Clocks are the policy's default clocks (a rule may override some).
	Clocks    Clocks
	Calendar  *Calendar
	Retention Retention
	// Custodians are the pinned identity custodians (custodians.yaml); none without the file.
	Custodians []Custodian
	// Audit pins the audit log's keys (audit.yaml); nil when the file is absent.
	Audit *Audit
	// BackupRecipients are the age recipients backups are sealed to (backup.yaml); none
	// without the file.
	BackupRecipients []string
	// SSO is the staff sign-on provider (sso.yaml); nil when the file is absent.
	SSO *SSO
	// Perturbation is the cell-key table the statistics are published with.
	Perturbation *Perturbation

	rules    []*rule
	fixtures []Fixture
}

// Load reads, validates and compiles the policy in dir, then runs its
// fixtures. On failure the error is LoadErrors, each "file:line: reason" with
// File as dir joined with the file name.
func Load(dir string) (*Policy, error) {
	return load(os.DirFS(dir), func(name string) string { return filepath.Join(dir, name) })
}

// LoadFS is Load for a file system (embedded policies, tests); errors name
// the files as they are named in fsys.
func LoadFS(fsys fs.FS) (*Policy, error) {
	return load(fsys, func(name string) string { return name })
}

type rawClocks struct {
	Timezone     string       `yaml:"timezone"`
	Acknowledge  string       `yaml:"acknowledge"`
	Decide       string       `yaml:"decide"`
	Feedback     string       `yaml:"feedback"`
	Safeguarding string       `yaml:"safeguarding"`
	BankHolidays []rawHoliday `yaml:"bank_holidays"`
}

type rawHoliday struct {
	Date   string `yaml:"date"`
	Name   string `yaml:"name"`
	NameCy string `yaml:"name_cy"`
}

type rawFixtures struct {
	Fixtures []rawFixture `yaml:"fixtures"`
}

func load(fsys fs.FS, display func(string) string) (*Policy, error) {
	var errs LoadErrors
	srcs := map[string]*source{}
	h := sha256.New()
	for _, name := range Files {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			reason := err.Error()
			if errors.Is(err, fs.ErrNotExist) {
				reason = "missing: a policy needs " + joinFiles()
			}
			errs = append(errs, &LoadError{File: display(name), Reason: reason})
			continue
		}
		hashFile(h, name, data)
		srcs[name] = &source{path: display(name), data: data}
	}
	// The optional files count towards the version when present.
	for _, name := range optionalFiles {
		if data, err := fs.ReadFile(fsys, name); err == nil {
			hashFile(h, name, data)
			srcs[name] = &source{path: display(name), data: data}
		} else if !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, &LoadError{File: display(name), Reason: err.Error()})
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}

	// Stage 1: YAML syntax and shape, every file.
	var (
		rawDir  rawDirectory
		rawRout rawRouting
		rawClk  rawClocks
		rawRet  rawRetention
		rawFix  rawFixtures
		rawCou  Council
		rawPert rawPerturbation
	)
	for name, v := range map[string]any{
		"directory.yaml": &rawDir, "routing.yaml": &rawRout, "clocks.yaml": &rawClk,
		"retention.yaml": &rawRet, "fixtures.yaml": &rawFix, CouncilFile: &rawCou, PerturbationFile: &rawPert,
	} {
		if e := srcs[name].decode(v); e != nil {
			errs = append(errs, e)
		}
	}
	var rawCust rawCustodians
	var rawAud *rawAudit
	var rawBack rawBackup
	if s, ok := srcs[BackupFile]; ok {
		if e := s.decode(&rawBack); e != nil {
			errs = append(errs, e)
		}
	}
	if s, ok := srcs[CustodiansFile]; ok {
		if e := s.decode(&rawCust); e != nil {
			errs = append(errs, e)
		}
	}
	if s, ok := srcs[AuditFile]; ok {
		rawAud = &rawAudit{}
		if e := s.decode(rawAud); e != nil {
			errs = append(errs, e)
		}
	}
	var rawSign *rawSSO
	if s, ok := srcs[SSOFile]; ok {
		rawSign = &rawSSO{}
		if e := s.decode(rawSign); e != nil {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		return nil, sortErrs(errs)
	}

	// Stage 2: meaning.
	p := &Policy{Version: hex.EncodeToString(h.Sum(nil))[:12]}
	council, es := buildCouncil(srcs[CouncilFile], &rawCou)
	errs = append(errs, es...)
	p.Council = council
	dir, es := buildDirectory(srcs["directory.yaml"], &rawDir)
	errs = append(errs, es...)
	p.Directory = dir

	cal, clocks, es := buildClocks(srcs["clocks.yaml"], &rawClk)
	errs = append(errs, es...)
	p.Calendar, p.Clocks = cal, clocks

	p.Retention, es = buildRetention(srcs["retention.yaml"], &rawRet, cal)
	errs = append(errs, es...)

	p.Perturbation, es = buildPerturbation(srcs[PerturbationFile], &rawPert)
	errs = append(errs, es...)

	if s, ok := srcs[CustodiansFile]; ok {
		p.Custodians, es = buildCustodians(s, &rawCust)
		errs = append(errs, es...)
	}
	if rawAud != nil {
		p.Audit, es = buildAudit(srcs[AuditFile], rawAud)
		errs = append(errs, es...)
	}
	if s, ok := srcs[BackupFile]; ok {
		p.BackupRecipients, es = buildBackup(s, &rawBack)
		errs = append(errs, es...)
	}
	if rawSign != nil {
		p.SSO, es = buildSSO(srcs[SSOFile], rawSign, fsys)
		errs = append(errs, es...)
	}

	env, err := newEnv()
	if err != nil {
		return nil, LoadErrors{{File: srcs["routing.yaml"].path, Reason: "CEL environment: " + err.Error()}}
	}
	p.rules, es = compileRules(srcs["routing.yaml"], &rawRout, env, dir)
	errs = append(errs, es...)
	if len(errs) > 0 {
		return nil, sortErrs(errs)
	}

	// Stage 3: the fixtures, against the compiled policy.
	p.fixtures, es = buildFixtures(srcs["fixtures.yaml"], &rawFix, p)
	errs = append(errs, es...)
	if len(errs) > 0 {
		return nil, sortErrs(errs)
	}
	if err := p.CheckFixtures(); err != nil {
		return nil, err
	}
	return p, nil
}

// hashFile adds a policy file to the version hash: its name and bytes, each after its length.
func hashFile(h hash.Hash, name string, data []byte) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(name)))
	h.Write(n[:])
	h.Write([]byte(name))
	binary.BigEndian.PutUint64(n[:], uint64(len(data)))
	h.Write(n[:])
	h.Write(data)
}

func joinFiles() string {
	s := ""
	for i, f := range Files {
		if i > 0 {
			s += ", "
		}
		s += f
	}
	return s
}

// sortErrs orders errors by file (in Files order) then line.
func sortErrs(errs LoadErrors) LoadErrors {
	rank := func(e *LoadError) int {
		for i, f := range append(Files[:len(Files):len(Files)], optionalFiles...) {
			if path.Base(filepath.ToSlash(e.File)) == f {
				return i
			}
		}
		return len(Files)
	}
	out := append(LoadErrors(nil), errs...)
	for i := 1; i < len(out); i++ { // insertion sort: stable, and lists are short
		for j := i; j > 0; j-- {
			a, b := out[j-1], out[j]
			if rank(a) < rank(b) || (rank(a) == rank(b) && a.Line <= b.Line) {
				break
			}
			out[j-1], out[j] = b, a
		}
	}
	return out
}

func buildClocks(s *source, raw *rawClocks) (*Calendar, Clocks, []*LoadError) {
	var errs []*LoadError
	loc := london
	if raw.Timezone != "" {
		l, err := time.LoadLocation(raw.Timezone)
		if err != nil {
			errs = append(errs, s.errorf("$.timezone", "unknown time zone %q", raw.Timezone))
		} else {
			loc = l
		}
	}
	hs := make([]BankHoliday, 0, len(raw.BankHolidays))
	seen := map[string]bool{}
	for i, rh := range raw.BankHolidays {
		path := fmt.Sprintf("$.bank_holidays[%d]", i)
		if _, err := NewCalendar(loc, []BankHoliday{BankHoliday(rh)}); err != nil {
			errs = append(errs, s.errorf(path, "%v", err))
			continue
		}
		if seen[rh.Date] {
			errs = append(errs, s.errorf(path, "bank holiday %s is listed twice", rh.Date))
			continue
		}
		seen[rh.Date] = true
		hs = append(hs, BankHoliday(rh))
	}
	cal, err := NewCalendar(loc, hs)
	if err != nil { // unreachable: each holiday was checked above
		errs = append(errs, s.errorf("$.bank_holidays", "%v", err))
		cal = &Calendar{loc: loc}
	}

	clocks := Clocks{calendar: cal}
	for _, c := range []struct {
		k Clock
		v string
	}{{ClockAcknowledge, raw.Acknowledge}, {ClockDecide, raw.Decide}, {ClockFeedback, raw.Feedback}, {ClockSafeguarding, raw.Safeguarding}} {
		if c.v == "" {
			errs = append(errs, s.errorf("$", "clock %s is required", c.k))
			continue
		}
		p, err := ParsePeriod(c.v)
		if err != nil {
			errs = append(errs, s.errorf("$."+string(c.k), "clock %s: %v", c.k, err))
			continue
		}
		clocks.set(c.k, p)
	}
	return cal, clocks, errs
}

// Deadline is when the policy's default clock k runs out for a concern
// received at from. A decision's own clocks may differ (a rule can override
// them): prefer Decision.Clocks.Deadline once a concern has been decided.
func (p *Policy) Deadline(k Clock, from time.Time) time.Time {
	return p.Clocks.Deadline(k, from)
}
