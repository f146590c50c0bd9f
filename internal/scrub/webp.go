package scrub

import (
	"encoding/binary"
	"io"
)

// webpKeep are the chunks that make up the picture; EXIF, XMP and anything unknown go.
var webpKeep = map[string]bool{"VP8 ": true, "VP8L": true, "VP8X": true, "ALPH": true,
	"ANIM": true, "ANMF": true, "ICCP": true}

// VP8X flags that announce chunks this removes.
const (
	vp8xEXIF = 0x08
	vp8xXMP  = 0x04
)

// cleanWebP rewrites a WebP's RIFF container without its EXIF and XMP chunks, clearing their
// flags in VP8X. The RIFF size comes first, so the file is held whole, up to MaxWebP.
func cleanWebP(r io.Reader, w io.Writer, rep *Report) error {
	data, err := io.ReadAll(io.LimitReader(r, MaxWebP+1))
	if err != nil {
		return err
	}
	if len(data) > MaxWebP {
		return ErrTooLarge
	}
	if len(data) < 12 || string(data[:4]) != "RIFF" || string(data[8:12]) != "WEBP" {
		return ErrCorrupt
	}
	end := 8 + int64(binary.LittleEndian.Uint32(data[4:8]))
	if end > int64(len(data)) || end < 12 {
		return ErrCorrupt
	}
	if end < int64(len(data)) {
		rep.removed(Trailing)
	}
	body := data[12:end]
	// Kept chunks are moved down in place: out never passes in.
	out := 0
	var vp8x []byte
	for in := 0; in < len(body); {
		if len(body)-in < 8 {
			return ErrCorrupt
		}
		typ := string(body[in : in+4])
		n := int64(binary.LittleEndian.Uint32(body[in+4 : in+8]))
		size := 8 + n + n&1 // chunks are padded to an even length
		if size > int64(len(body)-in) {
			if size-1 != int64(len(body)-in) || n&1 == 0 {
				return ErrCorrupt
			}
			size-- // a missing last pad byte, which many writers leave out
		}
		chunk := body[in : in+int(size)]
		in += int(size)
		switch {
		case typ == "EXIF":
			rep.removed(EXIF)
			continue
		case typ == "XMP ":
			rep.removed(XMP)
			continue
		case !webpKeep[typ]:
			rep.removed(Vendor)
			continue
		}
		copy(body[out:], chunk)
		if typ == "VP8X" && n >= 1 && vp8x == nil {
			vp8x = body[out : out+int(size)]
		}
		out += int(size)
	}
	if vp8x != nil {
		vp8x[8] &^= vp8xEXIF | vp8xXMP
	}
	var hdr [12]byte
	copy(hdr[:], "RIFF")
	binary.LittleEndian.PutUint32(hdr[4:], uint32(4+out))
	copy(hdr[8:], "WEBP")
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	_, err = w.Write(body[:out])
	return err
}
