package scrub

import (
	"bytes"
	"candour/internal/pdftest"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"reflect"
	"testing"
	"time"
)

func picture() image.Image {
	img := image.NewRGBA(image.Rect(0, 0, 24, 16))
	for x := 0; x < 24; x++ {
		for y := 0; y < 16; y++ {
			img.Set(x, y, color.RGBA{uint8(x * 10), uint8(y * 15), 200, 255})
		}
	}
	return img
}

func segment(m byte, body string) []byte {
	n := len(body) + 2
	return append([]byte{0xFF, m, byte(n >> 8), byte(n)}, body...)
}

// taggedJPEG is a real JPEG with every kind of metadata block, and a second "picture" after
// its end, as phones write.
func taggedJPEG(t testing.TB) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, picture(), nil); err != nil {
		t.Fatal(err)
	}
	img := b.Bytes()
	var out []byte
	out = append(out, img[:2]...)
	out = append(out, segment(0xE1, "Exif\x00\x00GPS 51.48N SERIAL-12345")...)
	out = append(out, segment(0xE1, "http://ns.adobe.com/xap/1.0/\x00<x:creator>Jo Bloggs</x:creator>")...)
	out = append(out, segment(0xED, "Photoshop 3.0\x008BIM byline Jo Bloggs")...)
	out = append(out, segment(0xE2, "ICC_PROFILE\x00\x01\x01colour")...)
	out = append(out, segment(0xE2, "MPF\x00index")...)
	out = append(out, segment(0xFE, "taken at 12 High Street")...)
	out = append(out, img[2:]...)
	return append(out, "\xFF\xD8second picture SERIAL-12345"...)
}

// checkCleaned cleans in as kind and checks the report, that none of gone is left, that kept
// is, and that the result still decodes.
func checkCleaned(t *testing.T, kind Kind, in []byte, want, gone []string, kept string, decode func([]byte) error) {
	t.Helper()
	var out bytes.Buffer
	rep, err := Clean(kind, bytes.NewReader(in), &out)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Cleaned || !reflect.DeepEqual(rep.Removed, want) {
		t.Fatalf("report %+v, want removed %v", rep, want)
	}
	for _, s := range gone {
		if bytes.Contains(out.Bytes(), []byte(s)) {
			t.Errorf("%q left in the cleaned file", s)
		}
	}
	if !bytes.Contains(out.Bytes(), []byte(kept)) {
		t.Errorf("%s was dropped", kept)
	}
	if err := decode(out.Bytes()); err != nil {
		t.Fatalf("cleaned %s does not decode: %v", kind, err)
	}
}

func TestJPEGMetadataRemoved(t *testing.T) {
	checkCleaned(t, JPEG, taggedJPEG(t), []string{EXIF, XMP, IPTC, Vendor, Comment, Trailing},
		[]string{"SERIAL", "Jo Bloggs", "High Street", "MPF"}, "ICC_PROFILE",
		func(b []byte) error { _, err := jpeg.Decode(bytes.NewReader(b)); return err })
}

func pngChunk(typ, data string) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	b = append(b, typ...)
	b = append(b, data...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE([]byte(typ+data)))
}

func taggedPNG(t testing.TB) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, picture()); err != nil {
		t.Fatal(err)
	}
	img := b.Bytes()
	ihdrEnd := 8 + 8 + 13 + 4
	var out []byte
	out = append(out, img[:ihdrEnd]...)
	out = append(out, pngChunk("tEXt", "Author\x00Jo Bloggs")...)
	out = append(out, pngChunk("iTXt", "XML:com.adobe.xmp\x00\x00\x00\x00\x00<gps>51.48N</gps>")...)
	out = append(out, pngChunk("eXIf", "MM\x00*SERIAL-12345")...)
	out = append(out, pngChunk("tIME", "\x07\xea\x0c\x05\x11\x1b\x00")...)
	out = append(out, pngChunk("gAMA", "\x00\x00\xb1\x8f")...)
	out = append(out, pngChunk("prVt", "Jo Bloggs")...)
	out = append(out, img[ihdrEnd:]...)
	return append(out, "SERIAL-12345"...)
}

