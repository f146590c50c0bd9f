package database

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func fakeBinaries(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"initdb", "postgres"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFindBinaries(t *testing.T) {
	root := t.TempDir()
	onPath := filepath.Join(root, "path")
	fakeBinaries(t, onPath)
	for _, v := range []string{"9.6", "15", "16"} {
		fakeBinaries(t, filepath.Join(root, "lib", v, "bin"))
	}
	half := filepath.Join(root, "half") // initdb only
	os.MkdirAll(half, 0o755)
	os.WriteFile(filepath.Join(half, "initdb"), []byte("#!/bin/sh\n"), 0o755)
	glob := filepath.Join(root, "lib", "*", "bin")

	tests := []struct {
		name     string
		pathList string
		glob     string
		want     string
		wantErr  error
	}{
		{"PATH first", half + string(filepath.ListSeparator) + onPath, glob, onPath, nil},
		{"highest version", half, glob, filepath.Join(root, "lib", "16", "bin"), nil},
		{"nothing", half, filepath.Join(root, "none", "*", "bin"), "", ErrNoBinaries},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := findBinaries(tt.pathList, "", tt.glob)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error: got %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
