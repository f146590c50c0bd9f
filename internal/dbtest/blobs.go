package dbtest

import (
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// BlobFiles lists, sorted, the blob files in a blob folder (store.OpenFileBlobs) and its
// incoming/ folder: the part of the store's data that lives outside PostgreSQL. The owner
// file that names the installation is not a blob and is left out.
func BlobFiles(t testing.TB, dir string) []string {
	t.Helper()
	var names []string
	for _, d := range []string{dir, filepath.Join(dir, "incoming")} {
		entries, err := os.ReadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Type().IsRegular() && !(d == dir && e.Name() == "installation") {
				rel, err := filepath.Rel(dir, filepath.Join(d, e.Name()))
				if err != nil {
					t.Fatal(err)
				}
				names = append(names, rel)
			}
		}
	}
	sort.Strings(names)
	return names
}
