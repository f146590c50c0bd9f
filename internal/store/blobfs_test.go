package store_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"candour/internal/dbtest"
	"candour/internal/store"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]int{}
	for _, s := range a {
		seen[s]++
	}
	for _, s := range b {
		if seen[s]--; seen[s] < 0 {
			return false
		}
	}
	return true
}

var errRollBack = errors.New("roll back")

// Every way an upload can end leaves either a committed row with its file, or (after a sweep)
// nothing; an upload still in its transaction is never swept.
func TestFileBlobs(t *testing.T) {
	ctx := context.Background()
	db := dbtest.New(t)
	dir := filepath.Join(t.TempDir(), "blobs")
	fb, err := store.OpenFileBlobs(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(db).WithFileBlobs(fb)
	data := bytes.Repeat([]byte("ciphertext "), 300000) // 3.3 MB: several writer buffers

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
	name := func(id int64) string { return strconv.FormatInt(id, 10) }

	// Closed is renamed to its final name; abandoned stays in incoming/; aborted removes its own
	// file at once, so it is never listed.
	e := endUploads(t, ctx, st, data, write)
	kept, closedThenRolledBack, abandoned, pending := e.kept, e.closedThenRolledBack, e.abandoned, e.pending

	want := []string{name(kept), name(closedThenRolledBack), filepath.Join("incoming", name(abandoned)), name(pending)}
	if got := dbtest.BlobFiles(t, dir); !sameSet(got, want) {
		t.Fatalf("before the sweep: got %v, want %v", got, want)
	}
	// A periodic sweep leaves young files alone.
	if n, err := fb.Sweep(ctx, store.New(db), store.SweepGrace); err != nil || n != 0 {
		t.Errorf("sweep with grace: removed %d (%v), want 0", n, err)
	}
	n, err := fb.Sweep(ctx, store.New(db), 0)
	if err != nil || n != 2 {
		t.Errorf("sweep: removed %d (%v), want 2", n, err)
	}
	if got, want := dbtest.BlobFiles(t, dir), []string{name(kept), name(pending)}; !sameSet(got, want) {
		t.Fatalf("after the sweep: got %v, want %v", got, want)
	}
	if err := e.commit(); err != nil {
		t.Fatal(err)
	}
	if n, err := fb.Sweep(ctx, store.New(db), 0); err != nil || n != 0 {
		t.Errorf("sweep after commit: removed %d (%v), want 0", n, err)
	}

	// Committed blobs read back; files are private.
	for _, id := range []int64{kept, pending} {
		readsBack(t, st, id, data)
		info, err := os.Stat(filepath.Join(dir, name(id)))
		if err != nil || info.Mode().Perm() != 0o600 {
			t.Errorf("blob %d file: %v %v, want mode 0600", id, info.Mode(), err)
		}
		var size int64
		var where string
		db.QueryRow(`SELECT size, store FROM blobs WHERE id = $1`, id).Scan(&size, &where)
		if size != int64(len(data)) || where != "fs" {
			t.Errorf("blob %d row: size %d store %q", id, size, where)
		}
	}
	for _, d := range []string{dir, filepath.Join(dir, "incoming")} {
		if info, err := os.Stat(d); err != nil || info.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v %v, want mode 0700", d, info.Mode(), err)
		}
	}

	// Retention deletes the row (with the data key); the sweep then removes the file.
	if _, err := db.Exec(`DELETE FROM blobs WHERE id = $1`, kept); err != nil {
		t.Fatal(err)
	}
	if n, err := fb.Sweep(ctx, store.New(db), 0); err != nil || n != 1 {
		t.Errorf("sweep after retention: removed %d (%v), want 1", n, err)
	}
	if got, want := dbtest.BlobFiles(t, dir), []string{name(pending)}; !sameSet(got, want) {
		t.Errorf("after retention and sweep: got %v, want %v", got, want)
	}

	// Outside a transaction a file blob is refused (the sweep could not tell it is in flight).
	if _, err := st.Blobs().Create(ctx); err == nil {
		t.Error("Create outside a transaction: got nil error")
	}
}

