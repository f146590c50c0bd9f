package api_test

import (
	"bytes"
	"image"
	"image/jpeg"
	"os"
	"strings"
	"testing"

	"candour/internal/portaltest"
	"candour/internal/store"
)

type pending struct {
	ID           string `json:"id"`
	Size         int64  `json:"size"`
	OriginalSize *int64 `json:"original_size"`
	Metadata     struct {
		Kind    string   `json:"kind"`
		Removed []string `json:"removed"`
	} `json:"metadata"`
}

type staffFile struct {
	ID         string `json:"id"`
	OriginalOf string `json:"original_of"`
}

// evidenceForm is a multipart upload of data, with keep_original before the file when keep.
func evidenceForm(t *testing.T, name string, data []byte, keep bool) (string, []byte) {
	t.Helper()
	if keep {
		return multipartFile(t, "file", name, data, "keep_original", "yes")
	}
	return multipartFile(t, "file", name, data)
}

// A reporter's upload is held until they have seen what cleaning found: staff cannot list or
// download it, another mailbox cannot read, send or delete it, and it reaches staff only once
// sent. Asked for, the original is kept too, marked for staff, still carrying its GPS
// position; both count against the quota; unsent uploads are deleted, and swept after a day.
func TestEvidenceHeldUntilSent(t *testing.T) {
	e := portaltest.Start(t, portaltest.Setting("CANDOUR_MAILBOX_QUOTA_MB", "1"))
	mo := portaltest.NewStaff(t, e.Portal, "elin.rowlands@enghraifft.example", "monitoring_officer")
	session := func() (auth, concernID string) {
		f := decode[filed](t, postJSON(t, e, "/api/v1/reports", anonymousReport()))
		c, err := store.New(e.DB).ConcernByReference(t.Context(), f.Reference)
		if err != nil {
			t.Fatal(err)
		}
		tok := decode[map[string]string](t, postJSON(t, e, "/api/v1/mailbox/session", map[string]string{"receipt": f.Receipt}))["token"]
		return "Authorization: Bearer " + tok, c.ID
	}
	auth, concern := session()
	other, _ := session()
	upload := func(name string, data []byte, keep bool) pending {
		t.Helper()
		ct, body := evidenceForm(t, name, data, keep)
		r := e.Do(t, "POST", "/api/v1/mailbox/attachments", ct, bytes.NewReader(body), auth)
		if r.Status != 201 {
			t.Fatalf("upload %s: got %d %s, want 201", name, r.Status, r.Body)
		}
		return decode[pending](t, r)
	}
	staffFiles := func() []staffFile {
		t.Helper()
		return decode[struct {
			Attachments []staffFile `json:"attachments"`
		}](t, mo.API("GET", "/api/v1/concerns/"+concern, nil)).Attachments
	}
	count := func(q string) int {
		var n int
		if err := e.DB.Get(&n, q); err != nil {
			t.Fatal(err)
		}
		return n
	}

	photo := taggedPhoto(t, "photo.jpg", func(f *os.File, img image.Image) error { return jpeg.Encode(f, img, nil) })
	p := upload("IMG_0042.jpg", photo, true)
	if p.OriginalSize == nil || *p.OriginalSize != int64(len(photo)) || p.Metadata.Kind != "jpeg" || !strings.Contains(strings.Join(p.Metadata.Removed, " "), "exif") {
		t.Fatalf("upload: got %+v, want the findings and the original's size %d", p, len(photo))
	}
	// Pending: the reporter sees it with its findings; staff and other mailboxes do not.
	if got := decode[pending](t, e.Do(t, "GET", "/api/v1/mailbox/evidence/"+p.ID, "", nil, auth)); got.ID != p.ID ||
		strings.Join(got.Metadata.Removed, " ") != strings.Join(p.Metadata.Removed, " ") {
		t.Errorf("pending evidence: got %+v, want %+v", got, p)
	}
	m := decode[struct {
		Attachments []struct{ ID string } `json:"attachments"`
		Pending     []struct{ ID string } `json:"pending"`
	}](t, e.Do(t, "GET", "/api/v1/mailbox", "", nil, auth))
	if len(m.Attachments) != 0 || len(m.Pending) != 1 || m.Pending[0].ID != p.ID {
		t.Errorf("mailbox before sending: got %+v, want the file pending only", m)
	}
	if files := staffFiles(); len(files) != 0 {
		t.Errorf("staff see %d files before the reporter sent any", len(files))
	}
	if r := mo.API("GET", "/api/v1/concerns/"+concern+"/attachments/"+p.ID, nil); r.Status != 404 {
		t.Errorf("staff download of a pending file: got %d, want 404", r.Status)
	}
	for _, r := range []portaltest.Response{
		e.Do(t, "GET", "/api/v1/mailbox/evidence/"+p.ID, "", nil, other),
		portaltest.DoJSON(t, e.URL(), "POST", "/api/v1/mailbox/evidence/"+p.ID+"/send", map[string]bool{"keep_original": true}, other),
		e.Do(t, "DELETE", "/api/v1/mailbox/evidence/"+p.ID, "", nil, other),
		e.Do(t, "GET", "/api/v1/mailbox/attachments/"+p.ID, "", nil, auth), // not a download until sent
	} {
		if r.Status != 404 {
			t.Errorf("another mailbox, or a download, on a pending file: got %d %s, want 404", r.Status, r.Body)
		}
	}
	if n := count(`SELECT count(*) FROM attachments WHERE pending`); n != 2 {
		t.Fatalf("after the other mailbox's attempts: %d pending rows, want the cleaned copy and the original", n)
	}

	// Sent with the original: staff see both, the original marked, still placing the photo.
	sent := portaltest.DoJSON(t, e.URL(), "POST", "/api/v1/mailbox/evidence/"+p.ID+"/send", map[string]bool{"keep_original": true}, auth)
	if sent.Status != 200 {
		t.Fatalf("send: got %d %s", sent.Status, sent.Body)
	}
	files := staffFiles()
	if len(files) != 2 || files[0].ID != p.ID || files[0].OriginalOf != "" || files[1].OriginalOf != p.ID {
		t.Fatalf("staff files: got %+v, want the cleaned copy and its original marked", files)
	}
	// The staff concern page marks it too, in both languages, and only it.
	for path, mark := range map[string]string{"/staff/concerns/" + concern: "Original as sent", "/cy/staff/concerns/" + concern: "Y gwreiddiol fel y"} {
		if page := mo.Get(path); page.Status != 200 || strings.Count(page.Body, mark) != 1 {
			t.Errorf("%s: got %d, %d marks %q, want 200 and one", path, page.Status, strings.Count(page.Body, mark), mark)
		}
	}
	clean := mo.API("GET", "/api/v1/concerns/"+concern+"/attachments/"+p.ID, nil)
	orig := mo.API("GET", "/api/v1/concerns/"+concern+"/attachments/"+files[1].ID, nil)
	if tags := readTags(t, clean.Body); clean.Status != 200 || strings.Contains(tags, "GPS") {
		t.Errorf("cleaned copy: got %d, tags %s", clean.Status, tags)
	}
	if orig.Status != 200 || !bytes.Equal(orig.Body, photo) {
		t.Errorf("original: got %d, %d bytes, want the photo as sent", orig.Status, len(orig.Body))
	}
	if r := portaltest.DoJSON(t, e.URL(), "POST", "/api/v1/mailbox/evidence/"+p.ID+"/send", map[string]bool{}, auth); r.Status != 404 {
		t.Errorf("sending twice: got %d, want 404", r.Status)
	}

	// Kept at upload, then not sent after all: the original is deleted with its blob.
	blobs := count(`SELECT count(*) FROM blobs`)
	p2 := upload("IMG_0043.jpg", photo, true)
	portaltest.SendEvidence(t, e.URL(), auth, p2.ID)
	if files := staffFiles(); len(files) != 3 || files[2].ID != p2.ID || count(`SELECT count(*) FROM blobs`) != blobs+1 {
		t.Errorf("sent without the original: got %+v and %d new blobs, want only the cleaned copy", files, count(`SELECT count(*) FROM blobs`)-blobs)
	}

	// Deleted unseen: nothing left.
	p3 := upload("IMG_0044.jpg", photo, true)
	if r := e.Do(t, "DELETE", "/api/v1/mailbox/evidence/"+p3.ID, "", nil, auth); r.Status != 204 {
		t.Errorf("discard: got %d %s, want 204", r.Status, r.Body)
	}
	if n, b := count(`SELECT count(*) FROM attachments WHERE pending`), count(`SELECT count(*) FROM blobs`); n != 0 || b != blobs+1 {
		t.Errorf("after discarding: %d pending rows and %d new blobs, want none and 1", n, b-blobs)
	}

	// Both copies count against the quota (1 MiB): 600 KB of text (which cleaning leaves as
	// it is) fits once, not twice.
	big := bytes.Repeat([]byte("minutes "), 75_000)
	ct, body := evidenceForm(t, "minutes.txt", big, true)
	if r := e.Do(t, "POST", "/api/v1/mailbox/attachments", ct, bytes.NewReader(body), auth); r.Status != 413 {
		t.Errorf("original and copy over the quota: got %d %s, want 413", r.Status, r.Body)
	}
	p4 := upload("minutes.txt", big, false)

	// Not sent within a day: swept, blob and all.
	if _, err := e.DB.Exec(`UPDATE attachments SET created_at = created_at - interval '25 hours' WHERE pending`); err != nil {
		t.Fatal(err)
	}
	if n, err := e.Intake.SweepEvidence(t.Context()); err != nil || n != 1 {
		t.Errorf("sweep: got %d, %v; want 1", n, err)
	}
	if r := e.Do(t, "GET", "/api/v1/mailbox/evidence/"+p4.ID, "", nil, auth); r.Status != 404 {
		t.Errorf("a swept upload: got %d, want 404", r.Status)
	}
	if b := count(`SELECT count(*) FROM blobs`); b != blobs+1 {
		t.Errorf("after the sweep: %d new blobs, want 1", b-blobs)
	}
}
