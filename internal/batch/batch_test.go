package batch

import (
	"context"
	"errors"
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

func TestCallsArrivingDuringABatchShareTheNext(t *testing.T) {
	r := &recorder{gate: make(chan struct{})}
	b := New(r.run, 100, 1, time.Minute)
	results := make(chan [2]int, 11)
	call := func(v int) {
		got, err := b.Do(context.Background(), v)
		if err != nil {
			t.Error(err)
		}
		results <- [2]int{v, got}
	}
	go call(0) // starts the first batch, which waits at the gate
	waitPending(t, b, 0)
	for v := 1; v <= 10; v++ {
		go call(v)
	}
	waitPending(t, b, 10)
	close(r.gate)
	for range 11 {
		res := <-results
		if res[1] != res[0]*10 {
			t.Errorf("call %d got %d, want its own result %d", res[0], res[1], res[0]*10)
		}
	}
	if len(r.batches) != 2 || len(r.batches[0]) != 1 || len(r.batches[1]) != 10 {
		t.Fatalf("batches = %v, want [0] then the ten that arrived while it ran", r.batches)
	}
}

func TestBatchSizeIsCapped(t *testing.T) {
	r := &recorder{gate: make(chan struct{})}
	b := New(r.run, 4, 1, time.Minute)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); b.Do(context.Background(), 0) }()
	waitPending(t, b, 0)
	for v := 1; v <= 10; v++ {
		wg.Add(1)
		go func() { defer wg.Done(); b.Do(context.Background(), v) }()
	}
	waitPending(t, b, 10)
	close(r.gate)
	wg.Wait()
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
	b := New(r.run, 100, 1, time.Minute)
	errs := make(map[int]error)
	var mu sync.Mutex
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); b.Do(context.Background(), 0) }()
	waitPending(t, b, 0)
	for v := 1; v <= 5; v++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := b.Do(context.Background(), v)
			mu.Lock()
			errs[v] = err
			mu.Unlock()
		}()
	}
	waitPending(t, b, 5)
	close(r.gate)
	wg.Wait()
	for v := 1; v <= 5; v++ {
		var want error // errors.Is(nil, nil) holds
		if v == 3 {
			want = bad
		}
		if !errors.Is(errs[v], want) {
			t.Errorf("item %d: err = %v, want %v", v, errs[v], want)
		}
	}
}

func TestCancelledBeforeItsBatchIsNeverWritten(t *testing.T) {
	r := &recorder{gate: make(chan struct{})}
	b := New(r.run, 100, 1, time.Minute)
	go b.Do(context.Background(), 0)
	waitPending(t, b, 0)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error)
	go func() { _, err := b.Do(ctx, 7); errc <- err }()
	waitPending(t, b, 1)
	cancel()
	close(r.gate)
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	for _, batch := range r.batches {
		for _, v := range batch {
			if v == 7 {
				t.Fatal("a call cancelled before its batch began was written")
			}
		}
	}
}

func TestWrongNumberOfResultsIsAnError(t *testing.T) {
	b := New(func(ctx context.Context, items []int) ([]int, error) { return nil, nil }, 10, 1, time.Minute)
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
