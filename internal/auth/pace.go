package auth

import (
	"context"
	"sync"
	"time"
)

// Refused sign-ins (throttled, or the password queue full) cost no hash, but a flood of them
// is a loop as fast as they are answered: on two cores the portal spent most of one answering
// eight connections, about 20,000 refusals a second, and reports filed meanwhile waited ten
// times longer. Past a rate no person or browser comes near, a refusal waits its turn on a
// timer before it is answered, so a flood holds goroutines, not the cores. The answer itself
// is unchanged.
const (
	refusalsPerSecond = 1000
	refusalBurst      = 100             // answered at once before pacing starts
	maxRefusalWait    = 2 * time.Second // past this, a refusal waits this and takes no turn
)

// refusalPace spaces refusals refusalsPerSecond apart once a burst is spent (GCRA: next is
// when the next turn falls due).
type refusalPace struct {
	mu   sync.Mutex
	next time.Time
}

// wait holds a refusal until its turn, or until ctx ends.
func (p *refusalPace) wait(ctx context.Context) {
	const every = time.Second / refusalsPerSecond
	now := time.Now()
	p.mu.Lock()
	turn := now.Add(-refusalBurst * every)
	if p.next.After(turn) {
		turn = p.next
	}
	wait := turn.Sub(now)
	if wait <= maxRefusalWait {
		p.next = turn.Add(every)
	}
	p.mu.Unlock()
	sleep(ctx, min(wait, maxRefusalWait))
}

// sleep waits d, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
