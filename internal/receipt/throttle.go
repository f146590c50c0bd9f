package receipt

import (
	"container/list"
	"sync"
	"time"
)

// Throttle limits failed receipt lookups without recording who made them (no address, by
// design: over an onion service every reporter arrives from the local tor daemon). It keeps
// two kinds of token bucket, refilled at a fixed rate with a small burst:
//
//   - one per receipt prefix, the first PrefixLength characters of the receipt tried
//     (Shards of them). A guesser does not know a reporter's prefix, so guesses at random
//     spread over every shard; a shard's budget outlasts them unless they guess faster than
//     Shards times its rate, which is the global bound. A real reporter's shard is then still
//     full, and a flood that stops everyone is no longer one guesser's to cause;
//   - one per connection, so one client cannot spend a shard's budget, or many, quickly.
//
// A lookup is allowed when both of its buckets have a token; only a failure spends one.
// Receipts have 100 bits, so the throttle is depth, not the defence: even a million guesses a
// minute for a century has about 2^-54 chance per stored receipt of finding one.
//
// Use it as:
//
//	if !t.Allow(normalized, conn) { return errTryLater }
//	found := lookup(hasher.Hash(normalized))
//	if !found { t.Fail(normalized, conn) }
//
// normalized is "" for input that is no receipt at all: it spends only the connection's
// budget. Concurrent failures admitted before a Fail is recorded push a bucket into a bounded
// debt (at most its burst), so bursts of parallel guesses are paid back.
//
// A zero Throttle refuses everything; use NewThrottle.
type Throttle struct {
	mu     sync.Mutex
	now    func() time.Time
	shard  limit
	conn   limit
	shards []bucket
	conns  map[uint64]*list.Element // of *connBucket, most recently used first in recent
	recent *list.List
}

// connBucket is one connection's bucket, kept in the recently used list.
type connBucket struct {
	id uint64
	bucket
}

// PrefixLength is how many characters of a receipt choose its shard, and Shards how many
// shards there are (32 characters to the power PrefixLength).
const (
	PrefixLength = 3
	Shards       = 32 * 32 * 32
)

// MaxConnections caps how many connections' buckets are kept; past it, the least recently
// used is forgotten. A flood of new connections thus pushes out only connections that have
// gone quiet, never a busy one, which keeps its spent budget (forgetting every connection at
// once, as an earlier version did, handed a guesser on one connection a fresh burst each time
// the table filled).
const MaxConnections = 4096

// limit is a bucket's rate (tokens per second) and burst.
type limit struct{ rate, burst float64 }

// bucket holds tokens as of last; zero value: never used (full).
type bucket struct {
	used   bool
	tokens float64
	last   time.Time
}

// take refills b for the time since it was last seen, and reports whether a token is there
// (spend: and takes one, down to a debt of at most the burst).
func (b *bucket) take(l limit, now time.Time, spend bool) bool {
	if !b.used {
		b.used, b.tokens, b.last = true, l.burst, now
	}
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = min(l.burst, b.tokens+elapsed.Seconds()*l.rate)
	}
	b.last = now // a clock going backwards just earns nothing
	if spend {
		b.tokens = max(b.tokens-1, -l.burst)
	}
	return b.tokens >= 1
}

// NewThrottle allows each receipt prefix shardPerMinute failed lookups per minute on average,
// and each connection connPerMinute, with bursts of up to burst.
func NewThrottle(shardPerMinute, connPerMinute, burst int) *Throttle {
	return NewThrottleWithClock(shardPerMinute, connPerMinute, burst, time.Now)
}

// NewThrottleWithClock is NewThrottle with an injectable clock, for tests.
func NewThrottleWithClock(shardPerMinute, connPerMinute, burst int, now func() time.Time) *Throttle {
	per := func(n int) limit { return limit{rate: float64(max(n, 0)) / 60, burst: float64(max(burst, 1))} }
	return &Throttle{now: now, shard: per(shardPerMinute), conn: per(connPerMinute),
		shards: make([]bucket, Shards), conns: map[uint64]*list.Element{}, recent: list.New()}
}

// shardOf is the shard of a normalized receipt; -1 for none.
func shardOf(normalized string) int {
	if len(normalized) < PrefixLength {
		return -1
	}
	n := 0
	for i := range PrefixLength {
		d := decodeIndex[normalized[i]]
		if d < 0 {
			return -1
		}
		n = n*32 + d
	}
	return n
}

// decodeIndex is each canonical character's position in Alphabet; -1 for any other byte.
var decodeIndex = func() (t [256]int) {
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(Alphabet); i++ {
		t[Alphabet[i]] = i
	}
	return t
}()

// connBucket is conn's bucket, made (and room made for it) when missing. Caller holds t.mu.
func (t *Throttle) connBucket(conn uint64) *bucket {
	if e, ok := t.conns[conn]; ok {
		t.recent.MoveToFront(e)
		return &e.Value.(*connBucket).bucket
	}
	if t.recent.Len() >= MaxConnections {
		oldest := t.recent.Back()
		t.recent.Remove(oldest)
		delete(t.conns, oldest.Value.(*connBucket).id)
	}
	b := &connBucket{id: conn}
	t.conns[conn] = t.recent.PushFront(b)
	return &b.bucket
}

// Allow reports whether a lookup of normalized from conn may be attempted now. It spends
// nothing: only Fail does.
func (t *Throttle) Allow(normalized string, conn uint64) bool {
	return t.step(normalized, conn, false)
}

// Fail records a failed lookup of normalized (a receipt that matched nothing, or "" for
// input that is no receipt) from conn.
func (t *Throttle) Fail(normalized string, conn uint64) {
	t.step(normalized, conn, true)
}

func (t *Throttle) step(normalized string, conn uint64, spend bool) bool {
	if t.now == nil {
		return false // zero Throttle: fail closed
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	ok := t.connBucket(conn).take(t.conn, now, spend)
	if s := shardOf(normalized); s >= 0 {
		ok = t.shards[s].take(t.shard, now, spend) && ok
	}
	return ok
}
