package database_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"candour/internal/dbtest"
	"candour/internal/store"
)

// 00037 fills the route holders' index with every council's open concerns on the way up, and
// its way down leaves the schema of 00036 (the queue's index with the route again); up again
// fills it again.
func TestConcernHoldersMigrationDownUp(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d, db, p := ownerMigrator(t)
	if _, err := p.UpTo(ctx, 36); err != nil {
		t.Fatal(err)
	}
	var south int64
	if err := db.Get(&south, `INSERT INTO councils (slug) VALUES ('south') RETURNING id`); err != nil {
		t.Fatal(err)
	}
	dbtest.SeedConcernsIn(t, db, store.DefaultCouncil, 600, time.Now())
	dbtest.SeedConcernsIn(t, db, south, 400, time.Now())
	// Each council's holder rows against the holders its open concerns name.
	check := func(step string) {
		t.Helper()
		for _, council := range []int64{store.DefaultCouncil, south} {
			rows, stray := dbtest.HolderDrift(t, dbtest.Open(t, dbtest.InCouncil(t, d.URL, council)))
			if rows == 0 || stray != 0 {
				t.Errorf("%s: council %d has %d holder rows, %d differing from its open concerns'; want some, none differing", step, council, rows, stray)
			}
		}
	}
	triage := func() (def string) {
		t.Helper()
		if err := db.Get(&def, `SELECT indexdef FROM pg_indexes WHERE indexname = 'concerns_triage'`); err != nil {
			t.Fatal(err)
		}
		return def
	}
	if _, err := p.UpTo(ctx, 37); err != nil {
		t.Fatalf("up: %v", err)
	}
	check("up")
	if def := triage(); strings.Contains(def, "referred") || strings.Contains(def, " route,") || !strings.Contains(def, "named_keys") {
		t.Errorf("up: concerns_triage is %s, want it without the route and referral", def)
	}
	if _, err := p.DownTo(ctx, 36); err != nil {
		t.Fatalf("down: %v", err)
	}
	var left int
	if err := db.Get(&left, `SELECT (SELECT count(*) FROM pg_class WHERE relname IN ('concern_holders', 'case_access_user'))
		+ (SELECT count(*) FROM pg_proc WHERE proname LIKE 'concern_holder%')`); err != nil || left != 0 {
		t.Errorf("down: %d tables, indexes or functions of 00037 left (%v)", left, err)
	}
	if def := triage(); !strings.Contains(def, "route, referred_email, referred_to") {
		t.Errorf("down: concerns_triage is %s, want 00035's", def)
	}
	if _, err := p.UpTo(ctx, 37); err != nil {
		t.Fatalf("up again: %v", err)
	}
	check("up again")
}
