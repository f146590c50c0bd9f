package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
)

// ChunkSize is the size of one stored blob chunk. Streams in and out hold one chunk in memory.
const ChunkSize = 1 << 20

// BlobStore is where attachment bytes live: files in a folder with WithFileBlobs (what the
// portal configures by default), objects in an S3-compatible bucket with WithS3Blobs (the row
// stays in PostgreSQL), else chunks in PostgreSQL, in the same transaction as the row that
// points to them (about a tenth of the folder's upload speed: docs/design-changes.md).
type BlobStore interface {
	// Create returns a writer for a new blob; its ID is valid once Close returns nil.
	Create(ctx context.Context) (BlobWriter, error)
	// Open streams a blob's bytes. The reader may also be an io.Closer, to be closed after use.
	Open(ctx context.Context, id int64) (io.Reader, error)
}

// BlobWriter receives a blob's bytes.
type BlobWriter interface {
	io.WriteCloser
	ID() int64
	Size() int64
	// Abort gives up a blob that was not closed (its transaction will roll back), releasing
	// what it holds. Calling it after Close does nothing.
	Abort()
}

// WithFileBlobs returns a copy of s that creates new blobs as files in f. Blobs already in
// PostgreSQL keep opening from there: each blobs row says which store holds its bytes.
func (s *Store) WithFileBlobs(f *FileBlobs) *Store {
	c := *s
	c.files = f
	return &c
}

// WithPostgresBlobs returns a copy of s that creates new blobs in PostgreSQL, while blobs in the
// blob folder (WithFileBlobs) keep opening from there: an installation that chose PostgreSQL.
func (s *Store) WithPostgresBlobs() *Store {
	c := *s
	c.pgNew = true
	return &c
}

// WithS3Blobs returns a copy of s that creates new blobs as objects in b. Blobs already in
// PostgreSQL keep opening from there (and those in a blob folder, if WithFileBlobs is set too).
func (s *Store) WithS3Blobs(b *S3Blobs) *Store {
	c := *s
	c.s3 = b
	return &c
}

// Blobs returns the blob store bound to this store (and its transaction, if any).
func (s *Store) Blobs() BlobStore { return blobs{s} }

// blobs creates in the configured store and opens from whichever store holds the blob.
type blobs struct{ s *Store }

func (b blobs) Create(ctx context.Context) (BlobWriter, error) {
	if b.s.s3 != nil {
		return b.s.s3.create(ctx, b.s)
	}
	if b.s.files != nil && !b.s.pgNew {
		return b.s.files.create(ctx, b.s)
	}
	return pgBlobs(b).Create(ctx)
}

func (b blobs) Open(ctx context.Context, id int64) (io.Reader, error) {
	var where string
	if err := b.s.get(ctx, &where, `SELECT store FROM blobs WHERE id = $1`, id); err != nil {
		return nil, notFound(err)
	}
	switch where {
	case "fs":
		if b.s.files == nil {
			return nil, fmt.Errorf("store: blob %d is a file but no blob folder is configured (CANDOUR_BLOB_DIR)", id)
		}
		return b.s.files.open(id)
	case "s3":
		if b.s.s3 == nil {
			return nil, fmt.Errorf("store: blob %d is in an S3 bucket but none is configured (CANDOUR_BLOB_URL)", id)
		}
		return b.s.s3.open(id)
	default:
		return &pgBlobReader{ctx: ctx, s: b.s, id: id}, nil
	}
}

// pgBlobs creates blobs whose bytes go to blob_chunks (read back by pgBlobReader).
type pgBlobs struct{ s *Store }

// chunkBufs keeps the chunk buffers of finished blob writers, so a burst of uploads reuses them
// rather than leaving a chunk of garbage each.
var chunkBufs = sync.Pool{New: func() any { b := make([]byte, 0, ChunkSize); return &b }}

func (b pgBlobs) Create(ctx context.Context) (BlobWriter, error) {
	w := &pgBlobWriter{ctx: ctx, s: b.s, buf: (*chunkBufs.Get().(*[]byte))[:0]}
	err := b.s.get(ctx, &w.id, `INSERT INTO blobs DEFAULT VALUES RETURNING id`)
	return w, err
}

type pgBlobWriter struct {
	ctx  context.Context
	s    *Store
	id   int64
	seq  int
	size int64
	buf  []byte
}

// Abort gives the buffer back; the chunks go with the transaction's rollback.
func (w *pgBlobWriter) Abort() { w.release() }

// release returns the chunk buffer to the pool, once.
func (w *pgBlobWriter) release() {
	if w.buf != nil {
		b := w.buf[:0]
		chunkBufs.Put(&b)
		w.buf = nil
	}
}

func (w *pgBlobWriter) ID() int64   { return w.id }
func (w *pgBlobWriter) Size() int64 { return w.size }

var errBlobDone = errors.New("store: blob writer already closed or aborted")

func (w *pgBlobWriter) Write(p []byte) (int, error) {
	if w.buf == nil {
		return 0, errBlobDone
	}
	return fillChunks(&w.buf, p, w.flush)
}

// fillChunks copies p into the fixed-capacity buffer *buf, calling flush each time it is full
// (flush may replace *buf with an empty one), and returns how much of p it took.
func fillChunks(buf *[]byte, p []byte, flush func() error) (int, error) {
	n := 0
	for len(p) > 0 {
		k := copy((*buf)[len(*buf):cap(*buf)], p)
		*buf = (*buf)[:len(*buf)+k]
		p = p[k:]
		n += k
		if len(*buf) == cap(*buf) {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

func (w *pgBlobWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.s.exec(w.ctx, `INSERT INTO blob_chunks (blob_id, seq, data) VALUES ($1, $2, $3)`, w.id, w.seq, w.buf)
	if err != nil {
		return err
	}
	w.seq++
	w.size += int64(len(w.buf))
	w.buf = w.buf[:0]
	return nil
}

func (w *pgBlobWriter) Close() error {
	err := w.flush()
	w.release() // the driver copied each chunk into its message
	if err != nil {
		return err
	}
	_, err = w.s.exec(w.ctx, `UPDATE blobs SET size = $2 WHERE id = $1`, w.id, w.size)
	return err
}

type pgBlobReader struct {
	ctx  context.Context
	s    *Store
	id   int64
	seq  int
	buf  []byte
	done bool
}

func (r *pgBlobReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.done {
			return 0, io.EOF
		}
		var chunk []byte
		err := r.s.get(r.ctx, &chunk, `SELECT data FROM blob_chunks WHERE blob_id = $1 AND seq = $2`, r.id, r.seq)
		if err := notFound(err); err == ErrNotFound {
			r.done = true
			continue
		} else if err != nil {
			return 0, err
		}
		r.seq++
		r.buf = chunk
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}
