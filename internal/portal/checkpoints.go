package portal

import (
	"context"

	"candour/internal/audit"
	"candour/internal/store"
)

// startCheckpoints wires the audit log's checkpoints: it checks the anchors once (a log key
// that is not the pinned one stops the start), says loudly when they are development ones,
// makes a checkpoint, and from then on makes one at once after every security event, which
// audit.Record announces with NOTIFY on commit.
func (p *Portal) startCheckpoints(ctx context.Context, st *store.Store) error {
	a, err := AuditAnchors(p.Config, p.Policy())
	if err != nil {
		return err
	}
	if a.Pins.Development {
		p.Logger.Warn("DEVELOPMENT AUDIT ANCHORS: no audit.yaml in the policy folder, so checkpoints are signed with " +
			"the data folder's key and cosigned by a witness inside this portal. Nothing about them is independent of " +
			"this server; pin the log key and a real witness in audit.yaml before going live")
	}
	p.checkpoints = &audit.Checkpointer{Store: st, Anchors: func() (*audit.Anchors, error) {
		return AuditAnchors(p.Config, p.Policy())
	}}
	p.Oversight.SetCheckpoints(p.checkpoints)
	p.checkpoint(ctx, "start")
	watch, cancel := context.WithCancel(context.Background())
	p.stopWatch, p.watchDone = cancel, make(chan struct{})
	go p.watchSecurityEvents(watch)
	return nil
}

func (p *Portal) checkpoint(ctx context.Context, why string) {
	if _, err := p.checkpoints.Checkpoint(ctx); err != nil {
		p.Logger.Error("audit checkpoint", "reason", why, "err", err)
	}
}

// watchSecurityEvents makes a checkpoint whenever a security event commits.
func (p *Portal) watchSecurityEvents(ctx context.Context) {
	defer close(p.watchDone)
	err := store.WatchAuditCheckpoints(ctx, p.storage.URL, func() { p.checkpoint(ctx, "security event") })
	if err != nil {
		p.Logger.Error("audit checkpoint: listen", "err", err)
	}
}
