package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"candour/internal/intake"
	"candour/internal/portaltest"
	"candour/internal/seal"
	"candour/internal/store"
)

// TestSealedFieldsBoundToPlace plays a database writer who moves ciphertext between concerns,
// between fields of one concern and between rows, and who flips a message's author and
// detriment flag. Each time the concern (or the file) answers 500 integrity, never the moved
// content, the staff read is audited, and putting the row back makes it open again.
func TestSealedFieldsBoundToPlace(t *testing.T) {
	e := portaltest.Start(t)
	custodian := e.AddCustodian(t)
	open := func(name string) map[string]any {
		r := anonymousReport()
		r["mode"], r["identity"] = "open", map[string]string{"name": name, "email": "", "phone": "", "role": ""}
		return r
	}
	fa := decode[filed](t, postJSON(t, e, "/api/v1/reports", open("Gwen Hollis")))
	fb := decode[filed](t, postJSON(t, e, "/api/v1/reports", open("Rhys Morgan")))
	st := store.New(e.DB)
	ca, _ := st.ConcernByReference(t.Context(), fa.Reference)
	cb, _ := st.ConcernByReference(t.Context(), fb.Reference)
	mo := portaltest.NewStaff(t, e.Portal, "elin.rowlands@enghraifft.example", "monitoring_officer")

	// The reporter writes (claiming detriment) and sends two files; staff answer and note.
	tok := decode[map[string]string](t, postJSON(t, e, "/api/v1/mailbox/session", map[string]string{"receipt": fa.Receipt}))["token"]
	auth := "Authorization: Bearer " + tok
	if r := postJSON(t, e, "/api/v1/mailbox/messages", map[string]any{"body": "I was moved to nights.", "detriment": true}, auth); r.Status != 201 {
		t.Fatalf("reply: %d %s", r.Status, r.Body)
	}
	for _, name := range []string{"rota.pdf", "emails.txt"} {
		ct, body := multipartFile(t, "file", name, []byte("contents of "+name))
		r := e.Do(t, "POST", "/api/v1/mailbox/attachments", ct, bytes.NewReader(body), auth)
		if r.Status != 201 {
			t.Fatalf("upload: %d %s", r.Status, r.Body)
		}
		portaltest.SendEvidence(t, e.URL(), auth, decode[map[string]any](t, r)["id"].(string))
	}
	if r := mo.API("POST", "/api/v1/concerns/"+ca.ID+"/messages", map[string]string{"body": "Thank you, we are looking."}); r.Status != 201 {
		t.Fatalf("staff message: %d %s", r.Status, r.Body)
	}
	if r := mo.API("POST", "/api/v1/concerns/"+ca.ID+"/notes", map[string]any{"body": "Check the rota.", "personal": false}); r.Status >= 300 {
		t.Fatalf("note: %d %s", r.Status, r.Body)
	}
	type view struct {
		Summary       string `json:"summary"`
		SealedUnbound bool   `json:"sealed_unbound"`
		Messages      []struct {
			From, Body string
			Detriment  bool
		} `json:"messages"`
		Attachments []struct{ ID, Name string } `json:"attachments"`
	}
	before := decode[view](t, mo.API("GET", "/api/v1/concerns/"+ca.ID, nil))
	if before.SealedUnbound || len(before.Messages) != 2 || len(before.Attachments) != 2 {
		t.Fatalf("before tampering: got %+v, want bound, two messages and two files", before)
	}

	integrityEvents := func() (n int) {
		if err := e.DB.Get(&n, `SELECT count(*) FROM audit_events WHERE action = 'seal.integrity'`); err != nil {
			t.Fatal(err)
		}
		return n
	}
	swap := func(table, col, where1, where2 string) string {
		return `UPDATE ` + table + ` t SET ` + col + ` = CASE WHEN ` + where1 + ` THEN (SELECT ` + col + ` FROM ` + table + ` WHERE ` + where2 + `)
			ELSE (SELECT ` + col + ` FROM ` + table + ` WHERE ` + where1 + `) END WHERE ` + where1 + ` OR ` + where2
	}
	a, b := "id = "+itoa(ca.Serial), "id = "+itoa(cb.Serial)
	staffMsg := "concern_id = " + itoa(ca.Serial) + " AND author = 'staff' AND body IS NOT NULL AND id = (SELECT max(id) FROM messages WHERE concern_id = " + itoa(ca.Serial) + " AND author = 'staff')"
	reporterMsg := "concern_id = " + itoa(ca.Serial) + " AND author = 'reporter'"
	att1 := "id = (SELECT min(id) FROM attachments WHERE concern_id = " + itoa(ca.Serial) + ")"
	att2 := "id = (SELECT max(id) FROM attachments WHERE concern_id = " + itoa(ca.Serial) + ")"
	cases := []struct {
		name, tamper, undo string
		file               bool // the file download fails, not the page
	}{
		{name: "content swapped between concerns", tamper: swap("concerns", "content", a, b)},
		{name: "content swapped with the open identity", tamper: `UPDATE concerns SET content = identity_open, identity_open = content WHERE ` + a},
		{name: "two messages' bodies swapped", tamper: swap("messages", "body", staffMsg, reporterMsg)},
		{name: "message body swapped with a note", tamper: `WITH m AS (SELECT body FROM messages WHERE ` + reporterMsg + `), n AS (SELECT body FROM notes WHERE concern_id = ` + itoa(ca.Serial) + `),
			x AS (UPDATE notes SET body = (SELECT body FROM m) WHERE concern_id = ` + itoa(ca.Serial) + `)
			UPDATE messages SET body = (SELECT body FROM n) WHERE ` + reporterMsg},
		{name: "staff message passed off as the reporter's", tamper: `UPDATE messages SET author = 'reporter' WHERE ` + staffMsg,
			undo: `UPDATE messages SET author = 'staff' WHERE concern_id = ` + itoa(ca.Serial) + ` AND user_id IS NOT NULL`},
		{name: "detriment flag cleared", tamper: `UPDATE messages SET detriment = false WHERE ` + reporterMsg,
			undo: `UPDATE messages SET detriment = true WHERE ` + reporterMsg},
		{name: "two files' names swapped", tamper: swap("attachments", "name", att1, att2)},
		{name: "two files' blobs swapped", tamper: swap("attachments", "blob_id", att1, att2), file: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := integrityEvents()
			e.DB.MustExec(tc.tamper)
			defer func() {
				if tc.undo != "" {
					e.DB.MustExec(tc.undo)
				} else {
					e.DB.MustExec(tc.tamper) // a swap undoes itself
				}
				if r := mo.API("GET", "/api/v1/concerns/"+ca.ID, nil); r.Status != 200 {
					t.Errorf("put back: got %d %s, want 200", r.Status, r.Body)
				}
			}()
			path := "/api/v1/concerns/" + ca.ID
			if tc.file {
				path += "/attachments/" + before.Attachments[0].ID
			}
			r := mo.API("GET", path, nil)
			if got := decode[apiError](t, r); r.Status != 500 || got.Error.Code != "integrity" {
				t.Fatalf("got %d %s, want 500 integrity", r.Status, r.Body)
			}
			for _, leaked := range []string{"Gwen", "Rhys", "nights", "looking", "rota", "contents of"} {
				if strings.Contains(string(r.Body), leaked) {
					t.Errorf("the error shows content (%q): %s", leaked, r.Body)
				}
			}
			if got := integrityEvents(); got != n+1 {
				t.Errorf("seal.integrity events: got %d, want %d", got, n+1)
			}
			if !tc.file {
				// The reporter's mailbox refuses the moved field as well.
				if r := e.Do(t, "GET", "/api/v1/mailbox", "", nil, auth); r.Status != 500 && strings.Contains(tc.name, "message") {
					t.Errorf("mailbox: got %d, want 500", r.Status)
				}
			}
		})
	}
	// The staff read records the hash of the sealed identity, so a replacement sealed to the
	// (public) custodian keys shows in the log.
	var details []byte
	if err := e.DB.Get(&details, `SELECT details FROM audit_events WHERE action = 'concern.read' AND object_id = $1 ORDER BY seq DESC LIMIT 1`, ca.ID); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(details, []byte("identity_sha256")) {
		t.Errorf("concern.read details %s, want identity_sha256", details)
	}
	// An identity moved to another concern says whose it is once a custodian opens it.
	r, err := age.Decrypt(bytes.NewReader(ca.IdentitySealed), custodian)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(r)
	var sealedID intake.SealedIdentity
	if err := json.Unmarshal(plain, &sealedID); err != nil || sealedID.Concern != ca.ID || sealedID.Concern == cb.ID {
		t.Errorf("sealed identity names concern %q (%v), want %s", sealedID.Concern, err, ca.ID)
	}

	// A concern sealed before binding (its content an age file, as the oldest are) still opens,
	// flagged unbound.
	sk, err := seal.LoadOrCreateServerKey(filepath.Join(e.DataDir, "keys", "data.key"))
	if err != nil {
		t.Fatal(err)
	}
	dk, err := sk.UnwrapDataKey(cb.WrappedKey)
	if err != nil {
		t.Fatal(err)
	}
	var legacy bytes.Buffer
	w, _ := age.Encrypt(&legacy, dk)
	io.WriteString(w, `{"summary":"An older concern","details":"Sealed before binding.","named_people":[]}`)
	w.Close()
	e.DB.MustExec(`UPDATE concerns SET content = $1 WHERE id = $2`, legacy.Bytes(), cb.Serial)
	old := decode[view](t, mo.API("GET", "/api/v1/concerns/"+cb.ID, nil))
	if old.Summary != "An older concern" || !old.SealedUnbound {
		t.Errorf("legacy concern: got summary %q, sealed_unbound %v, want it opened and flagged", old.Summary, old.SealedUnbound)
	}
	if page := mo.Get("/staff/concerns/" + cb.ID); !strings.Contains(page.Body, `id="sealed-unbound"`) {
		t.Errorf("the concern page does not say it is unbound")
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }
