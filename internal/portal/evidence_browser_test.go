package portal_test

import (
	"bytes"
	"encoding/json"
	"image"
	"image/jpeg"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"candour/internal/browsertest"
	"candour/internal/portaltest"
)

// TestBrowserEvidenceReviewedBeforeSending is a reporter adding a phone photo with no
// JavaScript: they ask for the original to be kept, see on the next page what was found in
// it and removed, and send it; staff see nothing until then, and then the cleaned copy and the
// original marked. In Welsh they also delete an upload unseen. Every page passes axe-core.
func TestBrowserEvidenceReviewedBeforeSending(t *testing.T) {
	e := portaltest.Start(t)
	var b bytes.Buffer
	if err := jpeg.Encode(&b, image.NewGray(image.Rect(0, 0, 16, 16)), nil); err != nil {
		t.Fatal(err)
	}
	// A photo with an EXIF block (GPS and serial, as a phone writes them) before the picture.
	exif := "Exif\x00\x00GPS 51.48N SN-4417-CANDOUR"
	photo := append([]byte{0xFF, 0xD8, 0xFF, 0xE1, 0x00, byte(len(exif) + 2)}, exif...)
	photo = append(photo, b.Bytes()[2:]...)
	path := filepath.Join(t.TempDir(), "IMG_0042.jpg")
	if err := os.WriteFile(path, photo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		lang, prefix                    string
		review, original, sent, deleted string // text each page must show
	}{
		{"en", "", "GPS location", "The original still has every hidden detail", "Your file has been sent.", ""},
		{"cy", "/cy", "lleoliad GPS", "Mae pob manylyn cudd", "Mae eich ffeil wedi'i hanfon.", "Ni welodd neb hi."},
	} {
		t.Run(tt.lang, func(t *testing.T) {
			f := portaltest.DoJSON(t, e.URL(), "POST", "/api/v1/reports", map[string]any{"mode": "anonymous",
				"service_area": "childrens-services", "category": "misconduct", "summary": "Caseloads hidden",
				"details": "Cases were moved off the system.", "safeguarding": false, "named_people": []string{}, "identity": nil, "lang": tt.lang})
			var filed struct{ Reference, Receipt string }
			if err := json.Unmarshal(f.Body, &filed); err != nil || f.Status != 201 {
				t.Fatalf("filing: %d %s", f.Status, f.Body)
			}
			ctx := browsertest.New(t, browsertest.Options{NoJavaScript: true, Timeout: 60 * time.Second})
			read := func(what, want string) {
				t.Helper()
				if text := browsertest.Get(t, ctx, "read "+what, chromedp.Text("main")); !strings.Contains(text, want) {
					t.Errorf("%s: page lacks %q:\n%s", what, want, text)
				}
				axeWithoutPageScript(t, ctx)
			}
			upload := func(keep bool) {
				t.Helper()
				browsertest.Do(t, ctx, "choose the photo", chromedp.SetUploadFiles(`#file`, []string{path}))
				if keep {
					browsertest.Do(t, ctx, "keep the original", chromedp.Click(`#keep-original`))
				}
				browsertest.Do(t, ctx, "upload", chromedp.Click(`form[action$="/mailbox/attachments"] button[type=submit]`),
					chromedp.WaitReady(`#cleaning`))
			}
			browsertest.Do(t, ctx, "open the mailbox", chromedp.Navigate(e.URL()+tt.prefix+"/mailbox"), chromedp.WaitReady("#receipt"),
				chromedp.SendKeys(`#receipt`, filed.Receipt), chromedp.Click(`form[action$="/mailbox"] button[type=submit]`),
				chromedp.WaitReady(`#keep-original`))
			axeWithoutPageScript(t, ctx)

			upload(true)
			read("review", tt.review)
			read("review", tt.original)
			if loc := browsertest.Get(t, ctx, "location", chromedp.Location()); !strings.Contains(loc, tt.prefix+"/mailbox/evidence/") {
				t.Errorf("after the upload: at %s, want the %s review page", loc, tt.lang)
			}
			var held, visible int
			e.DB.Get(&held, `SELECT count(*) FROM attachments a JOIN concerns c ON c.id = a.concern_id WHERE c.reference = $1 AND a.pending`, filed.Reference)
			if held != 2 {
				t.Errorf("before Send: %d files held, want the cleaned copy and the original", held)
			}
			browsertest.Do(t, ctx, "send it", chromedp.Click(`button[value=send]`), chromedp.WaitReady(`#evidence`))
			read("thread after sending", tt.sent)
			e.DB.Get(&visible, `SELECT count(*) FROM attachments a JOIN concerns c ON c.id = a.concern_id
				WHERE c.reference = $1 AND NOT a.pending AND a.original_of IS NOT NULL`, filed.Reference)
			if visible != 1 {
				t.Errorf("after Send: %d originals sent, want 1", visible)
			}
			if tt.deleted == "" {
				return
			}
			upload(false)
			browsertest.Do(t, ctx, "delete it", chromedp.Click(`button[value=discard]`), chromedp.WaitReady(`#evidence`))
			read("thread after deleting", tt.deleted)
			e.DB.Get(&held, `SELECT count(*) FROM attachments WHERE pending`)
			if held != 0 {
				t.Errorf("after Delete: %d files still held", held)
			}
		})
	}
}
