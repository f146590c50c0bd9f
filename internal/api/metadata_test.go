package api_test

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"candour/internal/pdftest"
	"candour/internal/portaltest"
	"candour/internal/store"
)

// The identifying details written into the test photos, each of which must be gone.
var planted = []string{"Gwen Pritchard", "SN-4417-CANDOUR", "Ty Hywel", "Canon"}

// exiftool is the independent reader: it writes the metadata into real files and reads what
// is left after cleaning. It comes from Debian's libimage-exiftool-perl (make system-deps).
func exiftool(t *testing.T, args ...string) []byte {
	t.Helper()
	if _, err := exec.LookPath("exiftool"); err != nil {
		t.Fatal("exiftool not found: install libimage-exiftool-perl (make system-deps)")
	}
	out, err := exec.Command("exiftool", args...).Output()
	if err != nil {
		t.Fatalf("exiftool %v: %v", args, err)
	}
	return out
}

// plantedTags are exiftool's arguments writing a GPS position, a camera and its serial number
// and an author into a photo.
var plantedTags = []string{"-q", "-overwrite_original", "-GPSLatitude=51.4816", "-GPSLatitudeRef=N", "-GPSLongitude=3.1791",
	"-GPSLongitudeRef=W", "-Make=Canon", "-SerialNumber=SN-4417-CANDOUR", "-Artist=Gwen Pritchard", "-XMP-dc:Creator=Gwen Pritchard"}

// taggedPhoto encodes a picture with enc and has exiftool write a GPS position, a camera
// serial number, an author and a comment into it.
func taggedPhoto(t *testing.T, name string, enc func(f *os.File, img image.Image) error) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for x := 0; x < 64; x++ {
		for y := 0; y < 48; y++ {
			img.Set(x, y, color.RGBA{uint8(x * 4), uint8(y * 5), 120, 255})
		}
	}
	path := filepath.Join(t.TempDir(), name)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := enc(f, img); err != nil {
		t.Fatal(err)
	}
	f.Close()
	exiftool(t, append(plantedTags, "-Comment=taken at Ty Hywel", "-Orientation#=6", path)...)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if tags := readTags(t, data); !strings.Contains(tags, "GPSLatitude") || !strings.Contains(tags, "SN-4417-CANDOUR") {
		t.Fatalf("exiftool did not tag the test photo: %s", tags)
	}
	return data
}

// readTags is everything exiftool finds in data, as JSON text.
func readTags(t *testing.T, data []byte) string {
	path := filepath.Join(t.TempDir(), "read")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return string(exiftool(t, "-j", "-a", "-G1", path))
}

type stored struct {
	ID       string `json:"id"`
	Size     int64  `json:"size"`
	Metadata struct {
		Kind    string   `json:"kind"`
		Cleaned bool     `json:"cleaned"`
		Removed []string `json:"removed"`
	} `json:"metadata"`
}