func TestPNGMetadataRemoved(t *testing.T) {
	checkCleaned(t, PNG, taggedPNG(t), []string{TextNote, XMP, EXIF, Time, Vendor, Trailing},
		[]string{"SERIAL", "Jo Bloggs", "51.48N", "tIME"}, "gAMA",
		func(b []byte) error { _, err := png.Decode(bytes.NewReader(b)); return err })
}

func riffChunk(typ, data string) []byte {
	b := append([]byte(typ), binary.LittleEndian.AppendUint32(nil, uint32(len(data)))...)
	b = append(b, data...)
	if len(data)%2 == 1 {
		b = append(b, 0)
	}
	return b
}

func riff(chunks ...[]byte) []byte {
	body := []byte("WEBP")
	for _, c := range chunks {
		body = append(body, c...)
	}
	return append(append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...), body...)
}

func TestWebPMetadataRemoved(t *testing.T) {
	vp8x := string([]byte{0x20 | vp8xEXIF | vp8xXMP, 0, 0, 0, 23, 0, 0, 15, 0, 0})
	in := riff(riffChunk("VP8X", vp8x), riffChunk("ICCP", "colour"), riffChunk("VP8L", "\x2f pixels"),
		riffChunk("EXIF", "MM\x00*SERIAL-12345"), riffChunk("XMP ", "<creator>Jo Bloggs</creator>"))
	var out bytes.Buffer
	rep, err := Clean(WebP, bytes.NewReader(append(in, "tail"...)), &out)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{Trailing, EXIF, XMP}
	if !reflect.DeepEqual(rep.Removed, want) {
		t.Fatalf("removed %v, want %v", rep.Removed, want)
	}
	wantOut := riff(riffChunk("VP8X", string([]byte{0x20, 0, 0, 0, 23, 0, 0, 15, 0, 0})),
		riffChunk("ICCP", "colour"), riffChunk("VP8L", "\x2f pixels"))
	if !bytes.Equal(out.Bytes(), wantOut) {
		t.Fatalf("cleaned WebP\n%q\nwant\n%q", out.Bytes(), wantOut)
	}
}

func TestWebPTooLarge(t *testing.T) {
	big := riff(riffChunk("VP8L", string(make([]byte, MaxWebP))))
	if _, err := Clean(WebP, bytes.NewReader(big), &bytes.Buffer{}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v, want ErrTooLarge", err)
	}
}

// A file is cleaned as what its bytes are, whatever it is called.
func TestSniff(t *testing.T) {
	for _, c := range []struct {
		head []byte
		want Kind
	}{
		{taggedJPEG(t), JPEG},
		{taggedPNG(t), PNG},
		{riff(riffChunk("VP8L", "x")), WebP},
		{[]byte("Dear Monitoring Officer,\nplease see"), Text},
		{[]byte("GIF89a\x01\x00"), Other},
		{[]byte("PK\x03\x04photos/"), Other},
		{[]byte{0, 1, 2, 3}, Other},
		{[]byte("\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00isommp42 video"), Other},
		{[]byte("\x00\x00\x00\x18ftypheix\x00\x00\x00\x00mif1heix"), HEIC},
		{[]byte("\x00\x00\x00\x18ftypmsf1\x00\x00\x00\x00mif1heic"), HEIC},
	} {
		if got := Sniff(c.head); got != c.want {
			t.Errorf("Sniff(%q) = %s, want %s", c.head[:4], got, c.want)
		}
	}
}

func TestTextUnchanged(t *testing.T) {
	in := "Dear Monitoring Officer,\n"
	var out bytes.Buffer
	rep, err := Clean(Text, bytes.NewReader([]byte(in)), &out)
	if err != nil || out.String() != in || !rep.Cleaned || len(rep.Removed) != 0 {
		t.Fatalf("got %q %+v %v", out.String(), rep, err)
	}
}

