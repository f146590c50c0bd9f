package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Concern is a concern row: clear columns for routing and the queue, ciphertext for the rest.
type Concern struct {
	Serial             int64          `db:"id"`        // internal key: never leaves the server
	ID                 string         `db:"public_id"` // the random id clients see
	Reference          string         `db:"reference"`
	Channel            string         `db:"channel"`
	Mode               string         `db:"mode"`
	ServiceArea        string         `db:"service_area"`
	Category           string         `db:"category"`
	Safeguarding       bool           `db:"safeguarding"`
	Status             string         `db:"status"`
	Language           string         `db:"language"`
	ReceiptHash        []byte         `db:"receipt_hash"`
	WrappedKey         []byte         `db:"wrapped_key"`
	Content            []byte         `db:"content"`
	IdentitySealed     []byte         `db:"identity_sealed"`
	IdentityRecipients pq.StringArray `db:"identity_recipients"`
	IdentityOpen       []byte         `db:"identity_open"`
	NamedKeys          pq.ByteaArray  `db:"named_keys"`
	RouteRule          string         `db:"route_rule"`
	RouteVersion       string         `db:"route_version"`
	Route              []byte         `db:"route"`
	ReceivedAt         time.Time      `db:"received_at"`
	AcknowledgeBy      time.Time      `db:"acknowledge_by"`
	DecideBy           *time.Time     `db:"decide_by"` // nil: filed before the decide clock was kept
	FeedbackBy         time.Time      `db:"feedback_by"`
	CreatedBy          sql.NullInt64  `db:"created_by"`
	AwaitingCouncil    bool           `db:"awaiting_council"` // the reporter wrote last
	// RecordKey is the concern's secret key for the statistics' cell-key perturbation
	// (0..255, drawn at filing, migration 00030): written once, never read back.
	RecordKey int16 `db:"-"`
}

const concernColumns = `id, public_id, reference, channel, mode, service_area, category, safeguarding, status, language,
	receipt_hash, wrapped_key, content, identity_sealed, identity_recipients, identity_open, named_keys,
	route_rule, route_version, route, received_at, acknowledge_by, decide_by, feedback_by, created_by, awaiting_council`

// NewConcern is a concern to insert with the route holders to e-mail about it.
type NewConcern struct {
	*Concern
	Notify []string
	// RouteHash, when set, is the SHA-256 of Route, which is then kept once in route_decisions
	// for every concern that shares it. RouteStored says an earlier insert committed it there:
	// only the hash is sent, and the insert copies the decision from the table.
	RouteHash   []byte
	RouteStored bool
	// NoticeAddress is the reporter's address for "a new message" e-mails, sealed under the
	// concern's data key; nil for none (every anonymous report).
	NoticeAddress []byte
}

// InsertConcerns stores concerns with their "routed" e-mails (as routed_outbox rows, which the
// notifier expands) in one statement: one round trip, one commit and one run of the statistics
// triggers for the lot, and atomic without a transaction. Each concern's public id (c.ID) is
// drawn by the caller, who binds the sealed fields to it. It sets each stored concern's serial
// and reports, per concern, false when its reference was already taken (nothing of it
// is stored; the caller draws another).
func (s *Store) InsertConcerns(ctx context.Context, cs []NewConcern) ([]bool, error) {
	stored := make([]bool, len(cs))
	// Two draws of one reference in a batch: the later one goes back for another.
	seen := make(map[string]bool, len(cs))
	all := cs
	cs = make([]NewConcern, 0, len(all))
	for _, c := range all {
		if !seen[c.Reference] {
			seen[c.Reference] = true
			cs = append(cs, c)
		}
	}
	// Batches are padded with empty rows to a power of two, so a handful of prepared statements
	// serve every batch size.
	size := 1
	for size < len(cs) {
		size *= 2
	}
	args := make([]any, 0, size*concernInsertArgs+2)
	var refs, recipients, noticeRefs pq.StringArray
	var notices pq.ByteaArray
	for _, c := range cs {
		var route any // NULL: the insert copies the stored decision
		if !c.RouteStored {
			route = string(c.Route)
		}
		args = append(args, c.ID, c.Reference, c.Channel, c.Mode, c.ServiceArea, c.Category, c.Safeguarding, c.Status,
			c.Language, c.ReceiptHash, c.WrappedKey, c.Content, c.IdentitySealed, c.IdentityRecipients,
			c.IdentityOpen, c.NamedKeys, c.RouteRule, c.RouteVersion, route, c.RouteHash, c.ReceivedAt,
			c.AcknowledgeBy, c.DecideBy, c.FeedbackBy, c.CreatedBy, c.RecordKey)
		for _, r := range c.Notify {
			refs, recipients = append(refs, c.Reference), append(recipients, r)
		}
		if c.NoticeAddress != nil {
			noticeRefs, notices = append(noticeRefs, c.Reference), append(notices, c.NoticeAddress)
		}
	}
	args = append(args, make([]any, (size-len(cs))*concernInsertArgs)...)
	args = append(args, refs, recipients)
	// Only a batch with an address gets the statement that stores addresses: the rest (every
	// anonymous report) send and run exactly what they did before.
	withNotices := len(notices) > 0
	if withNotices {
		args = append(args, noticeRefs, notices)
	}
	var rows []struct {
		Serial    int64  `db:"id"`
		Reference string `db:"reference"`
	}
	text := insertConcernsSQL(size, withNotices)
	var st *sqlx.Stmt // nil: parse the text this time (inside a transaction, or a huge batch)
	if size <= maxPreparedBatch {
		var err error
		if st, err = s.prepare(ctx, text); err != nil {
			return nil, err
		}
	}
	var err error
	if st != nil {
		// The statement prepared on the pool runs inside the transaction that sets the council.
		err = s.Tx(ctx, func(tx *Store) error {
			return tx.q.(*sqlx.Tx).StmtxContext(ctx, st).SelectContext(ctx, &rows, args...)
		})
	} else {
		err = s.sel(ctx, &rows, text, args...)
	}
	if err != nil {
		return nil, err
	}
	serials := make(map[string]int64, len(rows))
	for _, r := range rows {
		serials[r.Reference] = r.Serial
	}
	for i, c := range all {
		if serial, ok := serials[c.Reference]; ok && seen[c.Reference] {
			c.Serial, stored[i] = serial, true
			delete(seen, c.Reference) // only the first of the same reference was sent
		}
	}
	return stored, nil
}

