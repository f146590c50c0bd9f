// Package scrub removes identifying metadata (EXIF with its GPS position and camera serial,
// XMP, IPTC, comments, text chunks, timestamps) from images before they are sealed. Types are
// told by their content, never by a file name or a client's Content-Type, so a file that
// claims one type and is another is cleaned as what it is. JPEG and PNG stream in constant
// memory; WebP needs its size up front and is held in memory up to MaxWebP. PDF and Office
// files, and HEIC photos, go through mat2 in a sandbox (see mat2.go), up to MaxDocument.
package scrub

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
)

// Kind is what a file is, by its content.
type Kind string

const (
	JPEG  Kind = "jpeg"
	PNG   Kind = "png"
	WebP  Kind = "webp"
	Text  Kind = "text"  // plain text: nothing to clean, passes unchanged
	Other Kind = "other" // stored as it is, not cleaned
)

// What was found and removed, as codes the pages and the API translate.
const (
	EXIF     = "exif"     // camera, serial number, GPS position, times, thumbnail
	XMP      = "xmp"      // author, editing history, sometimes position
	IPTC     = "iptc"     // photographer, caption, place
	Comment  = "comment"  // free-text comments
	TextNote = "text"     // PNG text chunks (author, software, description)
	Time     = "time"     // PNG modification time
	Vendor   = "vendor"   // other maker or application data
	Trailing = "trailing" // data after the image's end (phones hide extra pictures there)
)

// Report is what Clean found in the file and removed.
type Report struct {
	Kind    Kind     `json:"kind"`
	Cleaned bool     `json:"cleaned"` // the file was checked by a cleaner (for Text: nothing to do)
	Removed []string `json:"removed"` // codes above, each once, in the order found
}

func (r *Report) removed(code string) {
	for _, c := range r.Removed {
		if c == code {
			return
		}
	}
	r.Removed = append(r.Removed, code)
}

var (
	// ErrCorrupt is a file that looks like an image but does not follow its format, so it
	// cannot be cleaned with confidence: it is refused rather than stored with its metadata.
	ErrCorrupt = errors.New("scrub: corrupt image")
	// ErrTooLarge is a WebP file over MaxWebP or a document over MaxDocument.
	ErrTooLarge = errors.New("scrub: file too large for its format")
)

// MaxWebP is the largest WebP cleaned: its RIFF size must be written before its chunks, so the
// whole file is held in memory.
const MaxWebP = 32_000_000

// SniffLen is how much of a file Sniff needs.
const SniffLen = 512

// Sniff tells a file's kind from its first bytes.
func Sniff(head []byte) Kind {
	switch {
	case bytes.HasPrefix(head, []byte{0xFF, 0xD8, 0xFF}):
		return JPEG
	case bytes.HasPrefix(head, pngSig):
		return PNG
	case len(head) >= 12 && string(head[:4]) == "RIFF" && string(head[8:12]) == "WEBP":
		return WebP
	}
	if sniffHEIC(head) && mat2Ready {
		return HEIC
	}
	if k := sniffDocument(head); k != "" && mat2Ready {
		return k
	}
	if ct := http.DetectContentType(head); ct == "text/plain; charset=utf-8" {
		return Text
	}
	return Other
}

// Detect peeks at r to tell its kind and returns a reader that still yields the whole file.
func Detect(r io.Reader) (Kind, io.Reader, error) {
	br := bufio.NewReaderSize(r, SniffLen)
	head, err := br.Peek(SniffLen)
	if err != nil && err != io.EOF {
		return "", nil, err
	}
	return Sniff(head), br, nil
}

// Clean copies r to w without its metadata. Text and Other are copied unchanged. An error
// means w holds a partial file, which the caller must discard.
func Clean(kind Kind, r io.Reader, w io.Writer) (Report, error) {
	rep := Report{Kind: kind, Removed: []string{}}
	var err error
	switch kind {
	case JPEG:
		err = cleanJPEG(r, w, &rep)
	case PNG:
		err = cleanPNG(r, w, &rep)
	case WebP:
		err = cleanWebP(r, w, &rep)
	case PDF, DOCX, XLSX, PPTX, ODT, ODS, ODP, HEIC:
		err = cleanDocument(kind, r, w, &rep)
	default:
		_, err = io.Copy(w, r)
		rep.Cleaned = kind == Text
		return rep, err
	}
	rep.Cleaned = err == nil
	return rep, err
}

// corrupt turns a short read into ErrCorrupt: a file that ends early is not a valid image.
// Other errors (the upload failed, the size limit) pass unchanged.
func corrupt(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return ErrCorrupt
	}
	return err
}
