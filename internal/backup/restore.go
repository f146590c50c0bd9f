package backup

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"filippo.io/age"

	"candour/internal/database"
	"candour/internal/store"
)

// Target is where a backup is restored: all of it must be empty.
type Target struct {
	OwnerURL    string // the restore runs as the owner of the (empty) database
	ServingRole string // given the grants the manifest records; it must exist
	// Embedded: no database server is given; the restore starts a fresh embedded PostgreSQL in
	// the data folder (as `candour serve` does without DATABASE_URL), restores into it as its
	// owner and stops it. OwnerURL and ServingRole are then the new cluster's.
	Embedded    bool
	Logger      *slog.Logger // the embedded server's start and stop; nil discards them
	DataDir     string
	DataKeyFile string
	BlobDir     string
	// Bucket, when set (CANDOUR_BLOB_URL), is where the backup's attachment files and objects
	// go; else the blob folder. Its prefix must be claimed by no installation.
	Bucket *store.S3Blobs
	BinDir string
	// Councils are the slugs the target's policy folder (CANDOUR_POLICY_DIR) serves: a
	// council's backup is restored only where its council will be served.
	Councils []string
}

// ErrNotSealedToIdentity: none of the identities given opens the backup.
var ErrNotSealedToIdentity = errors.New("the backup is not sealed to this identity")

// ErrDamaged: the backup was changed or cut short after it was sealed.
var ErrDamaged = errors.New("the backup is damaged, cut short or tampered with")

// maxManifest caps what is read as the manifest (a few hundred bytes a member).
const maxManifest = 256 << 20

// Restore reads a backup from in and restores it into t, which must be empty. Every member is
// first written into staging folders next to its destination and checked against the manifest;
// only then is the database restored, in one transaction that also grants the serving role,
// and the staging folders renamed into place. On failure nothing is left behind.
//
// Attachments kept outside PostgreSQL (blobs/<id>, files or objects when backed up) go where
// the restoring installation keeps new ones: the bucket when t.Bucket is set, else the blob
// folder, and their rows are pointed there in the same transaction. So a backup taken from a
// bucket restores onto one machine without S3, and one taken from a folder into a bucket.
// Blobs kept in PostgreSQL stay there: they are rows of the dump. Objects are put straight
// into the bucket as they are read (a bucket has no rename) under a prefix no installation
// has claimed; a failed restore removes them, and those a killed restore leaves have no
// committed row, so the first portal to start on the prefix sweeps them.
//
// An Embedded target's cluster is created inside the data folder's staged copy once everything
// is checked, so the emptiness check sees only what was there before, and a failure removes the
// cluster with the rest of the staging.
func Restore(ctx context.Context, t Target, in io.Reader, ids ...age.Identity) (_ *Manifest, err error) {
	if err := t.checkEmpty(ctx); err != nil {
		return nil, err
	}
	st, err := newStaging(t)
	if err != nil {
		return nil, err
	}
	defer st.remove()
	defer func() {
		if err != nil {
			st.removeObjects()
		}
	}()
	r, err := age.Decrypt(in, ids...)
	if err != nil {
		var nomatch *age.NoIdentityMatchError
		if errors.As(err, &nomatch) {
			return nil, ErrNotSealedToIdentity
		}
		return nil, fmt.Errorf("%w: %v", ErrDamaged, err)
	}
	m, err := st.unpack(r)
	if err != nil {
		return nil, err
	}
	if m.Scope == ScopeCouncil && !slices.Contains(t.Councils, m.CouncilSlug) {
		return nil, fmt.Errorf("this is a backup of council %s, which the policy folder (CANDOUR_POLICY_DIR) does not serve "+
			"(it serves %s): restore it with a deployment folder holding a folder %s with its council.yaml",
			m.CouncilSlug, strings.Join(t.Councils, ", "), m.CouncilSlug)
	}
	var emb *database.Embedded
	if t.Embedded {
		if emb, err = st.startEmbedded(ctx, t); err != nil {
			return nil, err
		}
		defer stopEmbedded(emb) // on failure, before the deferred remove takes its folder
		t.OwnerURL, t.ServingRole = emb.OwnerURL(), database.ServingRole
	}
	if err := restoreDatabase(ctx, t, st.dump, st.globalFiles(), m.Grants, st.blobStore()); err != nil {
		return nil, err
	}
	if err := os.Remove(st.dump); err != nil {
		return nil, err
	}
	for _, g := range st.globalFiles() {
		if err := os.Remove(g[1]); err != nil {
			return nil, err
		}
	}
	if emb != nil {
		// A cluster is moved into place only once it has shut down cleanly.
		if err := stopEmbedded(emb); err != nil {
			return nil, fmt.Errorf("stop the embedded PostgreSQL: %w", err)
		}
	}
	if err := st.place(); err != nil {
		return nil, fmt.Errorf("the database is restored, but the files could not be put in place: %w", err)
	}
	return m, nil
}

