// Package intake is how concerns come in and how reporters stay in the conversation: the
// report (anonymous, confidential or open), the receipt, and the anonymous two-way mailbox with
// evidence upload. Content is encrypted under a per-concern data key before it reaches the
// store; identities are sealed to the custodians before anything is written.
package intake

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"candour/internal/access"
	"candour/internal/batch"
	"candour/internal/fault"
	"candour/internal/publicid"
	"candour/internal/receipt"
	"candour/internal/routing"
	"candour/internal/seal"
	"candour/internal/store"
	"candour/internal/token"
)

// Limits on what a reporter can send. The same numbers are shown on the form.
const (
	MaxSummary     = 200
	MaxDetails     = 20000
	MaxNamedPeople = 20
	MaxName        = 200
	MaxMessage     = 20000
	MaxFileName    = 255
	MaxEmail       = 254 // RFC 5321's limit on a path
)

// Modes a reporter chooses between.
var Modes = []string{"anonymous", "confidential", "open"}

// Categories of concern, in the order the form lists them.
var Categories = []string{"safeguarding", "fraud", "misconduct", "health_safety", "discrimination", "data_protection", "other"}

// Languages a reporter may choose.
var Languages = []string{"en", "cy"}

// MailboxTTL is how long a mailbox session lasts before the receipt must be entered again.
const MailboxTTL = 30 * time.Minute

// Deps is what the intake service is built from.
type Deps struct {
	Store         *store.Store
	Policy        func() *routing.Policy // the current policy; it can be reloaded
	ServerKey     *seal.ServerKey
	Receipts      *receipt.Hasher
	Throttle      *receipt.Throttle
	Tokens        *token.Keys
	Now           func() time.Time
	MaxAttachment int64
	// MailboxQuota caps the total size of one concern's evidence (CANDOUR_MAILBOX_QUOTA_MB).
	MailboxQuota int64
	// DevCustodian is the development custodian's age recipient (the embedded default's), used
	// only while the policy pins no custodian: once one is pinned it is never sealed to.
	DevCustodian string
	// Uploads are the evidence upload slots, shared by a deployment's councils; nil: its own.
	Uploads *UploadSlots
}

// Service runs the reporter-facing use cases.
type Service struct {
	d Deps
	// inserts writes concerns filed at the same moment in one statement and one commit.
	inserts *batch.Batcher[store.NewConcern, bool]
	routes  atomic.Pointer[routeMemo]
	uploads *UploadSlots
}

// Concerns filed at once go into the database in batches of at most insertBatch, at most
// insertWorkers batches at a time. One writer makes bigger batches but leaves the database
// idle while Go fills the next; two keep it busy.
const (
	insertBatch   = 128
	insertWorkers = 2
)

// New returns the intake service.
func New(d Deps) *Service {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.MailboxQuota <= 0 {
		d.MailboxQuota = DefaultMailboxQuota
	}
	uploads := d.Uploads
	if uploads == nil {
		uploads = NewUploadSlots(DefaultContendedRate)
	}
	return &Service{d: d, uploads: uploads, inserts: batch.New(d.Store.InsertConcerns, batch.Options{Max: insertBatch, Workers: insertWorkers,
		Timeout: 30 * time.Second, RetryEach: store.IsDataError})}
}

// DefaultMailboxQuota is a concern's evidence quota when none is configured.
const DefaultMailboxQuota = 1 << 30

// Identity is who the reporter is, in confidential and open modes.
type Identity struct {
	Name  string `json:"name"`
	Email string `json:"email"`
	Phone string `json:"phone"`
	Role  string `json:"role"`
}

// ReportSubmission is a concern as the reporter sends it.
type ReportSubmission struct {
	Mode         string    `json:"mode"`
	ServiceArea  string    `json:"service_area"`
	Category     string    `json:"category"`
	Summary      string    `json:"summary"`
	Details      string    `json:"details"`
	Safeguarding bool      `json:"safeguarding"`
	NamedPeople  []string  `json:"named_people"`
	Identity     *Identity `json:"identity"`
	Lang         string    `json:"lang"`
	// NoticeEmail is where to say "there is a new message in your mailbox" (confidential and
	// open only). No page, no API answer and no handler ever sees it; only the notifier opens it.
	NoticeEmail string `json:"notice_email"`
}

// Content is what is encrypted under the data key: everything a handler reads.
type Content struct {
	Summary     string   `json:"summary"`
	Details     string   `json:"details"`
	NamedPeople []string `json:"named_people"`
}

