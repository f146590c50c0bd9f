package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"candour/internal/checkpoint"
	"candour/internal/store"
)

// The audit trail is also a Merkle tree over seq (leaf i is the event with seq i+1), as
// Certificate Transparency keeps one, so that signed, witnessed checkpoints of it can be kept
// outside the database (internal/checkpoint).

// LeafHash is an event's leaf in the tree: tlog's record hash of its canonical form (which
// names the previous event's hash, so the leaf covers the chain too).
func LeafHash(e *store.AuditEvent) (tlog.Hash, error) {
	c, err := Canonical(e)
	if err != nil {
		return tlog.Hash{}, err
	}
	return tlog.RecordHash(c), nil
}

// securityActions are the events after which a checkpoint is made at once rather than within
// the hour: identity disclosure, role and account changes, a policy load.
var securityActions = map[string]bool{
	"identity.approve": true, "identity.download": true, "user.roles": true, "user.create": true,
	"user.disable": true, "policy.load": true,
}

// Anchors are what a checkpoint is made with: the pinned keys, the server's signer, the
// witnesses to ask and the append-only checkpoint file.
type Anchors struct {
	Pins      *checkpoint.Pins
	Signer    note.Signer
	Witnesses []Witness
	File      string
}

// Witness is a witness the portal asks, with the key its cosignatures must verify with.
type Witness struct {
	checkpoint.Witness
	Key note.Verifier
}

// Checkpointer makes checkpoints: it extends the tree in the database, signs its head, has the
// witnesses cosign it and appends it to the checkpoint file. One at a time per process; the
// tree lock serialises processes.
type Checkpointer struct {
	Store   *store.Store
	Anchors func() (*Anchors, error)
	mu      sync.Mutex
}

// Checkpoint makes a checkpoint of the whole trail and returns it. It refuses, and appends
// nothing, when the trail no longer extends the last checkpoint in the file or no witness
// cosigns. Portals sharing the database make a council's checkpoints one at a time, whatever
// machine or data folder they are on (the council's checkpoint lock); this one waits its turn.
func (c *Checkpointer) Checkpoint(ctx context.Context) (*checkpoint.Entry, error) {
	return c.take(ctx, true)
}

// ErrCheckpointNotNeeded: another portal is making the council's checkpoint, or has made one
// of the whole trail, so CheckpointNew made none.
var ErrCheckpointNotNeeded = errors.New("audit: checkpoint not needed: another portal makes or made it")

// CheckpointNew makes a checkpoint after a security event's notice, which every portal sharing
// the database hears: only one of them makes it. It makes none (ErrCheckpointNotNeeded) while
// another portal makes one, or when the trail has not grown since the tree was last extended
// for one. The portal making one hears the notice too, and makes the next when done. (A
// checkpoint refused after its tree was extended, a witness being down, is made again by the
// next security event or the day's checkpoint.)
func (c *Checkpointer) CheckpointNew(ctx context.Context) (*checkpoint.Entry, error) {
	return c.take(ctx, false)
}

// checkpointLock names the council's advisory lock its checkpoints are made under.
const checkpointLock = "audit-checkpoint"

func (c *Checkpointer) take(ctx context.Context, wait bool) (e *checkpoint.Entry, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	held, lerr := c.Store.WhileCouncilLocked(ctx, checkpointLock, wait, func() error {
		if !wait {
			events, stored, err := c.Store.AuditSizes(ctx)
			if err != nil {
				return err
			}
			if events == treeSize(stored) {
				return ErrCheckpointNotNeeded
			}
		}
		e, err = c.makeCheckpoint(ctx)
		return err
	})
	if lerr == nil && !held {
		return nil, ErrCheckpointNotNeeded
	}
	if err == nil {
		err = lerr
	}
	return e, err
}