// Damaged images are refused, never half-cleaned.
func TestCorruptRefused(t *testing.T) {
	j, p := taggedJPEG(t), taggedPNG(t)
	badCRC := bytes.Clone(p)
	badCRC[30] ^= 1
	for name, c := range map[string]struct {
		kind Kind
		data []byte
	}{
		"truncated jpeg":    {JPEG, j[:len(j)/2]},
		"jpeg without soi":  {JPEG, j[2:]},
		"truncated png":     {PNG, p[:len(p)-40]},
		"png bad crc":       {PNG, badCRC},
		"png no ihdr":       {PNG, append(bytes.Clone(pngSig), pngChunk("IEND", "")...)},
		"webp short riff":   {WebP, []byte("RIFF\xff\xff\x00\x00WEBPVP8L")},
		"webp broken chunk": {WebP, riff([]byte("VP8L\xff\x00\x00\x00x"))},
	} {
		if _, err := Clean(c.kind, bytes.NewReader(c.data), &bytes.Buffer{}); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: got %v, want ErrCorrupt", name, err)
		}
	}
}

// FuzzClean feeds every cleaner arbitrary bytes: none may panic, and what one cleans must
// clean again to the same bytes with nothing more removed.
func FuzzClean(f *testing.F) {
	f.Add(taggedJPEG(f))
	f.Add(taggedPNG(f))
	f.Add(riff(riffChunk("VP8X", "\x2c\x00\x00\x00\x01\x00\x00\x01\x00\x00"), riffChunk("VP8L", "x"), riffChunk("EXIF", "e")))
	f.Add([]byte("\xFF\xD8\xFF\xDA\x00\x02\xFF\x00\xFF\xD0\xFF\xD9"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, kind := range []Kind{JPEG, PNG, WebP} {
			var out bytes.Buffer
			if _, err := Clean(kind, bytes.NewReader(data), &out); err != nil {
				continue
			}
			var again bytes.Buffer
			rep, err := Clean(kind, bytes.NewReader(out.Bytes()), &again)
			if err != nil || len(rep.Removed) != 0 || !bytes.Equal(again.Bytes(), out.Bytes()) {
				t.Fatalf("%s: cleaning a cleaned file: %v, removed %v", kind, err, rep.Removed)
			}
		}
	})
}

// Documents are told apart by content, for mat2, which picks its parser by extension.
func TestSniffDocument(t *testing.T) {
	for head, want := range map[string]Kind{
		"%PDF-1.7\n": PDF,
		"PK\x03\x04\x14\x00\x00\x00\x00\x00mimetypeapplication/vnd.oasis.opendocument.text":         ODT,
		"PK\x03\x04\x14\x00\x00\x00\x00\x00mimetypeapplication/vnd.oasis.opendocument.spreadsheet":  ODS,
		"PK\x03\x04\x14\x00\x00\x00\x00\x00mimetypeapplication/vnd.oasis.opendocument.presentation": ODP,
		"PK\x03\x04\x14\x00[Content_Types].xml....word/document.xml":                                DOCX,
		"PK\x03\x04\x14\x00[Content_Types].xml....xl/workbook.xml":                                  XLSX,
		"PK\x03\x04\x14\x00[Content_Types].xml....ppt/presentation.xml":                             PPTX,
		"PK\x03\x04\x14\x00photos/holiday.jpg":                                                      "",
		"GIF89a":                                                                                    "",
	} {
		if got := sniffDocument([]byte(head)); got != want {
			t.Errorf("sniffDocument(%q) = %q, want %q", head, got, want)
		}
	}
}

