package audit_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"candour/internal/audit"
	"candour/internal/checkpoint"
	"candour/internal/dbtest"
	"candour/internal/store"
	"candour/internal/witnesstest"
)

const origin = "test-council" + checkpoint.OriginSuffix

// anchored is a trail with a log key, a real witness (litewitness) and a checkpoint file.
type anchored struct {
	db     *sqlx.DB // the serving role, as the portal connects
	owner  *sqlx.DB // the superuser: the attacker who rewrites the table
	st     *store.Store
	cp     *audit.Checkpointer
	pins   *checkpoint.Pins
	signer *checkpoint.Signer
	file   string
}

func newSigner(t *testing.T) *checkpoint.Signer {
	t.Helper()
	seed := make([]byte, 32)
	_, _ = rand.Read(seed)
	s, err := checkpoint.NewSigner(origin, seed)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func parseKey(t *testing.T, vkey string) note.Verifier {
	t.Helper()
	v, err := checkpoint.ParseVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func newAnchored(t *testing.T) *anchored {
	t.Helper()
	d := dbtest.NewDatabase(t)
	db := dbtest.Open(t, d.URL)
	signer := newSigner(t)
	w := witnesstest.Start(t, "internal-audit.test/witness", origin, signer.VerifierKey())
	wKey := parseKey(t, w.Key)
	a := &anchored{db: db, owner: dbtest.Open(t, dbtest.InCouncil(t, d.SuperuserURL, store.DefaultCouncil)), st: store.New(db), signer: signer, file: filepath.Join(t.TempDir(), "audit", "checkpoints"),
		pins: &checkpoint.Pins{Origin: origin, Log: parseKey(t, signer.VerifierKey()), Witnesses: []note.Verifier{wKey}}}
	anchors := &audit.Anchors{Pins: a.pins, Signer: signer, File: a.file,
		Witnesses: []audit.Witness{{Witness: &checkpoint.HTTPWitness{URL: w.URL}, Key: wKey}}}
	a.cp = &audit.Checkpointer{Store: a.st, Anchors: func() (*audit.Anchors, error) { return anchors, nil }}
	return a
}

func (a *anchored) checkpoint(t *testing.T) {
	t.Helper()
	if _, err := a.cp.Checkpoint(context.Background()); err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
}

func (a *anchored) verify(t *testing.T) audit.Checked {
	t.Helper()
	log, err := checkpoint.ReadFile(a.file, a.pins)
	if err != nil {
		t.Fatal(err)
	}
	res, err := audit.VerifyLog(context.Background(), a.st, log)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// recompute plays a database owner covering their tracks: with triggers off, it rewrites every
// event's prev_hash and hash and rebuilds the tree hashes, so the chain and tree check out.
func recompute(t *testing.T, db *sqlx.DB) {
	t.Helper()
	ctx := context.Background()
	var es []store.AuditEvent
	if err := db.SelectContext(ctx, &es, `SELECT seq, at, actor_id, actor, action, object_type, object_id, details,
		prev_hash, hash FROM audit_events ORDER BY seq`); err != nil {
		t.Fatal(err)
	}
	prev := make([]byte, 32)
	var stored []tlog.Hash
	reader := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = stored[x]
		}
		return out, nil
	})
	var sql []string
	for i := range es {
		e := &es[i]
		e.PrevHash = prev
		h, err := audit.Hash(e)
		if err != nil {
			t.Fatal(err)
		}
		e.Hash, prev = h, h
		sql = append(sql, "UPDATE audit_events SET prev_hash = '\\x"+hex.EncodeToString(e.PrevHash)+"', hash = '\\x"+
			hex.EncodeToString(h)+"' WHERE seq = "+strconv.FormatInt(e.Seq, 10))
		leaf, err := audit.LeafHash(e)
		if err != nil {
			t.Fatal(err)
		}
		hs, err := tlog.StoredHashesForRecordHash(int64(i), leaf, reader)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, hs...)
	}
	raw := make([][]byte, len(stored))
	for i := range stored {
		raw[i] = stored[i][:]
	}
	// Hashes are unique: park them first so the rewrite cannot collide with itself.
	tamper(t, db, "UPDATE audit_events SET hash = sha256(hash || 'x'::bytea)")
	tamper(t, db, strings.Join(sql, ";\n"))
	tamper(t, db, "DELETE FROM audit_tree")
	if _, err := db.ExecContext(ctx, `INSERT INTO audit_tree (idx, hash) SELECT n - 1, h FROM unnest($1::bytea[]) WITH ORDINALITY AS t(h, n)`,
		pq.Array(raw)); err != nil {
		t.Fatal(err)
	}
}

