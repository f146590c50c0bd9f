package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"candour/internal/accounts"
	"candour/internal/dbtest"
	"candour/internal/policytest"
	"candour/internal/portaltest"
	"candour/internal/store"
)

// installation is a portal with evidence in a blob folder, a pinned custodian, a backup
// recipient, a Monitoring Officer who has never signed in, and one confidential report with an
// attachment and an opened mailbox.
type installation struct {
	*portaltest.Env
	blobs      string
	backupKey  *age.X25519Identity
	custodian  *age.X25519Identity
	officer    *accounts.Created
	reference  string
	receipt    string
	attachment string
	evidence   []byte
}

func newInstallation(t *testing.T) *installation {
	in := &installation{blobs: filepath.Join(t.TempDir(), "blobs")}
	in.Env = portaltest.Start(t, portaltest.Setting("CANDOUR_BLOB_DIR", in.blobs))
	in.custodian = in.AddCustodian(t)
	in.backupKey = backupRecipient(t, in.PolicyDir)
	in.officer = portaltest.Account(t, in.Portal, accounts.NewUser{Email: "mo@example.gov.uk", Roles: []string{"monitoring_officer"}})
	r := in.Do(t, "POST", "/api/v1/reports", "application/json", jsonBody(t, map[string]any{"mode": "confidential",
		"service_area": "housing", "category": "health_safety", "summary": "Damp flats signed off",
		"details": "Inspections were signed off without visits.", "lang": "en",
		"identity": map[string]string{"name": "Gwen Whistleblower", "email": "gwen@example.org"}}))
	if r.Status != 201 {
		t.Fatalf("report: got %d %s", r.Status, r.Body)
	}
	var filed struct{ Reference, Receipt string }
	json.Unmarshal(r.Body, &filed)
	in.reference, in.receipt = filed.Reference, filed.Receipt
	in.evidence = bytes.Repeat([]byte("minutes of the inspection \x00\xff "), 40000)
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	fw, _ := mw.CreateFormFile("file", "minutes.pdf")
	fw.Write(in.evidence)
	mw.Close()
	r = in.Do(t, "POST", "/api/v1/mailbox/attachments", mw.FormDataContentType(), &b, mailbox(t, in.URL(), in.receipt))
	if r.Status != 201 {
		t.Fatalf("upload: got %d %s", r.Status, r.Body)
	}
	var up struct{ ID string }
	json.Unmarshal(r.Body, &up)
	in.attachment = up.ID
	portaltest.SendEvidence(t, in.URL(), mailbox(t, in.URL(), in.receipt), up.ID)
	if files := blobDirFiles(t, in.blobs); len(files) != 1 {
		t.Fatalf("blob folder holds %v, want the one attachment: the test would prove nothing", files)
	}
	return in
}

func (in *installation) env() map[string]string {
	return map[string]string{"DATABASE_URL": in.DatabaseURL, "CANDOUR_MIGRATE_DATABASE_URL": in.OwnerURL,
		"CANDOUR_DATA_DIR": in.DataDir, "CANDOUR_BLOB_DIR": in.blobs, "CANDOUR_POLICY_DIR": in.PolicyDir}
}

// backup runs `candour backup` against the running portal and returns the file.
func (in *installation) backup(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "candour.backup")
	r := command(in.env(), "backup", "--out", out)
	if code := exitCode(t, r); code != 0 {
		t.Fatalf("backup: exit %d, stderr %s", code, r.stderr)
	}
	return out
}

// backupRecipient writes dir's backup.yaml with one fresh recipient and returns its identity.
func backupRecipient(t *testing.T, dir string) *age.X25519Identity {
	t.Helper()
	key, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "backup.yaml"), []byte("recipients:\n  - "+key.Recipient().String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return key
}

func jsonBody(t *testing.T, v any) *bytes.Reader {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(b)
}

// mailbox opens the mailbox of receipt and returns its Authorization header.
func mailbox(t *testing.T, base, receipt string) string {
	t.Helper()
	r := portaltest.DoJSON(t, base, "POST", "/api/v1/mailbox/session", map[string]string{"receipt": receipt})
	if r.Status != 200 {
		t.Fatalf("mailbox session: got %d %s", r.Status, r.Body)
	}
	var out struct{ Token string }
	json.Unmarshal(r.Body, &out)
	return "Authorization: Bearer " + out.Token
}

// unseal opens binary age ciphertext, as stored, with id; the whole stream must read.
func unseal(t *testing.T, sealed []byte, id age.Identity) string {
	t.Helper()
	r, err := age.Decrypt(bytes.NewReader(sealed), id)
	if err != nil {
		t.Fatalf("open the sealed identity: %v", err)
	}
	plain, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read the sealed identity: %v", err)
	}
	return string(plain)
}

