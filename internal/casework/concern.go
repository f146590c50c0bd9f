package casework

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"candour/internal/fault"
	"candour/internal/intake"
	"candour/internal/routing"
	"candour/internal/seal"
	"candour/internal/store"
)

// Message is one message of the thread with the reporter, as staff see it.
type Message struct {
	From      string    `json:"from"` // "reporter" or "council"
	By        string    `json:"by,omitempty"`
	Body      string    `json:"body"`
	At        time.Time `json:"at"`
	Detriment bool      `json:"detriment,omitempty"`
}

// Note is an internal or personal note.
type Note struct {
	By       string    `json:"by"`
	Personal bool      `json:"personal"`
	Body     string    `json:"body"`
	At       time.Time `json:"at"`
}

// Event is one lifecycle step of the history.
type Event struct {
	Action string    `json:"action"`
	By     string    `json:"by,omitempty"`
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
}

// Attachment is an evidence file.
type Attachment struct {
	ID   string    `json:"id"`
	Name string    `json:"name"`
	Size int64     `json:"size"`
	From string    `json:"from"`
	At   time.Time `json:"at"`
	// OriginalOf is set on a file kept as the reporter sent it, metadata and all, at their
	// request: the id of its cleaned copy. Handle it with care: it may place or name them.
	OriginalOf string `json:"original_of,omitempty"`
}

// CaseHeader is what every list and page shows of a concern: its clear columns and clocks,
// never its content.
type CaseHeader struct {
	ID            string    `json:"id"` // public id
	Reference     string    `json:"reference"`
	Channel       string    `json:"channel"`
	Mode          string    `json:"mode"`
	ServiceArea   string    `json:"service_area"`
	Category      string    `json:"category"`
	Safeguarding  bool      `json:"safeguarding"`
	Status        string    `json:"status"`
	ReceivedAt    time.Time `json:"received_at"`
	AcknowledgeBy time.Time `json:"acknowledge_by"`
	FeedbackBy    time.Time `json:"feedback_by"`

	// DecideBy is when the decision whether to investigate is due; null for a concern filed
	// before the decide clock was kept (migration 00022).
	DecideBy *time.Time `json:"decide_by"`
}

func headerOf(r *store.QueueRow) CaseHeader {
	return CaseHeader{ID: r.ID, Reference: r.Reference, Channel: r.Channel, Mode: r.Mode, ServiceArea: r.ServiceArea,
		Category: r.Category, Safeguarding: r.Safeguarding, Status: r.Status, ReceivedAt: r.ReceivedAt,
		AcknowledgeBy: r.AcknowledgeBy, DecideBy: r.DecideBy, FeedbackBy: r.FeedbackBy}
}

// ConcernView is everything a handler with access sees on the concern page.
type ConcernView struct {
	CaseHeader
	WaitingForUs bool `json:"waiting_for_us"` // the reporter wrote last
	// MayAcknowledge: the reader may mark it acknowledged (access.CanAcknowledge), for the page.
	MayAcknowledge bool       `json:"-"`
	Language       string     `json:"language"`
	AcknowledgedAt *time.Time `json:"acknowledged_at"`
	DecidedAt      *time.Time `json:"decided_at"`
	ClosedAt       *time.Time `json:"closed_at"`
	Outcome        *string    `json:"outcome"`
	ReferredTo     *string    `json:"referred_to"`
	Referral       *Referral  `json:"referral"` // who a referral went to and what came of it
	// MayRecordReferral: the reader holds the referral and may record its outcome, for the page.
	MayRecordReferral bool             `json:"-"`
	Summary           string           `json:"summary"`
	Details           string           `json:"details"`
	NamedPeople       []string         `json:"named_people"`
	IdentityHeld      bool             `json:"identity_held"` // sealed to the custodians
	Identity          *intake.Identity `json:"identity"`      // open mode only
	Route             routing.Decision `json:"route"`
	Messages          []Message        `json:"messages"`
	Notes             []Note           `json:"notes"`
	Attachments       []Attachment     `json:"attachments"`
	History           []Event          `json:"history"`
	Feedback          string           `json:"feedback,omitempty"`
	Investigations    []string         `json:"investigations"`
	// SealedUnbound: some of what is shown was sealed before fields were bound to their place
	// (an older concern), so a database writer could have moved it there unnoticed.
	SealedUnbound bool `json:"sealed_unbound"`
}

