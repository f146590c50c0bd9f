package scrub

import (
	"bytes"
	"encoding/binary"
)

// HEIC photos (iPhones' default) are ISOBMFF files whose EXIF and XMP are items of the meta
// box. mat2 cleans them (through exiftool) in the same sandbox as documents; this file only
// tells them apart and reads, from the meta box, what they carry, for the report.
const HEIC Kind = "heic"

// heicBrands are the ftyp brands of HEIF still images; mif1 is the generic one many writers
// put first.
var heicBrands = map[string]bool{"heic": true, "heix": true, "mif1": true}

// sniffHEIC is whether head starts with an ftyp box naming a HEIF brand, major or compatible.
func sniffHEIC(head []byte) bool {
	if len(head) < 16 || string(head[4:8]) != "ftyp" {
		return false
	}
	n := int(binary.BigEndian.Uint32(head))
	if n < 16 || n > len(head) {
		n = len(head)
	}
	if heicBrands[string(head[8:12])] {
		return true
	}
	for i := 16; i+4 <= n; i += 4 { // after the major brand and minor version
		if heicBrands[string(head[i:i+4])] {
			return true
		}
	}
	return false
}

// heicMetaLen is how much of a HEIC file heicFindings reads: the meta box comes first in
// files written by phones and libheif, and is a few KB even with many tiles.
const heicMetaLen = 1 << 20

// box is an ISOBMFF box: its type and its body.
func box(b []byte) (typ string, body, rest []byte, ok bool) {
	if len(b) < 8 {
		return "", nil, nil, false
	}
	n := uint64(binary.BigEndian.Uint32(b))
	hdr := uint64(8)
	if n == 1 { // 64-bit size
		if len(b) < 16 {
			return "", nil, nil, false
		}
		n, hdr = binary.BigEndian.Uint64(b[8:]), 16
	}
	if n == 0 { // to the end of the file
		n = uint64(len(b))
	}
	if n < hdr || n > uint64(len(b)) {
		return "", nil, nil, false
	}
	return string(b[4:8]), b[hdr:n], b[n:], true
}

// heicFindings lists the metadata items of a HEIC file's meta box (in head, its first bytes):
// EXIF for an Exif item, XMP for an XMP mime item. A meta box it cannot read reports nothing;
// mat2 still cleans the file.
func heicFindings(head []byte, rep *Report) {
	for b := head; ; {
		typ, body, rest, ok := box(b)
		if !ok {
			return
		}
		if typ == "meta" && len(body) >= 4 {
			heicItems(body[4:], rep) // after the full box's version and flags
			return
		}
		b = rest
	}
}

func heicItems(meta []byte, rep *Report) {
	for b := meta; ; {
		typ, body, rest, ok := box(b)
		if !ok {
			return
		}
		b = rest
		if typ != "iinf" || len(body) < 6 {
			continue
		}
		entries := body[6:] // version, flags, 16-bit count
		if body[0] != 0 {
			if len(body) < 8 {
				return
			}
			entries = body[8:] // 32-bit count
		}
		for e := entries; ; {
			typ, infe, rest, ok := box(e)
			if !ok {
				return
			}
			e = rest
			// Item info entries of version 2 (16-bit id) and 3 (32-bit id) carry a type.
			if typ != "infe" || len(infe) < 4 || infe[0] < 2 {
				continue
			}
			at := 4 + 2 + 2 // version and flags, id, protection index
			if infe[0] == 3 {
				at += 2
			}
			if len(infe) < at+4 {
				continue
			}
			switch string(infe[at : at+4]) {
			case "Exif":
				rep.removed(EXIF)
			case "mime": // an item name, then the content type, each ending in a zero byte
				_, ct, _ := bytes.Cut(infe[at+4:], []byte{0})
				if bytes.HasPrefix(ct, []byte("application/rdf+xml")) {
					rep.removed(XMP)
				}
			}
		}
	}
}
