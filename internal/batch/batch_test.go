package batch

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is a Run that remembers each batch it was given and can be held until released.
type recorder struct {
	mu      sync.Mutex
	batches [][]int
	gate    chan struct{} // closed to let batches through
	fail    func(items []int) error
}

func (r *recorder) run(ctx context.Context, items []int) ([]int, error) {
	<-r.gate
	r.mu.Lock()
	r.batches = append(r.batches, append([]int(nil), items...))
	r.mu.Unlock()
	if r.fail != nil {
		if err := r.fail(items); err != nil {
			return nil, err
		}
	}
	out := make([]int, len(items))
	for i, v := range items {
		out[i] = v * 10
	}
	return out, nil
}

// outcome is what one call to Do returned.
type outcome struct {
	got int
	err error
}

// queuedBehindOne calls Do with 0, whose batch waits at r's gate, then with 1 to n, which
// queue behind it; it then opens the gate and returns every call's outcome, by item.
func queuedBehindOne(t *testing.T, b *Batcher[int, int], r *recorder, n int) []outcome {
	t.Helper()
	out := make([]outcome, n+1)
	var wg sync.WaitGroup
	call := func(v int) {
		defer wg.Done()
		got, err := b.Do(context.Background(), v)
		out[v] = outcome{got, err}
	}
	wg.Add(1)
	go call(0)
	waitPending(t, b, 0)
	wg.Add(n)
	for v := 1; v <= n; v++ {
		go call(v)
	}
	waitPending(t, b, n)
	close(r.gate)
	wg.Wait()
	return out
}

func TestCallsArrivingDuringABatchShareTheNext(t *testing.T) {
	r := &recorder{gate: make(chan struct{})}
	b := New(r.run, Options{Max: 100, Workers: 1, Timeout: time.Minute, RetryEach: func(error) bool { return true }})
	for v, o := range queuedBehindOne(t, b, r, 10) {
		if o.err != nil {
			t.Error(o.err)
		}
		if o.got != v*10 {
			t.Errorf("call %d got %d, want its own result %d", v, o.got, v*10)
		}
	}
	if len(r.batches) != 2 || len(r.batches[0]) != 1 || len(r.batches[1]) != 10 {
		t.Fatalf("batches = %v, want [0] then the ten that arrived while it ran", r.batches)
	}
}

func TestBatchSizeIsCapped(t *testing.T) {
	r := &recorder{gate: make(chan struct{})}
	b := New(r.run, Options{Max: 4, Workers: 1, Timeout: time.Minute})
	queuedBehindOne(t, b, r, 10)
	for _, batch := range r.batches {
		if len(batch) > 4 {
			t.Fatalf("a batch of %d, over the cap of 4: %v", len(batch), r.batches)
		}
	}
	if len(r.batches) != 4 { // [0], then 4, 4, 2
		t.Fatalf("batches = %v", r.batches)
	}
}

func TestOneBadItemFailsOnlyItsCaller(t *testing.T) {
	bad := errors.New("item 3 is bad")
	r := &recorder{gate: make(chan struct{}), fail: func(items []int) error {
		for _, v := range items {
			if v == 3 {
				return bad
			}
		}
		return nil
	}}
	b := New(r.run, Options{Max: 100, Workers: 1, Timeout: time.Minute, RetryEach: func(error) bool { return true }})
	out := queuedBehindOne(t, b, r, 5)
	for v := 1; v <= 5; v++ {
		var want error // errors.Is(nil, nil) holds
		if v == 3 {
			want = bad
		}
		if !errors.Is(out[v].err, want) {
			t.Errorf("item %d: err = %v, want %v", v, out[v].err, want)
		}
	}
}

// cancelWhileQueued calls Do with 0, whose batch is held at the gate, queues a call with 7
// behind it and cancels that call. It returns where the cancelled call's error will come and
// a channel closed once the first call has returned.
func cancelWhileQueued(t *testing.T, b *Batcher[int, int]) (errc <-chan error, first <-chan struct{}) {
	t.Helper()
	done := make(chan struct{})
	go func() { b.Do(context.Background(), 0); close(done) }()
	waitPending(t, b, 0)
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 1)
	go func() { _, err := b.Do(ctx, 7); errs <- err }()
	waitPending(t, b, 1)
	cancel()
	return errs, done
}

func TestCancelledBeforeItsBatchIsNeverWritten(t *testing.T) {
	r := &recorder{gate: make(chan struct{})}
	b := New(r.run, Options{Max: 100, Workers: 1, Timeout: time.Minute, RetryEach: func(error) bool { return true }})
	errc, first := cancelWhileQueued(t, b)
	close(r.gate)
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	<-first
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, batch := range r.batches {
		for _, v := range batch {
			if v == 7 {
				t.Fatal("a call cancelled before its batch began was written")
			}
		}
	}
}

func TestWrongNumberOfResultsIsAnError(t *testing.T) {
	b := New(func(ctx context.Context, items []int) ([]int, error) { return nil, nil }, Options{Max: 10, Workers: 1, Timeout: time.Minute})
	if _, err := b.Do(context.Background(), 1); err == nil {
		t.Fatal("a Run that returned no results did not fail the call")
	}
}

// waitPending waits until n calls are queued behind the running batch.
func waitPending(t *testing.T, b *Batcher[int, int], n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b.mu.Lock()
		got, running := len(b.pending), b.running
		b.mu.Unlock()
		if got == n && running > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pending = %d, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// A timeout or a lost connection would only fail again: the batch fails once, not once per item.
func TestErrorsNotWorthRetryingFailTheBatchOnce(t *testing.T) {
	down := errors.New("connection refused")
	r := &recorder{gate: make(chan struct{}), fail: func([]int) error { return down }}
	b := New(r.run, Options{Max: 100, Workers: 1, Timeout: time.Minute, RetryEach: func(err error) bool { return err != down }})
	for _, o := range queuedBehindOne(t, b, r, 5)[1:] {
		if !errors.Is(o.err, down) {
			t.Errorf("err = %v, want the batch's error", o.err)
		}
	}
	if len(r.batches) != 2 {
		t.Fatalf("batches = %v, want [0] and one batch of five, with no retries", r.batches)
	}
}

// A caller that gives up while queued behind a slow batch is answered at once.
func TestCallerGivingUpWhileQueuedReturnsAtOnce(t *testing.T) {
	r := &recorder{gate: make(chan struct{})}
	b := New(r.run, Options{Max: 100, Workers: 1, Timeout: time.Minute})
	errc, _ := cancelWhileQueued(t, b)
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a caller who gave up still waits for the batch ahead of it")
	}
	waitPending(t, b, 0)
	close(r.gate)
}

// A panic in Run fails the calls of its batch instead of the process.
func TestPanicFailsItsBatch(t *testing.T) {
	b := New(func(ctx context.Context, items []int) ([]int, error) { panic("driver bug") }, Options{Max: 10, Workers: 1, Timeout: time.Minute})
	if _, err := b.Do(context.Background(), 1); err == nil || !strings.Contains(err.Error(), "driver bug") {
		t.Fatalf("err = %v, want the panic as an error", err)
	}
	// The batcher still works afterwards.
	b.run = func(ctx context.Context, items []int) ([]int, error) { return items, nil }
	if got, err := b.Do(context.Background(), 2); err != nil || got != 2 {
		t.Fatalf("after a panic: got %d, %v", got, err)
	}
}
