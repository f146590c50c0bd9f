package server

import (
	"bytes"
	"errors"
	"io"
	"net"
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
// minimum rate.
func RequestBody(c *fiber.Ctx) io.Reader {
	r := c.Context().RequestBodyStream()
	if r == nil {
		return bytes.NewReader(c.Body())
	}
	b := &clientBody{r: r, start: time.Now()}
	if p, ok := c.Locals(paceKey).(Pace); ok && p.MinRate > 0 {
		b.pace = p
		b.conn = c.Context().Conn()
		if t := c.App().Config().ReadTimeout; t > 0 {
			b.hard = c.Context().Time().Add(t)
		}
	}
	return b
}

type clientBody struct {
	r     io.Reader
	pace  Pace
	conn  net.Conn  // nil: no minimum rate
	start time.Time // when the handler began to read
	hard  time.Time // the server's own read deadline, which ours never passes
	n     int64
	ours  time.Time // the deadline last set, when it was ours
}

func (b *clientBody) Read(p []byte) (int, error) {
	if b.conn != nil {
		// The moment the average would fall below the minimum if nothing more came: a read
		// still waiting then fails with a timeout, so a stalled client is dropped on time
		// without a watchdog.
		at := b.start.Add(max(b.pace.Grace, time.Duration(float64(b.n)/float64(b.pace.MinRate)*float64(time.Second))))
		b.ours = at
		if !b.hard.IsZero() && !at.Before(b.hard) {
			at, b.ours = b.hard, time.Time{}
		}
		_ = b.conn.SetReadDeadline(at)
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	switch {
	case err == nil || err == io.EOF:
		return n, err
	case isTimeout(err) && !b.ours.IsZero() && !time.Now().Before(b.ours):
		return n, errTooSlow
	case isTimeout(err):
		return n, errReadTimeout
	}
	return n, errClientGone
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
