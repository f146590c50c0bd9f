package routing

import (
	"fmt"
	"net/url"

	"golang.org/x/mod/sumdb/note"

	"candour/internal/checkpoint"
)

// AuditFile pins the audit log's trust anchors. It is optional: without it the portal runs
// with development keys from its own data folder, which prove nothing to anyone else.
const AuditFile = "audit.yaml"

// Audit is the council's pinned audit log keys (audit.yaml): the log's origin and signing key,
// and the witnesses that must cosign its checkpoints, with where to reach them.
type Audit struct {
	Origin    string
	Log       note.Verifier
	Witnesses []PinnedWitness
}

// PinnedWitness is one witness: where the portal sends checkpoints, and its cosigning key.
type PinnedWitness struct {
	URL string
	Key note.Verifier
}

type rawAudit struct {
	Council   string `yaml:"council"`
	LogKey    string `yaml:"log_key"`
	Witnesses []struct {
		URL string `yaml:"url"`
		Key string `yaml:"key"`
	} `yaml:"witnesses"`
}

// buildAudit checks audit.yaml: the origin is "<council>/candour-audit", the log key an Ed25519
// signed-note key of that name, and at least one witness with a cosignature key and a URL.
func buildAudit(s *source, raw *rawAudit) (*Audit, []*LoadError) {
	var errs []*LoadError
	a := &Audit{Origin: raw.Council + checkpoint.OriginSuffix}
	if raw.Council == "" {
		errs = append(errs, s.errorf("$.council", "council is required: it names the log (<council>%s)", checkpoint.OriginSuffix))
	}
	v, err := checkpoint.ParseVerifier(raw.LogKey)
	switch {
	case raw.LogKey == "":
		errs = append(errs, s.errorf("$.log_key", "log_key is required: the public key that signs checkpoints"))
	case err != nil:
		errs = append(errs, s.errorf("$.log_key", "log_key: %v", err))
	case v.Name() != a.Origin:
		errs = append(errs, s.errorf("$.log_key", "log_key is named %q, want the log's origin %q", v.Name(), a.Origin))
	default:
		a.Log = v
	}
	if len(raw.Witnesses) == 0 {
		errs = append(errs, s.errorf("$.witnesses", "at least one witness is required: a checkpoint the server alone signs proves nothing"))
	}
	for i, w := range raw.Witnesses {
		path := fmt.Sprintf("$.witnesses[%d]", i)
		k, err := checkpoint.ParseVerifier(w.Key)
		if err != nil {
			errs = append(errs, s.errorf(path+".key", "witness key: %v", err))
		}
		if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, s.errorf(path+".url", "witness url %q: want an http(s) URL", w.URL))
		}
		a.Witnesses = append(a.Witnesses, PinnedWitness{URL: w.URL, Key: k})
	}
	return a, errs
}
