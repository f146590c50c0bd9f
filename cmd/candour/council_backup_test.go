package main_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime/multipart"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"candour/internal/accounts"
	"candour/internal/backup"
	"candour/internal/dbtest"
	"candour/internal/policytest"
	"candour/internal/portal"
	"candour/internal/portaltest"
)

// councilCase is what one council of the deployment holds: a report with an attachment in the
// blob folder, and its Monitoring Officer.
type councilCase struct {
	key                                     *age.X25519Identity // its backup.yaml's recipient
	officer                                 *accounts.Created
	reference, receipt, attachment, summary string
	evidence                                []byte
	id                                      int64
}

func mailboxAt(t *testing.T, base, host, receipt string) string {
	t.Helper()
	r := portaltest.DoJSON(t, base, "POST", "/api/v1/mailbox/session", map[string]string{"receipt": receipt}, host)
	if r.Status != 200 {
		t.Fatalf("mailbox session at %s: got %d %s", host, r.Status, r.Body)
	}
	var out struct{ Token string }
	json.Unmarshal(r.Body, &out)
	return "Authorization: Bearer " + out.Token
}

func fileWithEvidence(t *testing.T, e *portaltest.Env, c *portal.Council) *councilCase {
	t.Helper()
	host := portaltest.HostHeader(c)
	cc := &councilCase{summary: "Contracts steered in " + c.Slug, id: c.ID}
	cc.key = backupRecipient(t, c.PolicyDir)
	cc.officer = portaltest.AccountAt(t, e.Portal, c, accounts.NewUser{Email: "mo@" + c.Slug + ".example", Roles: []string{"monitoring_officer"}})
	r := portaltest.DoJSON(t, e.URL(), "POST", "/api/v1/reports", map[string]any{"mode": "anonymous", "service_area": "finance",
		"category": "fraud", "summary": cc.summary, "details": "Every contract in " + c.Slug + " went to one firm.", "lang": "en"}, host)
	var filed struct{ Reference, Receipt string }
	if r.Status != 201 || json.Unmarshal(r.Body, &filed) != nil {
		t.Fatalf("report in %s: %d %s", c.Slug, r.Status, r.Body)
	}
	cc.reference, cc.receipt = filed.Reference, filed.Receipt
	cc.evidence = bytes.Repeat([]byte("ledger of "+c.Slug+" \x00\xff "), 30000)
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	fw, _ := mw.CreateFormFile("file", "ledger.pdf")
	fw.Write(cc.evidence)
	mw.Close()
	auth := mailboxAt(t, e.URL(), host, cc.receipt)
	r = e.Do(t, "POST", "/api/v1/mailbox/attachments", mw.FormDataContentType(), &b, auth, host)
	var up struct{ ID string }
	if r.Status != 201 || json.Unmarshal(r.Body, &up) != nil {
		t.Fatalf("upload in %s: got %d %s", c.Slug, r.Status, r.Body)
	}
	cc.attachment = up.ID
	if r := portaltest.DoJSON(t, e.URL(), "POST", "/api/v1/mailbox/evidence/"+up.ID+"/send", map[string]bool{}, auth, host); r.Status != 200 {
		t.Fatalf("send evidence in %s: %d %s", c.Slug, r.Status, r.Body)
	}
	return cc
}

// openBackup decrypts a backup with id and returns its members, and the database dump turned
// back into SQL by pg_restore: what an attacker holding the key would read.
func openBackup(t *testing.T, file string, id age.Identity) (map[string][]byte, []byte) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := age.Decrypt(f, id)
	if err != nil {
		t.Fatal(err)
	}
	members := map[string][]byte{}
	var dump bytes.Buffer
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		members[h.Name] = b
		if strings.HasPrefix(h.Name, "database/") {
			dump.Write(b)
		}
	}
	path := filepath.Join(t.TempDir(), "dump")
	os.WriteFile(path, dump.Bytes(), 0o600)
	bin, err := backup.BinDir(os.Getenv("CANDOUR_PG_BIN"))
	if err != nil {
		t.Fatal(err)
	}
	sql, err := exec.Command(filepath.Join(bin, "pg_restore"), "--file=-", path).Output()
	if err != nil {
		t.Fatalf("pg_restore of the dump: %v", err)
	}
	return members, sql
}

