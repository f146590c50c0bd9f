package auth

import (
	"testing"
	"time"
)

// A flood of sign-ins waits in its own lane, up to maxWaiting, and is refused past that; a
// known device queues in the first lane and goes before everyone already waiting.
func TestHashGateBoundsTheQueueAndServesKnownDevicesFirst(t *testing.T) {
	var g hashGate
	if !g.enter(laneOther, true) {
		t.Fatal("a free gate refused")
	}
	order := make(chan string, maxWaiting+1)
	for range maxWaiting {
		go func() {
			g.enter(laneOther, true)
			order <- "other"
			g.leave(0)
		}()
	}
	waitFor(t, func() bool { return g.waitingIn(laneOther) == maxWaiting })
	if g.enter(laneOther, true) {
		t.Fatalf("lane full: got admitted, want refused")
	}
	go func() {
		if g.enter(laneFirst, true) {
			order <- "first"
			g.leave(0)
		}
	}()
	waitFor(t, func() bool { return g.waitingIn(laneFirst) == 1 })
	g.leave(0)
	if got := <-order; got != "first" {
		t.Errorf("after the running hash: got %s, want the known device first", got)
	}
	for range maxWaiting {
		<-order
	}
	// Unbounded callers (signed-in work) never refuse.
	if !g.enter(laneFirst, false) {
		t.Fatal("free gate refused")
	}
	g.leave(0)
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition never held")
		}
	}
}

func TestDelayGrowsToACapNeverALock(t *testing.T) {
	for n, want := range map[int]time.Duration{0: 0, freeFailures - 1: 0, freeFailures: time.Second,
		freeFailures + 3: 8 * time.Second, freeFailures + 9: 512 * time.Second, freeFailures + 10: maxDelay, 1000: maxDelay} {
		if got := delayAfter(n); got != want {
			t.Errorf("delayAfter(%d): got %v, want %v", n, got, want)
		}
	}
}
