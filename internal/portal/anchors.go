package portal

import (
	"crypto/rand"
	"fmt"
	"path/filepath"

	"golang.org/x/mod/sumdb/note"

	"candour/internal/audit"
	"candour/internal/checkpoint"
	"candour/internal/config"
	"candour/internal/keyfile"
	"candour/internal/routing"
)

// Where the audit log's anchors live in the data folder: the log's signing key (never in the
// database), the development witness's key and state, and the append-only checkpoint file.
func auditLogKeyFile(cfg *config.Config) string {
	return filepath.Join(cfg.DataDir, "keys", "audit-log.key")
}
func devWitnessKeyFile(cfg *config.Config) string {
	return filepath.Join(cfg.DataDir, "keys", "dev-witness.key")
}

// CheckpointFile is the append-only file of signed, witnessed checkpoints.
func CheckpointFile(cfg *config.Config) string {
	return filepath.Join(cfg.DataDir, "audit", "checkpoints")
}

func newSeed() ([]byte, error) {
	seed := make([]byte, 32)
	_, err := rand.Read(seed)
	return seed, err
}

// LogSigner is the server's checkpoint signer for origin, its key created on first use.
func LogSigner(cfg *config.Config, origin string) (*checkpoint.Signer, error) {
	seed, err := keyfile.ReadOrCreate(auditLogKeyFile(cfg), newSeed)
	if err != nil {
		return nil, fmt.Errorf("audit log key: %w", err)
	}
	return checkpoint.NewSigner(origin, seed)
}

// DevOrigin is the log's origin without a pinned policy: the public URL's host.
func DevOrigin(cfg *config.Config) string { return cfg.PublicURL.Hostname() + checkpoint.OriginSuffix }

// AuditAnchors are the audit log's anchors under pol. With audit.yaml, the keys it pins and its
// witnesses; the key in the data folder must be the pinned one. Without it (development), the
// data folder's key and a witness inside the portal with its own key file: nothing in that
// is independent of the server, and Pins.Development says so.
func AuditAnchors(cfg *config.Config, pol *routing.Policy) (*audit.Anchors, error) {
	a := &audit.Anchors{File: CheckpointFile(cfg)}
	if pol != nil && pol.Audit != nil {
		signer, err := LogSigner(cfg, pol.Audit.Origin)
		if err != nil {
			return nil, err
		}
		if signer.KeyHash() != pol.Audit.Log.KeyHash() {
			return nil, fmt.Errorf("audit log key %s is %s, not the key audit.yaml pins: a checkpoint it signs would not verify",
				auditLogKeyFile(cfg), signer.VerifierKey())
		}
		a.Signer = signer
		a.Pins = &checkpoint.Pins{Origin: pol.Audit.Origin, Log: pol.Audit.Log}
		for _, w := range pol.Audit.Witnesses {
			a.Pins.Witnesses = append(a.Pins.Witnesses, w.Key)
			a.Witnesses = append(a.Witnesses, audit.Witness{Witness: &checkpoint.HTTPWitness{URL: w.URL}, Key: w.Key})
		}
		return a, nil
	}
	signer, err := LogSigner(cfg, DevOrigin(cfg))
	if err != nil {
		return nil, err
	}
	seed, err := keyfile.ReadOrCreate(devWitnessKeyFile(cfg), newSeed)
	if err != nil {
		return nil, fmt.Errorf("development witness key: %w", err)
	}
	logKey, err := note.NewVerifier(signer.VerifierKey())
	if err != nil {
		return nil, err
	}
	w, err := checkpoint.NewDevWitness(seed, logKey, filepath.Join(cfg.DataDir, "audit", "dev-witness"))
	if err != nil {
		return nil, err
	}
	wKey, err := checkpoint.ParseVerifier(w.VerifierKey())
	if err != nil {
		return nil, err
	}
	a.Signer = signer
	a.Pins = &checkpoint.Pins{Origin: signer.Name(), Log: logKey, Witnesses: []note.Verifier{wKey}, Development: true}
	a.Witnesses = []audit.Witness{{Witness: w, Key: wKey}}
	return a, nil
}