const concernInsertArgs = 26

// maxPreparedBatch is the largest batch run as a prepared statement (up to eight of them per
// connection); a larger one is parsed each time.
const maxPreparedBatch = 128

// concernTypes are the SQL types of a concern row's values, in insert order.
var concernTypes = [concernInsertArgs]string{"uuid", "text", "text", "text", "text", "text", "boolean", "text", "text",
	"bytea", "bytea", "bytea", "bytea", "text[]", "bytea", "bytea[]", "text", "text", "jsonb", "bytea", "timestamptz",
	"timestamptz", "timestamptz", "timestamptz", "bigint", "smallint"}

// insertConcernsText caches the statement for each batch size, with and without addresses: it
// depends on nothing else.
var insertConcernsText sync.Map // insertShape -> string

type insertShape struct {
	n       int
	notices bool
}

// insertConcernsSQL is the statement that stores up to n concerns (n rows of concernInsertArgs
// parameters; a row with a NULL reference is padding) and their e-mails (two text arrays after
// them, reference and recipient), and, with notices, the reporters' sealed addresses (a text
// and a bytea array after those, reference and address).
func insertConcernsSQL(n int, notices bool) string {
	shape := insertShape{n, notices}
	if q, ok := insertConcernsText.Load(shape); ok {
		return q.(string)
	}
	var q strings.Builder
	q.WriteString(`WITH v (public_id, reference, channel, mode, service_area, category, safeguarding, status, language,
		receipt_hash, wrapped_key, content, identity_sealed, identity_recipients, identity_open,
		named_keys, route_rule, route_version, route, route_hash, received_at, acknowledge_by, decide_by, feedback_by, created_by, record_key) AS (VALUES `)
	for row := range n {
		if row > 0 {
			q.WriteString(", ")
		}
		q.WriteByte('(')
		for i := range concernInsertArgs {
			if i > 0 {
				q.WriteString(", ")
			}
			fmt.Fprintf(&q, "$%d", row*concernInsertArgs+i+1)
			if row == 0 { // the first row carries the types; the rest follow them
				q.WriteString("::" + concernTypes[i])
			}
		}
		q.WriteByte(')')
	}
	// A decision sent whole with its hash is kept in route_decisions; one sent as a hash alone
	// was committed there by an earlier insert (this statement's own rows are not visible to it).
	fmt.Fprintf(&q, `), d AS (
		INSERT INTO route_decisions (hash, decision)
		SELECT DISTINCT ON (route_hash) route_hash, route FROM v WHERE route_hash IS NOT NULL AND route IS NOT NULL
		ON CONFLICT (council_id, hash) DO NOTHING
	), c AS (
		INSERT INTO concerns (public_id, reference, channel, mode, service_area, category, safeguarding, status,
		language, receipt_hash, wrapped_key, content, identity_sealed, identity_recipients, identity_open,
		named_keys, route_rule, route_version, route, received_at, acknowledge_by, decide_by, feedback_by, created_by, next_deadline,
		record_key)
		SELECT public_id, reference, channel, mode, service_area, category, safeguarding, status,
		language, receipt_hash, wrapped_key, content, identity_sealed, identity_recipients, identity_open,
		named_keys, route_rule, route_version, coalesce(v.route, known.decision),
		received_at, acknowledge_by, decide_by, feedback_by, created_by,
		least(acknowledge_by, decide_by, feedback_by), -- every clock runs: the rule of migration 00022
		record_key
		FROM v LEFT JOIN route_decisions known ON known.hash = v.route_hash AND v.route IS NULL
		WHERE reference IS NOT NULL -- not padding
		ON CONFLICT (reference) DO NOTHING
		RETURNING id, reference
	), o AS (
		INSERT INTO routed_outbox (concern_id, recipients)
		SELECT c.id, array_agg(r.recipient)
		FROM c JOIN unnest($%d::text[], $%d::text[]) r (reference, recipient) USING (reference)
		GROUP BY c.id
	)`, n*concernInsertArgs+1, n*concernInsertArgs+2)
	if notices {
		fmt.Fprintf(&q, `, a AS (
		INSERT INTO reporter_notices (concern_id, address)
		SELECT c.id, x.address FROM c JOIN unnest($%d::text[], $%d::bytea[]) x (reference, address) USING (reference)
	)`, n*concernInsertArgs+3, n*concernInsertArgs+4)
	}
	q.WriteString(`
	SELECT id, reference FROM c`)
	insertConcernsText.Store(shape, q.String())
	return q.String()
}

