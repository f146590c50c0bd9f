package server

import (
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

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
	running chan struct{} // a token per filing being served
	held    chan struct{} // a token per filing being served or waiting
	wait    time.Duration
}

// Filing admission (how many at once is CANDOUR_FILINGS_AT_ONCE, 8 by default): 64 waiting cover far more honest reporters at once than any council sees;
// 5 s is as long as a reporter should wait before being told to try again.
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
	defer func() { <-f.running }()
	return c.Next()
}

// filingRoute reports whether path files an anonymous report (the form, in either language,
// or the API).
func filingRoute(path string) bool {
	path = strings.TrimPrefix(path, "/cy")
	return path == "/report" || path == "/api/v1/reports"
}
