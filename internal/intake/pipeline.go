package intake

import (
	"errors"
	"io"
	"sync"
)

// pipeBufSize and pipeBufs bound what an upload holds in memory between the request and the
// encryption: pipeBufs buffers of pipeBufSize.
const (
	pipeBufSize = 1 << 20
	pipeBufs    = 3
)

// encryptPipe runs the encryption (and what it writes to) on its own goroutine, so reading
// the request (network and multipart parsing) and encrypting run on two cores at once. The
// request is only ever read by the caller's goroutine: the HTTP server's request state is not
// safe to touch from elsewhere. Plaintext is read straight into the pipe's buffers (ReadFrom).
type encryptPipe struct {
	w    io.Writer // the encrypting writer; used only by the worker
	free chan []byte
	full chan []byte
	done chan struct{}
	fail chan struct{} // closed when the worker hits an error
	err  error         // the worker's first error; read after fail or done
	shut bool          // Close was called
	cur  []byte        // the buffer Write is filling, not yet handed to the worker
	n    int64         // bytes taken in by ReadFrom and Write
}

// pipeBufPool keeps the buffers of finished pipes: an upload flood would otherwise make 3 MiB
// of garbage per upload, refused ones aside, and the heap grows with the garbage between
// collections (the upload flood bench's peak RSS).
var pipeBufPool = sync.Pool{New: func() any { b := make([]byte, pipeBufSize); return &b }}

func newEncryptPipe(w io.Writer) *encryptPipe {
	p := &encryptPipe{w: w, free: make(chan []byte, pipeBufs), full: make(chan []byte, pipeBufs),
		done: make(chan struct{}), fail: make(chan struct{})}
	for i := 0; i < pipeBufs; i++ {
		p.free <- *pipeBufPool.Get().(*[]byte)
	}
	go p.work()
	return p
}

func (p *encryptPipe) work() {
	defer close(p.done)
	for b := range p.full {
		if p.err == nil {
			if _, err := p.w.Write(b); err != nil {
				p.err = err
				close(p.fail)
			}
		}
		p.free <- b[:cap(b)]
	}
}

var errPipeClosed = errors.New("intake: encrypt pipe closed")

// ReadFrom reads r to its end into the pipe. It returns how much it read and the first error
// of reading or of the worker.
func (p *encryptPipe) ReadFrom(r io.Reader) (int64, error) {
	// What Write left half filled goes first, to keep the order.
	if p.cur != nil {
		p.full <- p.cur
		p.cur = nil
	}
	var total int64
	for {
		var buf []byte
		select {
		case buf = <-p.free:
		case <-p.fail:
			return total, p.err
		}
		// Not io.ReadFull: it reports a short read ending in io.EOF as io.ErrUnexpectedEOF,
		// which a reader can also return for a body that was cut.
		n, err := fill(r, buf)
		total += int64(n)
		p.n += int64(n)
		if n > 0 {
			p.full <- buf[:n]
		} else {
			p.free <- buf
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// fill reads into buf until it is full or r returns an error (io.EOF included), which it
// returns unchanged.
func fill(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		k, err := r.Read(buf[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// Write copies b into the pipe's buffers, handing each to the worker when full: for a
// cleaner, which writes what it keeps rather than being read from.
func (p *encryptPipe) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		if p.cur == nil {
			select {
			case buf := <-p.free:
				p.cur = buf[:0]
			case <-p.fail:
				return n, p.err
			}
		}
		k := copy(p.cur[len(p.cur):cap(p.cur)], b)
		p.cur, b, n = p.cur[:len(p.cur)+k], b[k:], n+k
		if len(p.cur) == cap(p.cur) {
			p.full <- p.cur
			p.cur = nil
		}
	}
	p.n += int64(n)
	return n, nil
}

// Close waits until everything handed to the worker is written and returns the worker's
// first error. It must be called exactly once, also after a failed ReadFrom.
func (p *encryptPipe) Close() error {
	if p.shut {
		return errPipeClosed
	}
	p.shut = true
	if len(p.cur) > 0 {
		p.full <- p.cur
	}
	close(p.full)
	<-p.done
	// The worker has handed every buffer back: none is in use any more.
	for len(p.free) > 0 {
		b := <-p.free
		pipeBufPool.Put(&b)
	}
	return p.err
}