func keyFile(t *testing.T, id *age.X25519Identity) string {
	path := filepath.Join(t.TempDir(), "key.txt")
	if err := os.WriteFile(path, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// restoreTarget is an empty database and where an empty data folder and blob folder go.
func restoreTarget(t *testing.T, policy string) (dbtest.Database, map[string]string) {
	d := dbtest.NewEmpty(t)
	root := t.TempDir()
	return d, map[string]string{"DATABASE_URL": d.URL, "CANDOUR_MIGRATE_DATABASE_URL": d.OwnerURL,
		"CANDOUR_DATA_DIR": filepath.Join(root, "data"), "CANDOUR_BLOB_DIR": filepath.Join(root, "blobs"),
		"CANDOUR_POLICY_DIR": policy}
}

// A backup taken while the portal runs, restored into a fresh database and empty folders,
// serves the old concern to the Monitoring Officer, its mailbox to the receipt, the attachment
// byte for byte, and the sealed identity to the custodian's key.
func TestBackupRestoresIntoAFreshDatabase(t *testing.T) {
	t.Parallel()
	in := newInstallation(t)
	file := in.backup(t)
	sealed, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(sealed, []byte("age-encryption.org/v1\n")) || bytes.Contains(sealed, []byte("PGDMP")) ||
		bytes.Contains(sealed, []byte("AGE-SECRET-KEY")) {
		t.Fatal("the backup is not one age file with nothing in clear")
	}

	d, env := restoreTarget(t, in.PolicyDir)
	r := command(env, "restore", "--in", file, "--identity", keyFile(t, in.backupKey))
	if code := exitCode(t, r); code != 0 {
		t.Fatalf("restore: exit %d, stderr %s", code, r.stderr)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(env["CANDOUR_DATA_DIR"]), ".*restore-*")); len(left) != 0 {
		t.Errorf("staging left behind: %v", left)
	}
	var opts []portaltest.Option
	for k, v := range env {
		opts = append(opts, portaltest.Setting(k, v))
	}
	back := portaltest.Start(t, opts...)

	in.servedBy(t, back)
	var files int
	dbtest.Open(t, d.URL).Get(&files, `SELECT count(*) FROM blobs WHERE store = 'fs'`)
	if files != 1 || len(blobDirFiles(t, env["CANDOUR_BLOB_DIR"])) != 1 {
		t.Errorf("restored %d file blobs and %v, want one of each", files, blobDirFiles(t, env["CANDOUR_BLOB_DIR"]))
	}
}

// Bad input is refused with a clear error, and nothing is restored: a backup sealed to another
// key, one cut short, one changed, and a database or data folder that is not empty.
func TestRestoreRefusesBadInput(t *testing.T) {
	t.Parallel()
	in := newInstallation(t)
	file := in.backup(t)
	good, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := age.GenerateX25519Identity()
	write := func(name string, b []byte) string {
		p := filepath.Join(t.TempDir(), name)
		os.WriteFile(p, b, 0o600)
		return p
	}
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 1
	cases := []struct {
		name, file string
		key        *age.X25519Identity
		prepare    func(env map[string]string, d dbtest.Database)
		want       string
	}{
		{"sealed to another key", file, other, nil, "not sealed to this identity"},
		{"cut short", write("cut", good[:len(good)-100]), in.backupKey, nil, "damaged, cut short or tampered with"},
		{"changed", write("flipped", flipped), in.backupKey, nil, "damaged, cut short or tampered with"},
		{"database not empty", file, in.backupKey, func(_ map[string]string, d dbtest.Database) {
			dbtest.Open(t, d.OwnerURL).MustExec(`CREATE TABLE notes (body text)`)
		}, "the database is not empty: it has public.notes"},
		{"data folder not empty", file, in.backupKey, func(env map[string]string, _ dbtest.Database) {
			os.MkdirAll(env["CANDOUR_DATA_DIR"], 0o700)
			os.WriteFile(filepath.Join(env["CANDOUR_DATA_DIR"], "notes.txt"), []byte("x"), 0o600)
		}, "data folder (CANDOUR_DATA_DIR)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, env := restoreTarget(t, in.PolicyDir)
			if tc.prepare != nil {
				tc.prepare(env, d)
			}
			r := command(env, "restore", "--in", tc.file, "--identity", keyFile(t, tc.key))
			if code := exitCode(t, r); code != 1 || !strings.Contains(r.stderr.String(), tc.want) {
				t.Errorf("got exit %d, stderr %q; want 1 saying %q", code, r.stderr, tc.want)
			}
			var tables []string
			dbtest.Open(t, d.OwnerURL).Select(&tables, `SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'notes'`)
			if len(tables) != 0 {
				t.Errorf("the database was half-restored: %v", tables)
			}
			for _, dir := range []string{env["CANDOUR_DATA_DIR"], env["CANDOUR_BLOB_DIR"]} {
				ents, _ := os.ReadDir(dir)
				if len(ents) > 0 && !(len(ents) == 1 && ents[0].Name() == "notes.txt") {
					t.Errorf("%s was written to: %v", dir, ents)
				}
			}
			if left, _ := filepath.Glob(filepath.Join(filepath.Dir(env["CANDOUR_DATA_DIR"]), ".*restore-*")); len(left) != 0 {
				t.Errorf("staging left behind: %v", left)
			}
		})
	}
}

