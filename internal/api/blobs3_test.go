package api_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"candour/internal/config"
	"candour/internal/dbtest"
	"candour/internal/policytest"
	"candour/internal/portal"
	"candour/internal/portaltest"
	"candour/internal/s3test"
	"candour/internal/store"
)

func s3Settings(srv *s3test.Server, prefix string) []portaltest.Option {
	var opts []portaltest.Option
	for k, v := range srv.Settings(prefix) {
		opts = append(opts, portaltest.Setting(k, v))
	}
	return opts
}

// With CANDOUR_BLOB_URL set, evidence goes to the bucket as age ciphertext and comes back byte
// for byte through the mailbox API (across several upload parts); evidence stored in
// PostgreSQL before the switch still downloads; a cut upload (its transaction rolled back)
// leaves no object and no incomplete upload once swept, and the sweep never takes an object a
// committed row refers to.
func TestMailboxAttachmentsInS3Bucket(t *testing.T) {
	srv := s3test.Start(t)
	url := dbtest.NewURL(t)
	common := []portaltest.Option{portaltest.Setting("DATABASE_URL", url), portaltest.Setting("CANDOUR_DATA_DIR", t.TempDir()),
		portaltest.Setting("CANDOUR_MAX_ATTACHMENT_MB", "20")}

	before := portaltest.Start(t, append(common, portaltest.Setting("CANDOUR_BLOB_STORE", "postgres"))...)
	f := decode[filed](t, postJSON(t, before, "/api/v1/reports", anonymousReport()))
	session := func(e *portaltest.Env) string { return mailboxSession(t, e, f.Receipt) }
	inPG := bytes.Repeat([]byte("rota before the switch "), 60000)
	a1 := sendEvidence(t, before, session(before), "rota.pdf", inPG)

	e := portaltest.Start(t, append(common, s3Settings(srv, "council-a")...)...)
	if e.S3Blobs == nil {
		t.Fatal("CANDOUR_BLOB_URL set but the portal has no S3 blob store")
	}
	auth := session(e)
	inBucket := bytes.Repeat([]byte{'e', 'm', 'a', 'i', 'l', 0, 1, 2, 0xff}, 2000000) // 18 MB: three parts
	a2 := sendEvidence(t, e, auth, "emails.eml", inBucket)

	var blob2 int64
	var where1, where2 string
	e.DB.Get(&blob2, `SELECT blob_id FROM attachments WHERE public_id = $1`, a2.ID)
	e.DB.Get(&where1, `SELECT b.store FROM blobs b JOIN attachments a ON a.blob_id = b.id WHERE a.public_id = $1`, a1.ID)
	e.DB.Get(&where2, `SELECT store FROM blobs WHERE id = $1`, blob2)
	if where1 != "pg" || where2 != "s3" {
		t.Errorf("stores: first %q, second %q; want pg, then s3", where1, where2)
	}
	committed := []string{"council-a/blobs/" + fmt.Sprint(blob2), "council-a/installation"}
	objects := func() string {
		names, err := e.S3Blobs.ObjectNames(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(names)
	}
	if got := objects(); got != fmt.Sprint(committed) {
		t.Fatalf("bucket: got %v, want %v", got, committed)
	}
	obj, err := srv.Client(t).GetObject(context.Background(), srv.Bucket, committed[0], minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := io.ReadAll(obj)
	obj.Close()
	if err != nil || bytes.Contains(stored, inBucket[:64]) || !bytes.HasPrefix(stored, []byte("age-encryption.org/v1")) {
		t.Errorf("the object is not age ciphertext (%v)", err)
	}

	for _, c := range []struct {
		id   string
		want []byte
	}{{a1.ID, inPG}, {a2.ID, inBucket}} {
		dl := e.Do(t, "GET", "/api/v1/mailbox/attachments/"+c.id, "", nil, auth)
		if dl.Status != 200 || !bytes.Equal(dl.Body, c.want) {
			t.Errorf("download %s: got %d, %d bytes; want 200, %d bytes", c.id, dl.Status, len(dl.Body), len(c.want))
		}
	}

	// Cut past the first part: the connection drops half-way through a body announced as
	// longer, with a part already sent to the bucket.
	cutUpload(t, e, auth, 19<<20, 3)
	if _, err := e.S3Blobs.Sweep(context.Background(), store.New(e.DB), 0); err != nil {
		t.Fatal(err)
	}
	if got := objects(); got != fmt.Sprint(committed) {
		t.Errorf("after a cut upload and a sweep: got %v, want only the committed %v", got, committed)
	}
	for up := range srv.Client(t).ListIncompleteUploads(context.Background(), srv.Bucket, "", true) {
		t.Errorf("incomplete upload left after the sweep: %s (%v)", up.Key, up.Err)
	}
	if dl := e.Do(t, "GET", "/api/v1/mailbox/attachments/"+a2.ID, "", nil, auth); dl.Status != 200 || !bytes.Equal(dl.Body, inBucket) {
		t.Errorf("download after the sweep: got %d, %d bytes", dl.Status, len(dl.Body))
	}
}

// startErr starts a portal on a fresh database with env and returns why it would not start.
func startErr(t *testing.T, env map[string]string, prepare func(ownerURL string)) error {
	t.Helper()
	d := dbtest.NewDatabase(t)
	if prepare != nil {
		prepare(d.OwnerURL)
	}
	full := map[string]string{"CANDOUR_LISTEN": "127.0.0.1:0", "CANDOUR_POLICY_DIR": policytest.Dir(t),
		"DATABASE_URL": d.URL, "CANDOUR_MIGRATE_DATABASE_URL": d.OwnerURL, "CANDOUR_DATA_DIR": t.TempDir()}
	for k, v := range env {
		full[k] = v
	}
	cfg, err := config.Parse(func(k string) (string, bool) { v, ok := full[k]; return v, ok })
	if err != nil {
		return err
	}
	p, err := portal.Start(context.Background(), cfg, portal.NewLogger(cfg, &portaltest.Logs{}))
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		p.Shutdown(ctx)
	}
	return err
}

// A bucket prefix belongs to one installation: a second one pointed at it is refused at
// start (its sweep would delete the first one's evidence), while another prefix is its own.
// Wrong keys or a missing bucket stop the start with the variable to check.
func TestS3BucketRefusedAtStart(t *testing.T) {
	srv := s3test.Start(t)
	portaltest.Start(t, s3Settings(srv, "first")...)
	otherInstallation := func(ownerURL string) {
		if _, err := dbtest.Open(t, ownerURL).Exec(`UPDATE installation SET id = gen_random_uuid()`); err != nil {
			t.Fatal(err)
		}
	}
	with := func(prefix string, change map[string]string) map[string]string {
		env := srv.Settings(prefix)
		for k, v := range change {
			env[k] = v
		}
		return env
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want []string // "": starts
	}{
		{"second installation", with("first", nil), []string{"CANDOUR_BLOB_URL", store.ErrOtherInstallation.Error()}},
		{"its own prefix", with("second", nil), nil},
		{"unknown access key", with("third", map[string]string{"CANDOUR_BLOB_ACCESS_KEY": "nobody"}), []string{"CANDOUR_BLOB_ACCESS_KEY", "access key"}},
		{"wrong secret key", with("third", map[string]string{"CANDOUR_BLOB_SECRET_KEY": "wrong-secret"}), []string{"CANDOUR_BLOB_SECRET_KEY", "secret key"}},
		{"no such bucket", with("third", map[string]string{"CANDOUR_BLOB_URL": strings.Replace(srv.URL("third"), srv.Bucket, "no-such-bucket", 1)}),
			[]string{"CANDOUR_BLOB_URL", "no such bucket"}},
	} {
		err := startErr(t, tc.env, otherInstallation)
		if tc.want == nil {
			if err != nil {
				t.Errorf("%s: %v, want a start", tc.name, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: started, want a refusal", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not say %q", tc.name, err, w)
			}
		}
		if strings.Contains(err.Error(), srv.SecretKey) || strings.Contains(err.Error(), "wrong-secret") {
			t.Errorf("%s: the secret is in the error: %v", tc.name, err)
		}
	}
}
