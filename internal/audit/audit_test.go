package audit_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"candour/internal/audit"
	"candour/internal/dbtest"
	"candour/internal/store"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// script records n events of the kinds a session produces.
func script(t *testing.T, st *store.Store, n int) {
	t.Helper()
	ctx := context.Background()
	actions := []string{"auth.login", "concern.read", "concern.acknowledge", "concern.message", "identity.request",
		"identity.approve", "investigation.read", "user.roles", "policy.load", "auth.logout"}
	for i := 0; i < n; i++ {
		e := audit.Event{ActorID: int64(i%3 + 1), Action: actions[i%len(actions)], ObjectType: "concern",
			ObjectID: fmt.Sprint(100 + i%7), Details: map[string]string{"step": fmt.Sprint(i), "z": "last", "a": "first"}}
		if i%5 == 0 {
			e = audit.Event{Actor: audit.ActorReporter, Action: "mailbox.reply", ObjectType: "concern", ObjectID: "101"}
		}
		if err := audit.Record(ctx, st, e); err != nil {
			t.Fatal(err)
		}
	}
}

func verify(t *testing.T, st *store.Store) (bool, int, *int64) {
	t.Helper()
	ok, n, bad, err := audit.Verify(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	return ok, n, bad
}

// tamper runs sql as the superuser with triggers off, as an attacker with database access would.
func tamper(t *testing.T, db *sqlx.DB, sql string) {
	t.Helper()
	ctx := context.Background()
	conn, err := db.Connx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, q := range []string{"SET session_replication_role = replica", sql, "SET session_replication_role = origin"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func TestFiftyActionsVerify(t *testing.T) {
	st := store.New(dbtest.New(t))
	script(t, st, 50)
	if ok, n, bad := verify(t, st); !ok || n != 50 || bad != nil {
		t.Fatalf("got ok=%v events=%d first_bad=%v, want ok with 50 events", ok, n, bad)
	}
}

func TestEmptyTrailVerifies(t *testing.T) {
	st := store.New(dbtest.New(t))
	if ok, n, bad := verify(t, st); !ok || n != 0 || bad != nil {
		t.Fatalf("got ok=%v events=%d first_bad=%v, want ok with 0 events", ok, n, bad)
	}
}

func TestTamperingNamesFirstBadEvent(t *testing.T) {
	cases := []struct {
		name string
		sql  string
		want int64
	}{
		{"edit details", `UPDATE audit_events SET details = '{"step":"999"}' WHERE seq = 17`, 17},
		{"edit actor", `UPDATE audit_events SET actor_id = 2, actor = 'user:2' WHERE seq = 31 AND actor_id IS DISTINCT FROM 2`, 31},
		{"edit time", `UPDATE audit_events SET at = at - interval '1 second' WHERE seq = 9`, 9},
		{"delete one", `DELETE FROM audit_events WHERE seq = 23`, 24},
		{"delete and renumber", `DELETE FROM audit_events WHERE seq = 23; UPDATE audit_events SET seq = seq - 1 WHERE seq > 23`, 23},
		{"reorder", `UPDATE audit_events SET seq = CASE seq WHEN 12 THEN 1000013 ELSE 1000012 END WHERE seq IN (12, 13);
			UPDATE audit_events SET seq = seq - 1000000 WHERE seq > 1000000`, 12},
		{"rehash one", `UPDATE audit_events SET hash = sha256(hash) WHERE seq = 40`, 40},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := dbtest.NewDatabase(t)
			st := store.New(dbtest.Open(t, d.URL))
			script(t, st, 50)
			tamper(t, dbtest.Open(t, dbtest.InCouncil(t, d.SuperuserURL, store.DefaultCouncil)), tc.sql)
			ok, _, bad := verify(t, st)
			if ok || bad == nil || *bad != tc.want {
				got := "nil"
				if bad != nil {
					got = fmt.Sprint(*bad)
				}
				t.Fatalf("got ok=%v first_bad=%s, want first_bad=%d", ok, got, tc.want)
			}
		})
	}
}

// The serving role has no right to change events; the owner has, and the trigger still refuses.
func TestAppOnlyAppends(t *testing.T) {
	d := dbtest.NewDatabase(t)
	st := store.New(dbtest.Open(t, d.URL))
	script(t, st, 3)
	for _, as := range []struct{ role, url, want string }{
		{"serving role", d.URL, "permission denied"},
		{"owner", d.OwnerURL, "append-only"},
	} {
		db := dbtest.Open(t, dbtest.InCouncil(t, as.url, store.DefaultCouncil))
		for _, q := range []string{
			`UPDATE audit_events SET action = 'x' WHERE seq = 1`,
			`DELETE FROM audit_events WHERE seq = 2`,
			`TRUNCATE audit_events`,
		} {
			_, err := db.Exec(q)
			if err == nil || !strings.Contains(err.Error(), as.want) {
				t.Errorf("%s: %s: got %v, want %q", as.role, q, err, as.want)
			}
		}
	}
	if ok, n, _ := verify(t, st); !ok || n != 3 {
		t.Errorf("got ok=%v events=%d after refused changes, want ok with 3", ok, n)
	}
}

func TestConcurrentAppendsKeepOneChain(t *testing.T) {
	st := store.New(dbtest.New(t))
	errs := make(chan error, 40)
	for i := 0; i < 40; i++ {
		go func(i int) {
			errs <- audit.Record(context.Background(), st, audit.Event{ActorID: int64(i + 1), Action: "concern.read"})
		}(i)
	}
	for i := 0; i < 40; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if ok, n, bad := verify(t, st); !ok || n != 40 {
		t.Fatalf("got ok=%v events=%d first_bad=%v, want one chain of 40", ok, n, bad)
	}
}

func TestRecordRollsBackWithItsTransaction(t *testing.T) {
	st := store.New(dbtest.New(t))
	ctx := context.Background()
	boom := fmt.Errorf("boom")
	err := st.Tx(ctx, func(tx *store.Store) error {
		if err := audit.Record(ctx, tx, audit.Event{Action: "concern.decide"}); err != nil {
			return err
		}
		return boom
	})
	if err != boom {
		t.Fatalf("got %v, want boom", err)
	}
	script(t, st, 2)
	if ok, n, _ := verify(t, st); !ok || n != 2 {
		t.Fatalf("got ok=%v events=%d, want the rolled-back event gone and 2 events", ok, n)
	}
}

func ExampleRecord() {
	// Inside the transaction that makes the change:
	//
	//	err := st.Tx(ctx, func(tx *store.Store) error {
	//		if err := tx.SetUserStatus(ctx, id, "disabled"); err != nil {
	//			return err
	//		}
	//		return audit.Record(ctx, tx, audit.Event{ActorID: admin.ID, Action: "user.disable",
	//			ObjectType: "user", ObjectID: strconv.FormatInt(id, 10)})
	//	})
}

// Events about a reporter's doing are kept to the hour, like the rows they describe, so their
// times cannot date the reporter or place them among staff events; staff events keep
// microseconds. The chain still verifies over the coarse times.
func TestReporterEventsKeptToTheHour(t *testing.T) {
	st := store.New(dbtest.New(t))
	ctx := context.Background()
	before := time.Now().UTC()
	for _, e := range []audit.Event{
		{ActorID: 1, Action: "concern.read", ObjectType: "concern", ObjectID: "c1"},
		{Actor: audit.ActorReporter, Action: "record.approve", ObjectType: "concern", ObjectID: "c1"},
		{Action: "concern.shred", ObjectType: "concern", ObjectID: "c1"},                           // the system, for the reporter
		{Actor: audit.ActorSystem, Action: "auth.login_failed", ObjectType: "user", ObjectID: "7"}, // a staff sign-in
	} {
		if err := audit.Record(ctx, st, e); err != nil {
			t.Fatal(err)
		}
	}
	events, err := st.AuditEvents(ctx, 0, 10)
	if err != nil || len(events) != 4 {
		t.Fatalf("got %d events, %v; want 4", len(events), err)
	}
	for i, e := range events {
		hourly := e.At.Equal(e.At.Truncate(time.Hour))
		if e.At.Before(before.Truncate(time.Hour)) || e.At.After(time.Now()) {
			t.Errorf("%s: at %v, want this hour", e.Action, e.At)
		}
		// A staff event falls exactly on the hour once in 3.6 billion runs.
		if wantHourly := i == 1 || i == 2; hourly != wantHourly {
			t.Errorf("%s by %s: at %v, to the hour: %v, want %v", e.Action, e.Actor, e.At, hourly, wantHourly)
		}
	}
	if ok, n, bad := verify(t, st); !ok || n != 4 {
		t.Errorf("got ok=%v events=%d first_bad=%v, want the chain to verify", ok, n, bad)
	}
}
