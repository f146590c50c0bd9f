package server

import (
	"candour/internal/fault"
	"io"
	"mime/multipart"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// Content types of downloads.
const (
	BinaryType = "application/octet-stream"
	CSVType    = "text/csv; charset=utf-8"
	TextType   = "text/plain; charset=utf-8"
)

// SendFile sends body (size bytes) as a file to save, never to show: attachment disposition
// with the name encoded safely, contentType as given, nosniff, and no caching of case material.
// Every download of either surface goes through here.
func SendFile(c *fiber.Ctx, name, contentType string, size int64, body io.Reader) error {
	c.Set(fiber.HeaderContentType, contentType)
	c.Set(fiber.HeaderContentDisposition, ContentDisposition(name))
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Context().SetBodyStream(body, int(size))
	return nil
}

// ContentDisposition is an attachment header (RFC 6266) with an ASCII fallback name and the
// exact UTF-8 name in filename* (RFC 5987); nothing in name can break out of the header.
func ContentDisposition(name string) string {
	fallback := strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' || r == '/' || r == ';' || r == '%' {
			return '_'
		}
		return r
	}, name)
	return `attachment; filename="` + fallback + `"; filename*=UTF-8''` + extValue(name)
}

// extValue percent-encodes every byte of s that is not an RFC 5987 attr-char.
func extValue(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9',
			strings.IndexByte("!#$&+-.^_`|~", ch) >= 0:
			b.WriteByte(ch)
		default:
			b.WriteByte('%')
			b.WriteByte(hexDigits[ch>>4])
			b.WriteByte(hexDigits[ch&15])
		}
	}
	return b.String()
}

// OnlyPart reads an upload's file part and, at its end, makes sure the form ends there: a
// second part is refused rather than dropped, and a body cut before its closing boundary is
// the client's fault (400), not the server's. Either error reaches the reader of the part,
// so the upload it was feeding is abandoned whole.
func OnlyPart(mr *multipart.Reader, part *multipart.Part) io.Reader {
	return &onlyPart{mr: mr, part: part}
}

type onlyPart struct {
	mr     *multipart.Reader
	part   *multipart.Part
	ending error // once the part has ended: io.EOF, or why the form is wrong
}

var (
	errSecondPart = &fault.Error{Kind: fault.Invalid, Code: "invalid", Message: "error.invalid",
		Fields: map[string]string{"file": "attachment.one_file"}}
	errCutForm = &fault.Error{Kind: fault.Invalid, Code: "invalid", Message: "error.invalid",
		Fields: map[string]string{"file": "attachment.cut"}}
)

func (o *onlyPart) Read(p []byte) (int, error) {
	if o.ending != nil {
		return 0, o.ending
	}
	n, err := o.part.Read(p)
	switch {
	case err == io.EOF:
		o.ending = o.end()
		return n, o.ending
	case err != nil:
		// A fault (too slow, timed out, the client gone) already says what happened.
		if _, ok := fault.As(err); !ok {
			err = errCutForm
		}
		o.ending = err
		return n, o.ending
	}
	return n, nil
}

// end is io.EOF when the form ends after the part, else why not.
func (o *onlyPart) end() error {
	next, err := o.mr.NextPart()
	switch {
	case err == io.EOF:
		return io.EOF
	case err != nil:
		return errCutForm
	}
	next.Close()
	return errSecondPart
}

// KeepOriginalField is the form field, before the file, by which a reporter asks that their
// file be kept as sent beside its cleaned copy ("yes" or "true").
const KeepOriginalField = "keep_original"

var errNoFile = &fault.Error{Kind: fault.Invalid, Code: "invalid", Message: "error.invalid",
	Fields: map[string]string{"file": "field.required"}}

// FilePart skips to the part named "file" and says whether a keep_original field before it
// was set. Other fields before it are discarded unread beyond what multipart needs to find
// the next boundary. Without a file part it is a field error on file.
func FilePart(mr *multipart.Reader) (part *multipart.Part, keepOriginal bool, err error) {
	for {
		part, err := mr.NextPart()
		if err != nil {
			return nil, false, errNoFile
		}
		switch part.FormName() {
		case "file":
			return part, keepOriginal, nil
		case KeepOriginalField:
			v, _ := io.ReadAll(io.LimitReader(part, 8))
			keepOriginal = string(v) == "yes" || string(v) == "true"
		}
		part.Close()
	}
}
