package intake

import (
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

var (
	// The field errors are for the form, which shows them against the file question.
	errUploadsBusy = &fault.Error{Kind: fault.Unavailable, Code: "uploads_busy", Message: "mailbox.uploads_busy",
		Fields: map[string]string{"file": "mailbox.uploads_busy"}, RetryAfter: time.Minute}
	errUploadsPerMailbox = &fault.Error{Kind: fault.TooMany, Code: "uploads_per_mailbox", Message: "mailbox.uploads_per_mailbox",
		Fields: map[string]string{"file": "mailbox.uploads_per_mailbox"}, RetryAfter: 30 * time.Second}
)

// UploadSlots hands out the upload slots: MaxUploads in all, MaxUploadsPerMailbox a concern.
// The councils of a deployment share one (Deps.Uploads): they share the database pool the
// slots protect. References are unique across councils, so counting by reference holds.
type UploadSlots struct {
	mu     sync.Mutex
	total  int
	byRef  map[string]int
	limit  int
	perRef int
	idle   *time.Timer // gives memory back once uploads have stopped
}

// NewUploadSlots returns the deployment's upload slots.
func NewUploadSlots() *UploadSlots {
	return &UploadSlots{byRef: map[string]int{}, limit: MaxUploads, perRef: MaxUploadsPerMailbox}
}

// idleFree is how long the slots stay empty before the memory a burst of uploads used goes
// back to the system: without it the collector, with nothing left to do, never runs again and
// the process stays at its peak (the upload flood bench: 233 MiB at rest, of it about 30 in
// use).
const idleFree = 2 * time.Second

// take claims a slot for concern ref; call release when the upload is over. The concern's own
// limit is checked first, so a reporter over it is told so (429), not that everyone is busy.
func (u *UploadSlots) take(ref string) (release func(), err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	switch {
	case u.byRef[ref] >= u.perRef:
		return nil, errUploadsPerMailbox
	case u.total >= u.limit:
		return nil, errUploadsBusy
	}
	u.total++
	u.byRef[ref]++
	return func() {
		u.mu.Lock()
		defer u.mu.Unlock()
		u.total--
		if u.byRef[ref]--; u.byRef[ref] == 0 {
			delete(u.byRef, ref)
		}
		if u.total == 0 {
			if u.idle == nil {
				u.idle = time.AfterFunc(idleFree, u.freeIfIdle)
			} else {
				u.idle.Reset(idleFree)
			}
		}
	}, nil
}

// freeIfIdle returns freed memory to the system if no upload started meanwhile.
func (u *UploadSlots) freeIfIdle() {
	u.mu.Lock()
	idle := u.total == 0
	u.mu.Unlock()
	if idle {
		debug.FreeOSMemory()
	}
}
