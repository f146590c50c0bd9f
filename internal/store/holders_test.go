package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/lib/pq"

	"candour/internal/dbtest"
	"candour/internal/store"
)

// The route holders' index (migration 00037) is a tenant table: a council's queue never shows
// another's concerns held by the same e-mail, the portal reads only its council's rows, and it
// cannot write any row at all (only the triggers on concerns do), for its council or another.
func TestConcernHoldersKeptToTheirCouncil(t *testing.T) {
	ctx := context.Background()
	d := dbtest.NewDatabase(t)
	db := dbtest.Open(t, d.URL)
	south, err := store.New(db).EnsureCouncil(ctx, "south")
	if err != nil {
		t.Fatal(err)
	}
	viewer := store.TriageViewer{UserID: 1, Email: "Same@Example.org", NamedKey: []byte{9}, ServiceLead: true,
		ServiceAreas: []string{"housing"}}
	for i, council := range []int64{store.DefaultCouncil, south} {
		s := store.New(db).ForCouncil(council)
		var batch []store.NewConcern
		for j := range 3 {
			c := newConcern(fmt.Sprintf("C-HOLD-%d%03d", i, j))
			c.Route = []byte(`{"rule":"default","route":[{"role":"lead_member","email":"same@example.org"}]}`)
			batch = append(batch, c)
		}
		if _, err := s.InsertConcerns(ctx, batch); err != nil {
			t.Fatal(err)
		}
		rows, err := s.Triage(ctx, viewer, store.TriageFilter{}, nil, 50, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 3 {
			t.Fatalf("council %d: the holder's queue has %d concerns, want its own 3", council, len(rows))
		}
		for _, r := range rows {
			if got, err := s.ConcernByReference(ctx, r.Reference); err != nil || got.Serial != r.Serial {
				t.Errorf("council %d's queue lists %s, not its own (%v)", council, r.Reference, err)
			}
		}
	}
	north := dbtest.Open(t, dbtest.InCouncil(t, d.URL, store.DefaultCouncil))
	var seen, others int
	if err := north.QueryRow(`SELECT count(*), count(*) FILTER (WHERE council_id <> $1) FROM concern_holders`,
		store.DefaultCouncil).Scan(&seen, &others); err != nil || seen != 3 || others != 0 {
		t.Errorf("the serving role in council 1 reads %d holder rows, %d of another council (%v); want 3 and none", seen, others, err)
	}
	for _, q := range []string{
		`INSERT INTO concern_holders (council_id, holder, routine, next_deadline, public_id, concern_id, status, channel,
			awaiting_council, named_keys) SELECT $1, 'route:attacker@example.org', true, now(), gen_random_uuid(), 1, 'received',
			'web', false, '{}'`,
		`UPDATE concern_holders SET holder = 'route:attacker@example.org' WHERE council_id = $1 OR true`,
		`DELETE FROM concern_holders WHERE council_id = $1 OR true`,
	} {
		for _, council := range []int64{store.DefaultCouncil, south} {
			var pqErr *pq.Error
			if _, err := north.Exec(q, council); !errors.As(err, &pqErr) || pqErr.Code != "42501" {
				t.Errorf("the serving role writing council %d's holder rows: %v, want permission denied\n%s", council, err, q)
			}
		}
	}
}
