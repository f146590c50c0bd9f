package intake

import (
	"context"
	"io"
	"runtime/debug"
	"sync"
	"time"

	"candour/internal/fault"
)

// MaxUploads is how many evidence uploads may be in progress at once. Each holds a database
// connection until its file has arrived; the pool has 20, and filing, mailboxes and staff
// need the rest.
const MaxUploads = 8

// MaxUploadsPerMailbox is how many of them one concern's mailbox may hold, however many
// sessions its receipt opened: one reporter sending files slowly cannot take every slot from
// the others. Counted by concern, never by address: over the onion service every reporter
// comes from the same one.
const MaxUploadsPerMailbox = 2

// DefaultContendedRate is the rate, in bytes a second, an upload must keep up to hold its slot
// while every slot is taken (CANDOUR_UPLOAD_CONTENDED_RATE_KB). Anonymous mailboxes cost
// nothing, so the minimum rate alone let an attacker hold all eight slots for 4 KiB a second
// each; at 64 KiB (a slow Tor circuit still manages it) holding them all costs half a megabyte
// a second, sent for real.
const DefaultContendedRate = 64 << 10

// judgeAfter is how long the server must have waited for an upload's bytes before its rate is
// judged: a newcomer's first reads say nothing yet.
const judgeAfter = time.Second

var (
	// The field errors are for the form, which shows them against the file question.
	errUploadsBusy = &fault.Error{Kind: fault.Unavailable, Code: "uploads_busy", Message: "mailbox.uploads_busy",
		Fields: map[string]string{"file": "mailbox.uploads_busy"}, RetryAfter: time.Minute}
	errUploadsPerMailbox = &fault.Error{Kind: fault.TooMany, Code: "uploads_per_mailbox", Message: "mailbox.uploads_per_mailbox",
		Fields: map[string]string{"file": "mailbox.uploads_per_mailbox"}, RetryAfter: 30 * time.Second}
	// errOutpaced ends an upload whose slot went to a newcomer; the client was too slow, so it
	// is the same code as the minimum rate's drop, with a message that says why.
	errOutpaced = &fault.Error{Kind: fault.Timeout, Code: "too_slow", Message: "mailbox.upload_outpaced",
		Fields: map[string]string{"file": "mailbox.upload_outpaced"}}
)

// Arrival is an upload's body as the HTTP server receives it (server.RequestBody's): how many
// bytes have come, how long the server has spent waiting for them (not the time it spent
// storing them), whether the body is complete, and a way to end a read that is waiting.
type Arrival interface {
	Arrived() (n int64, waited time.Duration, complete bool)
	Interrupt(err error)
}

type arrivalKey struct{}

// Arriving returns ctx carrying body's Arrival when it has one: an upload made under it can
// lose its slot to a newcomer when it is too slow while every slot is taken. Without one an
// upload keeps its slot until it ends.
func Arriving(ctx context.Context, body io.Reader) context.Context {
	if a, ok := body.(Arrival); ok {
		return context.WithValue(ctx, arrivalKey{}, a)
	}
	return ctx
}

// UploadSlots hands out the upload slots: MaxUploads in all, MaxUploadsPerMailbox a concern.
// The councils of a deployment share one (Deps.Uploads): they share the database pool the
// slots protect. References are unique across councils, so counting by reference holds.
//
// When every slot is taken a newcomer is not refused while a slot is held cheaply: the slowest
// upload below the contended rate loses its slot to it (408 too_slow). And a council holding
// more than its share (the slots divided among the councils uploading) loses its slowest
// upload, however fast, to a newcomer of a council holding less, so one council's flood never
// shuts another's reporters out.
type UploadSlots struct {
	mu        sync.Mutex
	running   map[*slot]struct{}
	byRef     map[string]int
	byCouncil map[*Service]int
	limit     int
	perRef    int
	contended int64       // bytes a second; 0: rate never costs a slot
	idle      *time.Timer // gives memory back once uploads have stopped
}

