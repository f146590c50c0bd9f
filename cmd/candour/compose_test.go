package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"candour/internal/portaltest"
)

// docker-compose.yml cannot be run on the build machines (no Docker engine), so at least its
// syntax and wiring are checked: both services, the portal built from the Dockerfile, waiting
// for a healthy database, health checks and named volumes, and the two database roles: the
// portal serves as candour_app and migrates as candour_owner, which the init script mounted
// into the db service creates.
func TestComposeFile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(portaltest.Root(), "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Build       string            `yaml:"build"`
			Environment map[string]string `yaml:"environment"`
			DependsOn   map[string]struct {
				Condition string `yaml:"condition"`
			} `yaml:"depends_on"`
			Healthcheck struct {
				Test []string `yaml:"test"`
			} `yaml:"healthcheck"`
			Volumes     []string `yaml:"volumes"`
			Profiles    []string `yaml:"profiles"`
			NetworkMode string   `yaml:"network_mode"`
		} `yaml:"services"`
		Volumes map[string]any `yaml:"volumes"`
	}
	if err := yaml.Unmarshal(b, &compose); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	db, portal := compose.Services["db"], compose.Services["portal"]
	if !strings.HasPrefix(db.Image, "postgres:") || len(db.Healthcheck.Test) == 0 {
		t.Errorf("db service: got %+v, want a postgres image with a health check", db)
	}
	if portal.Build != "." || portal.DependsOn["db"].Condition != "service_healthy" || len(portal.Healthcheck.Test) == 0 {
		t.Errorf("portal service: got %+v, want built here, waiting for a healthy db, with a health check", portal)
	}
	for name, user := range map[string]string{"DATABASE_URL": "candour_app", "CANDOUR_MIGRATE_DATABASE_URL": "candour_owner"} {
		if url := portal.Environment[name]; !strings.HasPrefix(url, "postgres://"+user+":") || !strings.Contains(url, "@db:5432/candour?") {
			t.Errorf("portal %s %q: want %s on the db service's candour database", name, url, user)
		}
	}
	const initdb = "./deploy/initdb:/docker-entrypoint-initdb.d:ro"
	if !slices.Contains(db.Volumes, initdb) {
		t.Errorf("db volumes %v: want %s", db.Volumes, initdb)
	}
	script := filepath.Join(portaltest.Root(), "deploy", "initdb", "10-candour-roles.sh")
	if out, err := exec.Command("sh", "-n", script).CombinedOutput(); err != nil {
		t.Errorf("%s: %v\n%s", script, err, out)
	}
	sql, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"CREATE ROLE candour_owner LOGIN", "CREATE ROLE candour_app LOGIN", "CREATE DATABASE candour OWNER candour_owner",
		"$CANDOUR_OWNER_DB_PASSWORD", "$CANDOUR_APP_DB_PASSWORD"} {
		if !strings.Contains(string(sql), want) {
			t.Errorf("%s does not say %q", script, want)
		}
	}
	for _, v := range []string{"CANDOUR_OWNER_DB_PASSWORD", "CANDOUR_APP_DB_PASSWORD"} {
		if !strings.Contains(db.Environment[v], v) {
			t.Errorf("db service: %s = %q, want it passed to the init script", v, db.Environment[v])
		}
	}
	// The onion service is optional (a profile), shares the portal's network namespace so its
	// torrc can name 127.0.0.1 (tor resolves no host names there), and keeps its key in a volume.
	tor := compose.Services["tor"]
	if !slices.Equal(tor.Profiles, []string{"onion"}) || tor.Build != "./deploy/tor" || tor.NetworkMode != "service:portal" ||
		!slices.Contains(tor.Volumes, "onion:/var/lib/tor/candour") {
		t.Errorf("tor service: got %+v, want the onion profile, built from deploy/tor, in the portal's network, keys in the onion volume", tor)
	}
	torrc, err := os.ReadFile(filepath.Join(portaltest.Root(), "deploy", "tor", "torrc"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"HiddenServiceDir /var/lib/tor/candour\n", "HiddenServicePort 80 127.0.0.1:8080\n", "SocksPort 0\n"} {
		if !strings.Contains(string(torrc), want) {
			t.Errorf("deploy/tor/torrc does not say %q", want)
		}
	}
	for _, v := range []string{"pgdata", "keys", "onion"} {
		if _, ok := compose.Volumes[v]; !ok {
			t.Errorf("named volume %s missing", v)
		}
	}
	if _, err := os.Stat(filepath.Join(portaltest.Root(), "Dockerfile")); err != nil {
		t.Errorf("Dockerfile: %v", err)
	}
}
