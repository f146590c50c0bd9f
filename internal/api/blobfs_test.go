package api_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"candour/internal/dbtest"
	"candour/internal/portaltest"
	"candour/internal/store"
)

type uploaded struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Size int64  `json:"size"`
}

// An installation that kept evidence in PostgreSQL (CANDOUR_BLOB_STORE=postgres, the old
// default) and then starts with the new default puts new evidence in files in the data folder,
// which come back intact through the mailbox API, while what is in PostgreSQL still downloads;
// failed uploads leave no file once swept, and the sweep never takes a committed one.
func TestMailboxAttachmentsInBlobFolder(t *testing.T) {
	url := dbtest.NewURL(t)
	dataDir := t.TempDir()
	blobDir := filepath.Join(dataDir, "blobs")
	common := []portaltest.Option{portaltest.Setting("DATABASE_URL", url), portaltest.Setting("CANDOUR_DATA_DIR", dataDir),
		portaltest.Setting("CANDOUR_MAX_ATTACHMENT_MB", "2")}

	// Before the switch: PostgreSQL.
	before := portaltest.Start(t, append(common, portaltest.Setting("CANDOUR_BLOB_STORE", "postgres"))...)
	f := decode[filed](t, postJSON(t, before, "/api/v1/reports", anonymousReport()))
	session := func(e *portaltest.Env) string { return mailboxSession(t, e, f.Receipt) }
	upload := func(e *portaltest.Env, auth, name string, data []byte) uploaded {
		return sendEvidence(t, e, auth, name, data)
	}
	inPG := bytes.Repeat([]byte("rota before the switch "), 60000) // 1.4 MB
	a1 := upload(before, session(before), "rota.pdf", inPG)

	// After the switch to the default: files.
	e := portaltest.Start(t, common...)
	auth := session(e)
	inFile := bytes.Repeat([]byte{'e', 'm', 'a', 'i', 'l', 0, 1, 2, 0xff}, 200000) // 1.8 MB
	a2 := upload(e, auth, "emails.eml", inFile)

	var blob2 int64
	var where1, where2 string
	var chunks2 int
	e.DB.Get(&blob2, `SELECT blob_id FROM attachments WHERE public_id = $1`, a2.ID)
	e.DB.Get(&where1, `SELECT b.store FROM blobs b JOIN attachments a ON a.blob_id = b.id WHERE a.public_id = $1`, a1.ID)
	e.DB.Get(&where2, `SELECT store FROM blobs WHERE id = $1`, blob2)
	e.DB.Get(&chunks2, `SELECT count(*) FROM blob_chunks WHERE blob_id = $1`, blob2)
	if where1 != "pg" || where2 != "fs" || chunks2 != 0 {
		t.Errorf("stores: first %q, second %q with %d chunks; want pg, then fs with none", where1, where2, chunks2)
	}
	committed := []string{strconv.FormatInt(blob2, 10)}
	if got := dbtest.BlobFiles(t, blobDir); fmt.Sprint(got) != fmt.Sprint(committed) {
		t.Fatalf("blob folder: got %v, want %v", got, committed)
	}
	onDisk, err := os.ReadFile(filepath.Join(blobDir, committed[0]))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(onDisk, inFile[:64]) || !bytes.HasPrefix(onDisk, []byte("age-encryption.org/v1")) {
		t.Error("the blob file is not age ciphertext")
	}

	for _, c := range []struct {
		id   string
		want []byte
	}{{a1.ID, inPG}, {a2.ID, inFile}} {
		dl := e.Do(t, "GET", "/api/v1/mailbox/attachments/"+c.id, "", nil, auth)
		if dl.Status != 200 || !bytes.Equal(dl.Body, c.want) {
			t.Errorf("download %s: got %d, %d bytes; want 200, %d bytes", c.id, dl.Status, len(dl.Body), len(c.want))
		}
	}

	// Over the limit: 413.
	ct, body := multipartFile(t, "file", "huge.bin", bytes.Repeat([]byte("z"), 3<<20))
	if r := e.Do(t, "POST", "/api/v1/mailbox/attachments", ct, bytes.NewReader(body), auth); r.Status != 413 {
		t.Errorf("over the limit: got %d %s, want 413", r.Status, r.Body)
	}
	// Cut: the connection drops half-way through a body announced as longer.
	cutUpload(t, e, auth, 1<<20, 2)
	if _, err := e.FileBlobs.Sweep(context.Background(), store.New(e.DB), 0); err != nil {
		t.Fatal(err)
	}
	if got := dbtest.BlobFiles(t, blobDir); fmt.Sprint(got) != fmt.Sprint(committed) {
		t.Errorf("after failed uploads and a sweep: got %v, want only the committed %v", got, committed)
	}
	var blobs, atts int
	e.DB.Get(&blobs, `SELECT count(*) FROM blobs`)
	e.DB.Get(&atts, `SELECT count(*) FROM attachments`)
	if blobs != 2 || atts != 2 {
		t.Errorf("got %d blobs and %d attachments, want 2 and 2", blobs, atts)
	}
	if dl := e.Do(t, "GET", "/api/v1/mailbox/attachments/"+a2.ID, "", nil, auth); dl.Status != 200 || !bytes.Equal(dl.Body, inFile) {
		t.Errorf("download after the sweep: got %d, %d bytes", dl.Status, len(dl.Body))
	}
}

// mailboxSession opens the mailbox of receipt and returns its Authorization header.
func mailboxSession(t *testing.T, e *portaltest.Env, receipt string) string {
	t.Helper()
	r := postJSON(t, e, "/api/v1/mailbox/session", map[string]string{"receipt": receipt})
	if r.Status != 200 {
		t.Fatalf("session: %d %s", r.Status, r.Body)
	}
	return "Authorization: Bearer " + decode[map[string]string](t, r)["token"]
}

// sendEvidence uploads data as name to the mailbox and sends it to the case.
func sendEvidence(t *testing.T, e *portaltest.Env, auth, name string, data []byte) uploaded {
	t.Helper()
	ct, body := multipartFile(t, "file", name, data)
	r := e.Do(t, "POST", "/api/v1/mailbox/attachments", ct, bytes.NewReader(body), auth)
	if r.Status != 201 {
		t.Fatalf("upload %s: got %d %s", name, r.Status, r.Body)
	}
	u := decode[uploaded](t, r)
	portaltest.SendEvidence(t, e.URL(), auth, u.ID)
	return u
}

// cutUpload starts uploading a file of size bytes, drops the connection after 1/of of the
// body, and waits for the server to give up on it (its transaction rolls back).
func cutUpload(t *testing.T, e *portaltest.Env, auth string, size, of int) {
	t.Helper()
	ct, body := multipartFile(t, "file", "cut.bin", bytes.Repeat([]byte("c"), size))
	conn, err := net.Dial("tcp", e.Addr())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "POST /api/v1/mailbox/attachments HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s\r\n\r\n",
		e.Addr(), ct, len(body), auth)
	conn.Write(body[:len(body)-len(body)/of])
	time.Sleep(200 * time.Millisecond)
	conn.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var busy int
		e.DB.Get(&busy, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'`)
		if busy == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the cut upload's transaction never ended")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
