package api

import (
	"bytes"
	"io"
	"mime/multipart"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"candour/internal/fault"
	"candour/internal/intake"
	"candour/internal/server"
)

// FuzzDecodeReport: any body either decodes into a submission or fails with a fault the error
// handler turns into a 400; it never panics and never half-decodes into success.
func FuzzDecodeReport(f *testing.F) {
	f.Add([]byte(`{"mode":"anonymous","service_area":"finance","category":"fraud","summary":"s","details":"d","safeguarding":false,"named_people":["A"],"identity":null,"lang":"cy"}`))
	f.Add([]byte(`{"mode":"open","identity":{"name":"Gwen","email":"g@example.org","phone":"1","role":"r"}}`))
	f.Add([]byte(`{"named_people":[1,2]}`))
	f.Add([]byte("{\"summary\":\"\xff\"}"))
	f.Add([]byte(`{} []`))
	f.Add([]byte(`{"mode":"anonymous","mode":"open"}`))
	f.Add([]byte(`[{"a":`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var r intake.ReportSubmission
		err := unmarshalStrict(body, &r)
		if err == nil {
			if !utf8.Valid(body) {
				t.Fatalf("accepted invalid UTF-8")
			}
			return
		}
		fe, ok := fault.As(err)
		if !ok || fe.Kind != fault.Invalid || fe.Code == "" || fe.Message == "" {
			t.Fatalf("got %v, want an Invalid fault", err)
		}
	})
}

// FuzzAttachmentMultipart: whatever the multipart body, finding the file part and turning its
// name into display text never panics, and the name is always harmless.
func FuzzAttachmentMultipart(f *testing.F) {
	seed := func(name, content string) []byte {
		var buf bytes.Buffer
		w := multipart.NewWriter(&buf)
		w.SetBoundary("BOUNDARY")
		w.WriteField("csrf", "abc")
		fw, _ := w.CreateFormFile("file", name)
		fw.Write([]byte(content))
		w.Close()
		return buf.Bytes()
	}
	f.Add(seed("evidence.pdf", "%PDF-1.7"), "BOUNDARY")
	f.Add(seed("../../etc/passwd", "root:x:0:0"), "BOUNDARY")
	f.Add(seed("a\x00b\u202e\r\n.exe", "MZ"), "BOUNDARY")
	f.Add([]byte("--BOUNDARY\r\nContent-Disposition: form-data; name=\"file\"; filename*=UTF-8''%E2%80%AEgpj.exe\r\n\r\nx\r\n--BOUNDARY--\r\n"), "BOUNDARY")
	f.Add([]byte("--B\r\n\r\n"), "B")
	f.Fuzz(func(t *testing.T, body []byte, boundary string) {
		if boundary == "" || len(boundary) > 70 {
			return
		}
		part, _, err := server.FilePart(multipart.NewReader(bytes.NewReader(body), boundary))
		if err != nil {
			if !fault.Is(err, fault.Invalid) {
				t.Fatalf("got %v, want an Invalid fault", err)
			}
			return
		}
		name := intake.DisplayName(part.FileName())
		if name == "" || !utf8.ValidString(name) || utf8.RuneCountInString(name) > intake.MaxFileName {
			t.Fatalf("display name %q is not safe display text", name)
		}
		if strings.IndexFunc(name, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) }) >= 0 {
			t.Fatalf("display name %q keeps control characters", name)
		}
		io.Copy(io.Discard, io.LimitReader(part, 1<<20))
	})
}
