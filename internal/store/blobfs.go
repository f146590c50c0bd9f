package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"github.com/lib/pq"
)

// FileBlobs keeps blob bytes (age ciphertext) as files in a folder, one per blob, named by the
// blob id and nothing else; the blobs row (id, size, store = 'fs') stays in PostgreSQL, in the
// same transaction as the row that points to it.
//
// A file is written under incoming/ and renamed to its final name on Close, inside the
// transaction, so a committed row always has its file. A transaction that rolls back, or a
// process killed mid-upload, can leave a file whose id has no committed row: Sweep removes it.
// Every writer holds a transaction-level advisory lock on its blob id from the moment the row
// is inserted (before the file exists) until the transaction ends, and Sweep only removes a
// file whose lock it can take: a file is never removed while its upload may still commit.
type FileBlobs struct {
	dir      string
	incoming string
	// fsync makes Close durable (file, then folder). Follow the database: a blob is as durable
	// as the row pointing at it, so with PostgreSQL's fsync off (tests) this is off too.
	fsync bool
}

// blobLockSpace is the first key of the (int, int) advisory locks on blob ids. Two-key
// advisory locks never collide with the one-key locks the jobs take.
const blobLockSpace = 7261002

func blobLockKey(id int64) int32 { return int32(id & 0x7fffffff) }

// OpenFileBlobs prepares dir (created 0700 if missing) for blob files.
func OpenFileBlobs(dir string, fsync bool) (*FileBlobs, error) {
	f := &FileBlobs{dir: dir, incoming: filepath.Join(dir, "incoming"), fsync: fsync}
	for _, d := range []string{f.dir, f.incoming} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("blob folder: %w", err)
		}
		// MkdirAll leaves an existing folder as it was: attachments are for this process only.
		if err := os.Chmod(d, 0o700); err != nil {
			return nil, fmt.Errorf("blob folder: %w", err)
		}
	}
	return f, nil
}

// Dir is the blob folder.
func (f *FileBlobs) Dir() string { return f.dir }

// ownerFile names, inside the folder, the installation whose attachments it holds.
const ownerFile = "installation"

// ErrOtherInstallation is returned by Claim for a folder or bucket prefix that belongs to
// another database.
var ErrOtherInstallation = errors.New("it holds another installation's attachments")