// checkEmpty refuses a target that holds anything, naming what.
func (t Target) checkEmpty(ctx context.Context) error {
	for _, d := range []struct{ dir, what string }{{t.DataDir, "data folder (CANDOUR_DATA_DIR)"}, {t.BlobDir, "blob folder (CANDOUR_BLOB_DIR)"}} {
		if d.dir == "" {
			continue
		}
		ents, err := os.ReadDir(d.dir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s %s: %w", d.what, d.dir, err)
		}
		if len(ents) > 0 {
			return fmt.Errorf("the %s %s is %w: it holds %s; restore only into an empty one", d.what, d.dir, errNotEmpty, ents[0].Name())
		}
	}
	if t.Bucket != nil {
		owner, err := t.Bucket.Owner(ctx)
		if err != nil {
			return fmt.Errorf("blob bucket (CANDOUR_BLOB_URL) %s: %w", t.Bucket, err)
		}
		if owner != "" {
			return fmt.Errorf("the blob bucket (CANDOUR_BLOB_URL) %s is %w: installation %.36s has claimed it; restore only under a prefix no installation uses", t.Bucket, errNotEmpty, owner)
		}
	}
	if _, err := os.Lstat(t.DataKeyFile); err == nil {
		return fmt.Errorf("the data key file (CANDOUR_DATA_KEY_FILE) %s already exists; restore only where there is none", t.DataKeyFile)
	}
	if t.Embedded {
		return nil // its database is created by the restore, in the (empty) data folder
	}
	db, err := database.Open(ctx, t.OwnerURL)
	if err != nil {
		return err
	}
	defer db.Close()
	st := store.New(db)
	rels, err := st.Relations(ctx, 3)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	if len(rels) > 0 {
		return fmt.Errorf("the database is %w: it has %s; restore only into an empty database", errNotEmpty, strings.Join(rels, ", "))
	}
	if ok, err := st.RoleExists(ctx, t.ServingRole); err != nil || !ok {
		return errors.Join(err, fmt.Errorf("the serving role %q of DATABASE_URL does not exist: create it first (CREATE ROLE %s LOGIN PASSWORD '…')", t.ServingRole, t.ServingRole))
	}
	return nil
}

// staging is the restore's work in progress: a hidden folder next to each destination, on the
// same file system, so that putting it in place is one rename.
type staging struct {
	moves [][2]string // staged path → destination, in the order they are renamed
	temps []string    // staging folders, removed at the end
	data  string      // the data folder's staged copy
	blobs string      // where blob files are staged
	key   string      // where the data key is staged
	dump  string      // the database dump, reassembled
	// bucket, when set, takes the blobs instead of the blob folder; put are the objects put.
	bucket *store.S3Blobs
	put    []int64
	// globals are a council's rows of the shared tables (global/<table>/…), reassembled.
	globals map[string]string
}

// globalFiles are the staged shared tables' rows, in the order they are restored.
func (st *staging) globalFiles() [][2]string {
	var out [][2]string
	for _, t := range globalTables {
		if f, ok := st.globals[t.name]; ok {
			out = append(out, [2]string{t.name, f})
		}
	}
	return out
}

