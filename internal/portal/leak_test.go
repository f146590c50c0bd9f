package portal_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"mime/multipart"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"

	"candour/internal/database"
	"candour/internal/portaltest"
)

// encodings of s an attacker might search a dump for.
func encodings(s string) map[string][]byte {
	u16 := utf16.Encode([]rune(s))
	le := make([]byte, 0, 2*len(u16))
	for _, r := range u16 {
		le = append(le, byte(r), byte(r>>8))
	}
	return map[string][]byte{
		"plain":    []byte(s),
		"lower":    []byte(strings.ToLower(s)),
		"hex":      []byte(hex.EncodeToString([]byte(s))),
		"base64":   []byte(base64.StdEncoding.EncodeToString([]byte(s))[:len(s)*4/3-4]),
		"utf16le":  le,
		"json-esc": []byte(strings.Trim(mustJSON(s), `"`)),
	}
}

func mustJSON(s string) string { b, _ := json.Marshal(s); return string(b) }

// pgDump is the portal's whole database as pg_dump writes it: what someone who copied it reads,
// every council's rows (as the owner's whole backup reads them).
func pgDump(t *testing.T, e *portaltest.Env) []byte {
	t.Helper()
	bin, err := database.FindBinaries()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(bin, "pg_dump"), "--no-owner", "--enable-row-security", "-d", e.OwnerURL)
	cmd.Env = append(os.Environ(), "PGOPTIONS=-c candour.all_councils=on")
	dump, err := cmd.Output()
	if err != nil {
		t.Fatalf("pg_dump: %v", err)
	}
	return dump
}

func TestDumpAndLogsRevealNothing(t *testing.T) {
	t.Run("attachments in PostgreSQL", func(t *testing.T) { dumpAndLogsRevealNothing(t, "") })
	t.Run("attachments in a blob folder", func(t *testing.T) {
		dumpAndLogsRevealNothing(t, filepath.Join(t.TempDir(), "blobs"))
	})
}

func dumpAndLogsRevealNothing(t *testing.T, blobDir string) {
	opts := []portaltest.Option{portaltest.Setting("CANDOUR_BLOB_STORE", "postgres")}
	if blobDir != "" {
		opts = []portaltest.Option{portaltest.Setting("CANDOUR_BLOB_DIR", blobDir)}
	}
	e := portaltest.Start(t, opts...)
	e.AddCustodian(t)
	const phrase = "purple-elephant-ledger-4471"
	secrets := []string{"Gwen Whistleblower", "gwen@example.org", "07700 900123", phrase, "Alun Ap Rhys"}

	for _, mode := range []string{"open", "confidential", "anonymous"} {
		body := map[string]any{"mode": mode, "service_area": "finance", "category": "fraud",
			"summary": "Invoices split to dodge approval " + phrase, "details": "The details carry " + phrase + " twice: " + phrase,
			"safeguarding": false, "named_people": []string{"Alun Ap Rhys"}, "lang": "en"}
		if mode != "anonymous" {
			body["identity"] = map[string]string{"name": "Gwen Whistleblower", "email": "gwen@example.org", "phone": "07700 900123", "role": "accounts"}
		}
		b, _ := json.Marshal(body)
		r := e.Do(t, "POST", "/api/v1/reports?lang=en&who=Gwen", "application/json", bytes.NewReader(b))
		if r.Status != 201 {
			t.Fatalf("%s: got %d %s", mode, r.Status, r.Body)
		}
		var f struct{ Receipt string }
		json.Unmarshal(r.Body, &f)
		b, _ = json.Marshal(map[string]string{"receipt": f.Receipt})
		r = e.Do(t, "POST", "/api/v1/mailbox/session", "application/json", bytes.NewReader(b))
		var tok struct{ Token string }
		json.Unmarshal(r.Body, &tok)
		b, _ = json.Marshal(map[string]any{"body": "Reply mentioning " + phrase + " and Gwen Whistleblower"})
		if r := e.Do(t, "POST", "/api/v1/mailbox/messages", "application/json", bytes.NewReader(b), "Authorization: Bearer "+tok.Token); r.Status != 201 {
			t.Fatalf("reply: %d %s", r.Status, r.Body)
		}
		// Evidence whose name and bytes carry the secrets.
		var mp bytes.Buffer
		mw := multipart.NewWriter(&mp)
		fw, _ := mw.CreateFormFile("file", "Gwen Whistleblower "+phrase+".txt")
		fw.Write([]byte(strings.Repeat("Minutes: "+strings.Join(secrets, ", ")+".\n", 2000)))
		mw.Close()
		if r := e.Do(t, "POST", "/api/v1/mailbox/attachments", mw.FormDataContentType(), &mp, "Authorization: Bearer "+tok.Token); r.Status != 201 {
			t.Fatalf("attachment: %d %s", r.Status, r.Body)
		}
	}

	dump := pgDump(t, e)
	if !bytes.Contains(dump, []byte("COPY public.concerns")) || !bytes.Contains(dump, []byte("finance")) {
		t.Fatalf("the dump does not hold the concerns; the test would prove nothing")
	}
	var chunks, files int
	e.DB.Get(&chunks, `SELECT count(*) FROM blob_chunks`)
	// Every file in the blob folder, as someone who copied the disk would read it.
	var blobFiles [][]byte
	if blobDir != "" {
		filepath.WalkDir(blobDir, func(path string, d os.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				blobFiles = append(blobFiles, b)
			}
			return nil
		})
		files = len(blobFiles)
		// Three attachments, and the file naming the installation the folder belongs to.
		if files != 4 || chunks != 0 {
			t.Fatalf("blob folder holds %d files and blob_chunks %d rows, want 4 and 0; the test would prove nothing", files, chunks)
		}
	} else if chunks != 3 {
		t.Fatalf("blob_chunks holds %d rows, want 3; the test would prove nothing", chunks)
	}
	logs := []byte(e.Logs.String())
	for _, s := range secrets {
		for enc, needle := range encodings(s) {
			if bytes.Contains(dump, needle) {
				t.Errorf("pg_dump contains %q (%s)", s, enc)
			}
			for _, b := range blobFiles {
				if bytes.Contains(b, needle) {
					t.Errorf("a blob file contains %q (%s)", s, enc)
				}
			}
			if bytes.Contains(logs, needle) {
				t.Errorf("server log contains %q (%s)", s, enc)
			}
		}
	}
	for _, s := range []string{"127.0.0.1", "Go-http-client", "who=Gwen"} {
		if bytes.Contains(logs, []byte(s)) {
			t.Errorf("server log contains %q (client address, user agent or query)", s)
		}
	}
	// Reporter routes leave no line at all: a line carries its exact time, and "a report was
	// filed at 14:23:41" can be matched against door or network logs.
	for _, route := range []string{"/api/v1/reports", "/api/v1/mailbox"} {
		if bytes.Contains(logs, []byte(route)) {
			t.Errorf("server log mentions %s: reporter requests must not be logged", route)
		}
	}
}
