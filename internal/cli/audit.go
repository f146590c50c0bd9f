package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"candour/internal/accounts"
	"candour/internal/audit"
	"candour/internal/store"
)

// auditCmd: `candour audit verify [--json]` checks the hash chain; exit 1 when it is broken.
func auditCmd(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "verify" {
		fmt.Fprint(stderr, "usage: candour audit verify [--json]\n")
		return 2
	}
	asJSON := false
	for _, a := range args[1:] {
		if a != "--json" && a != "-json" {
			fmt.Fprintf(stderr, "candour audit verify: unexpected argument %q\n", a)
			return 2
		}
		asJSON = true
	}
	return withStore(stderr, func(ctx context.Context, st *store.Store, _ *accounts.Service) int {
		res, err := audit.Check(ctx, st)
		if err != nil {
			fmt.Fprintf(stderr, "candour audit verify: %v\n", err)
			return 1
		}
		if asJSON {
			_ = json.NewEncoder(stdout).Encode(res)
		} else if res.OK {
			fmt.Fprintf(stdout, "Audit trail intact: %d events.\n", res.Events)
		} else {
			fmt.Fprintf(stdout, "Audit trail BROKEN at event %d (after %d events checked).\n", *res.FirstBad, res.Events-1)
		}
		if !res.OK {
			return 1
		}
		return 0
	})
}
