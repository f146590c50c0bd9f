package portal

import (
	"context"
	"errors"
	"fmt"
	"time"

	"candour/internal/audit"
	"candour/internal/database"
	"candour/internal/store"
)

// startCheckpoints wires the council's audit log's checkpoints: it checks the anchors once (a
// log key that is not the pinned one stops the start), says loudly when they are development
// ones, and makes a checkpoint. From then on the portal makes one at once after every security
// event (startWatch).
func (c *Council) startCheckpoints(ctx context.Context) error {
	a, err := AuditAnchors(c.Config, c.Policy())
	if err != nil {
		return err
	}
	if a.Pins.Development {
		c.log.Warn("DEVELOPMENT AUDIT ANCHORS: no audit.yaml in the policy folder, so checkpoints are signed with " +
			"the data folder's key and cosigned by a witness inside this portal. Nothing about them is independent of " +
			"this server; pin the log key and a real witness in audit.yaml before going live")
	}
	c.checkpoints = &audit.Checkpointer{Store: c.Store, Anchors: func() (*audit.Anchors, error) {
		return AuditAnchors(c.Config, c.Policy())
	}}
	c.Oversight.SetCheckpoints(c.checkpoints)
	c.checkpoint(ctx, "start")
	return nil
}

// checkpoint makes a checkpoint and e-mails it to the auditors: the day's first, and each one
// made after a security event, so copies they hold vouch for the log whatever the server does.
//
// A security event's notice reaches every portal sharing the database, on this machine or
// another: one of them makes its checkpoint and the others skip (audit.CheckpointNew).
func (c *Council) checkpoint(ctx context.Context, why string) {
	take := c.checkpoints.Checkpoint
	if why == securityEvent {
		take = c.checkpoints.CheckpointNew
	}
	e, err := take(ctx)
	if errors.Is(err, audit.ErrCheckpointNotNeeded) {
		c.log.Debug("audit checkpoint made by another portal", "reason", why)
		return
	}
	if err != nil {
		c.log.Error("audit checkpoint", "reason", why, "err", err)
		return
	}
	key := time.Now().UTC().Format(time.DateOnly)
	if why == securityEvent {
		key = fmt.Sprint(e.Size)
	}
	if err := c.Store.MailCheckpoint(ctx, string(e.Signed), e.Size, key); err != nil {
		c.log.Error("audit checkpoint: mail to auditors", "err", err)
	}
}

const securityEvent = "security event"

// startWatch makes a checkpoint of a council's log whenever a security event of that council
// commits (audit.Record announces it with NOTIFY on commit), and of every council's after the
// listening connection was lost.
func (p *Portal) startWatch() {
	ctx, cancel := context.WithCancel(context.Background())
	p.stopWatch, p.watchDone = cancel, make(chan struct{})
	go func() {
		defer close(p.watchDone)
		dsn, err := database.ParseDSN(p.storage.URL)
		if err != nil { // not said: the URL holds the password; the pool parsed it already
			p.Logger.Error("audit checkpoint: listen: the database URL does not parse")
			return
		}
		err = store.WatchAuditCheckpoints(ctx, dsn.String(), func(council int64) {
			for _, c := range p.Councils {
				if council == 0 || c.ID == council {
					c.checkpoint(ctx, securityEvent)
				}
			}
		})
		if err != nil {
			p.Logger.Error("audit checkpoint: listen", "err", err)
		}
	}()
}