// Filed is what the reporter gets back, once.
type Filed struct {
	// ID is the concern's public id, looked up only where someone follows the concern by it
	// (the councillor route); the reporter's path keeps to the receipt and never needs it.
	ID            string
	Reference     string
	Receipt       string
	Status        string
	Decision      routing.Decision // may be shared with other reports: read only
	ReceivedAt    time.Time
	AcknowledgeBy time.Time
	FeedbackBy    time.Time
}

func oneOf(v string, set []string) bool {
	for _, s := range set {
		if v == s {
			return true
		}
	}
	return false
}

// checkText validates free text: present when required, valid UTF-8, within max characters,
// and free of control characters (newlines and tabs allowed when multiline). One pass over the
// text: details run to 20,000 characters and every report is read here.
func checkText(f fault.Fields, field, v string, required bool, max int, multiline bool) {
	n, blank, control := 0, true, false
	for i, r := range v {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(v[i:]); size == 1 {
				f.Add(field, "field.encoding")
				return
			}
		}
		n++
		blank = blank && unicode.IsSpace(r)
		control = control || unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\r' || r == '\t'))
	}
	switch {
	case required && blank:
		f.Add(field, "field.required")
	case n > max:
		f.Add(field, "field.too_long")
	case control:
		f.Add(field, "field.control")
	}
}

// checkConcern checks what every channel asks for (summary, details, people named) and
// returns the people with blank lines dropped.
func checkConcern(f fault.Fields, summary, details string, named []string) []string {
	checkText(f, "summary", summary, true, MaxSummary, false)
	checkText(f, "details", details, true, MaxDetails, true)
	if len(named) > MaxNamedPeople {
		f.Add("named_people", "field.too_many")
	}
	people := named[:0:0]
	for _, p := range named {
		checkText(f, "named_people", p, false, MaxName, false)
		if p = strings.TrimSpace(p); p != "" {
			people = append(people, p)
		}
	}
	return people
}

// Validate checks a submission against the policy's directory. Field errors carry translation
// keys so the form and the API say the same thing.
func (s *Service) Validate(r *ReportSubmission) error {
	f := fault.Fields{}
	if r.Lang == "" {
		r.Lang = "en"
	}
	if !oneOf(r.Lang, Languages) {
		f.Add("lang", "field.choice")
	}
	if !oneOf(r.Mode, Modes) {
		f.Add("mode", "field.choice")
	}
	if r.ServiceArea == "" {
		f.Add("service_area", "field.required")
	} else if _, ok := s.d.Policy().Directory.ServiceArea(r.ServiceArea); !ok {
		f.Add("service_area", "field.choice")
	}
	if !oneOf(r.Category, Categories) {
		f.Add("category", "field.choice")
	}
	r.NamedPeople = checkConcern(f, r.Summary, r.Details, r.NamedPeople)
	switch {
	case r.Mode == "anonymous" && r.Identity != nil:
		f.Add("identity", "identity.refused_anonymous")
	case (r.Mode == "confidential" || r.Mode == "open") && r.Identity == nil:
		f.Add("identity.name", "field.required")
	case r.Identity != nil:
		id := r.Identity
		checkText(f, "identity.name", id.Name, true, MaxName, false)
		checkEmail(f, "identity.email", id.Email)
		checkText(f, "identity.phone", id.Phone, false, 40, false)
		checkText(f, "identity.role", id.Role, false, MaxName, false)
	}
	if r.NoticeEmail != "" {
		// Refused, not ignored: an anonymous reporter who typed an address must learn that it
		// would tie them to the portal, rather than believe they will be told.
		if r.Mode == "anonymous" {
			f.Add("notice_email", "notice.refused_anonymous")
		} else {
			checkEmail(f, "notice_email", r.NoticeEmail)
		}
	}
	return f.Err()
}

// checkEmail validates an optional address: within MaxEmail characters and exactly one bare
// address ("name@example.com", no display name, no list).
func checkEmail(f fault.Fields, field, v string) {
	checkText(f, field, v, false, MaxEmail, false)
	if v != "" {
		if a, err := mail.ParseAddress(v); err != nil || a.Address != v {
			f.Add(field, "field.email")
		}
	}
}