// A blob stored in PostgreSQL still opens once a blob folder is configured.
func TestPostgresBlobOpensWithFileBlobs(t *testing.T) {
	ctx := context.Background()
	db := dbtest.New(t)
	data := bytes.Repeat([]byte("chunk"), 500000) // 2.5 MB: three chunks
	var id int64
	err := store.New(db).Tx(ctx, func(tx *store.Store) error {
		w, err := tx.Blobs().Create(ctx)
		if err != nil {
			return err
		}
		w.Write(data)
		id = w.ID()
		return w.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
	fb, err := store.OpenFileBlobs(t.TempDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	r, err := store.New(db).WithFileBlobs(fb).Blobs().Open(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("got %d bytes (%v), want %d", len(got), err, len(data))
	}
	if _, err := store.New(db).WithFileBlobs(fb).Blobs().Open(ctx, id+1000); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown blob: got %v, want ErrNotFound", err)
	}
}

// A blob folder belongs to one installation: Sweep deletes every file its own database has no
// row for, so a second installation pointed at the folder would delete the first one's evidence.
func TestBlobFolderBelongsToOneInstallation(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	first, second := dbtest.New(t), dbtest.New(t)
	// Test databases are clones of one template: give the second its own installation id.
	if _, err := second.Exec(`UPDATE installation SET id = gen_random_uuid()`); err != nil {
		t.Fatal(err)
	}
	fb, err := store.OpenFileBlobs(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := fb.Claim(ctx, store.New(first)); err != nil {
		t.Fatalf("first claim: %v", err)
	}
	if err := fb.Claim(ctx, store.New(first)); err != nil {
		t.Fatalf("the same installation again: %v", err)
	}
	if err := fb.Claim(ctx, store.New(second)); !errors.Is(err, store.ErrOtherInstallation) {
		t.Fatalf("another installation: got %v, want ErrOtherInstallation", err)
	}
	// A claim cut short by a crash (an empty file) is made again.
	if err := os.WriteFile(filepath.Join(dir, "installation"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := fb.Claim(ctx, store.New(second)); err != nil {
		t.Fatalf("after an empty owner file: %v", err)
	}
	if err := fb.Claim(ctx, store.New(first)); !errors.Is(err, store.ErrOtherInstallation) {
		t.Fatalf("the folder now belongs to the second: got %v, want ErrOtherInstallation", err)
	}
}

// readsBack wants blob id of st to read back as data, whole.
func readsBack(t *testing.T, st *store.Store, id int64, data []byte) {
	t.Helper()
	r, err := st.Blobs().Open(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	r.(io.Closer).Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("blob %d: %d bytes (%v), want %d", id, len(got), err, len(data))
	}
}

// uploadEndings are blobs left by every way an upload can end, as a store's tests sweep them.
type uploadEndings struct {
	kept                 int64 // committed
	closedThenRolledBack int64 // closed (stored whole), then its transaction rolled back
	abandoned            int64 // left mid-write without Abort, as a killed process leaves it
	aborted              int64 // aborted by the writer
	pending              int64 // closed, its transaction not yet committed
	commit               func() error
}

// endUploads makes uploadEndings with write (close: whether to close the blob).
func endUploads(t *testing.T, ctx context.Context, st *store.Store, data []byte, write func(tx *store.Store, close bool) int64) *uploadEndings {
	t.Helper()
	e := &uploadEndings{}
	if err := st.Tx(ctx, func(tx *store.Store) error { e.kept = write(tx, true); return nil }); err != nil {
		t.Fatal(err)
	}
	st.Tx(ctx, func(tx *store.Store) error { e.closedThenRolledBack = write(tx, true); return errRollBack })
	st.Tx(ctx, func(tx *store.Store) error { e.abandoned = write(tx, false); return errRollBack })
	st.Tx(ctx, func(tx *store.Store) error {
		w, err := tx.Blobs().Create(ctx)
		if err != nil {
			t.Fatal(err)
		}
		e.aborted = w.ID()
		w.Write(data)
		w.Abort()
		return errRollBack
	})
	inFlight, proceed, committed := make(chan int64), make(chan struct{}), make(chan error)
	go func() {
		committed <- st.Tx(ctx, func(tx *store.Store) error {
			inFlight <- write(tx, true)
			<-proceed
			return nil
		})
	}()
	e.pending = <-inFlight
	e.commit = func() error { close(proceed); return <-committed }
	return e
}