// makeCheckpoint makes the checkpoint, under the council's lock and c.mu.
func (c *Checkpointer) makeCheckpoint(ctx context.Context) (*checkpoint.Entry, error) {
	a, err := c.Anchors()
	if err != nil {
		return nil, err
	}
	unlock, err := checkpoint.Lock(a.File)
	if err != nil {
		return nil, fmt.Errorf("checkpoint file: %w", err)
	}
	defer unlock()
	log, err := checkpoint.ReadFile(a.File, a.Pins)
	if errors.Is(err, fs.ErrNotExist) {
		log, err = &checkpoint.Log{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint file: %w", err)
	}
	size, leaves, err := c.extendTree(ctx, int64(len(log.Leaves)))
	if err != nil {
		return nil, err
	}
	hr := treeReader{ctx: ctx, st: c.Store}
	last := log.Last()
	if last != nil {
		if size < last.Size {
			return nil, fmt.Errorf("checkpoint refused: the trail has %d events, %d fewer than the checkpoint at %s:%d",
				size, last.Size-size, a.File, last.Line)
		}
		if root, err := tlog.TreeHash(last.Size, hr); err != nil || root != last.Root {
			return nil, fmt.Errorf("checkpoint refused: the trail's first %d events no longer match the checkpoint at %s:%d",
				last.Size, a.File, last.Line)
		}
	}
	root, err := tlog.TreeHash(size, hr)
	if err != nil {
		return nil, fmt.Errorf("audit tree: %w", err)
	}
	body := checkpoint.Body(a.Pins.Origin, size, root)
	signed, err := note.Sign(&note.Note{Text: body}, a.Signer)
	if err != nil {
		return nil, err
	}
	var cosigs []byte
	var errs []error
	for _, w := range a.Witnesses {
		sig, err := cosign(ctx, w, lastCosigned(log, w.Key), size, hr, signed)
		if err != nil {
			errs = append(errs, fmt.Errorf("witness %s: %w", w.Name(), err))
			continue
		}
		cosigs = append(cosigs, sig...)
	}
	full := append(bytes.Clone(signed), cosigs...)
	cp, _, err := a.Pins.Open(full)
	if err != nil {
		return nil, fmt.Errorf("checkpoint of %d events not kept: %w", size, errors.Join(append(errs, err)...))
	}
	if err := checkpoint.Append(a.File, int64(len(log.Leaves))+1, leaves, full); err != nil {
		return nil, fmt.Errorf("checkpoint file: %w", err)
	}
	return &checkpoint.Entry{Checkpoint: cp, Signed: full}, errors.Join(errs...)
}

// cosign asks w to cosign, from the size it last cosigned; when it remembers another size (a
// checkpoint whose file entry was lost), it is asked once more from that one.
func cosign(ctx context.Context, w Witness, old, size int64, hr tlog.HashReader, signed []byte) ([]byte, error) {
	for try := 0; ; try++ {
		var proof tlog.TreeProof
		var err error
		if old > 0 && old < size {
			if proof, err = tlog.ProveTree(size, old, hr); err != nil {
				return nil, err
			}
		}
		sig, err := w.AddCheckpoint(ctx, old, proof, signed)
		var conflict *checkpoint.ConflictError
		if try == 0 && errors.As(err, &conflict) && conflict.Size <= size {
			old = conflict.Size
			continue
		}
		if err != nil {
			return nil, err
		}
		n, err := note.Open(append(bytes.Clone(signed), sig...), note.VerifierList(w.Key))
		if err != nil || len(n.Sigs) == 0 {
			return nil, errors.New("its answer is not a cosignature by its pinned key")
		}
		return sig, nil
	}
}

// lastCosigned is the size of the newest checkpoint in log that key cosigned (0: none).
func lastCosigned(log *checkpoint.Log, key note.Verifier) int64 {
	for i := len(log.Entries) - 1; i >= 0; i-- {
		if _, err := note.Open(log.Entries[i].Signed, note.VerifierList(key)); err == nil {
			return log.Entries[i].Size
		}
	}
	return 0
}

// extendTree stores the tree hashes of events not yet in the tree, after checking that they
// continue the chain, and returns the tree's size and the leaf hashes of events from fromLeaf
// on (what the checkpoint file lacks).
func (c *Checkpointer) extendTree(ctx context.Context, fromLeaf int64) (size int64, leaves []tlog.Hash, err error) {
	err = c.Store.Tx(ctx, func(tx *store.Store) error {
		stored, err := tx.LockAuditTree(ctx)
		if err != nil {
			return err
		}
		size = treeSize(stored)
		after := min(size, fromLeaf)
		var prev []byte
		if after > 0 {
			es, err := tx.AuditEvents(ctx, after-1, 1)
			if err != nil || len(es) == 0 || es[0].Seq != after {
				return fmt.Errorf("audit tree: event %d is missing", after)
			}
			prev = es[0].Hash
		} else {
			prev = genesis
		}
		pending := &pendingReader{ctx: ctx, st: tx, base: stored}
		for {
			rows, err := tx.AuditEvents(ctx, after, batch)
			if err != nil {
				return err
			}
			for i := range rows {
				e := &rows[i]
				h, herr := Hash(e)
				if e.Seq != after+1 || !bytes.Equal(e.PrevHash, prev) || herr != nil || !bytes.Equal(h, e.Hash) {
					return fmt.Errorf("checkpoint refused: the chain is broken at event %d", e.Seq)
				}
				leaf, err := LeafHash(e)
				if err != nil {
					return err
				}
				if after >= fromLeaf {
					leaves = append(leaves, leaf)
				}
				if after >= size {
					hs, err := tlog.StoredHashesForRecordHash(size, leaf, pending)
					if err != nil {
						return err
					}
					pending.hashes = append(pending.hashes, hs...)
					size++
				}
				prev, after = e.Hash, e.Seq
			}
			if len(rows) < batch {
				break
			}
		}
		raw := make([][]byte, len(pending.hashes))
		for i := range pending.hashes {
			raw[i] = pending.hashes[i][:]
		}
		return tx.InsertAuditTreeHashes(ctx, stored, raw)
	})
	return size, leaves, err
}

// treeSize is the number of leaves whose tree hashes number stored.
func treeSize(stored int64) int64 {
	lo, hi := int64(0), stored // tlog.StoredHashCount(n) >= n
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if tlog.StoredHashCount(mid) <= stored {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}

// treeReader reads tree hashes from the database.
type treeReader struct {
	ctx context.Context
	st  *store.Store
}

func (r treeReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	raw, err := r.st.AuditTreeHashes(r.ctx, indexes)
	if err != nil {
		return nil, err
	}
	out := make([]tlog.Hash, len(raw))
	for i, h := range raw {
		if len(h) != tlog.HashSize {
			return nil, fmt.Errorf("audit tree hash %d: %d bytes", indexes[i], len(h))
		}
		out[i] = tlog.Hash(h)
	}
	return out, nil
}

// pendingReader reads tree hashes from the database below base and from hashes above it.
type pendingReader struct {
	ctx    context.Context
	st     *store.Store
	base   int64
	hashes []tlog.Hash
}

func (r *pendingReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	var fromDB []int64
	for _, x := range indexes {
		if x < r.base {
			fromDB = append(fromDB, x)
		}
	}
	db, err := treeReader{ctx: r.ctx, st: r.st}.ReadHashes(fromDB)
	if err != nil {
		return nil, err
	}
	for i, x := range indexes {
		if x < r.base {
			out[i], db = db[0], db[1:]
			continue
		}
		if x-r.base >= int64(len(r.hashes)) {
			return nil, fmt.Errorf("audit tree hash %d not stored", x)
		}
		out[i] = r.hashes[x-r.base]
	}
	return out, nil
}

// Checked is how the trail compares with a checkpoint file.
type Checked struct {
	Result
	// Checkpoint is the size of the newest checkpoint compared with; Line its line in File.
	Checkpoint int64  `json:"checkpoint"`
	File       string `json:"-"`
	Line       int    `json:"-"`
	// Missing counts events that the checkpoint covers and the trail no longer has.
	Missing int64 `json:"missing,omitempty"`
	// Development: the keys are development keys from the data folder, not pinned by policy.
	Development bool `json:"development"`
	// Problem says why the trail could not be compared with checkpoints (file:line where
	// there is one); CheckpointError why no new checkpoint was made at this verify.
	Problem         string `json:"problem,omitempty"`
	CheckpointError string `json:"checkpoint_error,omitempty"`
}

// Verify checks the trail against the checkpoint file at path (the portal's own when path is
// empty). A file that is missing, malformed or signed by keys that are not pinned is a
// Problem, not an error: verification then fails, saying why.
func (c *Checkpointer) Verify(ctx context.Context, path string) (Checked, error) {
	a, err := c.Anchors()
	if err != nil {
		return Checked{}, err
	}
	if path == "" {
		path = a.File
	}
	log, err := checkpoint.ReadFile(path, a.Pins)
	var fe *checkpoint.Error
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return Checked{File: path, Development: a.Pins.Development, Problem: "no checkpoint file at " + path}, nil
	case errors.As(err, &fe):
		return Checked{File: path, Development: a.Pins.Development, Problem: err.Error()}, nil
	case err != nil:
		return Checked{}, err
	}
	out, err := VerifyLog(ctx, c.Store, log)
	out.File, out.Development = path, a.Pins.Development
	return out, err
}

// CheckpointAndVerify makes a checkpoint (every verify does) and checks the trail against the
// checkpoint file; a checkpoint that could not be made is reported, not fatal.
func (c *Checkpointer) CheckpointAndVerify(ctx context.Context) (Checked, error) {
	_, cerr := c.Checkpoint(ctx)
	out, err := c.Verify(ctx, "")
	if cerr != nil {
		out.CheckpointError = cerr.Error()
	}
	return out, err
}

// VerifyLog checks the trail as Verify does and, against log (a checked checkpoint file),
// that every event's leaf is the one the checkpoints vouch for and that none of the events
// they cover is missing. It names the first event that differs, or how many are missing.
func VerifyLog(ctx context.Context, st *store.Store, log *checkpoint.Log) (Checked, error) {
	last := log.Last()
	out := Checked{Checkpoint: last.Size, Line: last.Line}
	tree := &checkpoint.Tree{}
	prev := genesis
	var after int64
	bad := func(seq int64) (Checked, error) {
		out.OK, out.FirstBad = false, &seq
		return out, nil
	}
	for {
		rows, err := st.AuditEvents(ctx, after, batch)
		if err != nil {
			return out, fmt.Errorf("audit: read: %w", err)
		}
		for i := range rows {
			e := &rows[i]
			out.Events++
			h, herr := Hash(e)
			leaf, lerr := LeafHash(e)
			if e.Seq != after+1 || !bytes.Equal(e.PrevHash, prev) || herr != nil || lerr != nil || !bytes.Equal(h, e.Hash) {
				return bad(e.Seq)
			}
			if n := tree.Size(); n < int64(len(log.Leaves)) && log.Leaves[n] != leaf {
				return bad(e.Seq)
			}
			tree.Append(leaf)
			prev, after = e.Hash, e.Seq
		}
		if len(rows) < batch {
			break
		}
	}
	if tree.Size() < last.Size {
		out.Missing = last.Size - tree.Size()
		return out, nil
	}
	// Without leaf hashes (a checkpoint saved on its own) compare whole trees: the first
	// checkpoint whose root differs bounds where the trail was changed, and the first event
	// after the checkpoint before it is named.
	var from int64 = 1
	for _, c := range log.Entries {
		if root, err := tree.Root(c.Size); err != nil || root != c.Root {
			return bad(from)
		}
		from = c.Size + 1
	}
	out.OK = true
	return out, nil
}

// maxDownload caps the checkpoint file handed to an auditor in one response.
const maxDownload = 256 << 20

// File returns the checkpoint file's contents (empty when no checkpoint was made yet).
func (c *Checkpointer) File(context.Context) ([]byte, error) {
	a, err := c.Anchors()
	if err != nil {
		return nil, err
	}
	f, err := os.Open(a.File)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxDownload))
}