// slot is one upload in progress.
type slot struct {
	ref     string
	council *Service
	arrival Arrival // nil: cannot be judged or interrupted
	gone    bool    // its slot was handed on
}

// NewUploadSlots returns the deployment's upload slots; contended is the rate (bytes a second)
// an upload must keep to hold its slot when all are taken, 0 for none.
func NewUploadSlots(contended int64) *UploadSlots {
	return &UploadSlots{running: map[*slot]struct{}{}, byRef: map[string]int{}, byCouncil: map[*Service]int{},
		limit: MaxUploads, perRef: MaxUploadsPerMailbox, contended: contended}
}

// idleFree is how long the slots stay empty before the memory a burst of uploads used goes
// back to the system: without it the collector, with nothing left to do, never runs again and
// the process stays at its peak (the upload flood bench: 233 MiB at rest, of it about 30 in
// use).
const idleFree = 2 * time.Second

// take claims a slot for concern ref of council; call release when the upload is over. The
// concern's own limit is checked first, so a reporter over it is told so (429), not that
// everyone is busy.
func (u *UploadSlots) take(ctx context.Context, council *Service, ref string) (release func(), err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.byRef[ref] >= u.perRef {
		return nil, errUploadsPerMailbox
	}
	if len(u.running) >= u.limit {
		v := u.victim(council)
		if v == nil {
			return nil, errUploadsBusy
		}
		u.drop(v)
		v.arrival.Interrupt(errOutpaced)
	}
	s := &slot{ref: ref, council: council}
	s.arrival, _ = ctx.Value(arrivalKey{}).(Arrival)
	u.running[s] = struct{}{}
	u.byRef[ref]++
	u.byCouncil[council]++
	return func() {
		u.mu.Lock()
		defer u.mu.Unlock()
		if !s.gone {
			u.drop(s)
		}
		if len(u.running) == 0 {
			if u.idle == nil {
				u.idle = time.AfterFunc(idleFree, u.freeIfIdle)
			} else {
				u.idle.Reset(idleFree)
			}
		}
	}, nil
}

func (u *UploadSlots) drop(s *slot) {
	s.gone = true
	delete(u.running, s)
	if u.byRef[s.ref]--; u.byRef[s.ref] == 0 {
		delete(u.byRef, s.ref)
	}
	if u.byCouncil[s.council]--; u.byCouncil[s.council] == 0 {
		delete(u.byCouncil, s.council)
	}
}

// victim is the upload whose slot a newcomer of council takes, or nil. Candidates are the
// uploads still arriving that are slow (judged, and below the contended rate) and, when the
// newcomer's council holds less than its share, every upload of a council holding more. A
// slow upload of another council within its share is safe from a council at or over its own.
// Of the candidates, one of a council over its share goes first, then the slowest.
func (u *UploadSlots) victim(council *Service) *slot {
	councils := len(u.byCouncil)
	if u.byCouncil[council] == 0 {
		councils++
	}
	share := max(1, u.limit/councils)
	under := u.byCouncil[council] < share
	var best *slot
	var bestOver bool
	var bestRate float64
	for s := range u.running {
		if s.arrival == nil {
			continue
		}
		n, waited, complete := s.arrival.Arrived()
		if complete {
			continue // nothing left to wait for: interrupting it would free nothing
		}
		over := u.byCouncil[s.council] > share
		slow := u.contended > 0 && waited >= judgeAfter && float64(n) < float64(u.contended)*waited.Seconds()
		if !(slow && (s.council == council || over || under) || over && under) {
			continue
		}
		rate := float64(n) / max(waited.Seconds(), judgeAfter.Seconds())
		if best == nil || over && !bestOver || over == bestOver && rate < bestRate {
			best, bestOver, bestRate = s, over, rate
		}
	}
	return best
}

// freeIfIdle returns freed memory to the system if no upload started meanwhile.
func (u *UploadSlots) freeIfIdle() {
	u.mu.Lock()
	idle := len(u.running) == 0
	u.mu.Unlock()
	if idle {
		debug.FreeOSMemory()
	}
}