// A whole backup of a deployment of two councils, sealed to the deployment's backup.yaml,
// restores both: each council's receipt opens its own mailbox at its own host, and at the
// other council's host it opens nothing.
func TestBackupRestoresEveryCouncil(t *testing.T) {
	t.Parallel()
	policy := policytest.Deployment(t, "north", "south")
	key := backupRecipient(t, policy)
	e := portaltest.Start(t, portaltest.Setting("CANDOUR_POLICY_DIR", policy))
	receipts := map[string]string{}
	for _, slug := range []string{"north", "south"} {
		r := portaltest.DoJSON(t, e.URL(), "POST", "/api/v1/reports", map[string]any{"mode": "anonymous", "service_area": "finance",
			"category": "fraud", "summary": "Invoices split in " + slug, "details": "Split to stay under approval.", "lang": "en"},
			portaltest.HostHeader(e.CouncilBySlug(slug)))
		var filed struct{ Receipt string }
		if r.Status != 201 || json.Unmarshal(r.Body, &filed) != nil {
			t.Fatalf("report in %s: %d %s", slug, r.Status, r.Body)
		}
		receipts[slug] = filed.Receipt
	}
	out := filepath.Join(t.TempDir(), "deployment.backup")
	r := command(map[string]string{"DATABASE_URL": e.DatabaseURL, "CANDOUR_MIGRATE_DATABASE_URL": e.OwnerURL,
		"CANDOUR_DATA_DIR": e.DataDir, "CANDOUR_POLICY_DIR": policy}, "backup", "--out", out)
	if code := exitCode(t, r); code != 0 || !strings.Contains(r.stdout.String(), "councils north, south") {
		t.Fatalf("backup: exit %d, stdout %s, stderr %s", code, r.stdout, r.stderr)
	}
	_, env := restoreTarget(t, policy)
	delete(env, "CANDOUR_BLOB_DIR")
	if r := command(env, "restore", "--in", out, "--identity", keyFile(t, key)); exitCode(t, r) != 0 {
		t.Fatalf("restore: stderr %s", r.stderr)
	}
	var opts []portaltest.Option
	for k, v := range env {
		opts = append(opts, portaltest.Setting(k, v))
	}
	back := portaltest.Start(t, opts...)
	for slug, receipt := range receipts {
		for _, at := range []string{"north", "south"} {
			r := portaltest.DoJSON(t, back.URL(), "POST", "/api/v1/mailbox/session", map[string]string{"receipt": receipt},
				portaltest.HostHeader(back.CouncilBySlug(at)))
			if opens := r.Status == 200; opens != (slug == at) {
				t.Errorf("%s's receipt at %s after the restore: got %d %s", slug, at, r.Status, r.Body)
			}
		}
	}
}

// embeddedDataDir is an empty data folder for the embedded default: directly under the temp
// dir, not t.TempDir, because as root PostgreSQL runs as an unprivileged user who must reach it.
func embeddedDataDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "candour-restore-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) }) // registered first: runs after the portal's shutdown
	return dir
}

// stagingLeft lists what a restore into dir left beside it.
func stagingLeft(dir string) []string {
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(dir), "."+filepath.Base(dir)+".restore-*"))
	return left
}

