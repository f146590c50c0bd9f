package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Blobs keeps blob bytes (age ciphertext) as objects in an S3-compatible bucket, one per
// blob, named PREFIX/blobs/ID and nothing else; the blobs row (id, size, store = 's3') stays in
// PostgreSQL, in the same transaction as the row that points to it.
//
// It keeps FileBlobs's rules. An object is written as a multipart upload, which S3 shows to
// nobody until it is completed: Close completes it inside the transaction (the analogue of the
// rename), so a committed row always has its object. A transaction that rolls back after
// Close, or a process killed mid-upload, leaves an object or an incomplete upload whose id has
// no committed row: Sweep removes both, never while the upload's transaction holds its blob
// lock, nor while a backup's snapshot holds the sweep off.
//
// Memory is constant: s3Parts buffers of S3PartSize, whatever the blob's size.
type S3Blobs struct {
	client *minio.Client
	bucket string
	prefix string // empty or ending in "/"
	// String names the bucket in messages (no credentials).
	name string
}

// S3Config is where an S3Blobs keeps its objects and the keys it signs with.
type S3Config struct {
	Endpoint  string // host[:port]
	Secure    bool   // https
	Region    string // empty: asked of the server
	Bucket    string
	Prefix    string // empty or ending in "/"
	AccessKey string
	SecretKey string
}

// S3PartSize is the size of one part of a multipart upload. S3 takes at most 10,000 parts, so
// one blob may reach 80 GiB; s3Parts buffers of it are the upload's memory.
const (
	S3PartSize = 8 << 20
	s3Parts    = 2 // one filling while the other is sent
)

// OpenS3Blobs prepares a client for the bucket; nothing is asked of the server until Claim.
func OpenS3Blobs(cfg S3Config) (*S3Blobs, error) {
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure: cfg.Secure,
		Region: cfg.Region,
	})
	if err != nil {
		return nil, fmt.Errorf("blob bucket: %w", err)
	}
	scheme := "http"
	if cfg.Secure {
		scheme = "https"
	}
	return &S3Blobs{client: client, bucket: cfg.Bucket, prefix: cfg.Prefix,
		name: "s3://" + cfg.Bucket + "/" + cfg.Prefix + " at " + scheme + "://" + cfg.Endpoint}, nil
}

// String names the bucket, prefix and endpoint.
func (b *S3Blobs) String() string { return b.name }

// ObjectName is the name of blob id's object: PREFIX/blobs/ID.
func (b *S3Blobs) ObjectName(id int64) string { return b.prefix + "blobs/" + strconv.FormatInt(id, 10) }

func (b *S3Blobs) objectID(name string) (int64, bool) {
	rest, ok := strings.CutPrefix(name, b.prefix+"blobs/")
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(rest, 10, 64)
	return id, err == nil && id > 0 && strconv.FormatInt(id, 10) == rest
}

// S3Error says what the server's refusal means for the configuration: which setting to check.
type S3Error struct {
	Setting string // "access key", "secret key", "bucket", "" (not the configuration's fault)
	Err     error
}

func (e *S3Error) Error() string { return e.Err.Error() }
func (e *S3Error) Unwrap() error { return e.Err }

// s3Err classifies an error of the S3 client.
func s3Err(err error) error {
	if err == nil {
		return nil
	}
	switch minio.ToErrorResponse(err).Code {
	case "InvalidAccessKeyId", "XAdminUserNotFound": // the second: versitygw's
		return &S3Error{Setting: "access key", Err: fmt.Errorf("the server does not know the access key: %w", err)}
	case "SignatureDoesNotMatch":
		return &S3Error{Setting: "secret key", Err: fmt.Errorf("the secret key does not match the access key: %w", err)}
	case "AccessDenied":
		return &S3Error{Setting: "access key", Err: fmt.Errorf("the access key may not use this bucket and prefix: %w", err)}
	case "NoSuchBucket":
		return &S3Error{Setting: "bucket", Err: fmt.Errorf("no such bucket: %w", err)}
	}
	return err
}

// Claim binds the bucket and prefix to the installation s is the database of, or checks that
// they already are (an object PREFIX/installation holding its id), as FileBlobs.Claim does for
// a folder. It is also the first request to the server, so it is where wrong credentials or a
// missing bucket show (as an *S3Error).
func (b *S3Blobs) Claim(ctx context.Context, s *Store) error {
	var id string
	if err := s.get(ctx, &id, `SELECT id::text FROM installation`); err != nil {
		return fmt.Errorf("blob bucket: installation id: %w", err)
	}
	owner, err := b.owner(ctx)
	switch {
	case err != nil:
		return err
	case owner == id:
		return nil
	case owner != "":
		return fmt.Errorf("blob bucket: %w (it says %.36s, this database is %s)", ErrOtherInstallation, owner, id)
	}
	body := []byte(id + "\n")
	if _, err := b.client.PutObject(ctx, b.bucket, b.prefix+ownerFile, bytes.NewReader(body), int64(len(body)),
		minio.PutObjectOptions{ContentType: "text/plain"}); err != nil {
		return s3Err(err)
	}
	// Two installations claiming an empty prefix at once: the last write wins, and the other
	// sees it here.
	if owner, err = b.owner(ctx); err != nil {
		return err
	} else if owner != id {
		return fmt.Errorf("blob bucket: %w (it says %.36s, this database is %s)", ErrOtherInstallation, owner, id)
	}
	return nil
}