// Photos carrying a GPS position, camera serial and author lose them before they are sealed:
// what staff download has none of it (exiftool reads it) and still decodes. The type is told
// by content, so a JPEG named .png is cleaned as a JPEG. A damaged photo is refused with a
// field error and leaves nothing stored; other types are stored as sent and say so.
func TestUploadedPhotosLoseMetadata(t *testing.T) {
	e := portaltest.Start(t)
	f := decode[filed](t, postJSON(t, e, "/api/v1/reports", anonymousReport()))
	c, err := store.New(e.DB).ConcernByReference(t.Context(), f.Reference)
	if err != nil {
		t.Fatal(err)
	}
	mo := portaltest.NewStaff(t, e.Portal, "elin.rowlands@enghraifft.example", "monitoring_officer")
	tok := decode[map[string]string](t, postJSON(t, e, "/api/v1/mailbox/session", map[string]string{"receipt": f.Receipt}))["token"]
	auth := "Authorization: Bearer " + tok
	upload := func(name string, data []byte) (portaltest.Response, stored) {
		ct, body := multipartFile(t, "file", name, data)
		r := e.Do(t, "POST", "/api/v1/mailbox/attachments", ct, bytes.NewReader(body), auth, "Accept-Language: cy")
		var s stored
		json.Unmarshal(r.Body, &s)
		if r.Status == 201 {
			portaltest.SendEvidence(t, e.URL(), auth, s.ID)
		}
		return r, s
	}

	jpg := taggedPhoto(t, "photo.jpg", func(f *os.File, img image.Image) error { return jpeg.Encode(f, img, nil) })
	pngData := taggedPhoto(t, "photo.png", func(f *os.File, img image.Image) error { return png.Encode(f, img) })
	for _, tc := range []struct {
		name, kind string
		data       []byte
		decode     func([]byte) error
	}{
		{"IMG_0042.png", "jpeg", jpg, func(b []byte) error { _, err := jpeg.Decode(bytes.NewReader(b)); return err }},
		{"IMG_0043.jpg", "png", pngData, func(b []byte) error { _, err := png.Decode(bytes.NewReader(b)); return err }},
	} {
		r, att := upload(tc.name, tc.data)
		if r.Status != 201 || att.Metadata.Kind != tc.kind || !att.Metadata.Cleaned || !strings.Contains(strings.Join(att.Metadata.Removed, " "), "exif") {
			t.Fatalf("%s: got %d %s, want 201, cleaned as %s with exif removed", tc.name, r.Status, r.Body, tc.kind)
		}
		dl := mo.API("GET", "/api/v1/concerns/"+c.ID+"/attachments/"+att.ID, nil)
		if dl.Status != 200 || int64(len(dl.Body)) != att.Size {
			t.Fatalf("%s: staff download got %d, %d bytes, want 200 and %d", tc.name, dl.Status, len(dl.Body), att.Size)
		}
		tags := readTags(t, dl.Body)
		for _, s := range append(planted, "GPS", "SerialNumber", "Artist", "Creator") {
			if strings.Contains(tags, s) {
				t.Errorf("%s: exiftool still finds %q in the stored file: %s", tc.name, s, tags)
			}
		}
		if tc.kind == "jpeg" && !strings.Contains(tags, `"IFD0:Orientation": "Rotate 90 CW"`) {
			t.Errorf("%s: the photo lost its orientation: %s", tc.name, tags)
		}
		if err := tc.decode(dl.Body); err != nil {
			t.Errorf("%s: the stored file does not decode: %v", tc.name, err)
		}
	}

	var before int
	e.DB.Get(&before, `SELECT count(*) FROM attachments`)
	r, _ := upload("broken.jpg", jpg[:len(jpg)/2])
	if got := decode[apiError](t, r); r.Status != 400 || !strings.Contains(got.Error.Fields["file"], "wedi'i difrodi") {
		t.Errorf("damaged photo: got %d %s, want 400 with a Welsh field error", r.Status, r.Body)
	}
	var after int
	e.DB.Get(&after, `SELECT count(*) FROM attachments`)
	if after != before {
		t.Errorf("a refused photo left %d attachment rows", after-before)
	}

	note := []byte("Minutes of the meeting, 3 March.\n")
	if r, att := upload("notes.txt", note); r.Status != 201 || att.Metadata.Kind != "text" || !att.Metadata.Cleaned || att.Size != int64(len(note)) {
		t.Errorf("plain text: got %d %s, want it stored unchanged", r.Status, r.Body)
	}
	if r, att := upload("rota.jpg", []byte("\x00\x00\x00\x18ftypmp42 video")); r.Status != 201 || att.Metadata.Kind != "other" || att.Metadata.Cleaned {
		t.Errorf("a video named .jpg: got %d %s, want stored as sent, not cleaned", r.Status, r.Body)
	}
	var blobsBefore, blobsAfter int
	e.DB.Get(&blobsBefore, `SELECT count(*) FROM blobs`)
	if r, _ := upload("rota.pdf", []byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3\nnot really")); r.Status != 400 {
		t.Errorf("a broken PDF: got %d %s, want 400", r.Status, r.Body)
	}
	// mat2 refusing it (as when the sandbox's time or memory limit stops it: see scrub's
	// TestDocumentPastSandboxLimitsRefused) leaves no blob behind.
	if e.DB.Get(&blobsAfter, `SELECT count(*) FROM blobs`); blobsAfter != blobsBefore {
		t.Errorf("a refused PDF left %d blobs", blobsAfter-blobsBefore)
	}

	// Documents go through mat2: a PDF's author (written by exiftool) and a docx's creator
	// are gone from what staff download, and the PDF's text is still there.
	pdfPath := filepath.Join(t.TempDir(), "rota.pdf")
	if err := os.WriteFile(pdfPath, pdftest.Text("Rota for March"), 0o600); err != nil {
		t.Fatal(err)
	}
	exiftool(t, "-q", "-overwrite_original", "-Author=Gwen Pritchard", "-Creator=SN-4417-CANDOUR", pdfPath)
	pdf, _ := os.ReadFile(pdfPath)
	for _, tc := range []struct {
		name, kind string
		data       []byte
	}{{"rota.pdf", "pdf", pdf}, {"letter.docx", "docx", docx(t)}, {"IMG_0044.heic", "heic", taggedHEIC(t)}} {
		if tags := readTags(t, tc.data); !strings.Contains(tags, "Gwen Pritchard") {
			t.Fatalf("%s: the test file lacks its author: %s", tc.name, tags)
		}
		r, att := upload(tc.name, tc.data)
		if r.Status != 201 || att.Metadata.Kind != tc.kind || !att.Metadata.Cleaned {
			t.Fatalf("%s: got %d %s, want 201 cleaned as %s", tc.name, r.Status, r.Body, tc.kind)
		}
		dl := mo.API("GET", "/api/v1/concerns/"+c.ID+"/attachments/"+att.ID, nil)
		tags := readTags(t, dl.Body)
		if dl.Status != 200 || strings.Contains(tags, "Gwen Pritchard") || strings.Contains(tags, "SN-4417") {
			t.Errorf("%s: exiftool still finds the author in the stored file: %s", tc.name, tags)
		}
		if tc.kind == "heic" && (strings.Contains(tags, "GPS") || strings.Contains(tags, "Canon") ||
			!strings.Contains(tags, `"QuickTime:MajorBrand"`) || !reflect.DeepEqual(att.Metadata.Removed, []string{"exif", "xmp"})) {
			t.Errorf("%s: the stored photo keeps its position or camera, is no longer a HEIC, or the report (%v) is wrong: %s",
				tc.name, att.Metadata.Removed, tags)
		}
		// exiftool warns about the xref entries of mat2's incremental update of a PDF and may
		// then read less of it, so the bytes are checked too (cairo compresses the pages).
		if bytes.Contains(dl.Body, []byte("Gwen Pritchard")) || bytes.Contains(dl.Body, []byte("SN-4417")) {
			t.Errorf("%s: the stored file still holds the author", tc.name)
		}
	}
}

