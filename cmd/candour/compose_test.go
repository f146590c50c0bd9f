package main_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"candour/internal/portaltest"
)

// docker-compose.yml cannot be run on the build machines (no Docker engine), so at least its
// syntax and wiring are checked: both services, the portal built from the Dockerfile, waiting
// for a healthy database, DATABASE_URL pointing at it, health checks and named volumes.
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
			Volumes []string `yaml:"volumes"`
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
	if url := portal.Environment["DATABASE_URL"]; !strings.Contains(url, "@db:5432/candour") {
		t.Errorf("portal DATABASE_URL %q does not point at the db service", url)
	}
	for _, v := range []string{"pgdata", "keys"} {
		if _, ok := compose.Volumes[v]; !ok {
			t.Errorf("named volume %s missing", v)
		}
	}
	if _, err := os.Stat(filepath.Join(portaltest.Root(), "Dockerfile")); err != nil {
		t.Errorf("Dockerfile: %v", err)
	}
}
