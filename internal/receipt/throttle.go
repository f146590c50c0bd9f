package receipt

import (
	"sync"
	"time"
)

// Throttle limits failed receipt lookups across everyone, without recording
// who made them: a single in-memory token bucket refilled at a fixed rate
// per minute, with a small burst.
//
// Trade-off: because nothing identifies the guesser (no IP address, by
// design), an attacker who keeps guessing can slow down mailbox logins for
// every reporter while the bucket is empty. What the attacker cannot do is
// enumerate receipts: at 100 bits, even a million guesses a minute for a
// century has a negligible chance (about 2^-54 per stored receipt) of
// hitting one. Reporters affected by a flood wait and retry; their receipt
// is not locked. The limit resets on restart and is per process.
//
// Use it as:
//
//	if !t.Allow() { return errTryLater }
//	found := lookup(hasher.Hash(normalized))
//	if !found { t.Fail() }
//
// Correct receipts never consume tokens. Concurrent failures admitted by
// Allow before a Fail is recorded push the bucket into a bounded debt
// (at most burst tokens), so bursts of parallel guesses are paid back.
//
// A zero Throttle refuses everything; use NewThrottle.
type Throttle struct {
	mu     sync.Mutex
	now    func() time.Time
	rate   float64 // tokens per second
	burst  float64
	tokens float64
	last   time.Time
}

// NewThrottle allows failedPerMinute failed lookups per minute on average
// across everyone, with bursts of up to burst.
func NewThrottle(failedPerMinute, burst int) *Throttle {
	return NewThrottleWithClock(failedPerMinute, burst, time.Now)
}

// NewThrottleWithClock is NewThrottle with an injectable clock, for tests.
func NewThrottleWithClock(failedPerMinute, burst int, now func() time.Time) *Throttle {
	failedPerMinute = max(failedPerMinute, 0)
	burst = max(burst, 1)
	return &Throttle{
		now:    now,
		rate:   float64(failedPerMinute) / 60,
		burst:  float64(burst),
		tokens: float64(burst),
		last:   now(),
	}
}

// refill adds the tokens earned since the last call. Caller holds t.mu.
func (t *Throttle) refill() {
	now := t.now()
	if elapsed := now.Sub(t.last); elapsed > 0 {
		t.tokens = min(t.burst, t.tokens+elapsed.Seconds()*t.rate)
	}
	// A clock going backwards just earns nothing.
	t.last = now
}

// Allow reports whether a lookup may be attempted now. It consumes nothing:
// only Fail does.
func (t *Throttle) Allow() bool {
	if t.now == nil {
		return false // zero Throttle: fail closed
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.refill()
	return t.tokens >= 1
}

// Fail records a failed lookup (a well-formed receipt that matched nothing).
func (t *Throttle) Fail() {
	if t.now == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.refill()
	t.tokens = max(t.tokens-1, -t.burst)
}