// Submit files a report: it validates, routes, encrypts, seals and stores it in one
// transaction, and returns the receipt that is shown once and never stored.
func (s *Service) Submit(ctx context.Context, r ReportSubmission) (*Filed, error) {
	if err := s.Validate(&r); err != nil {
		return nil, err
	}
	policy := s.d.Policy()
	return s.file(ctx, policy, filing{
		channel: "web", mode: r.Mode, category: r.Category, lang: r.Lang, identity: r.Identity, receipt: true,
		noticeEmail: r.NoticeEmail,
		content:     Content{Summary: r.Summary, Details: r.Details, NamedPeople: r.NamedPeople},
		facts: routing.Facts{Channel: "web", Mode: r.Mode, ServiceArea: r.ServiceArea, Category: r.Category,
			Safeguarding: r.Safeguarding, NamedPeople: policy.Directory.Match(r.NamedPeople)},
	})
}

// filing is a validated concern from any channel, ready to be routed and stored.
type filing struct {
	channel, mode, category, lang string
	content                       Content
	identity                      *Identity
	noticeEmail                   string // validated; "" for none
	facts                         routing.Facts
	createdBy                     int64
	receipt                       bool // a receipt opens the mailbox (reporters without an account)
}

// file routes, encrypts, seals and stores a concern in one INSERT.
func (s *Service) file(ctx context.Context, policy *routing.Policy, f filing) (*Filed, error) {
	var recipients []string
	if f.identity != nil {
		// Exactly the pinned set: a recipient that is only in the database is never used.
		if recipients = policy.CustodianRecipients(); len(recipients) == 0 && s.d.DevCustodian != "" {
			recipients = []string{s.d.DevCustodian}
		}
		if len(recipients) == 0 {
			return nil, &fault.Error{Kind: fault.Invalid, Code: "no_custodians", Message: "identity.no_custodians",
				Fields: map[string]string{"mode": "identity.no_custodians"}}
		}
	}
	route, err := s.route(policy, f.facts)
	if err != nil {
		return nil, fmt.Errorf("intake: route: %w", err)
	}
	dk, wrapped, err := s.d.ServerKey.NewDataKey()
	if err != nil {
		return nil, err
	}
	// The public id is drawn here, not by the database, so every sealed field can be bound to
	// it before the row exists: no extra round trip on the filing path.
	id := publicid.New()
	content, err := sealJSON(dk, ConcernPlace("concerns", id, "content"), f.content)
	if err != nil {
		return nil, err
	}
	now := s.d.Now()
	c := &store.Concern{
		ID: id, Channel: f.channel, Mode: f.mode, ServiceArea: f.facts.ServiceArea, Category: f.category,
		Safeguarding: f.facts.Safeguarding, Status: "received", Language: f.lang,
		WrappedKey: wrapped, Content: content,
		IdentityRecipients: append([]string{}, recipients...),
		NamedKeys:          s.NamedKeys(f.facts.NamedPeople),
		ReceivedAt:         now.Truncate(time.Hour),
		CreatedBy:          sql.NullInt64{Int64: f.createdBy, Valid: f.createdBy != 0},
		RecordKey:          recordKey(),
	}
	if f.identity != nil {
		if err := s.sealIdentity(c, dk, recipients, *f.identity); err != nil {
			return nil, err
		}
	}
	var notice []byte
	if f.noticeEmail != "" {
		if notice, err = dk.Seal(ConcernPlace("reporter_notices", id, "address"), []byte(f.noticeEmail)); err != nil {
			return nil, err
		}
	}
	// Deadlines count from the hour too: a deadline of "received + 7 days" to the nanosecond
	// would give the exact filing time away.
	setDecision(c, route, now.Truncate(time.Hour))
	filed := &Filed{Decision: route.decision}
	if f.receipt {
		rcpt, err := receipt.New()
		if err != nil {
			return nil, err
		}
		norm, _ := receipt.Normalize(rcpt)
		c.ReceiptHash = s.d.Receipts.Hash(norm)
		filed.Receipt = rcpt
	}
	// The concern and the e-mails telling its route holders are one statement.
	if err := s.insertWithReference(ctx, c, route, notice); err != nil {
		return nil, err
	}
	filed.Reference, filed.Status = c.Reference, c.Status
	filed.ReceivedAt, filed.AcknowledgeBy, filed.FeedbackBy = c.ReceivedAt, c.AcknowledgeBy, c.FeedbackBy
	return filed, nil
}

// SealedIdentity is the plaintext of a sealed identity: the reporter's identity and the public
// id of the concern it belongs to. age has no associated data, so the concern goes inside: a
// custodian (candour identity open --concern, or reading age -d's output) and the portal check
// it, and an identity moved to another concern is refused there.
type SealedIdentity struct {
	Identity
	Concern string `json:"concern,omitempty"` // empty: sealed before identities were bound
}

