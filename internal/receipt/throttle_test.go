package receipt

import (
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

// allowAfter advances the clock by d, then checks that Allow answers want.
func allowAfter(t *testing.T, th *Throttle, clock *fakeClock, d time.Duration, want bool, when string) {
	t.Helper()
	clock.advance(d)
	if got := th.Allow(); got != want {
		t.Fatalf("%s: got Allow %v, want %v", when, got, want)
	}
}

func TestThrottle(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	th := NewThrottleWithClock(6, 3, clock.now) // one token per 10 s, burst 3

	// The burst is available at once.
	for i := range 3 {
		if !th.Allow() {
			t.Fatalf("attempt %d: got Allow false, want true", i+1)
		}
		th.Fail()
	}
	allowAfter(t, th, clock, 0, false, "after the burst")
	// Allow alone consumes nothing: successes are free.
	clock.advance(10 * time.Second)
	for i := range 5 {
		if !th.Allow() {
			t.Fatalf("allow %d without failures: got false, want true", i+1)
		}
	}
	th.Fail()
	allowAfter(t, th, clock, 9*time.Second, false, "9 s after a failure at rate 6/min")
	allowAfter(t, th, clock, time.Second, true, "10 s after a failure at rate 6/min")
	// Refill is capped at the burst.
	clock.advance(time.Hour)
	for range 3 {
		th.Fail()
	}
	allowAfter(t, th, clock, 0, false, "after an hour idle and 3 failures (burst cap)")
	// A clock going backwards earns nothing and does not break the bucket.
	allowAfter(t, th, clock, -time.Hour, false, "clock went back")
	allowAfter(t, th, clock, 10*time.Second, true, "10 s after the clock went back")
}

func TestThrottleDebt(t *testing.T) {
	clock := &fakeClock{t: time.Unix(0, 0)}
	th := NewThrottleWithClock(60, 2, clock.now) // one token per second, burst 2

	// Many concurrent lookups admitted together, all failing.
	for range 100 {
		th.Fail()
	}
	// Debt is bounded at -burst: 2 s to get back to 0, 1 more to 1 token.
	allowAfter(t, th, clock, 2*time.Second, false, "paying back debt")
	allowAfter(t, th, clock, time.Second, true, "debt paid")
}

func TestThrottleZeroValue(t *testing.T) {
	var th Throttle
	th.Fail()
	if th.Allow() {
		t.Fatal("zero Throttle: got Allow true, want false (fail closed)")
	}
}

func TestThrottleConcurrent(t *testing.T) {
	th := NewThrottle(600, 10)
	done := make(chan struct{})
	for range 8 {
		go func() {
			for range 1000 {
				if th.Allow() {
					th.Fail()
				}
			}
			done <- struct{}{}
		}()
	}
	for range 8 {
		<-done
	}
}