func newStaging(t Target) (_ *staging, err error) {
	st := &staging{bucket: t.Bucket}
	defer func() {
		if err != nil {
			st.remove()
		}
	}()
	if st.data, err = st.tempNextTo(t.DataDir); err != nil {
		return nil, err
	}
	st.dump = filepath.Join(st.data, ".database.dump")
	// A destination inside the data folder is staged inside its copy; one elsewhere, beside it.
	place := func(dest string, file bool) (string, error) {
		if rel, err := filepath.Rel(t.DataDir, dest); err == nil && filepath.IsLocal(rel) {
			return filepath.Join(st.data, rel), nil
		}
		tmp, err := st.tempNextTo(dest)
		if err != nil {
			return "", err
		}
		if file {
			tmp = filepath.Join(tmp, filepath.Base(dest))
		}
		st.moves = append(st.moves, [2]string{tmp, dest})
		return tmp, nil
	}
	if st.key, err = place(t.DataKeyFile, true); err != nil {
		return nil, err
	}
	if t.BlobDir != "" && t.Bucket == nil {
		if st.blobs, err = place(t.BlobDir, false); err != nil {
			return nil, err
		}
	}
	// The data folder last: it is where an operator looks first, and the others are inside it
	// or beside it.
	st.moves = append(st.moves, [2]string{st.data, t.DataDir})
	return st, nil
}

