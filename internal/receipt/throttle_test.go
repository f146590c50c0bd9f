package receipt

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

// allowAfter advances the clock by d, then checks that Allow answers want for input on conn.
func allowAfter(t *testing.T, th *Throttle, clock *fakeClock, d time.Duration, input string, conn uint64, want bool, when string) {
	t.Helper()
	clock.advance(d)
	if got := th.Allow(input, conn); got != want {
		t.Fatalf("%s: got Allow %v, want %v", when, got, want)
	}
}

// The buckets themselves, through one connection and input that is no receipt (which spends
// only the connection's budget).
func TestThrottleBucket(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	th := NewThrottleWithClock(6, 6, 3, clock.now) // one token per 10 s, burst 3

	// The burst is available at once.
	for i := range 3 {
		if !th.Allow("", 1) {
			t.Fatalf("attempt %d: got Allow false, want true", i+1)
		}
		th.Fail("", 1)
	}
	allowAfter(t, th, clock, 0, "", 1, false, "after the burst")
	// Allow alone consumes nothing: successes are free.
	clock.advance(10 * time.Second)
	for i := range 5 {
		if !th.Allow("", 1) {
			t.Fatalf("allow %d without failures: got false, want true", i+1)
		}
	}
	th.Fail("", 1)
	allowAfter(t, th, clock, 9*time.Second, "", 1, false, "9 s after a failure at rate 6/min")
	allowAfter(t, th, clock, time.Second, "", 1, true, "10 s after a failure at rate 6/min")
	// Refill is capped at the burst.
	clock.advance(time.Hour)
	for range 3 {
		th.Fail("", 1)
	}
	allowAfter(t, th, clock, 0, "", 1, false, "after an hour idle and 3 failures (burst cap)")
	// A clock going backwards earns nothing and does not break the bucket.
	allowAfter(t, th, clock, -time.Hour, "", 1, false, "clock went back")
	allowAfter(t, th, clock, 10*time.Second, "", 1, true, "10 s after the clock went back")
	// Debt is bounded at -burst: parallel failures admitted together are paid back, no more.
	for range 100 {
		th.Fail("", 1)
	}
	allowAfter(t, th, clock, 30*time.Second, "", 1, false, "paying back debt")
	allowAfter(t, th, clock, 40*time.Second, "", 1, true, "debt paid")
}

func randomReceipt(r *rand.Rand) string {
	b := make([]byte, Length)
	for i := range b {
		b[i] = Alphabet[r.IntN(len(Alphabet))]
	}
	return string(b)
}

// The attack: one guesser tries random receipts as fast as they like, over as many
// connections as they like. A reporter opening their own mailbox on a connection of their own
// is still let in, where one global bucket had everyone wait. A guesser who keeps to one
// prefix only stops that prefix, and one connection's guessing stops that connection.
func TestThrottleOneGuesserCannotLockEveryoneOut(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	th := NewThrottleWithClock(2, 10, 10, clock.now)
	r := rand.New(rand.NewPCG(1, 2))
	reporter := randomReceipt(r)

	// A minute of guessing at 1,000 a second, each from a fresh connection (the worst case:
	// per-connection limits do nothing). Allowed guesses all fail.
	refused := 0
	for i := range 60_000 {
		if i%1000 == 0 {
			clock.advance(time.Second)
		}
		g := randomReceipt(r)
		if g == reporter {
			continue
		}
		if !th.Allow(g, uint64(1_000_000+i)) {
			refused++
			continue
		}
		th.Fail(g, uint64(1_000_000+i))
	}
	if !th.Allow(reporter, 7) {
		t.Fatalf("after a minute of guessing at 1,000/s (%d refused), the reporter's own receipt is throttled", refused)
	}

	// Guessing within the reporter's prefix does stop that prefix, and only that one.
	prefix := reporter[:PrefixLength]
	for i := range 20 {
		g := prefix + randomReceipt(r)[PrefixLength:]
		th.Fail(g, uint64(2_000_000+i))
	}
	if th.Allow(reporter, 7) {
		t.Errorf("20 failures in the reporter's prefix within a second: still allowed")
	}
	other := randomReceipt(r)
	for other[:PrefixLength] == prefix {
		other = randomReceipt(r)
	}
	if !th.Allow(other, 8) {
		t.Errorf("a prefix nobody guessed in is throttled")
	}

	// One connection guessing: stopped after its burst, whatever the prefixes.
	for i := range 10 {
		th.Fail(randomReceipt(r), 99)
		if i < 9 && !th.Allow(randomReceipt(r), 99) {
			t.Fatalf("connection throttled after %d failures, want 10", i+1)
		}
	}
	if th.Allow(randomReceipt(r), 99) {
		t.Errorf("a connection that failed 10 times at once: still allowed")
	}
}

// Connections are forgotten, idle ones first, so a flood of them cannot grow the map without
// bound.
func TestThrottleForgetsConnections(t *testing.T) {
	clock := &fakeClock{t: time.Unix(0, 0)}
	th := NewThrottleWithClock(2, 10, 10, clock.now)
	for i := range 3 * MaxConnections {
		th.Fail(fmt.Sprint(i), uint64(i))
	}
	if n := len(th.conns); n > MaxConnections {
		t.Errorf("%d connections kept, want at most %d", n, MaxConnections)
	}
}

// A guesser who keeps one connection busy while a flood of new connections fills the table
// keeps its spent budget: only connections that went quiet are forgotten.
func TestThrottleFloodDoesNotRefillABusyConnection(t *testing.T) {
	clock := &fakeClock{t: time.Unix(0, 0)}
	th := NewThrottleWithClock(600_000, 10, 10, clock.now) // shards out of the way
	const guesser = 1 << 40
	allowed := 0
	for i := range 3 * MaxConnections {
		if i%100 == 0 { // the guesser tries between every hundred new connections
			if th.Allow(fmt.Sprint(i), guesser) {
				allowed++
				th.Fail(fmt.Sprint(i), guesser)
			}
		}
		th.Fail(fmt.Sprint(i), uint64(i))
	}
	if allowed > 10 {
		t.Errorf("the busy guesser got %d guesses during the flood, want its burst of 10", allowed)
	}
}

func TestThrottleZeroValue(t *testing.T) {
	var th Throttle
	th.Fail("K7QM2XWPTRHD9CFANBEZ", 1)
	if th.Allow("K7QM2XWPTRHD9CFANBEZ", 1) {
		t.Fatal("zero Throttle: got Allow true, want false (fail closed)")
	}
}

func TestThrottleConcurrent(t *testing.T) {
	th := NewThrottle(600, 600, 10)
	done := make(chan struct{})
	for g := range 8 {
		go func() {
			r := rand.New(rand.NewPCG(uint64(g), 0))
			for i := range 1000 {
				rc := randomReceipt(r)
				if th.Allow(rc, uint64(i%50)) {
					th.Fail(rc, uint64(i%50))
				}
			}
			done <- struct{}{}
		}()
	}
	for range 8 {
		<-done
	}
}
