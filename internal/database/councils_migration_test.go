package database_test

import (
	"context"
	"testing"
	"time"

	"candour/internal/dbtest"
	"candour/internal/store"
)

// A single-council installation upgrades in place (00031): its rows become council 1's, which
// the serving role then reads only when set to council 1; the way down and up again keeps
// every row.
func TestCouncilsMigrationUpgradesInPlace(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d, db, p := ownerMigrator(t)
	if _, err := p.UpTo(ctx, 30); err != nil {
		t.Fatal(err)
	}
	dbtest.SeedConcerns(t, db, 20, time.Now())
	db.MustExec(`INSERT INTO users (email, name, roles) VALUES ('mo@example.gov.uk', 'MO', '{monitoring_officer}')`)
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("up: %v", err)
	}
	count := func(dsn string) (concerns, users int) {
		t.Helper()
		c := dbtest.Open(t, dsn)
		if err := c.QueryRow(`SELECT (SELECT count(*) FROM concerns), (SELECT count(*) FROM users)`).Scan(&concerns, &users); err != nil {
			t.Fatal(err)
		}
		return concerns, users
	}
	if c, u := count(dbtest.InCouncil(t, d.URL, store.DefaultCouncil)); c != 20 || u != 1 {
		t.Errorf("council 1 after the upgrade: %d concerns and %d users, want 20 and 1", c, u)
	}
	south, err := store.New(dbtest.Open(t, d.URL)).EnsureCouncil(ctx, "south")
	if err != nil {
		t.Fatal(err)
	}
	for name, dsn := range map[string]string{"another council": dbtest.InCouncil(t, d.URL, south), "no council": d.URL} {
		if c, u := count(dsn); c != 0 || u != 0 {
			t.Errorf("%s after the upgrade: %d concerns and %d users, want none", name, c, u)
		}
	}
	db.MustExec(`DELETE FROM councils WHERE slug = 'south'`) // down cannot merge councils
	if _, err := p.DownTo(ctx, 30); err != nil {
		t.Fatalf("down: %v", err)
	}
	if c, u := count(d.URL); c != 20 || u != 1 {
		t.Errorf("after down: %d concerns and %d users, want 20 and 1", c, u)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("up again: %v", err)
	}
	if c, _ := count(dbtest.InCouncil(t, d.URL, store.DefaultCouncil)); c != 20 {
		t.Errorf("up again: %d concerns in council 1, want 20", c)
	}
}
