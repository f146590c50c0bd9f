package checkpoint

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/mod/sumdb/tlog"
)

// The checkpoint file is append-only text. Each entry is the leaf hashes the log gained since
// the entry before, one "leaf <seq> <base64>" line each, then a signed checkpoint that covers
// exactly them, then an empty line:
//
//	leaf 1 <base64 SHA-256>
//	leaf 2 <base64 SHA-256>
//	example.gov.uk/candour-audit
//	2
//	<base64 root>
//
//	— example.gov.uk/candour-audit <signature>
//	— witness.example <cosignature>
//
// The leaf hashes are authenticated by the checkpoint after them (their tree must have its
// root), so a verifier can name the first event that differs. A file of signed checkpoints
// alone (say, one saved from an e-mail) is accepted too; then only whole ranges are compared.

// maxFile caps what is read of a checkpoint file (about 15 million events).
const maxFile = 1 << 30

// Entry is one signed checkpoint in a file.
type Entry struct {
	Line int // where its note starts, for errors
	Checkpoint
	Signed []byte // the signed note as it stands in the file
}

// Log is a checkpoint file, checked against the pins.
type Log struct {
	Entries []Entry
	Leaves  []tlog.Hash // leaf i is the event with seq i+1; may be empty
}

// Last is the newest checkpoint, or nil.
func (l *Log) Last() *Entry {
	if len(l.Entries) == 0 {
		return nil
	}
	return &l.Entries[len(l.Entries)-1]
}

// Error is a problem at a line of a checkpoint file.
type Error struct {
	File   string
	Line   int
	Reason string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Reason)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Reason)
}

// ReadFile reads and checks the checkpoint file at path. A missing file is fs.ErrNotExist.
func ReadFile(path string, pins *Pins) (*Log, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Parse(path, io.LimitReader(f, maxFile), pins)
}

// Parse reads a checkpoint file named name from r and checks every entry against pins: each
// checkpoint signed by the log and cosigned by a witness, sizes never shrinking, and leaf
// hashes, where there are any, numbered from 1 without gaps and hashing to each root.
func Parse(name string, r io.Reader, pins *Pins) (*Log, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 64<<10)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		return nil, &Error{File: name, Line: len(lines) + 1, Reason: err.Error()}
	}
	bad := func(line int, format string, a ...any) error {
		return &Error{File: name, Line: line, Reason: fmt.Sprintf(format, a...)}
	}
	log := &Log{}
	tree := &Tree{}
	for i := 0; i < len(lines); {
		l := lines[i]
		switch {
		case l == "":
			i++
			continue
		case strings.HasPrefix(l, "leaf "):
			f := strings.Fields(l)
			seq, err := strconv.ParseInt(f[min(1, len(f)-1)], 10, 64)
			var h []byte
			if len(f) == 3 {
				h, _ = base64.StdEncoding.DecodeString(f[2])
			}
			if len(f) != 3 || err != nil || len(h) != tlog.HashSize {
				return nil, bad(i+1, "malformed leaf line: want \"leaf <seq> <base64 SHA-256>\"")
			}
			if seq != tree.Size()+1 {
				return nil, bad(i+1, "leaf %d out of order: want leaf %d", seq, tree.Size()+1)
			}
			tree.Append(tlog.Hash(h))
			i++
			continue
		}
		// A signed note: body lines, an empty line, signature lines, an empty line.
		start := i
		for i < len(lines) && lines[i] != "" {
			i++
		}
		sigs := i + 1
		for i = sigs; i < len(lines) && lines[i] != ""; i++ {
			if !strings.HasPrefix(lines[i], "— ") {
				return nil, bad(i+1, "malformed signature line: want \"— <name> <base64>\"")
			}
		}
		if sigs >= len(lines) || i == sigs {
			return nil, bad(start+1, "checkpoint without signature lines")
		}
		signed := []byte(strings.Join(lines[start:i], "\n") + "\n")
		c, _, err := pins.Open(signed)
		if err != nil {
			return nil, bad(start+1, "checkpoint %s", err)
		}
		if last := log.Last(); last != nil && c.Size < last.Size {
			return nil, bad(start+1, "checkpoint of %d events after one of %d: the log shrank", c.Size, last.Size)
		}
		if tree.Size() > 0 || c.Size == 0 {
			if tree.Size() != c.Size {
				return nil, bad(start+1, "checkpoint covers %d events but the leaf hashes before it cover %d", c.Size, tree.Size())
			}
			if root, err := tree.Root(c.Size); err != nil || root != c.Root {
				return nil, bad(start+1, "the leaf hashes before this checkpoint do not have its root")
			}
		}
		log.Entries = append(log.Entries, Entry{Line: start + 1, Checkpoint: c, Signed: signed})
	}
	if len(log.Entries) == 0 {
		return nil, bad(0, "no checkpoint in the file")
	}
	if tree.Size() > log.Last().Size {
		return nil, bad(len(lines), "leaf hashes after the last checkpoint: no checkpoint vouches for them")
	}
	log.Leaves = tree.leaves
	return log, nil
}

// Lock holds the checkpoint file at path for one process until unlock is called: the portal
// and `candour audit verify` both read the file and append what follows its last leaf, and
// two doing it at once would both append the same leaves.
func Lock(path string) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

// Append adds leaves (seq first, first+1, …) and the signed checkpoint that covers them to the
// file at path, creating it (0600, in a 0700 folder) if needed. The file is only ever appended
// to, and synced before Append returns.
func Append(path string, first int64, leaves []tlog.Hash, signed []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	var b strings.Builder
	for i, h := range leaves {
		fmt.Fprintf(&b, "leaf %d %s\n", first+int64(i), base64.StdEncoding.EncodeToString(h[:]))
	}
	b.Write(signed)
	b.WriteString("\n")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(b.String()); err != nil {
		f.Close()
		return err
	}
	return errors.Join(f.Sync(), f.Close())
}

// Tree is a Merkle tree held in memory: tlog's stored hashes for its leaves.
type Tree struct {
	leaves []tlog.Hash
	stored []tlog.Hash
}

// Size is the number of leaves.
func (t *Tree) Size() int64 { return int64(len(t.leaves)) }

// Leaf is leaf i.
func (t *Tree) Leaf(i int64) tlog.Hash { return t.leaves[i] }

// Append adds a leaf hash.
func (t *Tree) Append(leaf tlog.Hash) {
	hs, err := tlog.StoredHashesForRecordHash(t.Size(), leaf, t)
	if err != nil {
		panic(err) // the hashes it reads were all stored by earlier appends
	}
	t.leaves = append(t.leaves, leaf)
	t.stored = append(t.stored, hs...)
}

// Root is the root of the first n leaves.
func (t *Tree) Root(n int64) (tlog.Hash, error) { return tlog.TreeHash(n, t) }

// ReadHashes makes Tree a tlog.HashReader.
func (t *Tree) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(t.stored)) {
			return nil, fmt.Errorf("tree hash %d not stored", x)
		}
		out[i] = t.stored[x]
	}
	return out, nil
}