// One council's backup of a deployment of two, sealed to that council's own backup.yaml, holds
// its rows, keys and attachment and nothing of the other council's: decrypted and its dump
// turned back into SQL, it has neither north's reference, nor north's evidence file, nor
// north's keys. Restored into an empty database with a deployment folder serving that council,
// its receipt opens its mailbox, its attachment downloads byte for byte and its Monitoring
// Officer sees its concern.
func TestCouncilBackupHoldsOnlyItsCouncil(t *testing.T) {
	t.Parallel()
	policy := policytest.Deployment(t, "north", "south")
	blobs := filepath.Join(t.TempDir(), "blobs")
	e := portaltest.Start(t, portaltest.Setting("CANDOUR_POLICY_DIR", policy), portaltest.Setting("CANDOUR_BLOB_DIR", blobs))
	north := fileWithEvidence(t, e, e.CouncilBySlug("north"))
	south := fileWithEvidence(t, e, e.CouncilBySlug("south"))
	files := blobDirFiles(t, blobs)
	if len(files) != 2 {
		t.Fatalf("blob folder holds %v, want the two attachments", files)
	}
	env := map[string]string{"DATABASE_URL": e.DatabaseURL, "CANDOUR_MIGRATE_DATABASE_URL": e.OwnerURL,
		"CANDOUR_DATA_DIR": e.DataDir, "CANDOUR_BLOB_DIR": blobs, "CANDOUR_POLICY_DIR": policy}

	out := filepath.Join(t.TempDir(), "south.backup")
	r := command(env, "backup", "--council", "south", "--out", out)
	if code := exitCode(t, r); code != 0 || !strings.Contains(r.stdout.String(), filepath.Join(policy, "south", "backup.yaml")) {
		t.Fatalf("backup: exit %d, stdout %s, stderr %s", code, r.stdout, r.stderr)
	}
	if _, err := age.Decrypt(mustOpen(t, out), north.key); err == nil {
		t.Error("south's backup opens with north's backup key")
	}
	members, sql := openBackup(t, out, south.key)
	var m backup.Manifest
	if err := json.Unmarshal(members["manifest.json"], &m); err != nil {
		t.Fatal(err)
	}
	if m.Scope != "council" || m.CouncilSlug != "south" || m.CouncilID != south.id || len(m.BlobFiles) != 1 {
		t.Errorf("manifest: scope %q, council %q (%d), blob files %v; want council south (%d) and its one file", m.Scope, m.CouncilSlug, m.CouncilID, m.BlobFiles, south.id)
	}
	var hay bytes.Buffer
	hay.Write(sql)
	for name, b := range members {
		if !strings.HasPrefix(name, "database/") {
			hay.WriteString(name + "\n")
			hay.Write(b)
		}
		if strings.HasPrefix(name, "data/") && !strings.HasPrefix(name, "data/councils/south/") {
			t.Errorf("south's backup carries %s of the data folder", name)
		}
	}
	read := func(path string) []byte {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, c := range []struct {
		what   string
		bytes  []byte
		wanted bool
	}{
		{"south's reference", []byte(south.reference), true},
		{"north's reference", []byte(north.reference), false},
		{"south's data key", read(filepath.Join(e.DataDir, "councils", "south", "keys", "data.key")), true},
		{"north's data key", read(filepath.Join(e.DataDir, "councils", "north", "keys", "data.key")), false},
		{"the default council's data key", read(filepath.Join(e.DataDir, "keys", "data.key")), false},
		{"north's receipt key", read(filepath.Join(e.DataDir, "councils", "north", "keys", "receipt.key")), false},
	} {
		if got := bytes.Contains(hay.Bytes(), c.bytes); got != c.wanted {
			t.Errorf("%s in south's backup: %v, want %v", c.what, got, c.wanted)
		}
	}
	// The evidence files as stored (ciphertext): a stretch of each from its middle.
	var carried int
	for _, f := range files {
		b := read(f)
		if bytes.Contains(hay.Bytes(), b[len(b)/2:len(b)/2+256]) {
			carried++
		}
	}
	if carried != 1 {
		t.Errorf("south's backup carries %d of the two evidence files, want its own one", carried)
	}

	// Restored where south is served: a deployment folder holding south's folder.
	restored := policytest.Deployment(t, "south")
	d, renv := restoreTarget(t, restored)
	if r := command(renv, "restore", "--in", out, "--identity", keyFile(t, north.key)); exitCode(t, r) != 1 ||
		!strings.Contains(r.stderr.String(), "not sealed to this identity") {
		t.Errorf("restore with north's key: stderr %s", r.stderr)
	}
	_, nenv := restoreTarget(t, policytest.Deployment(t, "north"))
	if r := command(nenv, "restore", "--in", out, "--identity", keyFile(t, south.key)); exitCode(t, r) != 1 ||
		!strings.Contains(r.stderr.String(), "backup of council south, which the policy folder (CANDOUR_POLICY_DIR) does not serve") {
		t.Errorf("restore where south is not served: stderr %s", r.stderr)
	}
	if r := command(renv, "restore", "--in", out, "--identity", keyFile(t, south.key)); exitCode(t, r) != 0 {
		t.Fatalf("restore: stderr %s", r.stderr)
	}
	var opts []portaltest.Option
	for k, v := range renv {
		opts = append(opts, portaltest.Setting(k, v))
	}
	back := portaltest.Start(t, opts...)
	bs := back.CouncilBySlug("south")
	if bs == nil || bs.ID != south.id {
		t.Fatalf("restored councils: %+v, want south with id %d", back.Councils, south.id)
	}
	host := portaltest.HostHeader(bs)
	auth := mailboxAt(t, back.URL(), host, south.receipt)
	if got := back.Do(t, "GET", "/api/v1/mailbox", "", nil, auth, host); got.Status != 200 || !strings.Contains(string(got.Body), south.reference) {
		t.Errorf("south's mailbox after the restore: got %d %.300s", got.Status, got.Body)
	}
	if got := back.Do(t, "GET", "/api/v1/mailbox/attachments/"+south.attachment, "", nil, auth, host); got.Status != 200 || !bytes.Equal(got.Body, south.evidence) {
		t.Errorf("south's attachment: got %d, %d bytes; want 200 and the %d bytes uploaded", got.Status, len(got.Body), len(south.evidence))
	}
	c, err := bs.Store.ConcernByReference(context.Background(), south.reference)
	if err != nil {
		t.Fatal(err)
	}
	mo := portaltest.SignInAt(t, back.Portal, bs, south.officer)
	if got := mo.API("GET", "/api/v1/concerns/"+c.ID, nil); got.Status != 200 || !strings.Contains(string(got.Body), "Every contract in south went to one firm.") {
		t.Errorf("south's Monitoring Officer opening its concern: got %d %.300s", got.Status, got.Body)
	}
	if r := portaltest.DoJSON(t, back.URL(), "POST", "/api/v1/mailbox/session", map[string]string{"receipt": north.receipt}, host); r.Status == 200 {
		t.Errorf("north's receipt opens a mailbox in the restored south")
	}
	var councils []string
	dbtest.Open(t, d.OwnerURL).Select(&councils, `SELECT slug FROM councils ORDER BY id`)
	if strings.Join(councils, ",") != "south" {
		t.Errorf("restored councils rows: %v, want south's only", councils)
	}
	if got := blobDirFiles(t, renv["CANDOUR_BLOB_DIR"]); len(got) != 1 {
		t.Errorf("restored blob folder: %v, want south's one file", got)
	}
	// The route holders' index (migration 00037) comes back with south's rows only, as its
	// open concerns name them, and still read-only to the portal.
	rdb := dbtest.Open(t, dbtest.InCouncil(t, d.URL, south.id))
	if rows, drift := dbtest.HolderDrift(t, rdb); rows == 0 || drift != 0 {
		t.Errorf("restored concern_holders: %d rows, %d differing from south's open concerns'; want some, none differing", rows, drift)
	}
	if _, err := rdb.Exec(`DELETE FROM concern_holders`); err == nil {
		t.Error("the restored portal may delete rows of concern_holders")
	}
}

// A backup of a council the policy folder does not have is a usage error naming its councils.
func TestCouncilBackupOfAnUnknownCouncil(t *testing.T) {
	t.Parallel()
	policy := policytest.Deployment(t, "north", "south")
	r := command(map[string]string{"CANDOUR_POLICY_DIR": policy, "CANDOUR_DATA_DIR": t.TempDir()},
		"backup", "--council", "west", "--out", filepath.Join(t.TempDir(), "x"))
	if code := exitCode(t, r); code != 2 || !strings.Contains(r.stderr.String(), `no council "west"`) ||
		!strings.Contains(r.stderr.String(), "north, south") {
		t.Errorf("got exit %d, stderr %q; want 2 naming north, south", code, r.stderr)
	}
}

func mustOpen(t *testing.T, path string) io.Reader {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// With attachments kept in PostgreSQL (CANDOUR_BLOB_STORE=postgres), a council's backup carries the blobs
// and chunks its own attachments refer to, and restored, its attachment downloads whole.
func TestCouncilBackupOfBlobsInTheDatabase(t *testing.T) {
	t.Parallel()
	policy := policytest.Deployment(t, "north", "south")
	e := portaltest.Start(t, portaltest.Setting("CANDOUR_POLICY_DIR", policy), portaltest.Setting("CANDOUR_BLOB_STORE", "postgres"))
	fileWithEvidence(t, e, e.CouncilBySlug("north"))
	south := fileWithEvidence(t, e, e.CouncilBySlug("south"))
	out := filepath.Join(t.TempDir(), "south.backup")
	r := command(map[string]string{"DATABASE_URL": e.DatabaseURL, "CANDOUR_MIGRATE_DATABASE_URL": e.OwnerURL,
		"CANDOUR_DATA_DIR": e.DataDir, "CANDOUR_POLICY_DIR": policy}, "backup", "--council", "south", "--out", out)
	if code := exitCode(t, r); code != 0 {
		t.Fatalf("backup: exit %d, stderr %s", code, r.stderr)
	}
	d, env := restoreTarget(t, policytest.Deployment(t, "south"))
	delete(env, "CANDOUR_BLOB_DIR")
	if r := command(env, "restore", "--in", out, "--identity", keyFile(t, south.key)); exitCode(t, r) != 0 {
		t.Fatalf("restore: stderr %s", r.stderr)
	}
	var blobs, chunks, orphans int
	db := dbtest.Open(t, d.OwnerURL)
	db.Get(&blobs, `SELECT count(*) FROM blobs`)
	db.Get(&chunks, `SELECT count(*) FROM blob_chunks`)
	db.Get(&orphans, `SELECT count(*) FROM blob_chunks WHERE blob_id NOT IN (SELECT id FROM blobs)`)
	if blobs != 1 || chunks == 0 || orphans != 0 {
		t.Errorf("restored %d blobs, %d chunks (%d without their blob); want south's one blob and its chunks", blobs, chunks, orphans)
	}
	var opts []portaltest.Option
	for k, v := range env {
		opts = append(opts, portaltest.Setting(k, v))
	}
	back := portaltest.Start(t, opts...)
	host := portaltest.HostHeader(back.CouncilBySlug("south"))
	auth := mailboxAt(t, back.URL(), host, south.receipt)
	if got := back.Do(t, "GET", "/api/v1/mailbox/attachments/"+south.attachment, "", nil, auth, host); got.Status != 200 || !bytes.Equal(got.Body, south.evidence) {
		t.Errorf("south's attachment: got %d, %d bytes; want 200 and the %d bytes uploaded", got.Status, len(got.Body), len(south.evidence))
	}
}
