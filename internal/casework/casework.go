// Package casework is the Monitoring Officer's work: the triage queue with its legal clocks,
// the concern page and its actions, investigations run allegation by allegation, and identity
// disclosure under the two-person rule. Every step is checked by access (failing closed, 404
// for anyone without access) and recorded in the audit trail in the same transaction.
package casework

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"candour/internal/access"
	"candour/internal/audit"
	"candour/internal/domain"
	"candour/internal/fault"
	"candour/internal/i18n"
	"candour/internal/intake"
	"candour/internal/publicid"
	"candour/internal/receipt"
	"candour/internal/routing"
	"candour/internal/seal"
	"candour/internal/store"
)

// Deps is what casework is built from.
type Deps struct {
	Store     *store.Store
	ServerKey *seal.ServerKey
	Access    *access.Checker
	Names     *receipt.Hasher // the keyed hash of named people (same key as intake)
	Catalog   *i18n.Catalog   // standard messages to reporters, in their language
	Policy    func() *routing.Policy
	Intake    *intake.Service // files concerns recorded on a reporter's behalf
	Now       func() time.Time
}

// Service runs the casework use cases.
type Service struct{ d Deps }

// New returns the casework service.
func New(d Deps) *Service {
	if d.Now == nil {
		d.Now = time.Now
	}
	return &Service{d: d}
}

// MaxText caps free text written by staff (reasons, notes, findings).
const MaxText = 20000

var (
	errNotFound = fault.New(fault.NotFound, "not_found", "error.not_found")
	errShredded = fault.New(fault.Conflict, "shredded", "casework.shredded")
)

func conflict(code string) error { return fault.New(fault.Conflict, code, "casework."+code) }

// text validates staff free text into f.
func text(f fault.Fields, field, v string, required bool) {
	switch {
	case !utf8.ValidString(v):
		f.Add(field, "field.encoding")
	case required && strings.TrimSpace(v) == "":
		f.Add(field, "field.required")
	case utf8.RuneCountInString(v) > MaxText:
		f.Add(field, "field.too_long")
	case strings.IndexFunc(v, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\r' && r != '\t' }) >= 0:
		f.Add(field, "field.control")
	}
}

// caseFacts loads the access facts of the concern a client names by its public id and checks
// allowed; anything else (unknown or malformed id, no access) is 404. The facts carry the
// concern's serial, which the rest of the use case works with.
func (s *Service) caseFacts(ctx context.Context, u *store.User, id string, allowed func(*store.User, *store.CaseFacts) bool) (*store.CaseFacts, error) {
	f, err := s.d.Store.CaseFactsByPublicID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, err
	}
	if !allowed(u, f) {
		return nil, errNotFound
	}
	return f, nil
}

// concern loads a concern (by serial) and its data key.
func (s *Service) concern(ctx context.Context, st *store.Store, id int64) (*store.Concern, *seal.DataKey, error) {
	c, err := st.ConcernByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, errNotFound
	}
	if err != nil {
		return nil, nil, err
	}
	if c.WrappedKey == nil {
		return c, nil, errShredded
	}
	dk, err := intake.ConcernKey(s.d.ServerKey, c)
	if err != nil {
		return nil, nil, fmt.Errorf("casework: %w", err)
	}
	return c, dk, nil
}

// sealString seals optional text at p: none is NULL.
func sealString(dk *seal.DataKey, p seal.Place, v string) ([]byte, error) {
	if v == "" {
		return nil, nil
	}
	return dk.Seal(p, []byte(v))
}

// Places of the sealed fields only casework writes (intake names the rest). Rows of these
// tables have no public id, so each is bound to the public id of its concern (or
// investigation) and to what identifies the row before it is written.

// eventPlace is a lifecycle step's reason: bound to its action and who took it.
func eventPlace(concernID string, e *store.ConcernEvent) seal.Place {
	return seal.Place{Table: "concern_events", Row: concernID, Field: "reason",
		Attrs: []string{"action=" + e.Action, "user=" + nullID(e.UserID)}}
}

