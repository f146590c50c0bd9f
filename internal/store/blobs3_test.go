package store_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"candour/internal/dbtest"
	"candour/internal/s3test"
	"candour/internal/store"
)

func openS3(t *testing.T, srv *s3test.Server, prefix, secret string) *store.S3Blobs {
	t.Helper()
	b, err := store.OpenS3Blobs(store.S3Config{Endpoint: srv.Endpoint, Bucket: srv.Bucket, Prefix: prefix,
		AccessKey: srv.AccessKey, SecretKey: secret})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// incompleteUploads names the objects of the multipart uploads begun and never completed.
func incompleteUploads(t *testing.T, srv *s3test.Server) []string {
	t.Helper()
	var names []string
	for up := range srv.Client(t).ListIncompleteUploads(context.Background(), srv.Bucket, "", true) {
		if up.Err != nil {
			t.Fatal(up.Err)
		}
		names = append(names, up.Key)
	}
	return names
}

// Every way an upload to the bucket can end leaves either a committed row with its object, or
// (after a sweep) nothing, incomplete multipart uploads included; an upload still in its
// transaction is never swept, nor an object a committed row refers to.
func TestS3Blobs(t *testing.T) {
	ctx := context.Background()
	srv := s3test.Start(t)
	db := dbtest.New(t)
	b := openS3(t, srv, "council/", srv.SecretKey)
	if err := b.Claim(ctx, store.New(db)); err != nil {
		t.Fatal(err)
	}
	st := store.New(db).WithS3Blobs(b)
	// 20 MB: two full parts and a partial one, so parts are sent while the next fills.
	data := bytes.Repeat([]byte("ciphertext "), 2000000)

	write := func(tx *store.Store, close bool) int64 {
		w, err := tx.Blobs().Create(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
		if close {
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
		}
		return w.ID()
	}
	objects := func() []string {
		t.Helper()
		names, err := b.ObjectNames(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return names
	}

	// Abandoned mid-write is an incomplete multipart upload. Aborted: a part still arriving at
	// the server as the client aborts may bring the upload back (S3 says so of
	// AbortMultipartUpload): the sweep's then.
	e := endUploads(t, ctx, st, data, write)
	kept, closedThenRolledBack, abandoned, aborted, pending := e.kept, e.closedThenRolledBack, e.abandoned, e.aborted, e.pending

	want := []string{"council/installation", b.ObjectName(kept), b.ObjectName(closedThenRolledBack), b.ObjectName(pending)}
	if got := objects(); !sameSet(got, want) {
		t.Fatalf("before the sweep: got %v, want %v", got, want)
	}
	incomplete := []string{b.ObjectName(abandoned)}
	if got := incompleteUploads(t, srv); len(got) == 2 {
		incomplete = append(incomplete, b.ObjectName(aborted))
	}
	if got := incompleteUploads(t, srv); !sameSet(got, incomplete) {
		t.Fatalf("incomplete uploads before the sweep: got %v, want %v", got, incomplete)
	}
	if n, err := b.Sweep(ctx, store.New(db), store.SweepGrace); err != nil || n != 0 {
		t.Errorf("sweep with grace: removed %d (%v), want 0", n, err)
	}
	if n, err := b.Sweep(ctx, store.New(db), 0); err != nil || n != 1+len(incomplete) {
		t.Errorf("sweep: removed %d (%v), want %d", n, err, 1+len(incomplete))
	}
	if got, want := objects(), []string{"council/installation", b.ObjectName(kept), b.ObjectName(pending)}; !sameSet(got, want) {
		t.Fatalf("after the sweep: got %v, want %v", got, want)
	}
	if got := incompleteUploads(t, srv); len(got) != 0 {
		t.Fatalf("incomplete uploads after the sweep: %v", got)
	}
	if err := e.commit(); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Sweep(ctx, store.New(db), 0); err != nil || n != 0 {
		t.Errorf("sweep after commit: removed %d (%v), want 0", n, err)
	}

	for _, id := range []int64{kept, pending} {
		readsBack(t, st, id, data)
		var size int64
		var where string
		db.QueryRow(`SELECT size, store FROM blobs WHERE id = $1`, id).Scan(&size, &where)
		if size != int64(len(data)) || where != "s3" {
			t.Errorf("blob %d row: size %d store %q", id, size, where)
		}
	}

	// A backup's snapshot holds the sweep off: retention deletes a row meanwhile, and its
	// object stays until the snapshot is closed.
	snap, err := store.New(db).OpenSnapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DELETE FROM blobs WHERE id = $1`, kept); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Sweep(ctx, store.New(db), 0); err != nil || n != 0 {
		t.Errorf("sweep during a snapshot: removed %d (%v), want 0", n, err)
	}
	snap.Close()
	if n, err := b.Sweep(ctx, store.New(db), 0); err != nil || n != 1 {
		t.Errorf("sweep after retention: removed %d (%v), want 1", n, err)
	}
	if got, want := objects(), []string{"council/installation", b.ObjectName(pending)}; !sameSet(got, want) {
		t.Errorf("after retention and sweep: got %v, want %v", got, want)
	}
	// A committed row whose object is gone is lost data, said as such.
	if _, err := srv.Client(t).StatObject(ctx, srv.Bucket, b.ObjectName(pending), minio.StatObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Client(t).RemoveObject(ctx, srv.Bucket, b.ObjectName(pending), minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Blobs().Open(ctx, pending); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("a committed blob without its object: got %v, want an error that is not ErrNotFound", err)
	}
	if _, err := st.Blobs().Create(ctx); err == nil {
		t.Error("Create outside a transaction: got nil error")
	}
}

// A bucket prefix belongs to one installation, as a blob folder does; another prefix in the
// same bucket is another installation's to claim.
func TestS3PrefixBelongsToOneInstallation(t *testing.T) {
	ctx := context.Background()
	srv := s3test.Start(t)
	first, second := dbtest.New(t), dbtest.New(t)
	if _, err := second.Exec(`UPDATE installation SET id = gen_random_uuid()`); err != nil {
		t.Fatal(err)
	}
	b := openS3(t, srv, "shared/", srv.SecretKey)
	if err := b.Claim(ctx, store.New(first)); err != nil {
		t.Fatalf("first claim: %v", err)
	}
	if err := b.Claim(ctx, store.New(first)); err != nil {
		t.Fatalf("the same installation again: %v", err)
	}
	if err := b.Claim(ctx, store.New(second)); !errors.Is(err, store.ErrOtherInstallation) {
		t.Fatalf("another installation: got %v, want ErrOtherInstallation", err)
	}
	if err := openS3(t, srv, "other/", srv.SecretKey).Claim(ctx, store.New(second)); err != nil {
		t.Fatalf("another prefix: %v", err)
	}
}

// The first request is Claim's: wrong keys or a missing bucket are said there, as an S3Error
// naming the setting to check.
func TestS3RefusalsNameTheSetting(t *testing.T) {
	ctx := context.Background()
	srv := s3test.Start(t)
	db := dbtest.New(t)
	for _, tc := range []struct {
		cfg     store.S3Config
		setting string
	}{
		{store.S3Config{AccessKey: "nobody", SecretKey: srv.SecretKey, Bucket: srv.Bucket}, "access key"},
		{store.S3Config{AccessKey: srv.AccessKey, SecretKey: "wrong", Bucket: srv.Bucket}, "secret key"},
		{store.S3Config{AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Bucket: "no-such-bucket"}, "bucket"},
	} {
		tc.cfg.Endpoint = srv.Endpoint
		b, err := store.OpenS3Blobs(tc.cfg)
		if err != nil {
			t.Fatal(err)
		}
		err = b.Claim(ctx, store.New(db))
		var se *store.S3Error
		if !errors.As(err, &se) || se.Setting != tc.setting {
			t.Errorf("%+v: got %v, want an S3Error naming the %s", tc.cfg, err, tc.setting)
		}
		if err != nil && strings.Contains(err.Error(), srv.SecretKey) {
			t.Errorf("the secret is in the error: %v", err)
		}
	}
}
