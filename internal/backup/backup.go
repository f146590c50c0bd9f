// Package backup writes one consistent backup of an installation, sealed with age, and
// restores it into an empty data folder and an empty database.
//
// A backup is one age file (binary, to the recipients of policies/backup.yaml) holding a tar
// stream, so `age -d -i KEY backup.age | tar t` lists it. Its members, in order:
//
//	data.key             the server key (CANDOUR_DATA_KEY_FILE)
//	data/keys/…, data/audit/…, data/dev-custodian.key
//	                     the data folder's other keys and the audit log's checkpoints
//	database/00000001…   pg_dump's custom format, cut into pieces of known size (a tar member
//	                     needs its size up front, and pg_dump's output is streamed, not held)
//	global/<table>/00000001…
//	                     a council's backup only: its rows of the tables every council shares
//	                     (councils: its own row; blobs and blob_chunks: those its attachments
//	                     refer to), in COPY's text format, cut like the dump
//	blobs/<id>           each attachment's bytes kept outside PostgreSQL (age ciphertext, as
//	                     stored): a file of the blob folder (CANDOUR_BLOB_DIR) or an object
//	                     of the bucket (CANDOUR_BLOB_URL); a restore puts them where the
//	                     restoring installation keeps new attachments (Restore)
//	manifest.json        last: format, scope, council, time, the serving role's grants, and
//	                     every member's size and SHA-256
//
// Nothing is written in clear anywhere but into the age stream. The scope is "installation"
// (every council of the deployment, sealed to the deployment's backup.yaml) or "council": one
// council's rows (pg_dump bound to it by row-level security), its part of the data folder with
// its own keys, and only the blobs its attachments refer to, sealed to its own backup.yaml.
//
// Consistency: the data folder's files are copied first, then the database is dumped from an
// exported snapshot (pg_dump --snapshot) and exactly the blob files and objects that snapshot's
// rows refer to are copied, while the snapshot holds off the sweep of the folder and of the
// bucket (store.Snapshot). Checkpoints and the development witness's state are thus never
// ahead of the dumped audit trail, every blob in the dump has its bytes, and none of a later
// upload is taken. Objects stream from the bucket into the age stream one at a time: memory
// does not grow with the evidence.
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
	"os"
	"path/filepath"
	"strconv"
	"time"

	"filippo.io/age"

	"candour/internal/database"
	"candour/internal/store"
)

// Format and Version name the layout above; a restore refuses any other.
const (
	Format  = "candour-backup"
	Version = 1
	// ScopeInstallation is a backup of everything: every council of the deployment.
	ScopeInstallation = "installation"
	// ScopeCouncil is a backup of one council: Manifest.CouncilSlug.
	ScopeCouncil = "council"
)

const (
	manifestName = "manifest.json"
	dataKeyName  = "data.key"
	dataPrefix   = "data/"
	dumpPrefix   = "database/"
	blobPrefix   = "blobs/"
	globalPrefix = "global/"
	// dumpPiece is how much of pg_dump's output is held at once: the memory a backup needs.
	dumpPiece = 4 << 20
)

// dataParts are what a backup takes from the data folder: everything the portal loads from it
// (keys/, the audit log's checkpoints and witness state, the development custodian's key, and
// the same for every other council of the deployment under councils/), not the embedded
// PostgreSQL's own files, which the dump replaces.
var dataParts = []string{"keys", "audit", "dev-custodian.key", "councils"}

// Manifest describes a backup; it is its last member.
type Manifest struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	Scope   string `json:"scope"`
	Council string `json:"council"` // the audit log's origin
	// CouncilSlug and CouncilID name the council of a backup of scope "council": restored,
	// its rows keep their council and the councils row its id and slug.
	CouncilSlug string `json:"council_slug,omitempty"`
	CouncilID   int64  `json:"council_id,omitempty"`
	// BlobFiles are the blob folder's files the backup carries, BlobObjects the bucket's
	// objects (members blobs/<id>, both).
	BlobFiles   []int64   `json:"blob_files"`
	BlobObjects []int64   `json:"blob_objects,omitempty"`
	Created     time.Time `json:"created"`
	// Grants are the serving role's privileges, given to the restoring side's serving role
	// (roles belong to the cluster, so the dump itself carries none).
	Grants  []store.Grant `json:"serving_grants"`
	Members []Member      `json:"members"`
}

