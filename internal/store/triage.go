package store

import (
	"candour/internal/domain"

	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"candour/internal/publicid"
)

// TriageViewer is who is looking at the queue, as the SQL filter needs it.
type TriageViewer struct {
	UserID       int64
	Email        string
	NamedKey     []byte // keyed hash of Email, as stored in concerns.named_keys
	Monitoring   bool   // Monitoring Officer or deputy: every concern not excluded
	Safeguarding bool   // safeguarding hub staff: concerns routed to the hub
	// ServiceLead: a route by e-mail counts only for concerns in ServiceAreas (access package
	// comment).
	ServiceLead  bool
	ServiceAreas []string
}

// TriageFilter narrows the queue.
type TriageFilter = domain.TriageFilter

// TriageCursor is the position after the last row of a page (keyset pagination).
type TriageCursor struct {
	Routine  bool // false: safeguarding rows, which come first
	Deadline time.Time
	ID       string // the last row's public id, the tie-breaker: in serial order the queue would tell which came first
}

// TriageRow is one queue row: clear columns only.
type TriageRow struct {
	QueueRow
	AcknowledgedAt *time.Time `db:"acknowledged_at"`
	DecidedAt      *time.Time `db:"decided_at"`
	FeedbackAt     *time.Time `db:"feedback_at"`
	NextDeadline   time.Time  `db:"next_deadline"`
	Routine        bool       `db:"routine"`
	// AwaitingCouncil: the reporter wrote last, and waits for an answer.
	AwaitingCouncil bool `db:"awaiting_council"`
}

// Triage lists the open concerns v may see, most urgent first (safeguarding, then the nearest
// clock), limit rows after cursor. The access rule is in the WHERE clause so the index does the
// paging: named people and declared conflicts are excluded for everyone; the Monitoring Officer
// and deputy see the rest; others see what is routed or referred to them (concern_holders,
// migration 00037) or granted.
func (s *Store) Triage(ctx context.Context, v TriageViewer, f TriageFilter, after *TriageCursor, limit int, now time.Time) ([]TriageRow, error) {
	q, args, err := s.triageQuery(v, f, after, limit, now)
	if err != nil {
		return nil, err
	}
	var rows []TriageRow
	err = s.sel(ctx, &rows, q, args...)
	return rows, err
}

// ExplainTriage returns PostgreSQL's plan for the same query, as run (benchmarks report it).
func (s *Store) ExplainTriage(ctx context.Context, v TriageViewer, f TriageFilter, after *TriageCursor, limit int, now time.Time) (string, error) {
	q, args, err := s.triageQuery(v, f, after, limit, now)
	if err != nil {
		return "", err
	}
	var lines []string
	if err := s.sel(ctx, &lines, "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) "+q, args...); err != nil {
		return "", err
	}
	return strings.Join(lines, "\n"), nil
}

// triageSource names the queue's columns in one branch of the query: the concerns themselves
// (c), or the route holders' index (h, migration 00037), whose deadline is never NULL.
type triageSource struct{ id, routine, deadline, row string }

var (
	fromConcerns = triageSource{id: "c.id", routine: "(NOT c.safeguarding)", deadline: "c.next_deadline", row: "c"}
	fromGrants   = triageSource{id: "c.id", routine: "(NOT c.safeguarding)", deadline: "coalesce(c.next_deadline, 'infinity')", row: "c"}
	fromHolders  = triageSource{id: "h.concern_id", routine: "h.routine", deadline: "h.next_deadline", row: "h"}
)

// where is what every branch applies before its limit: the filters, the cursor, and the
// exclusions of the named and the conflicted.
func (t triageSource) where(f TriageFilter, cursor bool) []string {
	w := []string{fmt.Sprintf("NOT (%s.named_keys @> ARRAY[CAST(:named AS bytea)])", t.row),
		fmt.Sprintf("NOT EXISTS (SELECT 1 FROM conflicts x WHERE x.concern_id = %s AND x.user_id = :uid)", t.id)}
	for _, col := range []struct{ name, val string }{{"status", f.Status}, {"route_rule", f.Route}, {"service_area", f.ServiceArea}, {"channel", f.Channel}} {
		if col.val != "" {
			w = append(w, fmt.Sprintf("%s.%s = :%s", t.row, col.name, col.name))
		}
	}
	if f.Breached {
		w = append(w, t.deadline+" < :now")
	}
	if f.Waiting {
		w = append(w, t.row+".awaiting_council")
	}
	if cursor {
		w = append(w, fmt.Sprintf("(%s, %s, %s.public_id) > (:c_routine, :c_deadline, CAST(:c_id AS uuid))", t.routine, t.deadline, t.row))
	}
	return w
}

