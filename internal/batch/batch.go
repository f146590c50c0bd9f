// Package batch gathers concurrent calls into shared batches: group commit. Calls that arrive
// while a batch is being written wait and go together in the next one, so under load one
// statement and one commit serve many callers; a call that arrives alone goes at once, with no
// added wait.
package batch

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Run writes a batch and returns one result per item, in order. An error fails the whole batch.
type Run[T, R any] func(ctx context.Context, items []T) ([]R, error)

// Batcher runs at most Workers batches at a time of at most Max items each.
type Batcher[T, R any] struct {
	run     Run[T, R]
	max     int
	workers int
	timeout time.Duration

	mu      sync.Mutex
	pending []*call[T, R]
	running int
}

type call[T, R any] struct {
	ctx  context.Context
	item T
	res  R
	err  error
	done chan struct{}
}

// New returns a batcher. A batch that fails is retried item by item, so one bad item fails
// only its own caller. timeout bounds each batch: a batch is shared, so no one caller's
// context can cancel it.
func New[T, R any](run Run[T, R], max, workers int, timeout time.Duration) *Batcher[T, R] {
	return &Batcher[T, R]{run: run, max: max, workers: workers, timeout: timeout}
}

// Do queues item and waits for its batch. A call whose context ends before its batch starts is
// dropped; once its batch has started, Do waits for the outcome, so the caller never reports a
// failure for something that was in fact written.
func (b *Batcher[T, R]) Do(ctx context.Context, item T) (R, error) {
	c := &call[T, R]{ctx: ctx, item: item, done: make(chan struct{})}
	b.mu.Lock()
	b.pending = append(b.pending, c)
	start := b.running < b.workers
	if start {
		b.running++
	}
	b.mu.Unlock()
	if start {
		go b.drain()
	}
	<-c.done
	return c.res, c.err
}

// drain writes batches until nothing is pending.
func (b *Batcher[T, R]) drain() {
	for {
		b.mu.Lock()
		n := min(len(b.pending), b.max)
		if n == 0 {
			b.running--
			b.mu.Unlock()
			return
		}
		calls := make([]*call[T, R], 0, n)
		for _, c := range b.pending[:n] {
			if err := c.ctx.Err(); err != nil {
				c.err = err
				close(c.done)
				continue
			}
			calls = append(calls, c)
		}
		b.pending = append(b.pending[:0], b.pending[n:]...)
		b.mu.Unlock()
		if len(calls) > 0 {
			b.write(calls)
		}
	}
}

func (b *Batcher[T, R]) write(calls []*call[T, R]) {
	defer func() {
		for _, c := range calls {
			close(c.done)
		}
	}()
	if err := b.try(calls); err == nil || len(calls) == 1 {
		if err != nil {
			calls[0].err = err
		}
		return
	}
	for _, c := range calls {
		c.err = b.try([]*call[T, R]{c})
	}
}

// try runs one batch and hands each caller its result.
func (b *Batcher[T, R]) try(calls []*call[T, R]) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(calls[0].ctx), b.timeout)
	defer cancel()
	items := make([]T, len(calls))
	for i, c := range calls {
		items[i] = c.item
	}
	res, err := b.run(ctx, items)
	if err != nil {
		return err
	}
	if len(res) != len(items) {
		return fmt.Errorf("batch: %d results for %d items", len(res), len(items))
	}
	for i, c := range calls {
		c.res = res[i]
	}
	return nil
}