// With no DATABASE_URL, a backup restores into an empty data folder with a fresh embedded
// PostgreSQL in it, which the portal then serves: the old concern to the Monitoring Officer, its
// mailbox to the receipt, the attachment byte for byte, the sealed identity to the custodian's
// key. The backup's own embedded-server password files are not restored over the new
// cluster's. A data folder that holds anything is refused and left as it was.
func TestBackupRestoresIntoAnEmptyEmbeddedDataFolder(t *testing.T) {
	t.Parallel()
	in := newInstallation(t)
	// As a backup of an embedded default carries: its server's password, which must not
	// become the new cluster's.
	oldPassword := []byte("the old cluster's password\n")
	if err := os.WriteFile(filepath.Join(in.DataDir, "keys", "db-owner.password"), oldPassword, 0o600); err != nil {
		t.Fatal(err)
	}
	file := in.backup(t)
	key := keyFile(t, in.backupKey)
	blobs := filepath.Join(t.TempDir(), "blobs")

	t.Run("refused into a data folder that is not empty", func(t *testing.T) {
		dir := embeddedDataDir(t)
		if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		r := command(map[string]string{"CANDOUR_DATA_DIR": dir, "CANDOUR_BLOB_DIR": blobs, "CANDOUR_POLICY_DIR": in.PolicyDir},
			"restore", "--in", file, "--identity", key)
		if code := exitCode(t, r); code != 1 || !strings.Contains(r.stderr.String(), "data folder (CANDOUR_DATA_DIR) "+dir+" is not empty: it holds notes.txt") {
			t.Errorf("got exit %d, stderr %q; want 1 naming notes.txt", code, r.stderr)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 1 || ents[0].Name() != "notes.txt" {
			t.Errorf("the data folder was written to: %v", ents)
		}
		if ents, _ := os.ReadDir(blobs); len(ents) != 0 {
			t.Errorf("the blob folder was written to: %v", ents)
		}
		if left := stagingLeft(dir); len(left) != 0 {
			t.Errorf("staging left behind: %v", left)
		}
	})

	dir := embeddedDataDir(t)
	r := command(map[string]string{"CANDOUR_DATA_DIR": dir, "CANDOUR_BLOB_DIR": blobs, "CANDOUR_POLICY_DIR": in.PolicyDir},
		"restore", "--in", file, "--identity", key)
	if code := exitCode(t, r); code != 0 {
		t.Fatalf("restore: exit %d, stderr %s", code, r.stderr)
	}
	if left := stagingLeft(dir); len(left) != 0 {
		t.Errorf("staging left behind: %v", left)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "keys", "db-owner.password")); err != nil || bytes.Equal(got, oldPassword) {
		t.Errorf("the owner's password file is %q (%v): want the new cluster's, not the backup's", got, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "postgres", "PG_VERSION")); err != nil {
		t.Errorf("no embedded cluster in the data folder: %v", err)
	}

	back := portaltest.Start(t, portaltest.EmbeddedDatabase(), portaltest.Setting("CANDOUR_DATA_DIR", dir),
		portaltest.Setting("CANDOUR_BLOB_DIR", blobs), portaltest.Setting("CANDOUR_POLICY_DIR", in.PolicyDir))
	in.servedBy(t, back)
}

// servedBy checks that back, a portal on a restore of in's backup, serves in's old case: the
// concern to its Monitoring Officer, the mailbox to its receipt, the attachment byte for byte,
// and the sealed identity to the custodian's key.
func (in *installation) servedBy(t *testing.T, back *portaltest.Env) {
	t.Helper()
	mo := portaltest.SignIn(t, back.Portal, in.officer)
	c, err := store.New(back.DB).ConcernByReference(context.Background(), in.reference)
	if err != nil {
		t.Fatal(err)
	}
	if got := mo.API("GET", "/api/v1/concerns/"+c.ID, nil); got.Status != 200 || !strings.Contains(string(got.Body), "Inspections were signed off without visits.") {
		t.Errorf("the Monitoring Officer opening the old concern: got %d %.300s, want 200 with its details", got.Status, got.Body)
	}
	auth := mailbox(t, back.URL(), in.receipt)
	if got := back.Do(t, "GET", "/api/v1/mailbox", "", nil, auth); got.Status != 200 || !strings.Contains(string(got.Body), in.reference) {
		t.Errorf("the old receipt's mailbox: got %d %.300s", got.Status, got.Body)
	}
	if got := back.Do(t, "GET", "/api/v1/mailbox/attachments/"+in.attachment, "", nil, auth); got.Status != 200 || !bytes.Equal(got.Body, in.evidence) {
		t.Errorf("the attachment: got %d, %d bytes; want 200 and the %d bytes uploaded", got.Status, len(got.Body), len(in.evidence))
	}
	if got := unseal(t, c.IdentitySealed, in.custodian); !strings.Contains(got, "Gwen Whistleblower") {
		t.Errorf("the sealed identity opened with the custodian's key: %q", got)
	}
}
