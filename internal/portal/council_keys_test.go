package portal_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"

	"candour/internal/policytest"
	"candour/internal/portaltest"
	"candour/internal/seal"
)

// Each council other than the default keeps its own server key in its own part of the data
// folder: south's concerns unwrap with south's key and not with north's, nor with the default
// council's at CANDOUR_DATA_KEY_FILE (so one council's backup, which carries its key, opens no
// other council's data).
func TestEachCouncilHasItsOwnDataKey(t *testing.T) {
	t.Parallel()
	e, north, south := twoCouncils(t)
	sc := fileInSouth(t, e, south)
	c, err := south.Store.ConcernByReference(context.Background(), sc.reference)
	if err != nil {
		t.Fatal(err)
	}
	load := func(path string) *seal.ServerKey {
		k, err := seal.LoadOrCreateServerKey(path)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	southKey := filepath.Join(e.DataDir, "councils", "south", "keys", "data.key")
	if south.Config.DataKeyFile != southKey {
		t.Errorf("south's data key file: %s, want %s", south.Config.DataKeyFile, southKey)
	}
	if _, err := load(southKey).UnwrapDataKey(c.WrappedKey); err != nil {
		t.Errorf("south's concern with south's own key: %v", err)
	}
	for _, other := range []string{north.Config.DataKeyFile, filepath.Join(e.DataDir, "keys", "data.key")} {
		if _, err := load(other).UnwrapDataKey(c.WrappedKey); err == nil {
			t.Errorf("south's concern unwrapped with %s", other)
		}
	}
}

// A council served before councils had keys of their own (its audit log's key exists, its data
// key does not) keeps the default council's data and receipt keys, copied into its folder: its
// rows were sealed and hashed with them.
func TestCouncilServedBeforeItsOwnKeysKeepsTheShared(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	if _, err := seal.LoadOrCreateServerKey(filepath.Join(data, "keys", "data.key")); err != nil {
		t.Fatal(err)
	}
	seed := make([]byte, 32)
	rand.Read(seed)
	if err := os.MkdirAll(filepath.Join(data, "councils", "south", "keys"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "councils", "south", "keys", "audit-log.key"), seed, 0o600); err != nil {
		t.Fatal(err)
	}
	e := portaltest.Start(t, portaltest.Setting("CANDOUR_POLICY_DIR", policytest.Deployment(t, "north", "south")),
		portaltest.Setting("CANDOUR_DATA_DIR", data))
	read := func(path string) []byte {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	sharedFile := read(filepath.Join(data, "keys", "data.key"))
	if got := read(e.CouncilBySlug("south").Config.DataKeyFile); !bytes.Equal(got, sharedFile) {
		t.Errorf("south, served before, got a key of its own: its old concerns would not open")
	}
	if got := read(e.CouncilBySlug("north").Config.DataKeyFile); bytes.Equal(got, sharedFile) {
		t.Errorf("north, new, shares the default council's key")
	}
	if !bytes.Equal(read(filepath.Join(data, "councils", "south", "keys", "receipt.key")), read(filepath.Join(data, "keys", "receipt.key"))) {
		t.Errorf("south's receipt key is not the one its receipts were hashed with")
	}
}