// triageColumns are the queue's display columns, read from concerns.
const triageColumns = `c.id, c.public_id, c.reference, c.channel, c.mode, c.service_area, c.category, c.safeguarding, c.status,
		c.route_rule, c.received_at, c.acknowledge_by, c.decide_by, c.feedback_by, c.acknowledged_at, c.decided_at, c.feedback_at,
		c.next_deadline, NOT c.safeguarding AS routine, c.awaiting_council`

func (s *Store) triageQuery(v TriageViewer, f TriageFilter, after *TriageCursor, limit int, now time.Time) (string, []any, error) {
	email := strings.ToLower(strings.TrimSpace(v.Email))
	args := map[string]any{"named": v.NamedKey, "uid": v.UserID, "areas": pq.StringArray(v.ServiceAreas),
		"limit": limit, "now": now, "council": s.council, "status": f.Status, "route_rule": f.Route,
		"service_area": f.ServiceArea, "channel": f.Channel,
		"route_holder": "route:" + email, "referred_holder": "referred:" + email}
	if after != nil {
		if !publicid.Valid(after.ID) {
			return "", nil, ErrNotFound
		}
		args["c_routine"], args["c_deadline"], args["c_id"] = after.Routine, after.Deadline, after.ID
	}
	where := func(t triageSource, more ...string) string {
		return strings.Join(append(more, t.where(f, after != nil)...), " AND ")
	}
	var q string
	if v.Monitoring {
		// Row-level security keeps the rows to the council already; saying so here as well lets
		// the planner read the index in queue order within the council and stop at the limit,
		// which it cannot do from the policy's condition alone (the policy is applied as a
		// security barrier, not used to order the scan).
		q = `SELECT ` + triageColumns + ` FROM concerns c WHERE ` +
			where(fromConcerns, "c.council_id = CAST(:council AS bigint)", "c.closed_at IS NULL", "c.shredded_at IS NULL") + `
		ORDER BY (NOT c.safeguarding), c.next_deadline, c.public_id LIMIT :limit`
	} else {
		// Everyone else: each way of holding a concern is a branch read in queue order from its
		// own part of an index, up to the page; the page is the first of their union (a concern
		// held two ways is in two branches). A service lead's route counts only in their areas.
		holders := func(key string, more ...string) string {
			return `(SELECT h.concern_id, h.routine, h.next_deadline, h.public_id FROM concern_holders h WHERE ` +
				where(fromHolders, append([]string{"h.council_id = CAST(:council AS bigint)", "h.holder = " + key}, more...)...) + `
			ORDER BY h.routine, h.next_deadline, h.public_id LIMIT :limit)`
		}
		var branches []string
		if email != "" {
			switch {
			case !v.ServiceLead:
				branches = append(branches, holders(":route_holder"))
			case len(v.ServiceAreas) > 0 && (f.ServiceArea == "" || slices.Contains(v.ServiceAreas, f.ServiceArea)):
				branches = append(branches, holders(":route_holder", "h.service_area = ANY(CAST(:areas AS text[]))"))
			} // else a service lead's routes hold nothing here: no branch, rather than reading all of them to find so
			branches = append(branches, holders(":referred_holder"))
		}
		if v.Safeguarding {
			branches = append(branches, holders("'hub'"))
		}
		branches = append(branches, `(SELECT c.id, NOT c.safeguarding, coalesce(c.next_deadline, 'infinity'), c.public_id
			FROM case_access g JOIN concerns c ON c.id = g.concern_id WHERE `+
			where(fromGrants, "g.council_id = CAST(:council AS bigint)", "g.user_id = :uid", "g.revoked_at IS NULL",
				"c.closed_at IS NULL", "c.shredded_at IS NULL")+`
			ORDER BY 2, 3, 4 LIMIT :limit)`)
		q = `SELECT ` + triageColumns + ` FROM (SELECT DISTINCT concern_id, routine, next_deadline, public_id FROM (
			` + strings.Join(branches, "\n\t\t\tUNION ALL ") + `) b
			ORDER BY routine, next_deadline, public_id LIMIT :limit) p
		JOIN concerns c ON c.id = p.concern_id
		ORDER BY p.routine, p.next_deadline, p.public_id`
	}
	q, list, err := sqlx.Named(q, args)
	if err != nil {
		return "", nil, err
	}
	return s.q.Rebind(q), list, nil
}
