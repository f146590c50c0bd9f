package portal_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"candour/internal/database"
	"candour/internal/mailtest"
	"candour/internal/portaltest"
)

// An open reporter who left an address hears of the council's message from a real mail server
// over STARTTLS, in their language, with nothing in the e-mail that says which concern or what
// was written; the address is in no column of a dump, no log, no staff page and no API answer.
func TestOpenReporterToldOfNewMessage(t *testing.T) {
	pki := mailtest.NewPKI(t)
	srv := mailtest.Start(t, pki, mailtest.STARTTLS)
	e := portaltest.Start(t, portaltest.Setting("CANDOUR_SMTP_ADDR", srv.Addr),
		portaltest.Setting("CANDOUR_SMTP_CA_FILE", pki.CAFile))
	e.AddCustodian(t)
	mo := portaltest.NewStaff(t, e.Portal, "elin.rowlands@enghraifft.example", "monitoring_officer")

	type report struct{ address, lang, reference, receipt, id string }
	reports := []*report{{address: "wren.hollis@example.org", lang: "en"}, {address: "Dylan.Pritchard@example.net", lang: "cy"}}
	for _, r := range reports {
		res := portaltest.DoJSON(t, e.URL(), "POST", "/api/v1/reports", map[string]any{"mode": "open", "lang": r.lang,
			"service_area": "finance", "category": "fraud", "summary": "Invoices split to dodge approval",
			"details": "Unique phrase cormorant-ledger.", "safeguarding": false, "named_people": []string{},
			"identity": map[string]string{"name": "Wren Hollis", "email": "", "phone": "", "role": "accounts"}, "notice_email": r.address})
		if res.Status != http.StatusCreated {
			t.Fatalf("file: %d %s", res.Status, res.Body)
		}
		var out struct{ Reference, Receipt string }
		if err := json.Unmarshal(res.Body, &out); err != nil {
			t.Fatal(err)
		}
		r.reference, r.receipt = out.Reference, out.Receipt
		if err := e.DB.Get(&r.id, `SELECT public_id FROM concerns WHERE reference = $1`, r.reference); err != nil {
			t.Fatal(err)
		}
		// Two messages in one hour: one e-mail.
		for _, body := range []string{"Unique phrase heron-quill: can you send the invoices?", "And the dates, please."} {
			if res := mo.API("POST", "/api/v1/concerns/"+r.id+"/messages", map[string]string{"body": body}); res.Status != http.StatusCreated {
				t.Fatalf("message: %d %s", res.Status, res.Body)
			}
		}
	}
	var queued []struct {
		Recipient *string
		Later     bool
	}
	if err := e.DB.Select(&queued, `SELECT recipient, not_before > now() AS later FROM notifications WHERE kind = 'reporter_new_message'`); err != nil {
		t.Fatal(err)
	}
	if len(queued) != len(reports) {
		t.Fatalf("got %d reporter notifications, want one per concern however many messages: %+v", len(queued), queued)
	}
	for _, q := range queued {
		if q.Recipient != nil || !q.Later {
			t.Errorf("queued notification names recipient %v and is held to the hour %v; want no recipient, held", q.Recipient, q.Later)
		}
	}
	// The hour has passed.
	e.DB.MustExec(`UPDATE notifications SET not_before = now() WHERE kind = 'reporter_new_message'`)
	toAll := func(ms []mailtest.Received) bool {
		return len(ms) >= len(reports)
	}
	got := srv.WaitUntil(toAll, time.Minute)
	if !toAll(got) {
		t.Fatalf("got %d e-mails within a minute, want %d; log:\n%s", len(got), len(reports), e.Logs)
	}
	for _, r := range reports {
		i := slices.IndexFunc(got, func(m mailtest.Received) bool { return m.To == r.address })
		if i < 0 {
			t.Errorf("no e-mail to %s among %d", r.address, len(got))
			continue
		}
		m := got[i]
		if !m.TLS {
			t.Errorf("the e-mail to %s went in clear", r.address)
		}
		want, link := "There is a new message in your mailbox.", e.URL()+"/mailbox\r\n"
		if r.lang == "cy" {
			want, link = "Mae neges newydd yn eich blwch negeseuon.", e.URL()+"/cy/mailbox\r\n"
		}
		if !strings.Contains(m.Data, want) || !strings.Contains(m.Data, link) {
			t.Errorf("the e-mail to %s does not say %q with a link to %s:\n%s", r.address, want, link, m.Data)
		}
		for _, secret := range append([]string{r.reference, r.id, "heron-quill", "invoices", "cormorant-ledger", "Wren Hollis"},
			strings.Split(r.receipt, "-")...) {
			if strings.Contains(strings.ToLower(m.Data), strings.ToLower(secret)) {
				t.Errorf("the e-mail to %s carries %q:\n%s", r.address, secret, m.Data)
			}
		}
	}

	// Nowhere in clear: a dump of every table, the log, the staff page, the concern in the API.
	bin, err := database.FindBinaries()
	if err != nil {
		t.Fatal(err)
	}
	dump, err := exec.Command(filepath.Join(bin, "pg_dump"), "--no-owner", "-d", e.DatabaseURL).Output()
	if err != nil {
		t.Fatalf("pg_dump: %v", err)
	}
	if !bytes.Contains(dump, []byte("COPY public.reporter_notices")) || !bytes.Contains(dump, []byte(reports[0].reference)) {
		t.Fatalf("the dump does not hold the notices and concerns; the test would prove nothing")
	}
	for _, r := range reports {
		for enc, needle := range encodings(r.address) {
			if bytes.Contains(dump, needle) {
				t.Errorf("pg_dump contains %s (%s)", r.address, enc)
			}
			if strings.Contains(e.Logs.String(), string(needle)) {
				t.Errorf("the log contains %s (%s)", r.address, enc)
			}
		}
		page, api := mo.Get("/staff/concerns/"+r.id), mo.API("GET", "/api/v1/concerns/"+r.id, nil)
		if page.Status != http.StatusOK || api.Status != http.StatusOK || !strings.Contains(page.Body, "Wren Hollis") {
			t.Fatalf("concern page %d, API %d: want both, with the open identity", page.Status, api.Status)
		}
		if strings.Contains(strings.ToLower(page.Body), strings.ToLower(r.address)) ||
			bytes.Contains(bytes.ToLower(api.Body), []byte(strings.ToLower(r.address))) {
			t.Errorf("the staff concern page or the concern API shows the reporter's notice address %s", r.address)
		}
	}
}
