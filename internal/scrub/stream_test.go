package scrub

import (
	"bytes"
	"image"
	"image/jpeg"
	"io"
	"math/rand/v2"
	"runtime"
	"testing"
)

// bigJPEG is a reader of a JPEG of about size bytes, made on the fly: a real header (with an
// EXIF block), then random-looking scan data (each 0xFF stuffed with 0x00, as in a real
// scan) repeated, then the end marker. It is never held whole, so a test can tell whether
// cleaning holds it.
func bigJPEG(t testing.TB, size int64) io.Reader {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, image.NewGray(image.Rect(0, 0, 8, 8)), nil); err != nil {
		t.Fatal(err)
	}
	img := b.Bytes()
	sos := bytes.Index(img, []byte{0xFF, 0xDA})
	n := int(img[sos+2])<<8 | int(img[sos+3])
	head := append(append(bytes.Clone(img[:2]), segment(0xE1, "Exif\x00\x00GPS")...), img[2:sos+2+n]...)
	var scan []byte
	rng := rand.New(rand.NewPCG(1, 2))
	for len(scan) < 64<<10 {
		c := byte(rng.Uint32())
		if scan = append(scan, c); c == 0xFF {
			scan = append(scan, 0)
		}
	}
	return io.MultiReader(bytes.NewReader(head), io.LimitReader(repeat(scan), size), bytes.NewReader([]byte{0xFF, 0xD9}))
}

type repeater struct {
	b   []byte
	off int
}

func repeat(b []byte) io.Reader { return &repeater{b: b} }

func (r *repeater) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		k := copy(p[n:], r.b[r.off:])
		n += k
		r.off = (r.off + k) % len(r.b)
	}
	return n, nil
}

// Cleaning a JPEG streams: 64 MiB through it allocates a few buffers, not the file.
func TestJPEGStreams(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	rep, err := Clean(JPEG, bigJPEG(t, 64<<20), io.Discard)
	runtime.ReadMemStats(&after)
	if err != nil || len(rep.Removed) != 1 {
		t.Fatalf("got %+v, %v", rep, err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 4<<20 {
		t.Errorf("cleaning 64 MiB allocated %d bytes, want a few buffers", grew)
	}
}

// BenchmarkJPEG100MB cleans a 100 MB JPEG; BenchmarkCopy100MB copies the same bytes, the
// floor cleaning is measured against.
func BenchmarkJPEG100MB(b *testing.B) {
	b.SetBytes(100 << 20)
	for b.Loop() {
		if _, err := Clean(JPEG, bigJPEG(b, 100<<20), io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCopy100MB(b *testing.B) {
	b.SetBytes(100 << 20)
	for b.Loop() {
		if _, err := io.Copy(io.Discard, bigJPEG(b, 100<<20)); err != nil {
			b.Fatal(err)
		}
	}
}