// Member is one file of the tar stream.
type Member struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Source is what a backup is taken from.
type Source struct {
	OwnerURL    string // pg_dump runs as the schema's owner
	ServingRole string // whose grants the manifest records
	DataDir     string
	DataKeyFile string
	BlobDir     string // "" when no attachment is in a blob folder
	// Bucket is where attachments kept in S3 are (CANDOUR_BLOB_URL); nil when none are.
	Bucket     *store.S3Blobs
	BinDir     string // the PostgreSQL programs
	Council    string
	Recipients []string
	// CouncilSlug, when set, makes the backup one council's (ScopeCouncil): only its rows and
	// the blobs its attachments refer to. DataParts are then the parts of the data folder that
	// are the council's, and DataKeyFile its server key when it lives outside them ("" if not).
	CouncilSlug string
	DataParts   []string // nil: every part (dataParts)
}

// Write writes a backup of src, sealed to src.Recipients, to out.
func Write(ctx context.Context, src Source, out io.Writer) (*Manifest, error) {
	if len(src.Recipients) == 0 {
		return nil, errors.New("no backup recipient: list the age keys that may open a backup in policies/backup.yaml")
	}
	var rs []age.Recipient
	for _, s := range src.Recipients {
		r, err := age.ParseX25519Recipient(s)
		if err != nil {
			return nil, fmt.Errorf("backup recipient %q: %w", s, err)
		}
		rs = append(rs, r)
	}
	aw, err := age.Encrypt(out, rs...)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	m := &Manifest{Format: Format, Version: Version, Scope: ScopeInstallation, Council: src.Council,
		Created: time.Now().UTC().Truncate(time.Second), BlobFiles: []int64{}}
	if src.CouncilSlug != "" {
		m.Scope, m.CouncilSlug = ScopeCouncil, src.CouncilSlug
	}
	w := &writer{tw: tar.NewWriter(aw), m: m}
	if src.DataKeyFile != "" {
		if err := w.file(dataKeyName, src.DataKeyFile); err != nil {
			return nil, fmt.Errorf("data key (CANDOUR_DATA_KEY_FILE): %w", err)
		}
	}
	if err := w.dataFolder(src); err != nil {
		return nil, err
	}
	if err := w.database(ctx, src); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := w.tw.WriteHeader(w.header(manifestName, int64(len(b)))); err != nil {
		return nil, err
	}
	if _, err := w.tw.Write(b); err != nil {
		return nil, err
	}
	// The last chunk of the age stream is only written on Close.
	if err := errors.Join(w.tw.Close(), aw.Close()); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return m, nil
}

type writer struct {
	tw *tar.Writer
	m  *Manifest
}

func (w *writer) header(name string, size int64) *tar.Header {
	return &tar.Header{Name: name, Size: size, Mode: 0o600, Typeflag: tar.TypeReg, ModTime: w.m.Created, Format: tar.FormatPAX}
}

// add writes member name: exactly size bytes from r, hashed on the way.
func (w *writer) add(name string, size int64, r io.Reader) error {
	if err := w.tw.WriteHeader(w.header(name, size)); err != nil {
		return err
	}
	h := sha256.New()
	if _, err := io.CopyN(w.tw, io.TeeReader(r, h), size); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	w.m.Members = append(w.m.Members, Member{Name: name, Size: size, SHA256: hex.EncodeToString(h.Sum(nil))})
	return nil
}

// file adds the file at path as member name, as long as it was when opened (the checkpoint
// file only grows: what is appended later is not in this backup's database either).
func (w *writer) file(name, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	return w.add(name, info.Size(), f)
}

func (w *writer) dataFolder(src Source) error {
	parts := dataParts
	if src.DataParts != nil {
		parts = src.DataParts
	}
	for _, part := range parts {
		err := filepath.WalkDir(filepath.Join(src.DataDir, part), func(path string, d fs.DirEntry, err error) error {
			if errors.Is(err, fs.ErrNotExist) && path == filepath.Join(src.DataDir, part) {
				return nil // a development file a production data folder does not have
			}
			if err != nil || !d.Type().IsRegular() || path == src.DataKeyFile || (src.BlobDir != "" && within(src.BlobDir, path)) {
				return err
			}
			rel, err := filepath.Rel(src.DataDir, path)
			if err != nil {
				return err
			}
			return w.file(dataPrefix+filepath.ToSlash(rel), path)
		})
		if err != nil {
			return fmt.Errorf("data folder (CANDOUR_DATA_DIR): %w", err)
		}
	}
	return nil
}

