package store

import (
	"candour/internal/domain"

	"context"
	"fmt"
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
// and deputy see the rest; others see what is routed to them or granted.
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

func (s *Store) triageQuery(v TriageViewer, f TriageFilter, after *TriageCursor, limit int, now time.Time) (string, []any, error) {
	// Row-level security keeps the rows to the council already; saying so here as well lets the
	// planner read the index in queue order within the council and stop at the limit, which it
	// cannot do from the policy's condition alone (the policy is applied as a security barrier,
	// not used to order the scan).
	where := []string{"c.council_id = CAST(:council AS bigint)", "c.closed_at IS NULL", "c.shredded_at IS NULL",
		"NOT (c.named_keys @> ARRAY[CAST(:named AS bytea)])",
		"NOT EXISTS (SELECT 1 FROM conflicts x WHERE x.concern_id = c.id AND x.user_id = :uid)"}
	if !v.Monitoring {
		where = append(where, `((c.route->'route' @> jsonb_build_array(jsonb_build_object('email', CAST(:email AS text)))
			    AND (NOT :service_lead OR c.service_area = ANY(CAST(:areas AS text[]))))
			OR (:safeguarding AND c.route->'route' @> jsonb_build_array(jsonb_build_object('role', 'safeguarding_hub')))
			OR c.referred_email = :email OR (:safeguarding AND c.referred_to = 'safeguarding')
			OR EXISTS (SELECT 1 FROM case_access g WHERE g.concern_id = c.id AND g.user_id = :uid AND g.revoked_at IS NULL))`)
	}
	args := map[string]any{"named": v.NamedKey, "uid": v.UserID, "email": strings.ToLower(v.Email),
		"safeguarding": v.Safeguarding, "service_lead": v.ServiceLead, "areas": pq.StringArray(v.ServiceAreas),
		"limit": limit, "now": now, "council": s.council}
	for col, val := range map[string]string{"status": f.Status, "route_rule": f.Route, "service_area": f.ServiceArea, "channel": f.Channel} {
		if val != "" {
			where = append(where, fmt.Sprintf("c.%s = :%s", col, col))
			args[col] = val
		}
	}
	if f.Breached {
		where = append(where, "c.next_deadline < :now")
	}
	if f.Waiting {
		where = append(where, "c.awaiting_council")
	}
	if after != nil {
		if !publicid.Valid(after.ID) {
			return "", nil, ErrNotFound
		}
		where = append(where, "((NOT c.safeguarding), c.next_deadline, c.public_id) > (:c_routine, :c_deadline, CAST(:c_id AS uuid))")
		args["c_routine"], args["c_deadline"], args["c_id"] = after.Routine, after.Deadline, after.ID
	}
	q := `SELECT c.id, c.public_id, c.reference, c.channel, c.mode, c.service_area, c.category, c.safeguarding, c.status,
		c.route_rule, c.received_at, c.acknowledge_by, c.decide_by, c.feedback_by, c.acknowledged_at, c.decided_at, c.feedback_at,
		c.next_deadline, NOT c.safeguarding AS routine, c.awaiting_council
		FROM concerns c WHERE ` + strings.Join(where, " AND ") + `
		ORDER BY (NOT c.safeguarding), c.next_deadline, c.public_id LIMIT :limit`
	q, list, err := sqlx.Named(q, args)
	if err != nil {
		return "", nil, err
	}
	return s.q.Rebind(q), list, nil
}
