package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"candour/internal/accounts"
	"candour/internal/audit"
	"candour/internal/checkpoint"
	"candour/internal/portal"
	"candour/internal/routing"
	"candour/internal/store"
)

const auditUsage = "usage: candour audit verify [--council SLUG] [--json] [--checkpoint FILE] | candour audit key [COUNCIL]\n"

// auditCmd: `candour audit verify [--json] [--checkpoint FILE]` makes a checkpoint, then checks
// the trail against the signed, witnessed checkpoints in FILE (default: the data folder's
// checkpoint file); exit 1 when it does not verify. `candour audit key` prints the log's
// public key, to pin in audit.yaml.
func auditCmd(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	if len(args) >= 1 && len(args) <= 2 && args[0] == "key" {
		return auditKey(args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "verify" {
		fmt.Fprint(stderr, auditUsage)
		return 2
	}
	asJSON, file, slug := false, "", ""
	for i := 1; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--json" || a == "-json":
			asJSON = true
		case (a == "--checkpoint" || a == "-checkpoint") && i+1 < len(args):
			i++
			file = args[i]
		case (a == "--council" || a == "-council") && i+1 < len(args):
			i++
			slug = args[i]
		default:
			fmt.Fprintf(stderr, "candour audit verify: unexpected argument %q\n%s", a, auditUsage)
			return 2
		}
	}
	cfg, ok := loadConfig(stderr)
	if !ok {
		return 1
	}
	council, err := councilOf(cfg, slug)
	if err != nil {
		fmt.Fprintf(stderr, "candour audit verify: %v\n", err)
		return 2
	}
	pol, err := routing.Load(council.Dir)
	if err != nil {
		fmt.Fprintf(stderr, "candour audit verify: policy:\n%v\n", err)
		return 1
	}
	// Each council keeps its own log, anchors and checkpoint file.
	anchors := portal.CouncilConfig(cfg, council.Slug, pol)
	return withStore(stderr, council.Slug, func(ctx context.Context, st *store.Store, _ *accounts.Service) int {
		cp := &audit.Checkpointer{Store: st, Anchors: func() (*audit.Anchors, error) { return portal.AuditAnchors(anchors, pol) }}
		if _, err := cp.Checkpoint(ctx); err != nil {
			fmt.Fprintf(stderr, "candour audit verify: no new checkpoint: %v\n", err)
		}
		res, err := cp.Verify(ctx, file)
		if err != nil {
			fmt.Fprintf(stderr, "candour audit verify: %v\n", err)
			return 1
		}
		if asJSON {
			_ = json.NewEncoder(stdout).Encode(res)
		} else {
			printChecked(stdout, stderr, res)
		}
		if !res.OK {
			return 1
		}
		return 0
	})
}

func printChecked(stdout, stderr io.Writer, res audit.Checked) {
	if res.Development {
		fmt.Fprintln(stderr, "WARNING: development audit keys (no audit.yaml): the checkpoints are not independent of this server.")
	}
	switch {
	case res.Problem != "":
		fmt.Fprintf(stdout, "Audit trail NOT VERIFIED: %s\n", res.Problem)
	case res.FirstBad != nil:
		fmt.Fprintf(stdout, "Audit trail BROKEN at event %d (checked against the checkpoint of %d events at %s:%d).\n",
			*res.FirstBad, res.Checkpoint, res.File, res.Line)
	case res.Missing > 0:
		fmt.Fprintf(stdout, "Audit trail BROKEN: %d events are missing since the checkpoint of %d events at %s:%d.\n",
			res.Missing, res.Checkpoint, res.File, res.Line)
	default:
		fmt.Fprintf(stdout, "Audit trail intact: %d events; it extends the signed, witnessed checkpoint of %d events at %s:%d.\n",
			res.Events, res.Checkpoint, res.File, res.Line)
	}
}

// auditKey prints the log's public key under COUNCIL's origin, else the policy's, else the
// development one.
func auditKey(args []string, stdout, stderr io.Writer) int {
	cfg, ok := loadConfig(stderr)
	if !ok {
		return 1
	}
	origin := portal.DevOrigin(cfg)
	if pol, err := routing.Load(cfg.PolicyDir); err == nil && pol.Audit != nil {
		origin = pol.Audit.Origin
	}
	if len(args) == 1 {
		origin = args[0] + checkpoint.OriginSuffix
	}
	s, err := portal.LogSigner(cfg, origin)
	if err != nil {
		fmt.Fprintf(stderr, "candour audit key: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, s.VerifierKey())
	return 0
}