// notePlace is a note's body: bound to its author and whether it is personal.
func notePlace(concernID string, n *store.Note) seal.Place {
	return seal.Place{Table: "notes", Row: concernID, Field: "body",
		Attrs: []string{"user=" + strconv.FormatInt(n.UserID, 10), "personal=" + strconv.FormatBool(n.Personal)}}
}

// userPlace is a reason kept per concern and user: conflicts (user) and case_access (user,
// and who granted it).
func userPlace(table, concernID string, attrs ...string) seal.Place {
	return seal.Place{Table: table, Row: concernID, Field: "reason", Attrs: attrs}
}

func nullID(n sql.NullInt64) string {
	if !n.Valid {
		return ""
	}
	return strconv.FormatInt(n.Int64, 10)
}

// integrity records a sealed field that did not open in its place (who read it, which
// object, table, field and row; never content) and answers the reader intake.ErrIntegrity;
// any other error passes through.
func (s *Service) integrity(ctx context.Context, u *store.User, objectType, id string, err error) error {
	ie, ok := intake.Misplaced(err)
	if !ok {
		return err
	}
	if rerr := record(ctx, s.d.Store, u, "seal.integrity", objectType, id, map[string]string{
		"table": ie.Place.Table, "field": ie.Place.Field, "row": ie.Place.Row}); rerr != nil {
		return rerr
	}
	return intake.ErrIntegrity
}

// record audits an action on a concern or investigation, named by its public id: auditors see
// the trail, and serials stay inside the database.
func record(ctx context.Context, tx *store.Store, u *store.User, action, objectType, id string, details map[string]string) error {
	return audit.Record(ctx, tx, audit.Event{ActorID: u.ID, Action: action, ObjectType: objectType,
		ObjectID: id, Details: details})
}

// reporterMessage writes a standard message to the reporter's mailbox in their language.
func (s *Service) reporterMessage(ctx context.Context, tx *store.Store, c *store.Concern, dk *seal.DataKey, u *store.User, key string, extra string) error {
	// Every standard message may say when feedback is due: the concern's own clock, so the
	// reporter is told what the policy (clocks.yaml, or the rule that routed it) promised.
	body := s.d.Catalog.T(c.Language, key, map[string]any{"FeedbackBy": s.d.Catalog.Day(c.Language, c.FeedbackBy.In(s.d.Policy().Calendar.Location()))})
	if extra != "" {
		body += "\n\n" + extra
	}
	m := staffMessage(c, u, s.d.Now())
	var err error
	if m.Body, err = dk.Seal(intake.MessagePlace(c.ID, m), []byte(body)); err != nil {
		return err
	}
	return tx.InsertMessage(ctx, m)
}

// staffMessage is a new message from u to the reporter of c, under a fresh public id (its body
// is bound to it), timed to the hour like the reporter's: exact staff times around a reply
// would bracket it.
func staffMessage(c *store.Concern, u *store.User, now time.Time) *store.Message {
	return &store.Message{ID: publicid.New(), ConcernID: c.Serial, Author: "staff", CreatedAt: now.Truncate(time.Hour), UserID: userID(u)}
}

// TriageItem is a queue row with its clocks worked out.
type TriageItem struct {
	store.TriageRow
	AcknowledgeLeft     time.Duration // negative when breached
	DecideLeft          time.Duration // zero without a decide clock
	FeedbackLeft        time.Duration
	AcknowledgeBreached bool
	DecideBreached      bool
	FeedbackBreached    bool
}

// Header is the item's clear columns and clocks.
func (it *TriageItem) Header() CaseHeader { return headerOf(&it.QueueRow) }

// TriagePage is one page of the queue.
type TriagePage struct {
	Items      []TriageItem
	NextCursor string
}

// TriageQuery asks for one page.
type TriageQuery struct {
	Filter store.TriageFilter
	Cursor string
	Limit  int
}

// Statuses of a concern, in lifecycle order.
var Statuses = []string{"received", "acknowledged", "referred", "accepted", "declined", "closed"}

