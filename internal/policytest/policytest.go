// Package policytest gives a test a council policy of its own to change: a copy of the
// repository's sample policy, and identity custodians pinned in it as a council pins them.
package policytest

import (
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"testing"

	"filippo.io/age"
	"github.com/goccy/go-yaml"

	"candour/internal/routing"
)

// Sample is the repository's sample policy.
func Sample() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "policies")
}

// Dir copies the sample policy to a folder of the test's own, which it may change without
// touching the repository.
func Dir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	copySample(t, dir)
	return dir
}

// Deployment lays out a policy folder for a deployment of several councils: one copy of the
// sample per slug, in a folder named by it, answering on <slug>.example and named after it
// (Council of <slug>), so each council's pages say whose they are.
func Deployment(t testing.TB, slugs ...string) string {
	t.Helper()
	root := t.TempDir()
	for _, slug := range slugs {
		dir := filepath.Join(root, slug)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		copySample(t, dir)
		path := filepath.Join(dir, routing.CouncilFile)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		profile := regexp.MustCompile(`(?m)^name: .*$`).ReplaceAllString(string(b), "name: Council of "+slug)
		profile = regexp.MustCompile(`(?m)^name_cy: .*$`).ReplaceAllString(profile, "name_cy: Cyngor "+slug)
		profile += "\nhosts:\n  - " + slug + ".example\n"
		if err := os.WriteFile(path, []byte(profile), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func copySample(t testing.TB, dir string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(Sample(), "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// PinCustodian makes a custodian with a fresh age identity, pins them in dir (Pin) and returns
// the identity.
func PinCustodian(t testing.TB, dir, name, email string) *age.X25519Identity {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	Pin(t, dir, routing.Custodian{Name: name, Email: email, Recipient: id.Recipient().String()})
	return id
}

// Pin adds c to dir's custodians.yaml, creating it. The caller reloads the policy.
func Pin(t testing.TB, dir string, c routing.Custodian) {
	t.Helper()
	if filepath.Clean(dir) == filepath.Clean(Sample()) {
		t.Fatal("policytest: pin custodians in a copy of the sample policy (policytest.Dir), not in the repository's")
	}
	path := filepath.Join(dir, routing.CustodiansFile)
	var file struct {
		Custodians []routing.Custodian `yaml:"custodians"`
	}
	if b, err := os.ReadFile(path); err == nil {
		if err := yaml.Unmarshal(b, &file); err != nil {
			t.Fatal(err)
		}
	}
	file.Custodians = append(file.Custodians, c)
	b, err := yaml.Marshal(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
