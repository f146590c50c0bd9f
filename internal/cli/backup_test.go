package cli

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// A backup copies blob files, not a bucket's objects: with CANDOUR_BLOB_URL it refuses, saying
// so, rather than write a backup whose rows point at evidence it does not hold.
func TestBackupRefusesS3Blobs(t *testing.T) {
	t.Setenv("CANDOUR_DATA_DIR", t.TempDir())
	t.Setenv("CANDOUR_BLOB_URL", "s3://evidence/council?endpoint=http://127.0.0.1:9")
	t.Setenv("CANDOUR_BLOB_ACCESS_KEY", "AK")
	t.Setenv("CANDOUR_BLOB_SECRET_KEY", "SK")
	var out, errOut bytes.Buffer
	code := Run([]string{"backup", "--out", filepath.Join(t.TempDir(), "b.age")}, &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), "CANDOUR_BLOB_URL") {
		t.Errorf("got exit %d, stderr %q; want 1 naming CANDOUR_BLOB_URL", code, errOut.String())
	}
}
