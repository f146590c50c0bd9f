package database_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"candour/internal/database"
	"candour/internal/dbtest"
)

// 00019 gives existing rows public ids on the way up and takes them away cleanly on the way
// down, with rows in the table, and the triage index follows.
func TestPublicIDsMigrationUpDownUp(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d := dbtest.NewEmpty(t)
	db := dbtest.Open(t, d.OwnerURL)
	p := migrator(t, db)
	if _, err := p.UpTo(ctx, 18); err != nil {
		t.Fatal(err)
	}
	dbtest.SeedConcerns(t, db, 50, time.Now())
	if _, err := p.UpByOne(ctx); err != nil {
		t.Fatalf("up: %v", err)
	}
	var missing, distinct int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE public_id IS NULL), count(DISTINCT public_id) FROM concerns`).
		Scan(&missing, &distinct); err != nil || missing != 0 || distinct != 50 {
		t.Fatalf("after up: %d without a public id, %d distinct (%v), want 0 and 50", missing, distinct, err)
	}
	triageIndex := func() string {
		var def string
		if err := db.QueryRowContext(ctx, `SELECT indexdef FROM pg_indexes WHERE indexname = 'concerns_triage'`).Scan(&def); err != nil {
			t.Fatal(err)
		}
		return def
	}
	// Up: the queue's index ends at the deadline (no serial to betray filing order).
	if def := triageIndex(); !strings.Contains(def, "next_deadline) WHERE") {
		t.Errorf("triage index after up: %s", def)
	}
	if _, err := p.Down(ctx); err != nil {
		t.Fatalf("down: %v", err)
	}
	var cols int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM information_schema.columns WHERE column_name = 'public_id'`).Scan(&cols); err != nil || cols != 0 {
		t.Errorf("after down: %d public_id columns (%v), want 0", cols, err)
	}
	if def := triageIndex(); !strings.Contains(def, "next_deadline, id)") {
		t.Errorf("triage index after down: %s", def)
	}
	if err := database.Migrate(ctx, d.OwnerURL, d.URL); err != nil {
		t.Fatalf("up again: %v", err)
	}
}
