package scrub

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"io"
)

var pngSig = []byte("\x89PNG\r\n\x1a\n")

// pngKeep are the ancillary chunks that describe pixels, colour or animation and carry
// nothing about who made the picture; every other ancillary chunk is dropped.
var pngKeep = map[string]bool{
	"tRNS": true, "gAMA": true, "cHRM": true, "sRGB": true, "iCCP": true, "sBIT": true,
	"bKGD": true, "pHYs": true, "hIST": true, "sPLT": true, "cICP": true, "mDCv": true,
	"cLLi": true, "acTL": true, "fcTL": true, "fdAT": true,
}

var pngCritical = map[string]bool{"IHDR": true, "PLTE": true, "IDAT": true, "IEND": true}

// cleanPNG copies a PNG chunk by chunk, dropping text (tEXt, zTXt, iTXt, where XMP lives),
// eXIf, tIME, unknown ancillary chunks and anything after IEND. Each chunk's CRC is checked
// as it streams, so a damaged file is refused. Memory is a small fixed buffer.
func cleanPNG(r io.Reader, w io.Writer, rep *Report) error {
	var sig [8]byte
	if _, err := io.ReadFull(r, sig[:]); err != nil || !bytes.Equal(sig[:], pngSig) {
		return ErrCorrupt
	}
	if _, err := w.Write(sig[:]); err != nil {
		return err
	}
	buf := make([]byte, 32<<10)
	first := true
	for {
		var hdr [8]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return corrupt(err)
		}
		n := binary.BigEndian.Uint32(hdr[:4])
		typ := string(hdr[4:8])
		if n > 1<<31-1 || !pngType(hdr[4:8]) || first != (typ == "IHDR") {
			return ErrCorrupt
		}
		first = false
		critical := hdr[4]&0x20 == 0
		if critical && !pngCritical[typ] {
			return ErrCorrupt // a decoder must refuse it too
		}
		code := ""
		if !critical && !pngKeep[typ] {
			code = pngDrop(typ)
		}
		dst := w
		if code != "" {
			dst = io.Discard
		} else if _, err := w.Write(hdr[:]); err != nil {
			return err
		}
		crc := crc32.NewIEEE()
		crc.Write(hdr[4:8])
		// The first bytes of iTXt tell XMP from other text.
		if typ == "iTXt" && n >= 17 {
			if _, err := io.ReadFull(r, buf[:17]); err != nil {
				return corrupt(err)
			}
			crc.Write(buf[:17])
			if string(buf[:17]) == "XML:com.adobe.xmp" {
				code = XMP
			}
			n -= 17
		}
		if _, err := io.CopyBuffer(io.MultiWriter(dst, crc), io.LimitReader(r, int64(n)), buf); err != nil {
			return err
		}
		var sum [4]byte
		if _, err := io.ReadFull(r, sum[:]); err != nil {
			return corrupt(err)
		}
		if binary.BigEndian.Uint32(sum[:]) != crc.Sum32() {
			return ErrCorrupt
		}
		if code != "" {
			rep.removed(code)
			continue
		}
		if _, err := w.Write(sum[:]); err != nil {
			return err
		}
		if typ == "IEND" {
			return dropRest(r, rep)
		}
	}
}

func pngType(t []byte) bool {
	for _, c := range t {
		if (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') {
			return false
		}
	}
	return true
}

func pngDrop(typ string) string {
	switch typ {
	case "tEXt", "zTXt", "iTXt":
		return TextNote
	case "eXIf":
		return EXIF
	case "tIME":
		return Time
	}
	return Vendor
}
