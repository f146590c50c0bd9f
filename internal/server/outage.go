package server

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Outage tells the log once that the database went away and once that it came back, instead
// of an ERROR for every request refused in between: a flood of identical lines buries the
// one that says when it began. The councils of a deployment share one: they share the database.
type Outage struct {
	log       *slog.Logger
	db        Pinger
	every     time.Duration // how often to ask whether it is back
	done      chan struct{} // closed when the server shuts down
	closeOnce sync.Once

	mu      sync.Mutex
	since   time.Time // zero: no outage
	refused int
}

// NewOutage watches db for the outages it is told of, logging to log, until Close.
func NewOutage(log *slog.Logger, db Pinger) *Outage {
	return &Outage{log: log, db: db, every: time.Second, done: make(chan struct{})}
}

// Close stops watching.
func (o *Outage) Close() { o.closeOnce.Do(func() { close(o.done) }) }

// OutageRetryAfter is what a request refused during an outage is told: a restarted PostgreSQL
// answers within seconds.
const OutageRetryAfter = 10 * time.Second

// failed records a request refused because the database is unavailable; the first one starts
// the outage and a watcher that ends it.
func (o *Outage) failed(err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.refused++
	if !o.since.IsZero() {
		return
	}
	o.since = time.Now()
	// No route: the first request to fail may be a reporter's.
	o.log.Error("database unavailable: answering 503 until it is back", "err", err)
	go o.watch()
}

func (o *Outage) watch() {
	for {
		select {
		case <-o.done:
			return
		case <-time.After(o.every):
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := o.db.PingContext(ctx)
		cancel()
		if err == nil {
			break
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.log.Info("database available again", "outage_s", int(time.Since(o.since).Seconds()), "refused", o.refused)
	o.since, o.refused = time.Time{}, 0
}
