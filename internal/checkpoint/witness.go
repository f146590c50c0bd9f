package checkpoint

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Witness cosigns checkpoints (C2SP tlog-witness add-checkpoint): given the size of the last
// checkpoint it cosigned for this log, a consistency proof from it and the new signed
// checkpoint, it returns its cosignature lines, or a *ConflictError when old is not what it
// last cosigned.
type Witness interface {
	Name() string
	AddCheckpoint(ctx context.Context, old int64, proof tlog.TreeProof, signed []byte) ([]byte, error)
}

// ConflictError is a witness saying that the last checkpoint it cosigned has Size events.
type ConflictError struct{ Size int64 }

func (e *ConflictError) Error() string {
	return fmt.Sprintf("witness last cosigned a checkpoint of %d events", e.Size)
}

// RequestBody is an add-checkpoint request (C2SP tlog-witness).
func RequestBody(old int64, proof tlog.TreeProof, signed []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "old %d\n", old)
	for _, h := range proof {
		b.WriteString(base64.StdEncoding.EncodeToString(h[:]) + "\n")
	}
	b.WriteString("\n")
	b.Write(signed)
	return b.Bytes()
}

// HTTPWitness is a witness reached over HTTP, such as litewitness.
type HTTPWitness struct {
	URL    string // the witness's base URL; requests go to URL + "/add-checkpoint"
	Client *http.Client
}

func (w *HTTPWitness) Name() string { return w.URL }

// maxResponse caps what is read of a witness's answer.
const maxResponse = 64 << 10

func (w *HTTPWitness) AddCheckpoint(ctx context.Context, old int64, proof tlog.TreeProof, signed []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(w.URL, "/")+"/add-checkpoint",
		bytes.NewReader(RequestBody(old, proof, signed)))
	if err != nil {
		return nil, err
	}
	hc := w.Client
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return body, nil
	case http.StatusConflict:
		if n, err := strconv.ParseInt(strings.TrimSpace(string(body)), 10, 64); err == nil {
			return nil, &ConflictError{Size: n}
		}
	}
	return nil, fmt.Errorf("witness %s: %s: %.200q", w.URL, resp.Status, body)
}

// DevWitness is a witness inside the portal, for development and tests only: its key is in
// the same data folder as the server's, so it is not independent of the server at all. It
// keeps the same rule as a real witness: a checkpoint must extend the last one it cosigned.
type DevWitness struct {
	mu     sync.Mutex
	signer *torchwood.CosignatureSigner
	log    note.Verifier
	state  string // file holding "<size>\n<base64 root>\n" of the last cosigned checkpoint
}

// DevWitnessName names the development witness in cosignature lines; the name says what it is.
const DevWitnessName = "dev-witness.not-independent.invalid"

// NewDevWitness returns the development witness with key seed, cosigning checkpoints that log
// signed, keeping its state in the file state.
func NewDevWitness(seed []byte, log note.Verifier, state string) (*DevWitness, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, errors.New("dev witness key: wrong size")
	}
	s, err := torchwood.NewCosignatureSigner(DevWitnessName, ed25519.NewKeyFromSeed(seed))
	if err != nil {
		return nil, err
	}
	return &DevWitness{signer: s, log: log, state: state}, nil
}

func (w *DevWitness) Name() string { return DevWitnessName }

// VerifierKey is the witness's vkey.
func (w *DevWitness) VerifierKey() string { return w.signer.Verifier().String() }

func (w *DevWitness) AddCheckpoint(_ context.Context, old int64, proof tlog.TreeProof, signed []byte) ([]byte, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := note.Open(signed, note.VerifierList(w.log))
	if err != nil {
		return nil, fmt.Errorf("dev witness: %w", err)
	}
	c, err := ParseBody(n.Text)
	if err != nil {
		return nil, fmt.Errorf("dev witness: %w", err)
	}
	last, err := w.last()
	if err != nil {
		return nil, err
	}
	if old != last.Size {
		return nil, &ConflictError{Size: last.Size}
	}
	if c.Size < old {
		return nil, fmt.Errorf("dev witness: checkpoint of %d events does not extend %d", c.Size, old)
	}
	if old > 0 && tlog.CheckTree(proof, c.Size, c.Root, old, last.Root) != nil {
		return nil, errors.New("dev witness: the checkpoint is not consistent with the last one cosigned")
	}
	cosigned, err := note.Sign(&note.Note{Text: n.Text}, w.signer)
	if err != nil {
		return nil, err
	}
	tmp := w.state + ".tmp"
	if err := os.MkdirAll(filepath.Dir(w.state), 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(tmp, []byte(fmt.Sprintf("%d\n%s\n", c.Size, base64.StdEncoding.EncodeToString(c.Root[:]))), 0o600); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, w.state); err != nil {
		return nil, err
	}
	_, sigs, _ := bytes.Cut(cosigned, []byte("\n\n"))
	return sigs, nil
}

func (w *DevWitness) last() (Checkpoint, error) {
	data, err := os.ReadFile(w.state)
	if errors.Is(err, os.ErrNotExist) {
		return Checkpoint{}, nil
	}
	if err != nil {
		return Checkpoint{}, err
	}
	return ParseBody("dev\n" + string(data))
}
