package portal

import (
	"context"
	"fmt"
	"time"

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

// checkpoint makes a checkpoint and e-mails it to the auditors: the day's first, and each one
// made after a security event, so copies they hold vouch for the log whatever the server does.
func (p *Portal) checkpoint(ctx context.Context, why string) {
	e, err := p.checkpoints.Checkpoint(ctx)
	if err != nil {
		p.Logger.Error("audit checkpoint", "reason", why, "err", err)
		return
	}
	key := time.Now().UTC().Format(time.DateOnly)
	if why == securityEvent {
		key = fmt.Sprint(e.Size)
	}
	if err := store.New(p.DB).MailCheckpoint(ctx, string(e.Signed), e.Size, key); err != nil {
		p.Logger.Error("audit checkpoint: mail to auditors", "err", err)
	}
}

const securityEvent = "security event"

// watchSecurityEvents makes a checkpoint whenever a security event commits.
func (p *Portal) watchSecurityEvents(ctx context.Context) {
	defer close(p.watchDone)
	err := store.WatchAuditCheckpoints(ctx, p.storage.URL, func() { p.checkpoint(ctx, securityEvent) })
	if err != nil {
		p.Logger.Error("audit checkpoint: listen", "err", err)
	}
}
