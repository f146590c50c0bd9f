// Package jobs runs the portal's periodic background work (sending the outbox, reminders,
// retention). Each job must be safe with two portal instances running: it claims its rows with
// FOR UPDATE SKIP LOCKED or a PostgreSQL advisory lock, never with in-process state.
package jobs

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Job is one periodic task.
type Job struct {
	Name  string
	Every time.Duration
	Run   func(ctx context.Context) error
}

// Runner runs jobs until stopped.
type Runner struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Start runs each job every Every (first run after one interval) until Stop.
func Start(log *slog.Logger, jobs ...Job) *Runner {
	ctx, cancel := context.WithCancel(context.Background())
	r := &Runner{cancel: cancel}
	for _, j := range jobs {
		r.wg.Add(1)
		go func(j Job) {
			defer r.wg.Done()
			t := time.NewTicker(j.Every)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					if err := j.Run(ctx); err != nil && ctx.Err() == nil {
						log.Error("job failed", "job", j.Name, "err", err)
					}
				}
			}
		}(j)
	}
	return r
}

// Stop asks every job to finish and waits for them, or for ctx to end.
func (r *Runner) Stop(ctx context.Context) error {
	r.cancel()
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
