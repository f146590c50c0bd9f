package server

import (
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"candour/internal/batch"
	"candour/internal/fault"
)

// Filings admits anonymous report filings a few at a time, behind a short queue, so that a
// flood of them (filing is free and needs no account) leaves the cores to everything else: a
// Monitoring Officer's triage, reporters opening their mailboxes. Unbounded, every filing in
// a flood had a goroutine competing for the cores, and every other request waited behind all
// of them. Past the queue, or after waiting too long, a filing is refused at once (503
// busy, Retry-After) before its body is decoded. The councils of a deployment share one: they
// share the cores and the database.
type Filings struct {
	running chan struct{} // a token per filing doing its own work, until it waits for its batch
	held    chan struct{} // a token per filing admitted or waiting, to its end
	wait    time.Duration
}

// Filing admission (how many work at once is CANDOUR_FILINGS_AT_ONCE, 8 by default): 64 held
// cover far more honest reporters at once than any council sees; 5 s is as long as a reporter
// should wait for a turn before being told to try again.
const (
	filingsHeld = 64
	filingsWait = 5 * time.Second
)

// NewFilings returns the deployment's filing admission, serving running filings at once
// (CANDOUR_FILINGS_AT_ONCE); 0: nil, no bound.
func NewFilings(running int) *Filings {
	if running <= 0 {
		return nil
	}
	return &Filings{running: make(chan struct{}, running), held: make(chan struct{}, max(filingsHeld, running)), wait: filingsWait}
}

var errFilingsBusy = &fault.Error{Kind: fault.Unavailable, Code: "busy", Message: "error.busy", RetryAfter: 10 * time.Second}

// admit runs a filing once it is its turn.
func (f *Filings) admit(c *fiber.Ctx) error {
	if f == nil || c.Method() != fiber.MethodPost || !filingRoute(c.Path()) {
		return c.Next()
	}
	select {
	case f.held <- struct{}{}:
	default:
		return errFilingsBusy
	}
	defer func() { <-f.held }()
	select {
	case f.running <- struct{}{}:
	default:
		t := time.NewTimer(f.wait)
		defer t.Stop()
		select {
		case f.running <- struct{}{}:
		case <-t.C:
			return errFilingsBusy
		}
	}
	// The turn ends when the filing waits for its batch to be written (or when it ends, if
	// sooner): a filing holding its turn while the batch commits kept batches to a few
	// reports each, and cost honest load under external measure half its throughput.
	release := sync.OnceFunc(func() { <-f.running })
	defer release()
	c.SetUserContext(batch.OnWait(c.UserContext(), release))
	return c.Next()
}

// filingRoute reports whether path files an anonymous report (the form, in either language,
// or the API).
func filingRoute(path string) bool {
	path = strings.TrimPrefix(path, "/cy")
	return path == "/report" || path == "/api/v1/reports"
}