// startEmbedded starts a fresh embedded PostgreSQL in the data folder's staged copy. The
// backup's password files of its own embedded server (if it had one) are dropped first: they
// belong to the old cluster, and the new one writes its own.
func (st *staging) startEmbedded(ctx context.Context, t Target) (*database.Embedded, error) {
	for _, f := range database.EmbeddedPasswordFiles {
		if err := os.Remove(filepath.Join(st.data, f)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	emb, err := database.StartEmbedded(ctx, database.EmbeddedOptions{DataDir: st.data, BinDir: t.BinDir, Logger: t.Logger, Fsync: true})
	if err != nil {
		return nil, fmt.Errorf("embedded PostgreSQL: %w", err)
	}
	return emb, nil
}

// stopEmbedded stops the restore's server; it may be called again (Stop runs once).
func stopEmbedded(emb *database.Embedded) error {
	// Not the restore's context: an interrupted restore must still stop its server.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return emb.Stop(ctx)
}

func (st *staging) tempNextTo(dest string) (string, error) {
	parent := filepath.Dir(dest)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp(parent, "."+filepath.Base(dest)+".restore-")
	if err != nil {
		return "", err
	}
	st.temps = append(st.temps, dir)
	return dir, nil
}

// write stages one member's bytes at path, returning their hash. Only the dump's pieces are
// appended to a file; any other member staged at a path twice is refused.
func write(path string, r io.Reader, appendTo bool) (string, int64, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", 0, localError{err}
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if appendTo {
		flags = os.O_WRONLY | os.O_CREATE | os.O_APPEND
	}
	f, err := os.OpenFile(path, flags, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return "", 0, fmt.Errorf("%w: two members for %s", ErrDamaged, filepath.Base(path))
	} else if err != nil {
		return "", 0, localError{err}
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(localWriter{f}, h), r)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = localError{cerr}
	}
	return hex.EncodeToString(h.Sum(nil)), n, err
}

// localError is a failure of this machine (a full disk), not of the backup.
type localError struct{ error }

func (e localError) Unwrap() error { return e.error }

type localWriter struct{ w io.Writer }

func (l localWriter) Write(p []byte) (int, error) {
	n, err := l.w.Write(p)
	if err != nil {
		err = localError{err}
	}
	return n, err
}

// unpack stages every member and checks them all against the manifest.
func (st *staging) unpack(r io.Reader) (*Manifest, error) {
	tr := tar.NewReader(r)
	var m *Manifest
	var got []Member
	pieces := 0
	globalPieces := map[string]int{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// age authenticates every chunk and the end of the stream: a changed or cut file
			// fails here.
			return nil, fmt.Errorf("%w: %v", ErrDamaged, err)
		}
		if m != nil {
			return nil, fmt.Errorf("%w: %s after the manifest", ErrDamaged, h.Name)
		}
		if h.Typeflag != tar.TypeReg {
			return nil, fmt.Errorf("%w: %s is not a file", ErrDamaged, h.Name)
		}
		if h.Name == manifestName {
			m = &Manifest{}
			if err := json.NewDecoder(io.LimitReader(tr, maxManifest)).Decode(m); err != nil {
				return nil, fmt.Errorf("%w: manifest: %v", ErrDamaged, err)
			}
			continue
		}
		var sum string
		var n int64
		if id, ok := st.object(h.Name); ok {
			sum, n, err = st.putObject(id, tr, h.Size)
		} else {
			path, perr := st.path(h.Name, &pieces, globalPieces)
			if perr != nil {
				return nil, perr
			}
			sum, n, err = write(path, tr, path == st.dump || slices.Contains(slices.Collect(maps.Values(st.globals)), path))
		}
		var local localError
		if errors.As(err, &local) {
			return nil, fmt.Errorf("restore %s: %w", h.Name, err)
		} else if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrDamaged, h.Name, err)
		}
		got = append(got, Member{Name: h.Name, Size: n, SHA256: sum})
	}
	if m == nil {
		return nil, fmt.Errorf("%w: no manifest (the backup was cut short)", ErrDamaged)
	}
	if m.Format != Format || m.Version != Version {
		return nil, fmt.Errorf("not a backup this version of Candour reads: %s version %d", m.Format, m.Version)
	}
	if !slices.Equal(got, m.Members) {
		return nil, fmt.Errorf("%w: its files do not match its manifest", ErrDamaged)
	}
	if pieces == 0 {
		return nil, fmt.Errorf("%w: no database dump", ErrDamaged)
	}
	switch {
	case m.Scope == ScopeCouncil && (m.CouncilSlug == "" || globalPieces["councils"] == 0):
		return nil, fmt.Errorf("%w: a council's backup without its council", ErrDamaged)
	case m.Scope == ScopeInstallation && len(globalPieces) > 0:
		return nil, fmt.Errorf("%w: a whole backup with a council's rows", ErrDamaged)
	case m.Scope != ScopeCouncil && m.Scope != ScopeInstallation:
		return nil, fmt.Errorf("not a backup this version of Candour reads: scope %q", m.Scope)
	}
	return m, nil
}

// path is where member name is staged. Dump pieces must come in order; they are appended to
// one file.
func (st *staging) path(name string, pieces *int, globalPieces map[string]int) (string, error) {
	bad := fmt.Errorf("%w: unexpected member %q", ErrDamaged, name)
	switch {
	case name == dataKeyName:
		return st.key, nil
	case strings.HasPrefix(name, dataPrefix):
		rel := filepath.FromSlash(strings.TrimPrefix(name, dataPrefix))
		if !filepath.IsLocal(rel) || !slices.Contains(dataParts, strings.Split(filepath.ToSlash(rel), "/")[0]) {
			return "", bad
		}
		return filepath.Join(st.data, rel), nil
	case strings.HasPrefix(name, blobPrefix):
		id, ok := blobID(name)
		if !ok {
			return "", bad
		}
		if st.blobs == "" {
			return "", errors.New("the backup has attachment files: set CANDOUR_BLOB_DIR to the (empty) folder they go to, or CANDOUR_BLOB_URL to a bucket")
		}
		return filepath.Join(st.blobs, store.BlobFileName(id)), nil
	case strings.HasPrefix(name, globalPrefix):
		table, piece, _ := strings.Cut(strings.TrimPrefix(name, globalPrefix), "/")
		if !slices.ContainsFunc(globalTables, func(t struct{ name, where string }) bool { return t.name == table }) {
			return "", bad
		}
		globalPieces[table]++
		if piece != fmt.Sprintf("%08d", globalPieces[table]) {
			return "", bad
		}
		if st.globals == nil {
			st.globals = map[string]string{}
		}
		st.globals[table] = filepath.Join(st.data, ".global."+table)
		return st.globals[table], nil
	case strings.HasPrefix(name, dumpPrefix):
		*pieces++
		if name != fmt.Sprintf("%s%08d", dumpPrefix, *pieces) {
			return "", bad
		}
		return st.dump, nil
	}
	return "", bad
}

