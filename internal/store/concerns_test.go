package store_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/lib/pq"

	"candour/internal/dbtest"
	"candour/internal/store"
)

func newConcern(ref string, notify ...string) store.NewConcern {
	now := time.Now().Truncate(time.Hour)
	rh := make([]byte, 32)
	rand.Read(rh)
	return store.NewConcern{Concern: &store.Concern{Reference: ref, Channel: "web", Mode: "anonymous",
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
			if err != nil || got.ID != c.ID || string(got.Content) != "sealed\x00bytes" || len(got.NamedKeys) != 1 {
				t.Errorf("%s: stored %+v (%v), want id %d and its bytes", c.Reference, got, err, c.ID)
			}
		} else if c.ID != 0 {
			t.Errorf("%s (%d): not stored but given id %d", c.Reference, i, c.ID)
		}
	}
	var mails []string
	if err := db.Select(&mails, `SELECT n.reference || ' ' || recipient || ' ' || dedupe_key FROM notifications n
		JOIN concerns c ON c.id = n.concern_id AND c.reference = n.reference ORDER BY 1`); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprint([]string{
		fmt.Sprintf("C-AAAA-0001 mo@example.org routed:%d:mo@example.org", first.ID),
		fmt.Sprintf("C-AAAA-0002 head@example.org routed:%d:head@example.org", batch[0].ID),
		fmt.Sprintf("C-AAAA-0002 mo@example.org routed:%d:mo@example.org", batch[0].ID),
	})
	if fmt.Sprint(mails) != want {
		t.Fatalf("notifications:\n%v\nwant\n%v", mails, want)
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