// sender is who wrote a message or added a file, as staff see it.
func sender(author string) string {
	if author == "reporter" {
		return "reporter"
	}
	return "council"
}

// openEach opens the sealed text of each row (sealed picks it and its place; none opens as "")
// and builds its view; rows and err are what the store call returned.
func openEach[R, V any](f *intake.Fields, rows []R, err error, sealed func(*R) (seal.Place, []byte), view func(*R, string) V) ([]V, error) {
	if err != nil {
		return nil, err
	}
	out := make([]V, 0, len(rows))
	for i := range rows {
		text, err := f.String(sealed(&rows[i]))
		if err != nil {
			return nil, err
		}
		out = append(out, view(&rows[i], text))
	}
	return out, nil
}

func name(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// Concern opens a concern for u: decrypted content, audited as a read. A sealed field that
// does not open in its place is audited and answers intake.ErrIntegrity, never content.
func (s *Service) Concern(ctx context.Context, u *store.User, publicID string) (*ConcernView, error) {
	v, err := s.concernView(ctx, u, publicID)
	return v, s.integrity(ctx, u, "concern", publicID, err)
}

func (s *Service) concernView(ctx context.Context, u *store.User, publicID string) (v *ConcernView, err error) {
	f, err := s.caseFacts(ctx, u, publicID, s.d.Access.CanReadConcern)
	if err != nil {
		return nil, err
	}
	// One transaction for the page's eight reads and its audit event, rather than one each: a
	// BEGIN and a COMMIT fewer per read, which 16 staff at once wait on (issue 20). The audit
	// chain's lock is taken last, so it is held no longer than before.
	err = s.d.Store.Tx(ctx, func(st *store.Store) error {
		v, err = s.concernViewIn(ctx, st, u, f)
		return err
	})
	return v, err
}

func (s *Service) concernViewIn(ctx context.Context, st *store.Store, u *store.User, f *store.CaseFacts) (*ConcernView, error) {
	id := f.ConcernID
	c, dk, err := s.concern(ctx, st, id)
	if err != nil {
		return nil, err
	}
	lc, err := st.ConcernLifecycle(ctx, id)
	if err != nil {
		return nil, err
	}
	v := &ConcernView{CaseHeader: CaseHeader{ID: c.ID, Reference: c.Reference, Channel: c.Channel, Mode: c.Mode,
		ServiceArea: c.ServiceArea, Category: c.Category, Safeguarding: c.Safeguarding, Status: c.Status,
		ReceivedAt: c.ReceivedAt, AcknowledgeBy: c.AcknowledgeBy, DecideBy: c.DecideBy, FeedbackBy: c.FeedbackBy},
		Language:     c.Language,
		WaitingForUs: c.AwaitingCouncil, MayAcknowledge: s.d.Access.CanAcknowledge(u, f),
		AcknowledgedAt: lc.AcknowledgedAt, DecidedAt: lc.DecidedAt, ClosedAt: lc.ClosedAt, Outcome: lc.Outcome,
		ReferredTo: lc.ReferredTo, IdentityHeld: c.IdentitySealed != nil}
	fs := intake.NewFields(dk)
	at := func(field string) seal.Place { return intake.ConcernPlace("concerns", c.ID, field) }
	var content intake.Content
	if err := fs.JSON(at("content"), c.Content, &content); err != nil {
		return nil, err
	}
	v.Summary, v.Details, v.NamedPeople = content.Summary, content.Details, content.NamedPeople
	if v.NamedPeople == nil {
		v.NamedPeople = []string{} // a report naming no one has none, not null (the API promises an array)
	}
	if c.IdentityOpen != nil {
		var id intake.SealedIdentity
		if err := fs.JSON(at("identity_open"), c.IdentityOpen, &id); err != nil {
			return nil, err
		}
		// An identity bound to another concern is not this reporter's, whatever its sealing.
		if id.Concern != "" && id.Concern != c.ID || id.Concern == "" && seal.Bound(c.IdentityOpen) {
			return nil, &seal.IntegrityError{Place: at("identity_open")}
		}
		v.Identity = &id.Identity
	}
	if err := json.Unmarshal(c.Route, &v.Route); err != nil {
		return nil, fmt.Errorf("casework: route of %s: %w", c.Reference, err)
	}
	if v.Feedback, err = fs.String(at("feedback"), lc.Feedback); err != nil {
		return nil, err
	}
	if lc.ReferredTo != nil {
		r := &Referral{To: *lc.ReferredTo, Holder: name(lc.ReferredEmail), Outcome: lc.ReferralOutcome, OutcomeAt: lc.ReferralOutcomeAt}
		if r.Note, err = fs.String(at("referral_note"), lc.ReferralNote); err != nil {
			return nil, err
		}
		v.Referral = r
		v.MayRecordReferral = c.Status == "referred" && lc.ReferralOutcome == nil && s.d.Access.CanRecordReferralOutcome(u, f)
	}
	msgs, err := st.Messages(ctx, id)
	if v.Messages, err = openEach(fs, msgs, err, func(m *store.Message) (seal.Place, []byte) { return intake.MessagePlace(c.ID, m), m.Body },
		func(m *store.Message, body string) Message {
			return Message{From: sender(m.Author), Body: body, At: m.CreatedAt, Detriment: m.Detriment}
		}); err != nil {
		return nil, err
	}
	notes, err := st.NotesFor(ctx, id, u.ID)
	if v.Notes, err = openEach(fs, notes, err, func(n *store.Note) (seal.Place, []byte) { return notePlace(c.ID, n), n.Body },
		func(n *store.Note, body string) Note {
			return Note{By: n.UserName, Personal: n.Personal, Body: body, At: n.CreatedAt}
		}); err != nil {
		return nil, err
	}
	atts, err := st.Attachments(ctx, id)
	publicIDs := map[int64]string{}
	for _, a := range atts {
		publicIDs[a.Serial] = a.ID
	}
	if v.Attachments, err = openEach(fs, atts, err, func(a *store.Attachment) (seal.Place, []byte) {
		return intake.AttachmentPlace(c.ID, a, "name"), a.Name
	},
		func(a *store.Attachment, name string) Attachment {
			at := Attachment{ID: a.ID, Name: name, Size: a.Size, From: sender(a.Author), At: a.CreatedAt}
			if a.OriginalOf != nil {
				at.OriginalOf = publicIDs[*a.OriginalOf]
			}
			return at
		}); err != nil {
		return nil, err
	}
	events, err := st.ConcernEvents(ctx, id)
	if v.History, err = openEach(fs, events, err, func(e *store.ConcernEvent) (seal.Place, []byte) { return eventPlace(c.ID, e), e.Reason },
		func(e *store.ConcernEvent, reason string) Event {
			return Event{Action: e.Action, By: name(e.UserName), Reason: reason, At: e.CreatedAt}
		}); err != nil {
		return nil, err
	}
	if v.Investigations, err = st.InvestigationsOfConcern(ctx, id); err != nil {
		return nil, err
	}
	if v.Investigations == nil {
		v.Investigations = []string{}
	}
	v.SealedUnbound = fs.Unbound()
	if err := record(ctx, st, u, "concern.read", "concern", c.ID, identityHash(c)); err != nil {
		return nil, err
	}
	return v, nil
}

// identityHash is the audit detail that pins the sealed identity as it was when staff read
// the concern: SHA-256 of the age file. Anyone can seal a made-up identity to the custodians'
// public keys, so the log, not the database, says which one was there. It is recorded here
// rather than at filing: an event when a report is filed would place the reporter in time.
func identityHash(c *store.Concern) map[string]string {
	if c.IdentitySealed == nil {
		return nil
	}
	sum := sha256.Sum256(c.IdentitySealed)
	return map[string]string{"identity_sha256": hex.EncodeToString(sum[:])}
}

// Acknowledge marks the concern acknowledged, stops that clock and sends the standard
// acknowledgement to the reporter's mailbox in their language.
func (s *Service) Acknowledge(ctx context.Context, u *store.User, publicID string) error {
	return s.inCase(ctx, u, publicID, s.d.Access.CanAcknowledge, func(tx *store.Store, c *store.Concern, dk *seal.DataKey) error {
		id := c.Serial
		now := s.d.Now()
		ok, err := tx.Transition(ctx, id, []string{"received"}, "acknowledged",
			map[string]any{"acknowledged_at": now})
		if err != nil {
			return err
		}
		if !ok {
			return conflict("already_acknowledged")
		}
		if err := tx.InsertConcernEvent(ctx, &store.ConcernEvent{ConcernID: id, UserID: userID(u), Action: "acknowledge"}); err != nil {
			return err
		}
		if err := s.reporterMessage(ctx, tx, c, dk, u, "casework.msg.acknowledged", ""); err != nil {
			return err
		}
		return record(ctx, tx, u, "concern.acknowledge", "concern", c.ID, nil)
	})
}

// Message writes to the reporter through their mailbox (or to the councillor on their case).
func (s *Service) Message(ctx context.Context, u *store.User, id string, body string) error {
	var m *store.Message
	place := func(c *store.Concern) seal.Place {
		m = staffMessage(c, u, s.d.Now())
		return intake.MessagePlace(c.ID, m)
	}
	return s.withSealed(ctx, u, id, s.d.Access.CanMessage, "body", body, place, func(tx *store.Store, c *store.Concern, sealed []byte) error {
		if c.Status == "closed" {
			return conflict("closed")
		}
		m.Body = sealed
		if err := tx.InsertMessage(ctx, m); err != nil {
			return err
		}
		return record(ctx, tx, u, "concern.message", "concern", c.ID, nil)
	})
}

// InterimFeedback tells the reporter, through the mailbox, how things stand while the work goes
// on, and restarts the feedback clock from now by the concern's own feedback period (its rule's,
// or the policy's), so a long investigation that keeps the reporter informed is not shown as
// breached. The Monitoring Officer and deputy only; it returns the new feedback date.
func (s *Service) InterimFeedback(ctx context.Context, u *store.User, id string, body string) (time.Time, error) {
	var by time.Time
	var m *store.Message
	place := func(c *store.Concern) seal.Place {
		m = staffMessage(c, u, s.d.Now())
		return intake.MessagePlace(c.ID, m)
	}
	err := s.withSealed(ctx, u, id, s.d.Access.CanDecide, "body", body, place, func(tx *store.Store, c *store.Concern, sealed []byte) error {
		var dec routing.Decision
		if err := json.Unmarshal(c.Route, &dec); err != nil {
			return fmt.Errorf("casework: route of %s: %w", c.Reference, err)
		}
		now := s.d.Now().Truncate(time.Hour) // to the hour, like every time the reporter's side keeps
		by = dec.Clocks.Deadline(routing.ClockFeedback, now)
		ok, err := tx.ExtendFeedback(ctx, c.Serial, by)
		if err != nil {
			return err
		}
		if !ok {
			return conflict("not_open")
		}
		m.Body = sealed
		if err := tx.InsertMessage(ctx, m); err != nil {
			return err
		}
		if err := tx.InsertConcernEvent(ctx, &store.ConcernEvent{ConcernID: c.Serial, UserID: userID(u), Action: "interim_feedback"}); err != nil {
			return err
		}
		return record(ctx, tx, u, "concern.interim_feedback", "concern", c.ID, map[string]string{"feedback_by": by.Format(time.DateOnly)})
	})
	return by, err
}

// AddNote adds an internal note (every handler sees it) or a personal one (only u ever does).
func (s *Service) AddNote(ctx context.Context, u *store.User, id string, body string, personal bool) error {
	n := &store.Note{UserID: u.ID, Personal: personal}
	place := func(c *store.Concern) seal.Place { return notePlace(c.ID, n) }
	return s.withSealed(ctx, u, id, s.d.Access.CanReadConcern, "body", body, place, func(tx *store.Store, c *store.Concern, sealed []byte) error {
		n.ConcernID, n.Body = c.Serial, sealed
		if err := tx.InsertNote(ctx, n); err != nil {
			return err
		}
		kind := "internal"
		if personal {
			kind = "personal"
		}
		return record(ctx, tx, u, "concern.note", "concern", c.ID, map[string]string{"kind": kind})
	})
}

// Decision is what the Monitoring Officer decides about a concern.
type Decision struct {
	Action          string `json:"action"` // accept | refer | decline | close
	Reason          string `json:"reason"`
	InvestigationID string `json:"investigation_id,omitempty"` // public id
	ReferTo         string `json:"refer_to,omitempty"`         // route_holder | grievance | safeguarding | complaints | police
}

// ReferTargets are the procedures a concern can be referred to.
var ReferTargets = []string{"route_holder", "grievance", "safeguarding", "complaints", "police"}

// referHolders is the directory role that holds each procedure: the referral goes to that
// person. "route_holder" hands the concern back to its own route holders, who have it already.
var referHolders = map[string]string{"safeguarding": "safeguarding_hub", "grievance": "grievance",
	"complaints": "complaints", "police": "police_liaison"}

// Referral is where a referred concern went and what came of it.
type Referral struct {
	To        string     `json:"to"`     // the procedure (ReferTargets)
	Holder    string     `json:"holder"` // the directory holder's e-mail; "" for route_holder
	Outcome   *string    `json:"outcome"`
	OutcomeAt *time.Time `json:"outcome_at"`
	Note      string     `json:"note,omitempty"` // the holder's words, for staff only
}

// ReferralOutcomes are what a referral's holder can say came of it; the reporter is told in
// plain words which it was (never the note).
var ReferralOutcomes = []string{"action_taken", "no_action", "passed_on"}

// ReferralOutcome is the holder's answer.
type ReferralOutcome struct {
	Outcome string `json:"outcome"`
	Note    string `json:"note"`
}

// RecordReferralOutcome is the referral's holder saying what came of it, once. The Monitoring
// Officers are e-mailed and the reporter is told in plain words; the note stays with staff.
func (s *Service) RecordReferralOutcome(ctx context.Context, u *store.User, id string, in ReferralOutcome) error {
	f := fault.Fields{}
	if !slices.Contains(ReferralOutcomes, in.Outcome) {
		f.Add("outcome", "field.choice")
	}
	text(f, "note", in.Note, false)
	if err := f.Err(); err != nil {
		return err
	}
	return s.inCase(ctx, u, id, s.d.Access.CanRecordReferralOutcome, func(tx *store.Store, c *store.Concern, dk *seal.DataKey) error {
		note, err := sealString(dk, intake.ConcernPlace("concerns", c.ID, "referral_note"), in.Note)
		if err != nil {
			return err
		}
		ev := &store.ConcernEvent{ConcernID: c.Serial, UserID: userID(u), Action: "referral_outcome"}
		if ev.Reason, err = sealString(dk, eventPlace(c.ID, ev), in.Note); err != nil {
			return err
		}
		ok, err := tx.RecordReferralOutcome(ctx, c.Serial, in.Outcome, note, s.d.Now())
		if err != nil {
			return err
		}
		if !ok {
			return conflict("wrong_status")
		}
		if err := tx.InsertConcernEvent(ctx, ev); err != nil {
			return err
		}
		if err := s.reporterMessage(ctx, tx, c, dk, u, "casework.msg.referral."+in.Outcome, ""); err != nil {
			return err
		}
		if err := tx.NotifyMonitoringOfficers(ctx, c.Serial, "referral_outcome"); err != nil {
			return err
		}
		return record(ctx, tx, u, "concern.referral_outcome", "concern", c.ID, map[string]string{"outcome": in.Outcome})
	})
}

// Decide refers, declines, accepts (into an investigation) or closes a concern, with a reason,
// and tells the reporter in their language. Out-of-order actions are 409 and change nothing.
func (s *Service) Decide(ctx context.Context, u *store.User, publicID string, d Decision) error {
	f := fault.Fields{}
	if !slices.Contains([]string{"accept", "refer", "decline", "close"}, d.Action) {
		f.Add("action", "field.choice")
	}
	text(f, "reason", d.Reason, true)
	var holder routing.Contact
	if d.Action == "refer" {
		role, toHolder := referHolders[d.ReferTo]
		var listed bool
		if toHolder {
			holder, listed = s.d.Policy().Directory.Role(role)
		}
		switch {
		case !slices.Contains(ReferTargets, d.ReferTo):
			f.Add("refer_to", "field.choice")
		case toHolder && (!listed || holder.Email == ""):
			// Nobody in the directory holds it: a referral must reach someone.
			f.Add("refer_to", "casework.refer.not_in_directory")
		}
	}
	if d.Action == "accept" && d.InvestigationID == "" {
		f.Add("investigation_id", "field.required")
	}
	if err := f.Err(); err != nil {
		return err
	}
	return s.inCase(ctx, u, publicID, s.d.Access.CanDecide, func(tx *store.Store, c *store.Concern, dk *seal.DataKey) error {
		id := c.Serial
		now := s.d.Now()
		ev := &store.ConcernEvent{ConcernID: id, UserID: userID(u), Action: d.Action}
		var err error
		if ev.Reason, err = dk.Seal(eventPlace(c.ID, ev), []byte(d.Reason)); err != nil {
			return err
		}
		var from []string
		set := map[string]any{}
		to, msgKey, extra := "", "", ""
		details := map[string]string{}
		switch d.Action {
		case "refer":
			from, to = []string{"acknowledged"}, "referred"
			set["decided_at"], set["outcome"], set["referred_to"] = now, "referred", d.ReferTo
			if holder.Email != "" {
				set["referred_email"] = strings.ToLower(strings.TrimSpace(holder.Email))
			}
			msgKey = "casework.msg.referred." + d.ReferTo
			details["refer_to"] = d.ReferTo
		case "decline":
			from, to = []string{"acknowledged"}, "declined"
			set["decided_at"], set["outcome"] = now, "declined"
			// The reasons are fed back: the reporter is owed an explanation.
			msgKey, extra = "casework.msg.declined", d.Reason
		case "accept":
			from, to = []string{"acknowledged"}, "accepted"
			set["decided_at"], set["outcome"] = now, "accepted"
			msgKey = "casework.msg.accepted"
			if err := s.linkInTx(ctx, tx, u, d.InvestigationID, id); err != nil {
				return err
			}
			details["investigation"] = d.InvestigationID
		case "close":
			// The outcome is fed back to the reporter: the reason is the feedback.
			from, to = []string{"referred", "accepted", "declined"}, "closed"
			feedback, err := dk.Seal(intake.ConcernPlace("concerns", c.ID, "feedback"), []byte(d.Reason))
			if err != nil {
				return err
			}
			set["closed_at"], set["feedback"], set["feedback_at"] = now, feedback, now
			msgKey, extra = "casework.msg.closed", d.Reason
		}
		ok, err := tx.Transition(ctx, id, from, to, set)
		if err != nil {
			return err
		}
		if !ok {
			if c.Status == "received" {
				return conflict("acknowledge_first")
			}
			return conflict("wrong_status")
		}
		if err := tx.InsertConcernEvent(ctx, ev); err != nil {
			return err
		}
		if err := s.reporterMessage(ctx, tx, c, dk, u, msgKey, extra); err != nil {
			return err
		}
		if holder.Email != "" {
			// The holder hears at once: a referral nobody knows about goes nowhere.
			if err := tx.EnqueueNotification(ctx, &store.Notification{Recipient: strings.ToLower(strings.TrimSpace(holder.Email)),
				Kind: "referral", ConcernID: sql.NullInt64{Int64: c.Serial, Valid: true}, Reference: c.Reference,
				DedupeKey: sql.NullString{String: "referral:" + c.ID, Valid: true}}); err != nil {
				return err
			}
		}
		return record(ctx, tx, u, "concern."+d.Action, "concern", c.ID, details)
	})
}

// OpenAttachment streams an evidence file of a concern u has access to (audited).
func (s *Service) OpenAttachment(ctx context.Context, u *store.User, concernID, attachmentID string) (string, int64, io.Reader, error) {
	f, err := s.caseFacts(ctx, u, concernID, s.d.Access.CanReadConcern)
	if err != nil {
		return "", 0, nil, err
	}
	c, err := s.d.Store.ConcernByID(ctx, f.ConcernID)
	if err != nil {
		return "", 0, nil, err
	}
	// The same decryption as the reporter's download; only the access check and the audit
	// event are the staff side's own.
	name, size, r, err := s.d.Intake.StaffAttachment(ctx, c.Reference, attachmentID)
	if err != nil {
		return "", 0, nil, s.integrity(ctx, u, "concern", c.ID, err)
	}
	if err := record(ctx, s.d.Store, u, "attachment.download", "concern", c.ID, map[string]string{"attachment": attachmentID}); err != nil {
		if c, ok := r.(io.Closer); ok {
			c.Close()
		}
		return "", 0, nil, err
	}
	return name, size, r, nil
}

// MaxConflictReason caps a conflict declaration's reason.
const MaxConflictReason = 2000

// DeclareConflict takes u off a case for good: they are excluded from it from now on, whatever
// their role. The reason is sealed (it may describe people); the audit event carries none.
func (s *Service) DeclareConflict(ctx context.Context, u *store.User, id string, reason string) error {
	if len([]rune(reason)) > MaxConflictReason {
		return fault.Fields{"reason": "field.too_long"}.Err()
	}
	place := func(c *store.Concern) seal.Place {
		return userPlace("conflicts", c.ID, "user="+strconv.FormatInt(u.ID, 10))
	}
	return s.withSealed(ctx, u, id, s.d.Access.CanDeclareConflict, "reason", reason, place, func(tx *store.Store, c *store.Concern, sealed []byte) error {
		if err := tx.DeclareConflict(ctx, c.Serial, u.ID, sealed); err != nil {
			return err
		}
		return record(ctx, tx, u, "concern.conflict", "concern", c.ID, nil)
	})
}

// GrantAccess gives another handler access to a case (transfer: and takes it from fromUserID).
// Nobody named in the concern, or who declared a conflict on it, can be given access.
func (s *Service) GrantAccess(ctx context.Context, u *store.User, publicID string, toUserID, fromUserID int64, reason string) error {
	f := fault.Fields{}
	text(f, "reason", reason, true)
	if toUserID <= 0 {
		f.Add("user_id", "field.required")
	}
	if err := f.Err(); err != nil {
		return err
	}
	facts, err := s.caseFacts(ctx, u, publicID, s.d.Access.CanGrantAccess)
	if err != nil {
		return err
	}
	id := facts.ConcernID
	to, err := s.d.Store.UserByID(ctx, toUserID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && to.Status != "active") {
		return fault.Fields{"user_id": "casework.unknown_officer"}.Err()
	}
	if err != nil {
		return err
	}
	if s.d.Access.Excluded(to, facts) {
		return conflict("excluded")
	}
	return s.d.Store.Tx(ctx, func(tx *store.Store) error {
		c, dk, err := s.concern(ctx, tx, id)
		if err != nil {
			return err
		}
		sealed, err := dk.Seal(userPlace("case_access", c.ID, "user="+strconv.FormatInt(toUserID, 10),
			"by="+strconv.FormatInt(u.ID, 10)), []byte(reason))
		if err != nil {
			return err
		}
		by := u.ID
		if err := tx.GrantCaseAccess(ctx, id, toUserID, &by, sealed); err != nil {
			return err
		}
		details := map[string]string{"to": fmt.Sprint(toUserID)}
		action := "concern.grant"
		if fromUserID > 0 {
			if err := tx.RevokeCaseAccess(ctx, id, fromUserID); err != nil {
				return err
			}
			details["from"], action = fmt.Sprint(fromUserID), "concern.transfer"
		}
		return record(ctx, tx, u, action, "concern", publicID, details)
	})
}

// withSealed is the shape of every action that writes one piece of staff text about a case:
// the text is checked, access is checked (404 otherwise), and fn runs in one transaction with
// the text already sealed under the concern's data key, at the place place names.
func (s *Service) withSealed(ctx context.Context, u *store.User, id string, allowed func(*store.User, *store.CaseFacts) bool,
	field, value string, place func(*store.Concern) seal.Place, fn func(tx *store.Store, c *store.Concern, sealed []byte) error) error {
	f := fault.Fields{}
	text(f, field, value, true)
	if err := f.Err(); err != nil {
		return err
	}
	return s.inCase(ctx, u, id, allowed, func(tx *store.Store, c *store.Concern, dk *seal.DataKey) error {
		sealed, err := dk.Seal(place(c), []byte(value))
		if err != nil {
			return err
		}
		return fn(tx, c, sealed)
	})
}

// inCase checks access to the concern id names (404 otherwise) and runs fn in one transaction
// with the concern and its data key.
func (s *Service) inCase(ctx context.Context, u *store.User, id string, allowed func(*store.User, *store.CaseFacts) bool,
	fn func(tx *store.Store, c *store.Concern, dk *seal.DataKey) error) error {
	facts, err := s.caseFacts(ctx, u, id, allowed)
	if err != nil {
		return err
	}
	return s.d.Store.Tx(ctx, func(tx *store.Store) error {
		c, dk, err := s.concern(ctx, tx, facts.ConcernID)
		if err != nil {
			return err
		}
		return fn(tx, c, dk)
	})
}
