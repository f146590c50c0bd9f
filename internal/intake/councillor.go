package intake

import (
	"context"
	"errors"
	"io"

	"candour/internal/access"
	"candour/internal/domain"
	"candour/internal/fault"
	"candour/internal/routing"
	"candour/internal/store"
)

// CouncillorConcern is a concern raised through the councillor-guidance route: the councillor
// says which of the service's published evidence they reviewed and whom they already raised it
// with, before the policy decides where it goes.
type CouncillorConcern struct {
	ServiceArea            string   `json:"service_area"`
	Category               string   `json:"category"`
	Summary                string   `json:"summary"`
	Details                string   `json:"details"`
	EvidenceReviewed       []string `json:"evidence_reviewed"`
	RaisedWith             []string `json:"raised_with"`
	RaisedOutcome          string   `json:"raised_outcome"`
	NamedPeople            []string `json:"named_people"`
	PassingOnStaffConcerns bool     `json:"passing_on_staff_concerns"`
	Safeguarding           bool     `json:"safeguarding"`
	Confidential           bool     `json:"confidential"`
}

// Councillor is who is raising the concern: the signed-in councillor, in the language of the
// request.
type Councillor struct {
	User     *domain.User
	Language string
}

// errNotCouncillor answers anyone but an active councillor, as if the route did not exist.
var errNotCouncillor = fault.New(fault.NotFound, "not_found", "error.not_found")

// councillorFacts validates c and returns the routing facts it stands for.
func (s *Service) councillorFacts(c *CouncillorConcern) (routing.Facts, error) {
	f := fault.Fields{}
	if c.Category == "" {
		c.Category = "other"
	}
	if !oneOf(c.Category, Categories) {
		f.Add("category", "field.choice")
	}
	c.NamedPeople = checkConcern(f, c.Summary, c.Details, c.NamedPeople)
	if len(c.EvidenceReviewed) > 50 {
		f.Add("evidence_reviewed", "field.too_many")
	}
	if len(c.RaisedWith) > len(routing.RaisedWithRoles) {
		f.Add("raised_with", "field.too_many")
	}
	if c.ServiceArea == "" {
		f.Add("service_area", "field.required")
	}
	policy := s.d.Policy()
	facts := routing.Facts{
		Channel: "councillor", Mode: mode(c.Confidential), ServiceArea: c.ServiceArea, Category: c.Category,
		Safeguarding: c.Safeguarding, NamedPeople: policy.Directory.Match(c.NamedPeople),
		RaisedWith: c.RaisedWith, RaisedOutcome: c.RaisedOutcome, EvidenceReviewed: c.EvidenceReviewed,
		PassingOnStaffConcerns: c.PassingOnStaffConcerns,
	}
	// The policy knows its own lists (areas, evidence items, outcomes): it names the field.
	var fe *routing.FactsError
	if err := policy.Validate(facts); errors.As(err, &fe) {
		f.Add(fe.Field, "field.choice")
	} else if err != nil {
		return facts, err
	}
	return facts, f.Err()
}

func mode(confidential bool) string {
	if confidential {
		return "confidential"
	}
	return "open"
}

// PreviewCouncillorConcern says where the concern would go and why, without filing it: the
// "where this goes and why" step the councillor sees before submitting.
func (s *Service) PreviewCouncillorConcern(c CouncillorConcern) (routing.Decision, error) {
	facts, err := s.councillorFacts(&c)
	if err != nil {
		return routing.Decision{}, err
	}
	return s.d.Policy().Decide(facts)
}

// SubmitCouncillorConcern files a councillor's concern. The councillor's identity is sealed to
// the custodians like any reporter's; in the open (default) mode handlers on the case see it.
func (s *Service) SubmitCouncillorConcern(ctx context.Context, who Councillor, c CouncillorConcern) (*Filed, error) {
	if !access.CanRaiseCouncillorConcern(who.User) {
		return nil, errNotCouncillor
	}
	facts, err := s.councillorFacts(&c)
	if err != nil {
		return nil, err
	}
	lang := who.Language
	if !oneOf(lang, Languages) {
		lang = "en"
	}
	filed, err := s.file(ctx, s.d.Policy(), filing{
		channel: "councillor", mode: facts.Mode, category: c.Category, lang: lang, facts: facts, createdBy: who.User.ID,
		content:  Content{Summary: c.Summary, Details: c.Details, NamedPeople: c.NamedPeople},
		identity: &Identity{Name: who.User.Name, Email: who.User.Email, Role: "councillor"},
	})
	if err != nil {
		return nil, err
	}
	own, err := s.d.Store.ConcernByReference(ctx, filed.Reference)
	if err != nil {
		return nil, err
	}
	filed.ID = own.ID
	return filed, nil
}

// CouncillorConcerns lists the concerns a councillor raised, newest first.
func (s *Service) CouncillorConcerns(ctx context.Context, u *domain.User) ([]store.QueueRow, error) {
	if !access.CanRaiseCouncillorConcern(u) {
		return nil, errNotCouncillor
	}
	return s.d.Store.ConcernsCreatedBy(ctx, u.ID)
}

// ownConcern resolves the public id of a concern u raised to its reference. Anything else, a
// concern someone else raised included, is 404: a councillor cannot learn that it exists.
func (s *Service) ownConcern(ctx context.Context, u *domain.User, id string) (string, error) {
	if !access.CanRaiseCouncillorConcern(u) {
		return "", errNotCouncillor
	}
	f, err := s.d.Store.CaseFactsByPublicID(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !access.CanFollowOwn(u, f)) {
		return "", errNotCouncillor
	}
	if err != nil {
		return "", err
	}
	return f.Reference, nil
}

// CouncillorThread is a councillor's view of a concern they raised: the same conversation,
// evidence and outcome a reporter sees in their mailbox.
func (s *Service) CouncillorThread(ctx context.Context, u *domain.User, id string) (*Mailbox, error) {
	ref, err := s.ownConcern(ctx, u, id)
	if err != nil {
		return nil, err
	}
	return s.Mailbox(ctx, ref)
}

// CouncillorReply adds the councillor's message to the conversation on their concern; its
// handlers are told as they are of a reporter's reply.
func (s *Service) CouncillorReply(ctx context.Context, u *domain.User, id, body string, detriment bool) error {
	ref, err := s.ownConcern(ctx, u, id)
	if err != nil {
		return err
	}
	return s.Reply(ctx, ref, body, detriment)
}

// CouncillorAttach adds an evidence file to a concern the councillor raised.
func (s *Service) CouncillorAttach(ctx context.Context, u *domain.User, id, name string, body io.Reader) (*MailboxAttachment, error) {
	ref, err := s.ownConcern(ctx, u, id)
	if err != nil {
		return nil, err
	}
	return s.AddAttachment(ctx, ref, "reporter", name, body)
}

// CouncillorAttachment streams an evidence file of a concern the councillor raised.
func (s *Service) CouncillorAttachment(ctx context.Context, u *domain.User, id, attachmentID string) (string, int64, io.Reader, error) {
	ref, err := s.ownConcern(ctx, u, id)
	if err != nil {
		return "", 0, nil, err
	}
	return s.OpenAttachment(ctx, ref, attachmentID)
}