// Triage returns a page of the queue u may see: never content.
func (s *Service) Triage(ctx context.Context, u *store.User, q TriageQuery) (*TriagePage, error) {
	if !access.CanUseQueue(u) {
		return nil, errNotFound
	}
	f := fault.Fields{}
	if q.Filter.Status != "" && !slices.Contains(Statuses[:5], q.Filter.Status) {
		f.Add("status", "field.choice")
	}
	if q.Filter.Channel != "" && !slices.Contains([]string{"web", "councillor", "recorded"}, q.Filter.Channel) {
		f.Add("channel", "field.choice")
	}
	if q.Filter.ServiceArea != "" {
		if _, ok := s.d.Policy().Directory.ServiceArea(q.Filter.ServiceArea); !ok {
			f.Add("service_area", "field.choice")
		}
	}
	if len(q.Filter.Route) > 100 {
		f.Add("route", "field.too_long")
	}
	after, err := decodeCursor(q.Cursor)
	if err != nil {
		f.Add("cursor", "field.invalid")
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	if q.Limit <= 0 || q.Limit > 200 {
		q.Limit = 50
	}
	now := s.d.Now()
	v := store.TriageViewer{UserID: u.ID, Email: u.Email, NamedKey: access.NamedKey(s.d.Names, u.Email),
		Monitoring: access.CanSeeTriage(u), Safeguarding: u.HasRole(domain.RoleSafeguarding),
		ServiceLead: u.HasRole(domain.RoleServiceLead), ServiceAreas: u.ServiceAreas}
	rows, err := s.d.Store.Triage(ctx, v, q.Filter, after, q.Limit+1, now)
	if err != nil {
		return nil, err
	}
	page := &TriagePage{Items: make([]TriageItem, 0, len(rows))}
	if len(rows) > q.Limit {
		rows = rows[:q.Limit]
		last := rows[len(rows)-1]
		page.NextCursor = encodeCursor(store.TriageCursor{Routine: last.Routine, Deadline: last.NextDeadline, ID: last.ID})
	}
	for _, r := range rows {
		it := TriageItem{TriageRow: r, AcknowledgeLeft: r.AcknowledgeBy.Sub(now), FeedbackLeft: r.FeedbackBy.Sub(now)}
		if r.AcknowledgedAt == nil {
			it.AcknowledgeBreached = now.After(r.AcknowledgeBy)
		} else {
			it.AcknowledgeBreached = r.AcknowledgedAt.After(r.AcknowledgeBy)
		}
		if r.DecideBy != nil {
			it.DecideLeft = r.DecideBy.Sub(now)
			it.DecideBreached = r.DecidedAt == nil && now.After(*r.DecideBy) || r.DecidedAt != nil && r.DecidedAt.After(*r.DecideBy)
		}
		it.FeedbackBreached = r.FeedbackAt == nil && now.After(r.FeedbackBy)
		page.Items = append(page.Items, it)
	}
	return page, nil
}

type cursorJSON struct {
	R bool   `json:"r"`
	D int64  `json:"d"`
	I string `json:"i"` // public id: a cursor is shown to clients
}

func encodeCursor(c store.TriageCursor) string {
	b, _ := json.Marshal(cursorJSON{R: c.Routine, D: c.Deadline.UnixMicro(), I: c.ID})
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor reads a triage cursor (exported for benchmarks that replay a page).
func DecodeCursor(s string) (*store.TriageCursor, error) { return decodeCursor(s) }

func decodeCursor(s string) (*store.TriageCursor, error) {
	if s == "" {
		return nil, nil
	}
	if len(s) > 200 {
		return nil, errors.New("cursor too long")
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	var c cursorJSON
	if err := json.Unmarshal(b, &c); err != nil || !publicid.Valid(c.I) {
		return nil, errors.New("bad cursor")
	}
	return &store.TriageCursor{Routine: c.R, Deadline: time.UnixMicro(c.D), ID: c.I}, nil
}

func userID(u *store.User) (n sql.NullInt64) {
	n.Int64, n.Valid = u.ID, true
	return n
}