func (s *Service) sealIdentity(c *store.Concern, dk *seal.DataKey, recipients []string, id Identity) error {
	plain, err := json.Marshal(SealedIdentity{Identity: id, Concern: c.ID})
	if err != nil {
		return err
	}
	rs, err := seal.ParseRecipients(recipients)
	if err != nil {
		return fmt.Errorf("intake: custodian recipients: %w", err)
	}
	if c.IdentitySealed, err = seal.SealIdentity(rs, plain); err != nil {
		return err
	}
	if c.Mode == "open" {
		// Open mode: handlers on the case may read the name, still encrypted at rest.
		if c.IdentityOpen, err = dk.Seal(ConcernPlace("concerns", c.ID, "identity_open"), plain); err != nil {
			return err
		}
	}
	return nil
}

// NamedKeys are keyed hashes of the named directory people, for conflict exclusion without
// decrypting and without a dump saying who was named. Access checks compute the same hash of
// a user's email.
func (s *Service) NamedKeys(emails []string) [][]byte {
	keys := [][]byte{}
	for _, e := range emails {
		keys = append(keys, access.NamedKey(s.d.Receipts, e))
	}
	return keys
}

func setDecision(c *store.Concern, r *routed, now time.Time) {
	d := r.decision
	c.Route, c.RouteRule, c.RouteVersion = r.json, d.Rule, d.PolicyVersion
	// The rule's own clocks: the safeguarding rule shortens acknowledgement to 24 hours.
	c.AcknowledgeBy = d.Clocks.Deadline(routing.ClockAcknowledge, now)
	decide := d.Clocks.Deadline(routing.ClockDecide, now) // a few map lookups: no query
	c.DecideBy = &decide
	c.FeedbackBy = d.Clocks.Deadline(routing.ClockFeedback, now)
}

// insertWithReference gives the concern a fresh random reference, retrying on the (rare)
// collision.
func (s *Service) insertWithReference(ctx context.Context, c *store.Concern, route *routed, notice []byte) error {
	for attempt := 0; attempt < 5; attempt++ {
		ref, err := newReference()
		if err != nil {
			return err
		}
		c.Reference = ref
		ok, err := s.inserts.Do(ctx, store.NewConcern{Concern: c, Notify: route.recipients,
			RouteHash: route.hash, RouteStored: route.stored.Load(), NoticeAddress: notice})
		if route.hash != nil {
			// Committed, the decision is in route_decisions whether or not the reference was
			// free. After a failure send it whole again, in case it is the decision that is missing.
			route.stored.Store(err == nil)
		}
		if err != nil || ok {
			return err
		}
	}
	return errors.New("intake: could not allocate a reference")
}

// newReference is a concern's reference, "C-" and two groups of four (receipt.Reference).
func newReference() (string, error) { return receipt.Reference("C") }

func sealJSON(dk *seal.DataKey, p seal.Place, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return dk.Seal(p, b)
}

// noticePrefix began the sealed plaintext of a reporter's notice address before fields were
// bound to their place: an unbound address must still carry it, or someone able to write to
// the database could move another field of the concern (the open identity, say) into
// reporter_notices and have the notifier hand it to a mail server as an address.
const noticePrefix = "candour/notice-address/v1:"

// NoticeAddress opens a reporter's notice address, sealed at filing under the concern's data
// key, given that key wrapped. It is the notifier's one way to the address (the notifier holds
// no server key), and it checks the address again, so whatever it returns is one bare address
// fit for an envelope.
func (s *Service) NoticeAddress(concernID string, wrappedKey, sealed []byte) (string, error) {
	dk, err := s.d.ServerKey.UnwrapDataKey(wrappedKey)
	if err != nil {
		return "", fmt.Errorf("intake: notice address: %w", err)
	}
	o, err := dk.Open(ConcernPlace("reporter_notices", concernID, "address"), sealed)
	if err != nil {
		return "", fmt.Errorf("intake: notice address: %w", err)
	}
	addr, ok := string(o.Plain), true
	if o.Unbound {
		addr, ok = strings.CutPrefix(addr, noticePrefix)
	}
	if !ok {
		return "", errors.New("intake: notice address: not sealed as one")
	}
	f := fault.Fields{}
	if checkEmail(f, "notice_email", addr); len(f) > 0 {
		return "", errors.New("intake: notice address: not a valid address")
	}
	return addr, nil
}

// recordKey draws a concern's secret record key for the statistics' cell-key perturbation: a
// uniform 0..255, unpredictable so no one can work out the noise on a figure.
func recordKey() int16 {
	var b [1]byte
	rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	return int16(b[0])
}