// taggedHEIC is a real HEIC photo made by libheif's heif-enc (Debian's libheif-examples, make
// system-deps), then tagged as taggedPhoto tags the others.
func taggedHEIC(t *testing.T) []byte {
	if _, err := exec.LookPath("heif-enc"); err != nil {
		t.Fatal("heif-enc not found: install libheif-examples (make system-deps)")
	}
	pngData := taggedPhoto(t, "source.png", func(f *os.File, img image.Image) error { return png.Encode(f, img) })
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "source.png"), filepath.Join(dir, "photo.heic")
	if err := os.WriteFile(src, pngData, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("heif-enc", "-q", "60", "-o", dst, src).CombinedOutput(); err != nil {
		t.Fatalf("heif-enc: %v %s", err, out)
	}
	exiftool(t, append(plantedTags, dst)...)
	data, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	if tags := readTags(t, data); !strings.Contains(tags, "GPSLatitude") || !strings.Contains(tags, "HEIC") {
		t.Fatalf("the test HEIC lacks its GPS position: %s", tags)
	}
	return data
}

// docx is a minimal Word document whose properties name its creator.
func docx(t *testing.T) []byte {
	var b bytes.Buffer
	z := zip.NewWriter(&b)
	for _, f := range []struct{ name, body string }{
		{"[Content_Types].xml", `<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/><Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/></Types>`},
		{"_rels/.rels", `<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/></Relationships>`},
		{"word/document.xml", `<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>Rota for March</w:t></w:r></w:p></w:body></w:document>`},
		{"docProps/core.xml", `<?xml version="1.0" encoding="UTF-8"?><cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>Gwen Pritchard</dc:creator><cp:lastModifiedBy>Gwen Pritchard</cp:lastModifiedBy></cp:coreProperties>`},
	} {
		// Sizes in the local headers (no data descriptors), as Word writes: readers that walk
		// the local headers, exiftool among them, need them.
		w, err := z.CreateRaw(&zip.FileHeader{Name: f.name, Method: zip.Store, CRC32: crc32.ChecksumIEEE([]byte(f.body)),
			CompressedSize64: uint64(len(f.body)), UncompressedSize64: uint64(len(f.body))})
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(f.body))
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
