package store_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/lib/pq"

	"candour/internal/dbtest"
	"candour/internal/publicid"
	"candour/internal/store"
)

func newConcern(ref string, notify ...string) store.NewConcern {
	now := time.Now().Truncate(time.Hour)
	rh := make([]byte, 32)
	rand.Read(rh)
	return store.NewConcern{Concern: &store.Concern{ID: publicid.New(), Reference: ref, Channel: "web", Mode: "anonymous",
		ServiceArea: "housing", Category: "other", Status: "received", Language: "en", ReceiptHash: rh,
		IdentityRecipients: pq.StringArray{}, NamedKeys: pq.ByteaArray{[]byte{1, 2}},
		WrappedKey: []byte{0, 1, 2}, Content: []byte("sealed\x00bytes"), RouteRule: "default", RouteVersion: "v1",
		Route:      []byte(`{"rule":"default"}`),
		ReceivedAt: now, AcknowledgeBy: now.Add(7 * 24 * time.Hour), FeedbackBy: now.Add(90 * 24 * time.Hour)},
		Notify: notify}
}

// One statement stores many concerns; a reference that is taken, in the table or earlier in the
// same batch, stores nothing for that concern and tells its caller to draw again.
func TestInsertConcernsReportsTakenReferences(t *testing.T) {
	ctx := context.Background()
	db := dbtest.New(t)
	s := store.New(db)
	first := newConcern("C-AAAA-0001", "mo@example.org")
	if ok, err := s.InsertConcerns(ctx, []store.NewConcern{first}); err != nil || !ok[0] {
		t.Fatalf("first insert: %v %v", ok, err)
	}
	batch := []store.NewConcern{
		newConcern("C-AAAA-0002", "mo@example.org", "head@example.org"),
		newConcern("C-AAAA-0001", "mo@example.org"), // taken in the table
		newConcern("C-AAAA-0003"),
		newConcern("C-AAAA-0002", "other@example.org"), // taken earlier in this batch
	}
	ok, err := s.InsertConcerns(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if want := []bool{true, false, true, false}; fmt.Sprint(ok) != fmt.Sprint(want) {
		t.Fatalf("stored = %v, want %v", ok, want)
	}
	for i, c := range batch {
		if ok[i] {
			got, err := s.ConcernByReference(ctx, c.Reference)
			if err != nil || got.Serial != c.Serial || string(got.Content) != "sealed\x00bytes" || len(got.NamedKeys) != 1 {
				t.Errorf("%s: stored %+v (%v), want serial %d and its bytes", c.Reference, got, err, c.Serial)
			}
		} else if c.Serial != 0 {
			t.Errorf("%s (%d): not stored but given serial %d", c.Reference, i, c.Serial)
		}
	}
	// The e-mails wait in routed_outbox until the notifier expands them.
	var pending int
	if err := db.Get(&pending, `SELECT count(*) FROM notifications`); err != nil || pending != 0 {
		t.Fatalf("notifications before the notifier ran: %d %v", pending, err)
	}
	if n, err := s.ExpandRoutedOutbox(ctx, 10); err != nil || n != 2 {
		t.Fatalf("expanded %d concerns (%v), want 2", n, err)
	}
	var mails []string
	if err := db.Select(&mails, `SELECT n.reference || ' ' || recipient || ' ' || dedupe_key FROM notifications n
		JOIN concerns c ON c.id = n.concern_id AND c.reference = n.reference ORDER BY 1`); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprint([]string{
		fmt.Sprintf("C-AAAA-0001 mo@example.org routed:%d:mo@example.org", first.Serial),
		fmt.Sprintf("C-AAAA-0002 head@example.org routed:%d:head@example.org", batch[0].Serial),
		fmt.Sprintf("C-AAAA-0002 mo@example.org routed:%d:mo@example.org", batch[0].Serial),
	})
	if fmt.Sprint(mails) != want {
		t.Fatalf("notifications:\n%v\nwant\n%v", mails, want)
	}
}

// A shared decision sent whole with its hash is kept once; concerns sent with the hash alone
// get the whole decision from there, in the same batch as ones sending it or in a later one,
// and a hash that names nothing stored stores no concern at all.
func TestSharedRouteDecisions(t *testing.T) {
	ctx := context.Background()
	db := dbtest.New(t)
	s := store.New(db)
	decision := []byte(`{"rule": "default", "route": [{"role": "head_of_service", "email": "head@example.org"}]}`)
	sum := sha256.Sum256(decision)
	shared := func(ref string, stored bool) store.NewConcern {
		c := newConcern(ref)
		c.Route, c.RouteHash, c.RouteStored = decision, sum[:], stored
		return c
	}
	// Two sending it whole in one batch: kept once.
	if _, err := s.InsertConcerns(ctx, []store.NewConcern{shared("C-DDDD-0001", false), shared("C-DDDD-0002", false)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.InsertConcerns(ctx, []store.NewConcern{shared("C-DDDD-0003", true), shared("C-DDDD-0004", false)}); err != nil {
		t.Fatal(err)
	}
	var kept int
	if err := db.Get(&kept, `SELECT count(*) FROM route_decisions WHERE hash = $1`, sum[:]); err != nil || kept != 1 {
		t.Fatalf("route_decisions rows for the hash: %d (%v), want 1", kept, err)
	}
	var routes []string
	if err := db.Select(&routes, `SELECT route::text FROM concerns WHERE reference LIKE 'C-DDDD-%' ORDER BY reference`); err != nil {
		t.Fatal(err)
	}
	var want string
	if err := db.Get(&want, `SELECT $1::jsonb::text`, string(decision)); err != nil {
		t.Fatal(err)
	}
	if len(routes) != 4 {
		t.Fatalf("stored %d concerns, want 4", len(routes))
	}
	for i, r := range routes {
		if r != want {
			t.Errorf("concern %d route %s, want %s", i+1, r, want)
		}
	}

	unknown := shared("C-DDDD-0005", true)
	other := sha256.Sum256([]byte("a decision never stored"))
	unknown.RouteHash = other[:]
	if _, err := s.InsertConcerns(ctx, []store.NewConcern{unknown}); err == nil {
		t.Fatal("a concern whose decision names nothing stored was accepted")
	}
	if _, err := s.ConcernByReference(ctx, "C-DDDD-0005"); err == nil {
		t.Fatal("a concern without its decision was stored")
	}
}

// Only errors a row's own data caused are worth retrying row by row.
func TestIsDataError(t *testing.T) {
	ctx := context.Background()
	db := dbtest.New(t)
	s := store.New(db)
	a := newConcern("C-BBBB-0001")
	b := newConcern("C-BBBB-0002")
	b.ReceiptHash = a.ReceiptHash // the same receipt twice: a unique violation (23505)
	_, err := s.InsertConcerns(ctx, []store.NewConcern{a, b})
	if err == nil || !store.IsDataError(err) {
		t.Fatalf("duplicate receipt hash: err = %v, want a data error", err)
	}
	_, err = db.Exec(`SELECT nonsense FROM`)
	if err == nil || store.IsDataError(err) {
		t.Fatalf("syntax error: err = %v, want not a data error", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.InsertConcerns(cancelled, []store.NewConcern{newConcern("C-BBBB-0003")}); err == nil || store.IsDataError(err) {
		t.Fatalf("cancelled: err = %v, want not a data error", err)
	}
}

// The notifier's expansion sends safeguarding at once and the rest at the hour after filing,
// expands each concern once however often it runs, and drops what belongs to a deleted concern.
func TestExpandRoutedOutbox(t *testing.T) {
	ctx := context.Background()
	db := dbtest.New(t)
	s := store.New(db)
	urgent, routine, gone := newConcern("C-CCCC-0001", "mo@example.org"), newConcern("C-CCCC-0002", "mo@example.org", "head@example.org"),
		newConcern("C-CCCC-0003", "mo@example.org")
	urgent.Safeguarding = true
	if _, err := s.InsertConcerns(ctx, []store.NewConcern{urgent, routine, gone}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DELETE FROM concerns WHERE id = $1`, gone.Serial); err != nil {
		t.Fatal(err)
	}
	// One at a time: a limit holds, and a second run picks up where the first stopped.
	for i, want := range []int{1, 1, 1, 0} {
		if n, err := s.ExpandRoutedOutbox(ctx, 1); err != nil || n != want {
			t.Fatalf("run %d: expanded %d (%v), want %d", i, n, err, want)
		}
	}
	var got []struct {
		Recipient string    `db:"recipient"`
		ConcernID int64     `db:"concern_id"`
		NotBefore time.Time `db:"not_before"`
	}
	// Safeguarding first; the batch's serials need not follow its order.
	if err := db.Select(&got, `SELECT recipient, concern_id, not_before FROM notifications
		ORDER BY concern_id <> $1, recipient`, urgent.Serial); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("notifications: %+v, want 3 (the deleted concern's dropped)", got)
	}
	if got[0].ConcernID != urgent.Serial || !got[0].NotBefore.Equal(urgent.ReceivedAt) {
		t.Errorf("safeguarding: %+v, want concern %d not before %v", got[0], urgent.Serial, urgent.ReceivedAt)
	}
	for _, n := range got[1:] {
		if n.ConcernID != routine.Serial || !n.NotBefore.Equal(routine.ReceivedAt.Add(time.Hour)) {
			t.Errorf("routine: %+v, want concern %d not before %v", n, routine.Serial, routine.ReceivedAt.Add(time.Hour))
		}
	}
	var left int
	if err := db.Get(&left, `SELECT count(*) FROM routed_outbox`); err != nil || left != 0 {
		t.Fatalf("outbox left %d rows (%v)", left, err)
	}
}

// A batch is stored by one statement outside any transaction, which sets the council itself: on
// a connection that carries no council, every row of it (the concern, its e-mails, its notice
// address) lands in the store's council and nowhere else, each concern's own arrays come back
// as sent, and the connection is left without a council.
func TestInsertConcernsLandInTheStoresCouncil(t *testing.T) {
	ctx := context.Background()
	d := dbtest.NewDatabase(t)
	db := dbtest.Open(t, d.URL) // no council for the session
	db.SetMaxOpenConns(1)       // so the checks below run on the connection the batch used
	south, err := store.New(db).EnsureCouncil(ctx, "south")
	if err != nil {
		t.Fatal(err)
	}
	s := store.New(db).ForCouncil(south)
	decide := time.Now().Truncate(time.Hour).Add(28 * 24 * time.Hour)
	named := newConcern("C-SSSS-0001", "mo@example.org", "head@example.org")
	named.NamedKeys = pq.ByteaArray{{1}, {2, 3}, {}}
	named.DecideBy = &decide
	open := newConcern("C-SSSS-0002")
	open.Mode, open.IdentityRecipients, open.NamedKeys = "open", pq.StringArray{"age1one", `a "quoted", {braced} \ NULL`}, pq.ByteaArray{}
	open.IdentitySealed, open.IdentityOpen, open.NoticeAddress = []byte("sealed"), []byte{}, []byte("address")
	batch := []store.NewConcern{named, open, newConcern("C-SSSS-0003", "mo@example.org")}
	ok, err := s.InsertConcerns(ctx, batch)
	if err != nil || fmt.Sprint(ok) != "[true true true]" {
		t.Fatalf("insert: %v %v", ok, err)
	}
	for _, c := range batch {
		got, err := s.ConcernByReference(ctx, c.Reference)
		if err != nil {
			t.Fatalf("%s: %v", c.Reference, err)
		}
		if got.Serial != c.Serial || fmt.Sprint(got.NamedKeys) != fmt.Sprint(c.NamedKeys) ||
			fmt.Sprint(got.IdentityRecipients) != fmt.Sprint(c.IdentityRecipients) ||
			string(got.IdentitySealed) != string(c.IdentitySealed) || (got.IdentityOpen == nil) != (c.IdentityOpen == nil) ||
			!got.ReceivedAt.Equal(c.ReceivedAt) || (got.DecideBy == nil) != (c.DecideBy == nil) ||
			(got.DecideBy != nil && !got.DecideBy.Equal(*c.DecideBy)) || got.CreatedBy.Valid {
			t.Errorf("%s: stored %+v, want %+v", c.Reference, got, c.Concern)
		}
	}
	var council sql.NullString
	if err := db.Get(&council, `SELECT current_setting('candour.council', true)`); err != nil || council.String != "" {
		t.Errorf("the connection kept council %q (%v)", council.String, err)
	}
	counts := func(dsn string) string {
		t.Helper()
		var n [3]int
		if err := dbtest.Open(t, dsn).QueryRow(`SELECT (SELECT count(*) FROM concerns),
			(SELECT count(*) FROM routed_outbox), (SELECT count(*) FROM reporter_notices)`).Scan(&n[0], &n[1], &n[2]); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(n)
	}
	if got := counts(dbtest.InCouncil(t, d.URL, south)); got != "[3 2 1]" {
		t.Errorf("the store's council holds %s concerns, outbox rows and notices, want [3 2 1]", got)
	}
	if got := counts(dbtest.InCouncil(t, d.URL, store.DefaultCouncil)); got != "[0 0 0]" {
		t.Errorf("another council holds %s concerns, outbox rows and notices, want none", got)
	}
	// Inside a transaction the batch is part of it, and goes with it.
	failed := errors.New("the request failed")
	err = s.Tx(ctx, func(tx *store.Store) error {
		if ok, err := tx.InsertConcerns(ctx, []store.NewConcern{newConcern("C-SSSS-0004")}); err != nil || !ok[0] {
			t.Fatalf("insert in a transaction: %v %v", ok, err)
		}
		return failed
	})
	if !errors.Is(err, failed) {
		t.Fatal(err)
	}
	if _, err := s.ConcernByReference(ctx, "C-SSSS-0004"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a concern of a rolled-back transaction: %v", err)
	}
}