// owner is the installation id in PREFIX/installation, or "" when there is none.
func (b *S3Blobs) owner(ctx context.Context) (string, error) {
	obj, err := b.client.GetObject(ctx, b.bucket, b.prefix+ownerFile, minio.GetObjectOptions{})
	if err != nil {
		return "", s3Err(err)
	}
	defer obj.Close()
	data, err := io.ReadAll(io.LimitReader(obj, 100))
	if code := minio.ToErrorResponse(err).Code; code == "NoSuchKey" {
		return "", nil
	}
	if err != nil {
		return "", s3Err(err)
	}
	return strings.TrimSpace(string(data)), nil
}

func (b *S3Blobs) create(ctx context.Context, s *Store) (BlobWriter, error) {
	id, err := insertLockedBlob(ctx, s, "s3")
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	w := &s3BlobWriter{ctx: ctx, s: s, id: id, pw: pw, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		// Size unknown (the ciphertext is made as the upload arrives): a multipart upload of
		// S3PartSize parts, s3Parts buffers in all. A failed upload is aborted by the client;
		// one it could not abort (the process died) is the sweep's.
		//
		// No payload signature: it would hash and sign every 64 KiB of an upload over plain
		// http (a server on this machine), which halved throughput in BenchmarkLargeAttachment;
		// over https the client sends none anyway. The ciphertext carries age's own MACs.
		_, err := b.client.PutObject(ctx, b.bucket, b.ObjectName(id), pr, -1, minio.PutObjectOptions{
			PartSize: S3PartSize, ConcurrentStreamParts: true, NumThreads: s3Parts,
			DisableContentSha256: true, ContentType: "application/octet-stream"})
		w.perr = s3Err(err)
		// A writer still writing learns the upload failed.
		pr.CloseWithError(errors.Join(errUploadStopped, err))
	}()
	return w, nil
}

var errUploadStopped = errors.New("store: blob upload stopped")

func (b *S3Blobs) open(id int64) (io.Reader, error) {
	// Not the request's context: the body is read after the handler returns. Close ends it.
	obj, err := b.client.GetObject(context.Background(), b.bucket, b.ObjectName(id), minio.GetObjectOptions{})
	if err == nil {
		// Asks the server now, so a missing object is an error here, not halfway through.
		_, err = obj.Stat()
	}
	if err != nil {
		if obj != nil {
			obj.Close()
		}
		// The row is committed, so its object must exist: this is lost data, not "not found".
		return nil, fmt.Errorf("store: blob %d in %s: %w", id, b.name, s3Err(err))
	}
	return obj, nil
}

// s3BlobWriter streams one blob into a multipart upload through a pipe: Write hands bytes to
// the client, which fills a part buffer and sends full parts while the next one fills.
type s3BlobWriter struct {
	ctx   context.Context
	s     *Store
	id    int64
	size  int64
	pw    *io.PipeWriter
	done  chan struct{} // the upload has finished, well or not
	perr  error         // the upload's error, read after done
	state fileWriterState
}

func (w *s3BlobWriter) ID() int64   { return w.id }
func (w *s3BlobWriter) Size() int64 { return w.size }

func (w *s3BlobWriter) Write(p []byte) (int, error) {
	if w.state != writerOpen {
		return 0, errors.New("store: write to a finished blob")
	}
	n, err := w.pw.Write(p)
	w.size += int64(n)
	if err != nil {
		<-w.done
		if w.perr != nil {
			err = w.perr
		}
		return n, fmt.Errorf("store: blob upload: %w", err)
	}
	return n, nil
}

// Close completes the upload (the object appears, whole) and records the size on the row.
func (w *s3BlobWriter) Close() error {
	if w.state != writerOpen {
		return errors.New("store: blob already finished")
	}
	w.pw.Close()
	<-w.done
	if w.perr != nil {
		w.state = writerAborted
		return fmt.Errorf("store: blob upload: %w", w.perr)
	}
	w.state = writerClosed
	_, err := w.s.exec(w.ctx, `UPDATE blobs SET size = $2 WHERE id = $1`, w.id, w.size)
	return err
}

// Abort stops the upload; the client aborts the multipart upload, so nothing is left.
func (w *s3BlobWriter) Abort() {
	if w.state == writerOpen {
		w.pw.CloseWithError(errors.New("store: blob aborted"))
		<-w.done
		w.state = writerAborted
	}
}