// TestCheckpointsCatchTheDatabaseOwner: each rewrite of history, with the chain and the tree
// recomputed, fails verification against the signed, witnessed checkpoints, naming the first
// bad event or how many are missing; and the witness refuses to cosign the rewritten log.
func TestCheckpointsCatchTheDatabaseOwner(t *testing.T) {
	cases := []struct {
		name     string
		tamper   string
		firstBad int64
		missing  int64
	}{
		{"rewritten", `UPDATE audit_events SET details = '{"step": "forged"}' WHERE seq = 7`, 7, 0},
		{"reordered", `UPDATE audit_events SET seq = 1005 WHERE seq = 5; UPDATE audit_events SET seq = 5 WHERE seq = 6;
			UPDATE audit_events SET seq = 6 WHERE seq = 1005`, 5, 0},
		{"inserted", `UPDATE audit_events SET seq = seq + 1000 WHERE seq >= 4; UPDATE audit_events SET seq = seq - 999 WHERE seq > 1000;
			INSERT INTO audit_events (seq, at, actor, action, prev_hash, hash) VALUES (4, now(), 'system', 'forged', sha256('a'), sha256('b'))`, 4, 0},
		{"deleted", `DELETE FROM audit_events WHERE seq = 9; UPDATE audit_events SET seq = seq - 1 WHERE seq > 9`, 9, 0},
		{"truncated tail", `DELETE FROM audit_events WHERE seq > 22`, 0, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := newAnchored(t)
			script(t, a.st, 20)
			a.checkpoint(t)
			script(t, a.st, 5)
			a.checkpoint(t) // the witness checks this extends the first (consistency proof)
			if res := a.verify(t); !res.OK || res.Events != 25 || res.Checkpoint != 25 {
				t.Fatalf("before tampering: got %+v, want ok over 25 events", res)
			}
			tamper(t, a.owner, tc.tamper)
			recompute(t, a.owner)
			if ok, _, _ := verify(t, a.st); !ok {
				t.Fatal("the recomputed chain should pass the chain-only check: that is the attack")
			}
			res := a.verify(t)
			switch {
			case res.OK:
				t.Fatalf("got ok after %s, want a failure", tc.name)
			case tc.firstBad != 0 && (res.FirstBad == nil || *res.FirstBad != tc.firstBad):
				t.Fatalf("got first bad %v, want %d", res.FirstBad, tc.firstBad)
			case tc.missing != res.Missing:
				t.Fatalf("got %d missing, want %d", res.Missing, tc.missing)
			}
			if _, err := a.cp.Checkpoint(context.Background()); err == nil {
				t.Fatal("a checkpoint of the rewritten log was made, want it refused")
			}
		})
	}
}

// TestCheckpointFileBadInput: a malformed file, a checkpoint by an unknown key and one without
// a witness's cosignature are refused, naming file and line.
func TestCheckpointFileBadInput(t *testing.T) {
	a := newAnchored(t)
	script(t, a.st, 3)
	a.checkpoint(t)
	good, err := os.ReadFile(a.file)
	if err != nil {
		t.Fatal(err)
	}
	stranger := newSigner(t)
	body := checkpoint.Body(origin, 3, tlog.Hash{})
	byStranger, _ := note.Sign(&note.Note{Text: body}, stranger)
	logOnly, _ := note.Sign(&note.Note{Text: body}, a.signer)
	cases := []struct{ name, text, want string }{
		{"malformed", string(good) + "leaf four AAAA\n", ":11: malformed leaf line"},
		{"garbage", "hello\n", ":1: checkpoint without signature lines"},
		{"unknown key", string(byStranger), ":1: checkpoint signed by an unknown key (" + origin + "+"},
		{"no witness", string(logOnly), ":1: checkpoint no cosignature from a pinned witness"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "cp.txt")
			if err := os.WriteFile(path, []byte(tc.text), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := checkpoint.ReadFile(path, a.pins)
			var fe *checkpoint.Error
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), path+tc.want) {
				t.Fatalf("got %v, want %q", err, path+tc.want)
			}
		})
	}
}
