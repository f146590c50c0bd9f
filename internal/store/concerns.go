package store

import (
	"context"
	"database/sql"
	"errors"
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
	var rows []struct {
		Serial    int64  `db:"id"`
		Reference string `db:"reference"`
	}
	args := concernArrays(s.council, cs)
	var err error
	if s.db == nil {
		err = s.sel(ctx, &rows, insertConcernsSQL, args...) // inside Tx: part of its transaction
	} else {
		var st *sqlx.Stmt
		if st, err = s.prepare(ctx, insertConcernsSQL); err != nil {
			return nil, err
		}
		// On the pool, outside any transaction: the function sets the council itself, and the
		// server commits as the statement ends, in the same round trip (migration 00036).
		err = st.SelectContext(ctx, &rows, args...)
	}
	if isTakenReference(err) && s.db != nil {
		// One drawn reference was already someone's (about one filing in a million, at a
		// million concerns). The statement stored nothing: each concern again on its own, so
		// only the one whose reference was taken goes back for another.
		if len(cs) == 1 {
			return stored, nil
		}
		for i := range all {
			ok, err := s.InsertConcerns(ctx, all[i:i+1])
			if err != nil {
				return nil, err
			}
			stored[i] = ok[0]
		}
		return stored, nil
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

// isTakenReference reports whether err is the unique index on references refusing a row.
// Inside a transaction (s.db == nil) it ends the transaction, so the caller gets it as an error.
func isTakenReference(err error) bool {
	var pe *pq.Error
	return errors.As(err, &pe) && pe.Code == "23505" && pe.Constraint == "concerns_reference_key"
}

// insertConcernsSQL stores a batch of concerns: the arguments are concernArrays'.
const insertConcernsSQL = `SELECT id, reference FROM insert_concerns($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,
	$11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33)`

// concernArrays are insert_concerns' arguments for cs in council: one array per column, in the
// function's order, spelled out here rather than by the driver, which would reflect on every
// value, cannot send a NULL in a bytea array, and would send ciphertext as hex.
func concernArrays(council string, cs []NewConcern) []any {
	var publicIDs, refs, channels, modes, areas, categories, safeguarding, statuses, languages,
		recipients, recipientCounts, namedKeyCounts, rules, versions, routes, received, acknowledgeBy,
		decideBy, feedbackBy, createdBy, recordKeys, notifyRefs, notifyRecipients, noticeRefs pgArray
	var receiptHashes, wrappedKeys, identitiesSealed, identitiesOpen, namedKeys, routeHashes, notices byteaArray
	size := 0
	for _, c := range cs {
		size += len(c.Content) + 4
	}
	contents := newByteaArray(size)
	for _, c := range cs {
		publicIDs.text(c.ID)
		refs.text(c.Reference)
		channels.text(c.Channel)
		modes.text(c.Mode)
		areas.text(c.ServiceArea)
		categories.text(c.Category)
		safeguarding.bool(c.Safeguarding)
		statuses.text(c.Status)
		languages.text(c.Language)
		receiptHashes.add(c.ReceiptHash)
		wrappedKeys.add(c.WrappedKey)
		contents.add(c.Content)
		identitiesSealed.add(c.IdentitySealed)
		for _, r := range c.IdentityRecipients {
			recipients.text(r)
		}
		recipientCounts.int(int64(len(c.IdentityRecipients)))
		identitiesOpen.add(c.IdentityOpen)
		for _, k := range c.NamedKeys {
			namedKeys.add(k)
		}
		namedKeyCounts.int(int64(len(c.NamedKeys)))
		rules.text(c.RouteRule)
		versions.text(c.RouteVersion)
		if c.RouteStored {
			routes.null() // the function copies the stored decision
		} else {
			routes.text(string(c.Route))
		}
		routeHashes.add(c.RouteHash)
		received.time(c.ReceivedAt)
		acknowledgeBy.time(c.AcknowledgeBy)
		if c.DecideBy == nil {
			decideBy.null()
		} else {
			decideBy.time(*c.DecideBy)
		}
		feedbackBy.time(c.FeedbackBy)
		if c.CreatedBy.Valid {
			createdBy.int(c.CreatedBy.Int64)
		} else {
			createdBy.null()
		}
		recordKeys.int(int64(c.RecordKey))
		for _, r := range c.Notify {
			notifyRefs.text(c.Reference)
			notifyRecipients.text(r)
		}
		if c.NoticeAddress != nil {
			noticeRefs.text(c.Reference)
			notices.add(c.NoticeAddress)
		}
	}
	return []any{council, publicIDs.String(), refs.String(), channels.String(), modes.String(), areas.String(),
		categories.String(), safeguarding.String(), statuses.String(), languages.String(), receiptHashes.value(),
		wrappedKeys.value(), contents.value(), identitiesSealed.value(), recipients.String(),
		recipientCounts.String(), identitiesOpen.value(), namedKeys.value(), namedKeyCounts.String(),
		rules.String(), versions.String(), routes.String(), routeHashes.value(), received.String(),
		acknowledgeBy.String(), decideBy.String(), feedbackBy.String(), createdBy.String(), recordKeys.String(),
		notifyRefs.String(), notifyRecipients.String(), noticeRefs.String(), notices.value()}
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