// place renames everything staged into place; if one rename fails, those done are undone.
// A destination may be an empty folder (an operator's, or the embedded default's data folder
// made ready): the rename replaces it, and an undo makes it again.
func (st *staging) place() error {
	emptied := map[string]fs.FileMode{}
	for i, mv := range st.moves {
		if _, err := os.Lstat(mv[0]); errors.Is(err, fs.ErrNotExist) {
			continue // nothing staged for it: a council's backup carries no CANDOUR_DATA_KEY_FILE
		}
		if fi, err := os.Lstat(mv[1]); err == nil && fi.IsDir() {
			emptied[mv[1]] = fi.Mode().Perm()
		}
		// rename(2) itself, not os.Rename, which refuses any existing folder: the kernel replaces
		// one only while it is empty, so nothing that appeared since the check is lost.
		if err := syscall.Rename(mv[0], mv[1]); err != nil {
			for _, done := range slices.Backward(st.moves[:i]) {
				if os.Rename(done[1], done[0]) == nil {
					if perm, ok := emptied[done[1]]; ok {
						_ = os.Mkdir(done[1], perm)
					}
				}
			}
			return &os.LinkError{Op: "rename", Old: mv[0], New: mv[1], Err: err}
		}
	}
	return nil
}

// blobID is the blob id of member blobs/<id>.
func blobID(name string) (int64, bool) {
	rest, ok := strings.CutPrefix(name, blobPrefix)
	id, err := strconv.ParseInt(rest, 10, 64)
	return id, ok && err == nil && id > 0 && strconv.FormatInt(id, 10) == rest
}

// object says whether member name is a blob that goes to the bucket, and its id.
func (st *staging) object(name string) (int64, bool) {
	if st.bucket == nil {
		return 0, false
	}
	return blobID(name)
}

// putObject streams size bytes of r into the bucket as blob id's object, returning their hash.
func (st *staging) putObject(id int64, r io.Reader, size int64) (string, int64, error) {
	if slices.Contains(st.put, id) {
		return "", 0, fmt.Errorf("%w: two members for blob %d", ErrDamaged, id)
	}
	h := sha256.New()
	counted := &countingReader{r: io.TeeReader(r, h)}
	// Not the restore's context: the put must not be cut between the tar reader and the
	// bucket, and an interrupt is seen at the next member.
	st.put = append(st.put, id)
	if err := st.bucket.WriteObject(context.Background(), id, counted, size); err != nil {
		if counted.err != nil { // the backup, not the bucket, failed
			return "", 0, counted.err
		}
		return "", 0, localError{err}
	}
	return hex.EncodeToString(h.Sum(nil)), counted.n, nil
}

// countingReader counts what it passes on and keeps its source's error apart.
type countingReader struct {
	r   io.Reader
	n   int64
	err error
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}

// removeObjects takes back the objects a failed restore put into the bucket.
func (st *staging) removeObjects() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, id := range st.put {
		_ = st.bucket.RemoveObject(ctx, id)
	}
}

// blobStore is where the restored rows of blobs kept outside PostgreSQL must point: where
// their bytes were put ("" when the backup had none outside PostgreSQL to put).
func (st *staging) blobStore() string {
	switch {
	case st.bucket != nil:
		return "s3"
	case st.blobs != "":
		return "fs"
	}
	return ""
}

func (st *staging) remove() {
	for _, d := range st.temps {
		_ = os.RemoveAll(d)
	}
}
