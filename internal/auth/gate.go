package auth

import (
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"golang.org/x/crypto/argon2"
)

// Hash queue lanes. A hash is 64 MiB and most of two cores for a tenth of a second, and anyone
// can ask for one by signing in wrongly, so argon2id runs one hash at a time, process-wide.
// Waiting sign-ins queue in two lanes, and the first lane always goes next: a browser that has
// signed in to the account before (a valid device cookie) is not stuck behind a flood from
// everywhere else.
const (
	laneFirst = 0 // work of signed-in people, and sign-ins from a known device
	laneOther = 1 // every other sign-in
	// maxWaiting sign-ins may wait in each lane; the next is refused at once (ErrBusy). Five
	// hashes are about half a second: a person notices no queue, a flood holds no memory.
	maxWaiting = 4
	// idleRelease: once no hash has run for this long, the heap their memory came from is
	// handed back to the system rather than kept for a flood that may not come back.
	idleRelease = 2 * time.Second
)

// hashGate admits one argon2id hash at a time.
type hashGate struct {
	mu      sync.Mutex
	running bool
	waiting [2][]chan struct{}
	ran     bool // a hash ran since memory was last given back
	idle    *time.Timer
}

var hashes hashGate

// hash runs argon2id when its turn comes in lane; bounded: refused (ok false) when the lane is
// full.
//
// Its memory is collected before the gate passes on: left to the collector's own pace, each
// hash's 64 MiB would still be garbage when the next one allocates, and a flood would hold two
// or three at once. One collection of this small heap costs a few milliseconds against the
// hash's hundred or so. And while others wait, the gate rests as long as the hash took, so a
// flood has the two lanes of argon2 on the cores at most half the time and reports filed
// meanwhile still find a core.
func (g *hashGate) hash(lane int, bounded bool, pw, salt []byte, p Params) (key []byte, ok bool) {
	if !g.enter(lane, bounded) {
		return nil, false
	}
	started := time.Now()
	key = argon2.IDKey(pw, salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	runtime.GC()
	g.leave(time.Since(started))
	return key, true
}

// enter waits for the gate in lane. bounded: when maxWaiting already wait in that lane,
// return false at once instead.
func (g *hashGate) enter(lane int, bounded bool) bool {
	g.mu.Lock()
	if !g.running {
		g.running, g.ran = true, true
		g.mu.Unlock()
		return true
	}
	if bounded && len(g.waiting[lane]) >= maxWaiting {
		g.mu.Unlock()
		return false
	}
	turn := make(chan struct{})
	g.waiting[lane] = append(g.waiting[lane], turn)
	g.mu.Unlock()
	<-turn
	return true
}

// leave hands the gate, after rest when someone waits, to the next waiter.
func (g *hashGate) leave(rest time.Duration) {
	g.mu.Lock()
	waiting := len(g.waiting[laneFirst])+len(g.waiting[laneOther]) > 0
	g.mu.Unlock()
	if waiting && rest > 0 {
		time.AfterFunc(rest, g.handOver)
		return
	}
	g.handOver()
}

// handOver passes the gate to the next waiter, first lane first (chosen now, not when the
// rest began), or marks it free.
func (g *hashGate) handOver() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for lane := range g.waiting {
		if q := g.waiting[lane]; len(q) > 0 {
			g.waiting[lane] = q[1:]
			close(q[0]) // the gate stays taken: it passes to them
			return
		}
	}
	g.running = false
	if g.idle == nil {
		g.idle = time.AfterFunc(idleRelease, g.release)
	} else {
		g.idle.Reset(idleRelease)
	}
}

// release gives the freed hash memory back to the system if the gate is still idle. A burst
// of sign-ins leaves 64 MiB blocks the collector has freed but the runtime keeps for reuse;
// without this the process stays at its peak long after the burst (issue 18).
func (g *hashGate) release() {
	g.mu.Lock()
	free := !g.running && g.ran
	if free {
		g.ran = false
	}
	g.mu.Unlock()
	if free {
		debug.FreeOSMemory()
	}
}

// full reports whether a bounded enter in lane would be refused now.
func (g *hashGate) full(lane int) bool {
	return g.waitingIn(lane) >= maxWaiting
}

// waitingIn is how many wait in lane.
func (g *hashGate) waitingIn(lane int) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.waiting[lane])
}
