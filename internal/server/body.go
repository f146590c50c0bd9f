package server

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"

	"candour/internal/fault"
)

// Pace is the slowest an evidence upload may arrive: after Grace, one whose average rate since
// it began is below MinRate bytes a second is dropped (408 too_slow). An upload holds a slot and
// a database connection while it arrives, so a trickle of bytes would hold them for the whole
// read timeout. MinRate 0: no minimum.
type Pace struct {
	MinRate int64
	Grace   time.Duration
}

var (
	errTooSlow = &fault.Error{Kind: fault.Timeout, Code: "too_slow", Message: "error.too_slow",
		Fields: map[string]string{"file": "error.too_slow"}}
	errReadTimeout = &fault.Error{Kind: fault.Timeout, Code: "timeout", Message: "error.timeout",
		Fields: map[string]string{"file": "error.timeout"}}
	// The connection broke or ended early: the client hung up, which is its business, not a
	// failure of ours.
	errClientGone = &fault.Error{Kind: fault.Invalid, Code: "invalid", Message: "error.invalid",
		Fields: map[string]string{"file": "attachment.cut"}}
)

// paceKey is the fiber.Ctx local holding the pace of an upload route.
const paceKey = "uploadPace"

// RequestBody is the request's body as a stream. Every handler reads bodies through it, so a
// connection that breaks or times out mid-body is a client fault (400, 408), never a 500, and
// never mistaken for a database that went away; on the evidence uploads it also enforces the
// minimum rate. A streamed body is an intake.Arrival: it tells how it is arriving, and can be
// interrupted when its upload slot goes to a newcomer.
func RequestBody(c *fiber.Ctx) io.Reader {
	r := c.Context().RequestBodyStream()
	if r == nil {
		return bytes.NewReader(c.Body())
	}
	b := &clientBody{r: r, start: time.Now(), conn: c.Context().Conn(), length: int64(c.Request().Header.ContentLength())}
	if p, ok := c.Locals(paceKey).(Pace); ok && p.MinRate > 0 {
		b.pace = p
		if t := c.App().Config().ReadTimeout; t > 0 {
			b.hard = c.Context().Time().Add(t)
		}
	}
	return b
}

// UploadReadBuffer is how much of an upload is read from the connection at a time. multipart
// reads through its own 4 KiB buffer; without this one each of its refills would be a read
// from the connection's 16 KiB buffer, and each of those a system call.
const UploadReadBuffer = 256 << 10

// uploadReaders keeps the read buffers of finished uploads: in a flood, each refused upload
// would otherwise leave one as garbage, and the heap grows with the garbage between
// collections.
var uploadReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, UploadReadBuffer) }}

// UploadBody is RequestBody, and the same behind a pooled read buffer of UploadReadBuffer
// bytes. Call release once nothing reads either any more.
func UploadBody(c *fiber.Ctx) (body io.Reader, buffered *bufio.Reader, release func()) {
	body = RequestBody(c)
	br := uploadReaders.Get().(*bufio.Reader)
	br.Reset(body)
	return body, br, func() {
		br.Reset(nil)
		uploadReaders.Put(br)
	}
}

type clientBody struct {
	r      io.Reader
	pace   Pace      // MinRate 0: no minimum rate
	conn   net.Conn  // for read deadlines
	start  time.Time // when the handler began to read
	hard   time.Time // the server's own read deadline, which ours never passes
	length int64     // Content-Length; -1 when unknown
	ours   time.Time // the deadline last set, when it was ours

	// What Arrived tells another goroutine (the upload slots).
	n           atomic.Int64
	waited      atomic.Int64 // nanoseconds spent in reads that have returned
	readingFrom atomic.Int64 // when the read now waiting began (unix nanoseconds); 0: none
	complete    atomic.Bool
	stop        atomic.Pointer[error] // set by Interrupt
}

func (b *clientBody) Read(p []byte) (int, error) {
	if b.pace.MinRate > 0 {
		// The moment the average would fall below the minimum if nothing more came: a read
		// still waiting then fails with a timeout, so a stalled client is dropped on time
		// without a watchdog.
		at := b.start.Add(max(b.pace.Grace, time.Duration(float64(b.n.Load())/float64(b.pace.MinRate)*float64(time.Second))))
		b.ours = at
		if !b.hard.IsZero() && !at.Before(b.hard) {
			at, b.ours = b.hard, time.Time{}
		}
		_ = b.conn.SetReadDeadline(at)
	}
	// Checked after the deadline is set: an Interrupt either is seen here or moves the
	// deadline this read waits on to now.
	if err := b.stop.Load(); err != nil {
		return 0, *err
	}
	began := time.Now()
	b.readingFrom.Store(began.UnixNano())
	n, err := b.r.Read(p)
	b.readingFrom.Store(0) // before the sum grows: Arrived may count short, never twice
	b.waited.Add(int64(time.Since(began)))
	total := b.n.Add(int64(n))
	if err == io.EOF || b.length >= 0 && total >= b.length {
		b.complete.Store(true)
	}
	switch {
	case err == nil || err == io.EOF:
		return n, err
	case b.stop.Load() != nil:
		return n, *b.stop.Load()
	case isTimeout(err) && !b.ours.IsZero() && !time.Now().Before(b.ours):
		return n, errTooSlow
	case isTimeout(err):
		return n, errReadTimeout
	}
	return n, errClientGone
}

// Arrived is how much of the body has come, how long reads have waited for it (the read
// waiting now included) and whether it is all here.
func (b *clientBody) Arrived() (int64, time.Duration, bool) {
	waited := time.Duration(b.waited.Load())
	if from := b.readingFrom.Load(); from != 0 {
		waited += time.Since(time.Unix(0, from))
	}
	return b.n.Load(), waited, b.complete.Load()
}

// Interrupt makes the read now waiting, and every later one, fail with err.
func (b *clientBody) Interrupt(err error) {
	b.stop.Store(&err)
	_ = b.conn.SetReadDeadline(time.Now())
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// paceUploads marks the evidence uploads for RequestBody's minimum rate.
func paceUploads(p Pace) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if c.Method() == fiber.MethodPost && uploadRoute(c) {
			c.Locals(paceKey, p)
		}
		return c.Next()
	}
}