// Claim binds the folder to the installation s is the database of, or checks that it already
// is. Sweep deletes every file its own database has no row for: two installations sharing a
// folder would delete each other's evidence. (A restored copy of the database has the same id:
// never point a copy at the live folder.)
func (f *FileBlobs) Claim(ctx context.Context, s *Store) error {
	var id string
	if err := s.get(ctx, &id, `SELECT id::text FROM installation`); err != nil {
		return fmt.Errorf("blob folder: installation id: %w", err)
	}
	path := filepath.Join(f.dir, ownerFile)
	b, err := os.ReadFile(path)
	owner := strings.TrimSpace(string(b))
	switch {
	case err == nil && owner == id:
		return nil
	case err == nil && owner != "": // empty: a claim cut short by a crash
		return fmt.Errorf("blob folder: %w (it says %.36s, this database is %s)", ErrOtherInstallation, owner, id)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("blob folder: %w", err)
	}
	tmp := filepath.Join(f.incoming, ownerFile)
	if err := writeFileSync(tmp, []byte(id+"\n"), f.fsync); err != nil {
		return fmt.Errorf("blob folder: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("blob folder: %w", err)
	}
	if f.fsync {
		return syncDir(f.dir)
	}
	return nil
}

// BlobFileName is the name of blob id's file in the folder: its id and nothing else.
func BlobFileName(id int64) string { return strconv.FormatInt(id, 10) }

func (f *FileBlobs) path(id int64) string { return filepath.Join(f.dir, BlobFileName(id)) }
func (f *FileBlobs) temp(id int64) string { return filepath.Join(f.incoming, BlobFileName(id)) }

func (f *FileBlobs) create(ctx context.Context, s *Store) (BlobWriter, error) {
	id, err := insertLockedBlob(ctx, s, "fs")
	if err != nil {
		return nil, err
	}
	// O_DIRECT: the ciphertext goes from our buffers to the disk, not through the page cache
	// (a 1 GiB upload would otherwise push the database's pages out, for a file that is
	// rarely read, and copying it there costs more CPU than encrypting it). A file system
	// without O_DIRECT (tmpfs) refuses the flag: write through the page cache there.
	direct := true
	file, err := os.OpenFile(f.temp(id), os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_DIRECT, 0o600)
	if errors.Is(err, syscall.EINVAL) {
		direct = false
		os.Remove(f.temp(id))
		file, err = os.OpenFile(f.temp(id), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	}
	if err != nil {
		return nil, fmt.Errorf("store: blob file: %w", err)
	}
	return newFileBlobWriter(ctx, s, f, id, file, direct), nil
}

func (f *FileBlobs) open(id int64) (io.Reader, error) {
	file, err := os.Open(f.path(id))
	if err != nil {
		// The row is committed, so its file must exist: this is lost data, not "not found".
		return nil, fmt.Errorf("store: blob %d: %w", id, err)
	}
	return file, nil
}

// SweepGrace is how old a blob file with no committed row must be before a periodic sweep
// removes it. The advisory lock already keeps in-flight uploads safe; this is a margin.
const SweepGrace = time.Minute

// Sweep removes blob files no committed blobs row points to and that are older than minAge:
// leftovers of rolled-back transactions and killed processes (under incoming/ or final), and
// the files of blobs retention deleted. A file retention leaves behind until the next sweep
// is unreadable anyway: its concern's data key was shredded in the same transaction as the
// row. Safe with several instances sharing the folder and the database.
func (f *FileBlobs) Sweep(ctx context.Context, s *Store, minAge time.Duration) (removed int, err error) {
	now := time.Now()
	old := func(info fs.FileInfo) bool {
		// ctime: the last write, rename or chmod; mtime is set back to the hour on Close.
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			return now.Sub(time.Unix(st.Ctim.Unix())) >= minAge
		}
		return now.Sub(info.ModTime()) >= minAge
	}
	type candidate struct {
		id   int64
		path string
	}
	var finals []candidate
	var ids []int64
	entries, err := os.ReadDir(f.dir)
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		id, perr := strconv.ParseInt(e.Name(), 10, 64)
		if perr != nil || id <= 0 || !e.Type().IsRegular() {
			continue // not ours (incoming/ is handled below)
		}
		finals = append(finals, candidate{id, f.path(id)})
		ids = append(ids, id)
	}
	live, err := liveBlobs(ctx, s, ids)
	if err != nil {
		return 0, err
	}
	var doomed []candidate
	for _, c := range finals {
		if live[c.id] {
			continue
		}
		if info, err := os.Stat(c.path); err == nil && old(info) {
			doomed = append(doomed, c)
		}
	}
	entries, err = os.ReadDir(f.incoming)
	if err != nil {
		return removed, err
	}
	for _, e := range entries {
		id, perr := strconv.ParseInt(e.Name(), 10, 64)
		if perr != nil || id <= 0 || !e.Type().IsRegular() {
			continue
		}
		if info, err := e.Info(); err == nil && old(info) {
			doomed = append(doomed, candidate{id, f.temp(id)})
		}
	}
	for _, c := range doomed {
		if err := ctx.Err(); err != nil {
			return removed, err
		}
		err := s.Tx(ctx, func(tx *Store) error {
			// Not while a backup copies the files of its snapshot (Snapshot), nor while an
			// upload of this id is still in its transaction.
			free, exists, err := sweepLock(ctx, tx, c.id)
			if err != nil || !free {
				return err
			}
			// A temporary file is garbage once its transaction is over, whatever it did;
			// a final file is kept if its row committed.
			if exists && c.path == f.path(c.id) {
				return nil
			}
			if err := os.Remove(c.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			removed++
			return nil
		})
		if err != nil {
			return removed, err
		}
	}
	if removed > 0 && f.fsync {
		err = syncDir(f.dir)
	}
	return removed, err
}

// insertLockedBlob inserts a blobs row kept in store and takes its blob lock until the
// transaction ends: from now until then, no sweep removes what is written under its id.
func insertLockedBlob(ctx context.Context, s *Store, store string) (int64, error) {
	if s.db != nil {
		// Outside a transaction the advisory lock would end at once and Sweep could remove
		// the bytes while they are being written.
		return 0, errors.New("store: a blob outside PostgreSQL must be created inside a transaction")
	}
	var id int64
	if err := s.get(ctx, &id, `INSERT INTO blobs (store) VALUES ($1) RETURNING id`, store); err != nil {
		return 0, err
	}
	_, err := s.exec(ctx, `SELECT pg_advisory_xact_lock_shared($1, $2)`, blobLockSpace, blobLockKey(id))
	return id, err
}

// liveBlobs says which of ids have a committed blobs row.
func liveBlobs(ctx context.Context, s *Store, ids []int64) (map[int64]bool, error) {
	live := map[int64]bool{}
	for len(ids) > 0 {
		batch := ids[:min(len(ids), 10000)]
		ids = ids[len(batch):]
		var found []int64
		if err := s.sel(ctx, &found, `SELECT id FROM blobs WHERE id = ANY($1)`, pq.Array(batch)); err != nil {
			return nil, err
		}
		for _, id := range found {
			live[id] = true
		}
	}
	return live, nil
}

// sweepLock takes, in the sweep's transaction tx, what removing blob id's bytes needs: no
// backup copying its snapshot's blobs (Snapshot), no upload of this id still in its
// transaction. free is false when either is held; exists says whether id's row is committed.
func sweepLock(ctx context.Context, tx *Store, id int64) (free, exists bool, err error) {
	if err := tx.get(ctx, &free, `SELECT pg_try_advisory_xact_lock_shared($3, 0) AND pg_try_advisory_xact_lock($1, $2)`,
		blobLockSpace, blobLockKey(id), sweepHoldSpace); err != nil || !free {
		return false, false, err
	}
	err = tx.get(ctx, &exists, `SELECT EXISTS (SELECT 1 FROM blobs WHERE id = $1)`, id)
	return free, exists, err
}

func writeFileSync(path string, data []byte, fsync bool) error {
	file, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = file.Write(data)
	if err == nil && fsync {
		err = file.Sync()
	}
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// fileBlobWriter writes one blob file. Writes are gathered into large buffers and handed to a
// goroutine that writes them to the file, so encrypting the next buffer (the caller's work)
// and writing this one (the kernel's) run on two cores at once. Memory: fileBufs buffers.
type fileBlobWriter struct {
	ctx    context.Context
	s      *Store
	f      *FileBlobs
	id     int64
	file   *os.File
	direct bool // O_DIRECT: every write is whole aligned blocks from aligned memory
	size   int64

	buf              []byte        // being filled by Write
	free             chan []byte   // empty buffers
	full             chan []byte   // buffers for the writer goroutine
	done             chan struct{} // the writer goroutine has finished
	werr             error         // first write error, read after done or through failed
	fail             chan struct{} // closed on the first write error
	state            fileWriterState
	drained, renamed bool
}

type fileWriterState int

const (
	writerOpen fileWriterState = iota
	writerClosed
	writerAborted
)

const (
	fileBufSize = 1 << 20
	fileBufs    = 3
)

func newFileBlobWriter(ctx context.Context, s *Store, f *FileBlobs, id int64, file *os.File, direct bool) *fileBlobWriter {
	w := &fileBlobWriter{ctx: ctx, s: s, f: f, id: id, file: file, direct: direct,
		free: make(chan []byte, fileBufs), full: make(chan []byte, fileBufs),
		done: make(chan struct{}), fail: make(chan struct{})}
	for i := 0; i < fileBufs-1; i++ {
		w.free <- alignedBuffer(fileBufSize)
	}
	w.buf = alignedBuffer(fileBufSize)
	go w.drain()
	return w
}

// directAlign is the alignment O_DIRECT needs of memory, offsets and lengths (the logical
// block size: 512 or 4096).
const directAlign = 4096

// alignedBuffer returns an empty buffer of capacity size (a multiple of directAlign) whose
// memory starts on a directAlign boundary.
func alignedBuffer(size int) []byte {
	b := make([]byte, size+directAlign)
	off := int(uintptr(unsafe.Pointer(&b[0])) & (directAlign - 1))
	if off != 0 {
		off = directAlign - off
	}
	return b[off : off : off+size]
}

// drain writes full buffers in order until full is closed. With O_DIRECT the last, partial
// buffer is padded with zeros to a whole block and the file cut back to its size afterwards.
func (w *fileBlobWriter) drain() {
	defer close(w.done)
	var written int64
	for b := range w.full {
		if w.werr == nil {
			out := b
			if w.direct && len(b)%directAlign != 0 {
				padded := (len(b) + directAlign - 1) &^ (directAlign - 1)
				out = b[:padded]
				clear(out[len(b):])
			}
			_, err := w.file.Write(out)
			if err == nil && len(out) != len(b) {
				err = w.file.Truncate(written + int64(len(b)))
			}
			written += int64(len(b))
			if err != nil {
				w.werr = err
				close(w.fail)
			}
		}
		w.free <- b[:0]
	}
}

func (w *fileBlobWriter) ID() int64   { return w.id }
func (w *fileBlobWriter) Size() int64 { return w.size }

func (w *fileBlobWriter) Write(p []byte) (int, error) {
	if w.state != writerOpen {
		return 0, errors.New("store: write to a finished blob")
	}
	if w.buf == nil { // an earlier write failed; handing on a nil buffer would hang the writer
		return 0, fmt.Errorf("store: blob file: %w", w.werr)
	}
	n, err := fillChunks(&w.buf, p, w.hand)
	w.size += int64(n)
	return n, err
}

// hand passes the current buffer to the writer goroutine and takes an empty one.
func (w *fileBlobWriter) hand() error {
	w.full <- w.buf
	select {
	case w.buf = <-w.free:
		return nil
	case <-w.fail:
		w.buf = nil
		return fmt.Errorf("store: blob file: %w", w.werr)
	}
}

// finish stops the writer goroutine after everything handed to it is written.
func (w *fileBlobWriter) finish() error {
	if !w.drained {
		w.drained = true
		close(w.full)
		<-w.done
	}
	if w.werr != nil {
		return fmt.Errorf("store: blob file: %w", w.werr)
	}
	return nil
}

// Close makes the blob final: the rest written, the file synced (when durability is on),
// renamed to its id and the folder synced, then the size recorded on the row.
func (w *fileBlobWriter) Close() error {
	if w.state != writerOpen {
		return errors.New("store: blob already finished")
	}
	err := func() error {
		if len(w.buf) > 0 {
			w.full <- w.buf
			w.buf = nil
		}
		if err := w.finish(); err != nil {
			return err
		}
		// The file's own time says no more than the row does (to the hour).
		hour := time.Now().Truncate(time.Hour)
		if err := os.Chtimes(w.file.Name(), hour, hour); err != nil {
			return err
		}
		if w.f.fsync {
			if err := w.file.Sync(); err != nil {
				return err
			}
		}
		if err := w.file.Close(); err != nil {
			return err
		}
		if err := os.Rename(w.f.temp(w.id), w.f.path(w.id)); err != nil {
			return err
		}
		w.renamed = true
		if w.f.fsync {
			return syncDir(w.f.dir)
		}
		return nil
	}()
	if err != nil {
		w.abort()
		return fmt.Errorf("store: blob file: %w", err)
	}
	w.state = writerClosed
	_, err = w.s.exec(w.ctx, `UPDATE blobs SET size = $2 WHERE id = $1`, w.id, w.size)
	return err
}

// Abort discards a blob that will not be committed.
func (w *fileBlobWriter) Abort() {
	if w.state == writerOpen {
		w.abort()
	}
}

func (w *fileBlobWriter) abort() {
	w.buf = nil
	_ = w.finish()
	_ = w.file.Close() // may already be closed
	w.state = writerAborted
	_ = os.Remove(w.f.temp(w.id))
	if w.renamed {
		_ = os.Remove(w.f.path(w.id))
	}
}