// A photo's orientation survives (else a phone photo shows sideways), in an EXIF block that
// holds nothing else; cleaning that again removes nothing.
func TestJPEGKeepsOrientation(t *testing.T) {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, picture(), nil); err != nil {
		t.Fatal(err)
	}
	// Little-endian IFD0: a GPS pointer, then Orientation 6 (turn 90 degrees clockwise).
	exif := "Exif\x00\x00II*\x00\x08\x00\x00\x00\x02\x00" +
		"\x25\x88\x04\x00\x01\x00\x00\x00\x40\x00\x00\x00" +
		"\x12\x01\x03\x00\x01\x00\x00\x00\x06\x00\x00\x00" +
		"\x00\x00\x00\x00SERIAL-12345"
	in := append(append(bytes.Clone(b.Bytes()[:2]), segment(0xE1, exif)...), b.Bytes()[2:]...)
	var out bytes.Buffer
	rep, err := Clean(JPEG, bytes.NewReader(in), &out)
	if err != nil || !reflect.DeepEqual(rep.Removed, []string{EXIF}) || bytes.Contains(out.Bytes(), []byte("SERIAL")) {
		t.Fatalf("got %+v, %v", rep, err)
	}
	want := segment(0xE1, "Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00\x00\x00\x00\x00")
	if !bytes.Contains(out.Bytes(), want) {
		t.Fatalf("the orientation block is missing from %q", out.Bytes()[:64])
	}
	var again bytes.Buffer
	if rep, err := Clean(JPEG, bytes.NewReader(out.Bytes()), &again); err != nil || len(rep.Removed) != 0 || !bytes.Equal(again.Bytes(), out.Bytes()) {
		t.Fatalf("cleaning again: %+v, %v", rep, err)
	}
	if _, err := jpeg.Decode(bytes.NewReader(out.Bytes())); err != nil {
		t.Fatal(err)
	}
}

// A HEIC photo (made with libheif's heif-enc, then tagged by exiftool with a GPS position, a
// camera serial and an XMP creator) goes through mat2: the report names its Exif and XMP items
// and none of what they held is left (exiftool leaves the items declared, empty).
func TestHEICMetadataRemoved(t *testing.T) {
	in, err := os.ReadFile("testdata/gps.heic")
	if err != nil {
		t.Fatal(err)
	}
	if k := Sniff(in); k != HEIC {
		t.Fatalf("sniffed %q, want heic", k)
	}
	checkCleaned(t, HEIC, in, []string{EXIF, XMP}, []string{"SN123", "Jane Reporter", "Acme"}, "hvc1",
		func(b []byte) error {
			if !bytes.Equal(b[4:12], []byte("ftypheic")) {
				return errors.New("no longer a HEIC file")
			}
			return nil
		})
}

// A document past the sandbox's time or memory limit is refused as one that cannot be
// cleaned (ErrCorrupt: the upload answers 400 and stores nothing), never passed on raw and
// never a server error, whether mat2 is killed while the file is still going in or after.
func TestDocumentPastSandboxLimitsRefused(t *testing.T) {
	if !mat2Ready {
		t.Fatal("mat2, bubblewrap or prlimit missing (make system-deps)")
	}
	small := pdftest.Text("Rota")
	big := append(append([]byte{}, small...), bytes.Repeat([]byte("% padding\n"), 3_000_000)...) // 30 MB
	for _, c := range []struct {
		name   string
		memory int
		time   time.Duration
		in     []byte
	}{
		{"memory", 32 << 20, time.Minute, small}, // mat2 runs out of address space partway (64 MiB is enough for this file)
		{"time, after the file went in", 2 << 30, 20 * time.Millisecond, small},
		{"time, while the file goes in", 2 << 30, 20 * time.Millisecond, big},
	} {
		t.Run(c.name, func(t *testing.T) {
			defer func(m int, d time.Duration) { mat2Memory, mat2Time = m, d }(mat2Memory, mat2Time)
			mat2Memory, mat2Time = c.memory, c.time
			var out bytes.Buffer
			if _, err := Clean(PDF, bytes.NewReader(c.in), &out); !errors.Is(err, ErrCorrupt) {
				t.Errorf("got %v, want ErrCorrupt", err)
			}
		})
	}
	// Within the limits the same file is cleaned: the refusals above were the limits'.
	var out bytes.Buffer
	if _, err := Clean(PDF, bytes.NewReader(small), &out); err != nil || !bytes.HasPrefix(out.Bytes(), []byte("%PDF")) {
		t.Errorf("within the limits: got %v, %d bytes, want a cleaned PDF", err, out.Len())
	}
}
