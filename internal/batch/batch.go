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

// Options shape a Batcher.
type Options struct {
	Max     int           // items in a batch at most
	Workers int           // batches written at once at most
	Timeout time.Duration // bounds each batch: it is shared, so no one caller's context can
	// RetryEach says whether a failed batch is worth writing again item by item: true for an
	// error one item's data caused (so the others go through without it), false for a timeout
	// or a lost connection, which would only fail again, once per item. Nil: never.
	RetryEach func(error) bool
}

// Batcher runs batches of calls.
type Batcher[T, R any] struct {
	run  Run[T, R]
	opts Options

	mu      sync.Mutex
	pending []*call[T, R]
	running int
}

type call[T, R any] struct {
	ctx   context.Context
	item  T
	res   R
	err   error
	taken bool // a batch holds it: its outcome must be waited for
	done  chan struct{}
}

// New returns a batcher.
func New[T, R any](run Run[T, R], opts Options) *Batcher[T, R] {
	return &Batcher[T, R]{run: run, opts: opts}
}

type onWaitKey struct{}

// OnWait returns ctx with fn to run when Do, called with it, has queued its item and starts
// waiting for the batch: a caller's turn at the cores (server.Filings) ends there, so the
// batch can fill while other callers do their own work.
func OnWait(ctx context.Context, fn func()) context.Context {
	return context.WithValue(ctx, onWaitKey{}, fn)
}

// Do queues item and waits for its batch. A call whose context ends while it is still queued
// returns at once and is never written. Once its batch has started, Do waits for the outcome,
// so a caller is not told of a failure for something its batch went on to write.
func (b *Batcher[T, R]) Do(ctx context.Context, item T) (R, error) {
	c := &call[T, R]{ctx: ctx, item: item, done: make(chan struct{})}
	b.mu.Lock()
	b.pending = append(b.pending, c)
	start := b.running < b.opts.Workers
	if start {
		b.running++
	}
	b.mu.Unlock()
	if start {
		go b.drain()
	}
	if fn, ok := ctx.Value(onWaitKey{}).(func()); ok {
		fn()
	}
	select {
	case <-c.done:
		return c.res, c.err
	case <-ctx.Done():
	}
	b.mu.Lock()
	if !c.taken {
		for i, p := range b.pending {
			if p == c {
				b.pending = append(b.pending[:i], b.pending[i+1:]...)
				break
			}
		}
		b.mu.Unlock()
		var zero R
		return zero, ctx.Err()
	}
	b.mu.Unlock()
	<-c.done
	return c.res, c.err
}

// drain writes batches until nothing is pending.
func (b *Batcher[T, R]) drain() {
	for {
		b.mu.Lock()
		n := min(len(b.pending), b.opts.Max)
		if n == 0 {
			b.running--
			b.mu.Unlock()
			return
		}
		calls := make([]*call[T, R], 0, n)
		for _, c := range b.pending[:n] {
			c.taken = true
			if err := c.ctx.Err(); err != nil { // its caller has gone: never written
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
		// A panic in Run fails its batch, not the process: Run is not on a request goroutine,
		// where the server would have recovered it.
		if p := recover(); p != nil {
			for _, c := range calls {
				c.err = fmt.Errorf("batch: panic: %v", p)
			}
		}
		for _, c := range calls {
			close(c.done)
		}
	}()
	err := b.try(calls)
	if err == nil {
		return
	}
	if len(calls) == 1 || b.opts.RetryEach == nil || !b.opts.RetryEach(err) {
		for _, c := range calls {
			c.err = err
		}
		return
	}
	for _, c := range calls {
		c.err = b.try([]*call[T, R]{c})
	}
}

// try runs one batch and hands each caller its result.
func (b *Batcher[T, R]) try(calls []*call[T, R]) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(calls[0].ctx), b.opts.Timeout)
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