// database dumps the database from a snapshot and copies the blob files of that snapshot. A
// council's backup dumps as that council (row-level security gives pg_dump its rows only), leaves
// out the data of the tables every council shares, and adds its own rows of those.
func (w *writer) database(ctx context.Context, src Source) error {
	db, err := database.Open(ctx, src.OwnerURL)
	if err != nil {
		return err
	}
	defer db.Close()
	snap, err := store.New(db).OpenSnapshot(ctx)
	if err != nil {
		return fmt.Errorf("database snapshot: %w", err)
	}
	defer snap.Close()
	if w.m.Grants, err = snap.Grants(ctx, src.ServingRole); err != nil {
		return fmt.Errorf("serving role's grants: %w", err)
	}
	session := allCouncils
	args := []string{"--format=custom", "--snapshot=" + snap.ID, "--enable-row-security"}
	var files, objects []int64
	if src.CouncilSlug != "" {
		id, ok, err := snap.CouncilID(ctx, src.CouncilSlug)
		if err != nil {
			return fmt.Errorf("council %s: %w", src.CouncilSlug, err)
		} else if !ok {
			return fmt.Errorf("council %s has never been served from this database: there is nothing of it to back up", src.CouncilSlug)
		}
		w.m.CouncilID, session = id, inCouncil(id)
		for _, t := range globalTables {
			args = append(args, "--exclude-table-data=public."+t.name)
		}
		if files, err = snap.CouncilBlobIDs(ctx, id, "fs"); err == nil {
			objects, err = snap.CouncilBlobIDs(ctx, id, "s3")
		}
	} else if files, err = snap.BlobIDs(ctx, "fs"); err == nil {
		objects, err = snap.BlobIDs(ctx, "s3")
	}
	if err != nil {
		return fmt.Errorf("blobs: %w", err)
	}
	if len(files) > 0 && src.BlobDir == "" {
		return fmt.Errorf("the database has %d attachments in a blob folder, but CANDOUR_BLOB_DIR is not set", len(files))
	}
	if len(objects) > 0 && src.Bucket == nil {
		return fmt.Errorf("the database has %d attachments in an S3 bucket, but CANDOUR_BLOB_URL is not set", len(objects))
	}
	err = runPGAs(ctx, src.BinDir, "pg_dump", src.OwnerURL, session, nil, func(stdout io.Reader) error {
		return w.pieces(dumpPrefix, stdout)
	}, args...)
	if err != nil {
		return err
	}
	if src.CouncilSlug != "" {
		for _, t := range globalTables {
			// COPY's text format, read in the same snapshot, as the council.
			query := "COPY (SELECT * FROM public." + t.name + " WHERE " + fmt.Sprintf(t.where, w.m.CouncilID) + ") TO STDOUT"
			err := runPGAs(ctx, src.BinDir, "psql", src.OwnerURL, session, nil, func(stdout io.Reader) error {
				return w.pieces(globalPrefix+t.name+"/", stdout)
			}, "--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=1",
				"--command=BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
				"--command=SET TRANSACTION SNAPSHOT '"+snap.ID+"'", "--command="+query, "--command=COMMIT")
			if err != nil {
				return fmt.Errorf("the council's rows of %s: %w", t.name, err)
			}
		}
	}
	for _, id := range files {
		if err := w.file(blobPrefix+strconv.FormatInt(id, 10), filepath.Join(src.BlobDir, store.BlobFileName(id))); err != nil {
			return fmt.Errorf("blob folder (CANDOUR_BLOB_DIR): %w", err)
		}
		w.m.BlobFiles = append(w.m.BlobFiles, id)
	}
	for _, id := range objects {
		if err := w.object(ctx, src.Bucket, id); err != nil {
			return fmt.Errorf("blob bucket (CANDOUR_BLOB_URL): %w", err)
		}
		w.m.BlobObjects = append(w.m.BlobObjects, id)
	}
	return nil
}

// object adds blob id's object from the bucket as member blobs/<id>, streamed.
func (w *writer) object(ctx context.Context, b *store.S3Blobs, id int64) error {
	obj, size, err := b.ReadObject(ctx, id)
	if err != nil {
		return err
	}
	defer obj.Close()
	return w.add(blobPrefix+strconv.FormatInt(id, 10), size, obj)
}

// globalTables are the tables every council shares whose data a council's backup leaves out of
// its dump, and which of their rows it carries instead (where, given the council's id). The
// order is the order they are restored in. installation (one row, the deployment's) is dumped
// as it is.
var globalTables = []struct{ name, where string }{
	{"councils", "id = %d"},
	{"blobs", "id IN (SELECT blob_id FROM public.attachments WHERE council_id = %d)"},
	{"blob_chunks", "blob_id IN (SELECT blob_id FROM public.attachments WHERE council_id = %d)"},
}

// pieces adds what r gives as members prefix00000001…, each at most dumpPiece long (a tar
// member needs its size up front; the stream is not held whole).
func (w *writer) pieces(prefix string, r io.Reader) error {
	buf := make([]byte, dumpPiece)
	for n := 1; ; n++ {
		k, err := io.ReadFull(r, buf)
		if k > 0 {
			if err := w.add(fmt.Sprintf("%s%08d", prefix, n), int64(k), bytesReader(buf[:k])); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// within reports whether path is dir or inside it.
func within(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && filepath.IsLocal(rel) || rel == "."
}
