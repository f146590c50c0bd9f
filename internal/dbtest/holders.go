package dbtest

import (
	"testing"

	"github.com/jmoiron/sqlx"
)

// HolderDrift counts the rows of concern_holders (migration 00037) that db's council sees, and
// how many differ from the holders its open concerns name now, either way: a trigger that
// missed a change, or a restore that lost rows, leaves some.
func HolderDrift(tb testing.TB, db *sqlx.DB) (rows, drift int) {
	tb.Helper()
	if err := db.QueryRow(`WITH want AS (
			SELECT c.council_id, k.holder, NOT c.safeguarding, coalesce(c.next_deadline, 'infinity'), c.public_id, c.id,
				c.status, c.route_rule, c.service_area, c.channel, c.awaiting_council, c.named_keys
			FROM concerns c, concern_holder_keys(c.route, c.referred_email, c.referred_to) k (holder)
			WHERE c.closed_at IS NULL AND c.shredded_at IS NULL)
		SELECT (SELECT count(*) FROM concern_holders),
			(SELECT count(*) FROM ((TABLE concern_holders EXCEPT ALL TABLE want) UNION ALL
				(TABLE want EXCEPT ALL TABLE concern_holders)) d)`).Scan(&rows, &drift); err != nil {
		tb.Fatal(err)
	}
	return rows, drift
}
