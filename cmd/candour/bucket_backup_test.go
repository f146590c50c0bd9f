package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"candour/internal/backup"
	"candour/internal/dbtest"
	"candour/internal/policytest"
	"candour/internal/portaltest"
	"candour/internal/s3test"
)

// bucketObjects reads every object under prefix: name → bytes as stored (ciphertext).
func bucketObjects(t *testing.T, srv *s3test.Server, prefix string) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	c := srv.Client(t)
	out := map[string][]byte{}
	for obj := range c.ListObjects(ctx, srv.Bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		o, err := c.GetObject(ctx, srv.Bucket, obj.Key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(o)
		o.Close()
		if err != nil {
			t.Fatal(err)
		}
		out[obj.Key] = b
	}
	return out
}

// withEnv is the portal's options for the settings env.
func withEnv(env map[string]string) []portaltest.Option {
	var opts []portaltest.Option
	for k, v := range env {
		opts = append(opts, portaltest.Setting(k, v))
	}
	return opts
}

// A deployment of two councils keeps its evidence in a real S3 server (versitygw). One
// council's backup carries its own object and not the other's (the attacker holding south's
// backup key decrypts it and searches for north's ciphertext). The whole backup, restored after
// the bucket and the database are wiped, serves both attachments byte for byte from the bucket;
// south's backup restored onto a machine without S3 serves its attachment from a blob folder.
// A restore refuses a prefix another installation has claimed.
func TestBackupCoversTheBucket(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	const prefix = "evidence/"
	policy := policytest.Deployment(t, "north", "south")
	key := backupRecipient(t, policy)
	opts := []portaltest.Option{portaltest.Setting("CANDOUR_POLICY_DIR", policy)}
	for k, v := range srv.Settings(prefix) {
		opts = append(opts, portaltest.Setting(k, v))
	}
	e := portaltest.Start(t, opts...)
	north := fileWithEvidence(t, e, e.CouncilBySlug("north"))
	south := fileWithEvidence(t, e, e.CouncilBySlug("south"))
	objects := bucketObjects(t, srv, prefix+"blobs/")
	if len(objects) != 2 {
		t.Fatalf("the bucket holds %d objects, want the two attachments: the test would prove nothing", len(objects))
	}
	env := map[string]string{"DATABASE_URL": e.DatabaseURL, "CANDOUR_MIGRATE_DATABASE_URL": e.OwnerURL,
		"CANDOUR_DATA_DIR": e.DataDir, "CANDOUR_POLICY_DIR": policy}
	for k, v := range srv.Settings(prefix) {
		env[k] = v
	}

	// South's backup: its object, and nothing of north's.
	southFile := filepath.Join(t.TempDir(), "south.backup")
	if r := command(env, "backup", "--council", "south", "--out", southFile); exitCode(t, r) != 0 {
		t.Fatalf("council backup: stderr %s", r.stderr)
	}
	members, sql := openBackup(t, southFile, south.key)
	var m backup.Manifest
	if err := json.Unmarshal(members["manifest.json"], &m); err != nil {
		t.Fatal(err)
	}
	if len(m.BlobObjects) != 1 || len(m.BlobFiles) != 0 {
		t.Errorf("south's manifest: objects %v, files %v; want its one object", m.BlobObjects, m.BlobFiles)
	}
	var hay bytes.Buffer
	hay.Write(sql)
	for _, b := range members {
		hay.Write(b)
	}
	carried := 0
	for name, b := range objects {
		if bytes.Contains(hay.Bytes(), b[len(b)/2:len(b)/2+256]) {
			carried++
			if !bytes.Equal(members["blobs/"+filepath.Base(name)], b) {
				t.Errorf("object %s is in south's backup, but not whole as member blobs/%s", name, filepath.Base(name))
			}
		}
	}
	if carried != 1 || bytes.Contains(hay.Bytes(), []byte(north.reference)) {
		t.Errorf("south's backup carries %d of the two objects (north's reference: %v), want its own one only",
			carried, bytes.Contains(hay.Bytes(), []byte(north.reference)))
	}

	// The whole backup; then the bucket is wiped and the database lost.
	whole := filepath.Join(t.TempDir(), "whole.backup")
	if r := command(env, "backup", "--out", whole); exitCode(t, r) != 0 {
		t.Fatalf("backup: stderr %s", r.stderr)
	}
	c := srv.Client(t)
	for name := range bucketObjects(t, srv, "") {
		if err := c.RemoveObject(context.Background(), srv.Bucket, name, minio.RemoveObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	d, renv := restoreTarget(t, policy)
	delete(renv, "CANDOUR_BLOB_DIR")
	for k, v := range srv.Settings(prefix) {
		renv[k] = v
	}
	wholeKey := keyFile(t, key)
	if r := command(renv, "restore", "--in", whole, "--identity", wholeKey); exitCode(t, r) != 0 {
		t.Fatalf("restore into the bucket: stderr %s", r.stderr)
	}
	if got := bucketObjects(t, srv, prefix+"blobs/"); len(got) != 2 {
		t.Errorf("restored bucket holds %d objects, want 2", len(got))
	}
	back := portaltest.Start(t, withEnv(renv)...)
	for slug, cc := range map[string]*councilCase{"north": north, "south": south} {
		host := portaltest.HostHeader(back.CouncilBySlug(slug))
		auth := mailboxAt(t, back.URL(), host, cc.receipt)
		if got := back.Do(t, "GET", "/api/v1/mailbox/attachments/"+cc.attachment, "", nil, auth, host); got.Status != 200 || !bytes.Equal(got.Body, cc.evidence) {
			t.Errorf("%s's attachment after the restore into the bucket: got %d, %d bytes; want 200 and the %d bytes uploaded",
				slug, got.Status, len(got.Body), len(cc.evidence))
		}
	}
	var inBucket int
	dbtest.Open(t, d.OwnerURL).Get(&inBucket, `SELECT count(*) FROM blobs WHERE store = 's3'`)
	if inBucket != 2 {
		t.Errorf("restored rows in the bucket: %d, want 2", inBucket)
	}

	// A backup cut short puts its objects first (the manifest comes last), then fails: the
	// restore takes them back, and the database stays empty.
	sealed, err := os.ReadFile(whole)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.backup")
	if err := os.WriteFile(cut, sealed[:len(sealed)-2000], 0o600); err != nil {
		t.Fatal(err)
	}
	d3, cenv := restoreTarget(t, policy)
	delete(cenv, "CANDOUR_BLOB_DIR")
	for k, v := range srv.Settings("cut/") {
		cenv[k] = v
	}
	if r := command(cenv, "restore", "--in", cut, "--identity", wholeKey); exitCode(t, r) != 1 || !strings.Contains(r.stderr.String(), "damaged") {
		t.Errorf("restore of a cut backup: stderr %s", r.stderr)
	}
	var tables int
	dbtest.Open(t, d3.OwnerURL).Get(&tables, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`)
	if left := bucketObjects(t, srv, "cut/"); len(left) != 0 || tables != 0 {
		t.Errorf("a failed restore left %d objects and %d tables", len(left), tables)
	}

	// The restored portal has claimed the prefix: a second restore there is refused.
	_, again := restoreTarget(t, policy)
	delete(again, "CANDOUR_BLOB_DIR")
	for k, v := range srv.Settings(prefix) {
		again[k] = v
	}
	if r := command(again, "restore", "--in", whole, "--identity", wholeKey); exitCode(t, r) != 1 ||
		!strings.Contains(r.stderr.String(), "has claimed it") {
		t.Errorf("restore under a claimed prefix: stderr %s", r.stderr)
	}

	// South's backup onto a machine without S3: its object becomes a file of the blob folder.
	d2, fenv := restoreTarget(t, policytest.Deployment(t, "south"))
	if r := command(fenv, "restore", "--in", southFile, "--identity", keyFile(t, south.key)); exitCode(t, r) != 0 {
		t.Fatalf("restore into a blob folder: stderr %s", r.stderr)
	}
	files := portaltest.Start(t, withEnv(fenv)...)
	host := portaltest.HostHeader(files.CouncilBySlug("south"))
	auth := mailboxAt(t, files.URL(), host, south.receipt)
	if got := files.Do(t, "GET", "/api/v1/mailbox/attachments/"+south.attachment, "", nil, auth, host); got.Status != 200 || !bytes.Equal(got.Body, south.evidence) {
		t.Errorf("south's attachment restored into a blob folder: got %d, %d bytes; want 200 and the %d bytes uploaded",
			got.Status, len(got.Body), len(south.evidence))
	}
	var stores []string
	dbtest.Open(t, d2.OwnerURL).Select(&stores, `SELECT store FROM blobs`)
	if strings.Join(stores, ",") != "fs" || len(blobDirFiles(t, fenv["CANDOUR_BLOB_DIR"])) != 1 {
		t.Errorf("restored blobs kept in %v, blob folder %v; want one file", stores, blobDirFiles(t, fenv["CANDOUR_BLOB_DIR"]))
	}
}