// ConcernByReceiptHash finds the concern a receipt opens.
func (s *Store) ConcernByReceiptHash(ctx context.Context, hash []byte) (*Concern, error) {
	var c Concern
	err := s.get(ctx, &c, `SELECT `+concernColumns+` FROM concerns WHERE receipt_hash = $1`, hash)
	return &c, notFound(err)
}

// ConcernByReference finds a concern by its public reference.
func (s *Store) ConcernByReference(ctx context.Context, ref string) (*Concern, error) {
	var c Concern
	err := s.get(ctx, &c, `SELECT `+concernColumns+` FROM concerns WHERE reference = $1`, ref)
	return &c, notFound(err)
}

// ConcernByID finds a concern by its serial.
func (s *Store) ConcernByID(ctx context.Context, serial int64) (*Concern, error) {
	var c Concern
	err := s.get(ctx, &c, `SELECT `+concernColumns+` FROM concerns WHERE id = $1`, serial)
	return &c, notFound(err)
}

// QueueRow is a concern as the triage queue lists it: clear columns only.
type QueueRow struct {
	Serial        int64     `db:"id"`
	ID            string    `db:"public_id"`
	Reference     string    `db:"reference"`
	Channel       string    `db:"channel"`
	Mode          string    `db:"mode"`
	ServiceArea   string    `db:"service_area"`
	Category      string    `db:"category"`
	Safeguarding  bool      `db:"safeguarding"`
	Status        string    `db:"status"`
	RouteRule     string    `db:"route_rule"`
	ReceivedAt    time.Time `db:"received_at"`
	AcknowledgeBy time.Time `db:"acknowledge_by"`
	FeedbackBy    time.Time `db:"feedback_by"`

	DecideBy *time.Time `db:"decide_by"` // nil: filed before the decide clock was kept
}

// ConcernsCreatedBy lists the concerns a staff user raised (a councillor's own), newest first.
func (s *Store) ConcernsCreatedBy(ctx context.Context, userID int64) ([]QueueRow, error) {
	var rows []QueueRow
	err := s.sel(ctx, &rows, `SELECT id, public_id, reference, channel, mode, service_area, category,
		safeguarding, status, route_rule, received_at, acknowledge_by, decide_by, feedback_by
		FROM concerns WHERE created_by = $1 ORDER BY id DESC LIMIT 200`, userID)
	return rows, err
}

// RecordApproval says whether a recorded concern's written record was approved by the reporter.
func (s *Store) RecordApproval(ctx context.Context, id int64) (*time.Time, error) {
	var at *time.Time
	err := s.get(ctx, &at, `SELECT record_approved_at FROM concerns WHERE id = $1`, id)
	return at, notFound(err)
}

// ApproveRecord marks a recorded concern's record approved; false if it was not awaiting approval.
func (s *Store) ApproveRecord(ctx context.Context, id int64, at time.Time) (bool, error) {
	res, err := s.exec(ctx, `UPDATE concerns SET record_approved_at = $2, last_reporter_at = $2
		WHERE id = $1 AND channel = 'recorded' AND record_approved_at IS NULL`, id, at)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}