// Sweep removes objects and incomplete uploads under PREFIX/blobs/ that no committed blobs row
// points to and that are older than minAge, under the same locks as FileBlobs.Sweep: never an
// upload whose transaction may still commit, never while a backup's snapshot is open. Safe
// with several instances sharing the bucket and the database.
func (b *S3Blobs) Sweep(ctx context.Context, s *Store, minAge time.Duration) (removed int, err error) {
	now := time.Now()
	type candidate struct {
		id       int64
		uploadID string // "": a completed object
	}
	var objects []candidate
	for obj := range b.client.ListObjects(ctx, b.bucket, minio.ListObjectsOptions{Prefix: b.prefix + "blobs/", Recursive: true}) {
		if obj.Err != nil {
			return 0, s3Err(obj.Err)
		}
		if id, ok := b.objectID(obj.Key); ok && now.Sub(obj.LastModified) >= minAge {
			objects = append(objects, candidate{id: id})
		}
	}
	ids := make([]int64, len(objects))
	for i, c := range objects {
		ids[i] = c.id
	}
	live, err := liveBlobs(ctx, s, ids)
	if err != nil {
		return 0, err
	}
	var doomed []candidate
	for _, c := range objects {
		if !live[c.id] {
			doomed = append(doomed, c)
		}
	}
	for up := range b.client.ListIncompleteUploads(ctx, b.bucket, b.prefix+"blobs/", true) {
		if up.Err != nil {
			return 0, s3Err(up.Err)
		}
		if id, ok := b.objectID(up.Key); ok && now.Sub(up.Initiated) >= minAge {
			doomed = append(doomed, candidate{id: id, uploadID: up.UploadID})
		}
	}
	for _, c := range doomed {
		if err := ctx.Err(); err != nil {
			return removed, err
		}
		err := s.Tx(ctx, func(tx *Store) error {
			free, exists, err := sweepLock(ctx, tx, c.id)
			if err != nil || !free {
				return err
			}
			if c.uploadID != "" {
				// Its transaction is over (the lock was free): committed or not, the upload
				// will never be completed.
				if err := b.client.RemoveIncompleteUpload(ctx, b.bucket, b.ObjectName(c.id)); err != nil {
					return s3Err(err)
				}
				removed++
				return nil
			}
			if exists {
				return nil
			}
			err = b.client.RemoveObject(ctx, b.bucket, b.ObjectName(c.id), minio.RemoveObjectOptions{})
			if err != nil && minio.ToErrorResponse(err).StatusCode != http.StatusNotFound {
				return s3Err(err)
			}
			removed++
			return nil
		})
		if err != nil {
			return removed, err
		}
	}
	return removed, nil
}

// ObjectNames lists, sorted, the names of every object under the prefix (tests and tools).
func (b *S3Blobs) ObjectNames(ctx context.Context) ([]string, error) {
	var names []string
	for obj := range b.client.ListObjects(ctx, b.bucket, minio.ListObjectsOptions{Prefix: b.prefix, Recursive: true}) {
		if obj.Err != nil {
			return nil, s3Err(obj.Err)
		}
		names = append(names, obj.Key)
	}
	return names, nil
}

// ReadObject streams blob id's object as stored (ciphertext) with its size: a backup copies
// it as it is. Close the reader.
func (b *S3Blobs) ReadObject(ctx context.Context, id int64) (io.ReadCloser, int64, error) {
	obj, err := b.client.GetObject(ctx, b.bucket, b.ObjectName(id), minio.GetObjectOptions{})
	var info minio.ObjectInfo
	if err == nil {
		info, err = obj.Stat()
	}
	if err != nil {
		if obj != nil {
			obj.Close()
		}
		return nil, 0, fmt.Errorf("blob %d in %s: %w", id, b.name, s3Err(err))
	}
	return obj, info.Size, nil
}

// WriteObject puts size bytes of r as blob id's object, whole or not at all (a restore puts a
// backup's blobs back; nothing commits a row for them but the restore's own transaction).
func (b *S3Blobs) WriteObject(ctx context.Context, id int64, r io.Reader, size int64) error {
	_, err := b.client.PutObject(ctx, b.bucket, b.ObjectName(id), r, size, minio.PutObjectOptions{
		PartSize: S3PartSize, NumThreads: 1, DisableContentSha256: true, ContentType: "application/octet-stream"})
	if err != nil {
		return fmt.Errorf("blob %d to %s: %w", id, b.name, s3Err(err))
	}
	return nil
}

// RemoveObject removes blob id's object, if there is one (a failed restore undoes its puts).
func (b *S3Blobs) RemoveObject(ctx context.Context, id int64) error {
	err := b.client.RemoveObject(ctx, b.bucket, b.ObjectName(id), minio.RemoveObjectOptions{})
	if err != nil && minio.ToErrorResponse(err).StatusCode != http.StatusNotFound {
		return s3Err(err)
	}
	return nil
}

// Owner is the installation id the prefix is bound to (Claim), or "" when it is bound to none:
// a restore puts objects only under a prefix no installation has claimed.
func (b *S3Blobs) Owner(ctx context.Context) (string, error) { return b.owner(ctx) }
