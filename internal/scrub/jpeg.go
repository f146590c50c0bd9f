package scrub

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
)

// cleanJPEG copies a JPEG segment by segment. It keeps what decoding and colour need (JFIF
// APP0, Adobe APP14, whose transform flag changes the colours, and the ICC profile in APP2,
// a colour description shared by every device of a model) and drops every other APPn (EXIF
// with its GPS, serial and thumbnail, but for its orientation; XMP, IPTC, maker data, MPF),
// comments, and whatever follows the end of the image (phones append further pictures
// there). Memory is one segment (at most 64 KiB) and the reader's buffer, whatever the size.
func cleanJPEG(r io.Reader, w io.Writer, rep *Report) error {
	br := bufio.NewReaderSize(r, 64<<10)
	bw := bufio.NewWriterSize(w, 64<<10)
	var soi [2]byte
	if _, err := io.ReadFull(br, soi[:]); err != nil || soi != [2]byte{0xFF, 0xD8} {
		return ErrCorrupt
	}
	bw.Write(soi[:])
	seg := make([]byte, 65535)
	var m byte // a marker already read (after a scan), or 0
	for {
		if m == 0 {
			b, err := br.ReadByte()
			if err != nil {
				return corrupt(err)
			}
			if b != 0xFF {
				return ErrCorrupt
			}
			if m, err = readMarker(br); err != nil {
				return err
			}
		}
		switch {
		case m == 0xD9: // end of image
			bw.Write([]byte{0xFF, m})
			if err := bw.Flush(); err != nil {
				return err
			}
			return dropRest(br, rep)
		case m == 0x01 || (m >= 0xD0 && m <= 0xD7) || m == 0xD8: // no length
			bw.Write([]byte{0xFF, m})
			m = 0
			continue
		}
		var l [2]byte
		if _, err := io.ReadFull(br, l[:]); err != nil {
			return corrupt(err)
		}
		n := int(l[0])<<8 | int(l[1])
		if n < 2 {
			return ErrCorrupt
		}
		body := seg[:n-2]
		if _, err := io.ReadFull(br, body); err != nil {
			return corrupt(err)
		}
		if code := jpegDrop(m, body); code != "" {
			if code == EXIF {
				// The orientation alone is kept, so a phone photo does not show sideways.
				if o := orientationEXIF(body); o != nil {
					if bytes.Equal(o, body) {
						code = "" // already only that: nothing removed
					}
					bw.Write(segmentHeader(m, len(o)))
					bw.Write(o)
				}
			}
			if code != "" {
				rep.removed(code)
			}
			m = 0
			continue
		}
		bw.Write([]byte{0xFF, m})
		bw.Write(l[:])
		if _, err := bw.Write(body); err != nil {
			return err
		}
		var err error
		if m == 0xDA { // start of scan: entropy-coded data follows, up to the next marker
			m, err = copyScan(br, bw)
			if err != nil {
				return err
			}
			continue
		}
		m = 0
	}
}

// readMarker reads a marker's code after its 0xFF, skipping fill bytes.
func readMarker(br *bufio.Reader) (byte, error) {
	for {
		b, err := br.ReadByte()
		if err != nil {
			return 0, corrupt(err)
		}
		if b == 0x00 {
			return 0, ErrCorrupt
		}
		if b != 0xFF {
			return b, nil
		}
	}
}

// jpegDrop says why segment m with body is removed, or "" to keep it.
func jpegDrop(m byte, body []byte) string {
	switch {
	case m == 0xFE:
		return Comment
	case m == 0xE0 && (bytes.HasPrefix(body, []byte("JFIF\x00")) || bytes.HasPrefix(body, []byte("JFXX\x00"))):
		return ""
	case m == 0xEE && bytes.HasPrefix(body, []byte("Adobe")):
		return ""
	case m == 0xE2 && bytes.HasPrefix(body, []byte("ICC_PROFILE\x00")):
		return ""
	case m == 0xE1 && bytes.HasPrefix(body, []byte("Exif\x00")):
		return EXIF
	case m == 0xE1 && bytes.HasPrefix(body, []byte("http://ns.adobe.com/")):
		return XMP
	case m == 0xED:
		return IPTC
	case m >= 0xE0 && m <= 0xEF:
		return Vendor
	}
	return ""
}

// copyScan copies entropy-coded data, in which 0xFF is followed by a stuffed 0x00 or a
// restart marker, and returns the first other marker.
func copyScan(br *bufio.Reader, bw *bufio.Writer) (byte, error) {
	for {
		chunk, err := br.ReadSlice(0xFF)
		if err == bufio.ErrBufferFull {
			if _, err := bw.Write(chunk); err != nil {
				return 0, err
			}
			continue
		}
		if err != nil {
			return 0, corrupt(err)
		}
		if _, err := bw.Write(chunk[:len(chunk)-1]); err != nil {
			return 0, err
		}
		b, err := br.ReadByte()
		for err == nil && b == 0xFF {
			b, err = br.ReadByte()
		}
		if err != nil {
			return 0, corrupt(err)
		}
		if b == 0x00 || (b >= 0xD0 && b <= 0xD7) {
			bw.WriteByte(0xFF)
			bw.WriteByte(b)
			continue
		}
		return b, nil
	}
}

// dropRest reads what follows an image's end and discards it, noting that there was some.
func dropRest(r io.Reader, rep *Report) error {
	n, err := io.Copy(io.Discard, r)
	if n > 0 {
		rep.removed(Trailing)
	}
	return err
}

func segmentHeader(m byte, n int) []byte {
	return []byte{0xFF, m, byte((n + 2) >> 8), byte(n + 2)}
}

// orientationEXIF is an EXIF block holding only exif's Orientation (how to turn the picture
// to show it upright), or nil when it has none or it is the default.
func orientationEXIF(exif []byte) []byte {
	t := exif[min(6, len(exif)):] // after "Exif\0\0": a TIFF header
	if len(t) < 8 {
		return nil
	}
	var bo binary.ByteOrder
	switch string(t[:4]) {
	case "MM\x00*":
		bo = binary.BigEndian
	case "II*\x00":
		bo = binary.LittleEndian
	default:
		return nil
	}
	ifd := int64(bo.Uint32(t[4:8]))
	if ifd+2 > int64(len(t)) {
		return nil
	}
	n := int64(bo.Uint16(t[ifd:]))
	for i := int64(0); i < n; i++ {
		e := ifd + 2 + 12*i
		if e+12 > int64(len(t)) {
			return nil
		}
		if bo.Uint16(t[e:]) != 0x0112 || bo.Uint16(t[e+2:]) != 3 {
			continue
		}
		o := bo.Uint16(t[e+8:])
		if o < 2 || o > 8 {
			return nil
		}
		out := []byte("Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01")
		out = binary.BigEndian.AppendUint16(out, o)
		return append(out, 0, 0, 0, 0, 0, 0) // padding, then no next IFD
	}
	return nil
}
