package casework

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"candour/internal/domain"
	"candour/internal/fault"
	"candour/internal/intake"
	"candour/internal/publicid"
	"candour/internal/seal"
	"candour/internal/store"
)

// IdentityRequestInput asks for a reporter's identity. NoNoticeReason, when given, is the legal
// reason the reporter is not told first; otherwise they are, through their mailbox.
type IdentityRequestInput struct {
	Reason         string `json:"reason"`
	NoNoticeReason string `json:"no_notice_reason,omitempty"`
}

// RequestIdentity records a disclosure request and, unless a legal reason says otherwise,
// tells the reporter first, in their language.
func (s *Service) RequestIdentity(ctx context.Context, u *store.User, publicID string, in IdentityRequestInput) (*store.IdentityRequest, error) {
	f := fault.Fields{}
	text(f, "reason", in.Reason, true)
	text(f, "no_notice_reason", in.NoNoticeReason, false)
	if err := f.Err(); err != nil {
		return nil, err
	}
	facts, err := s.caseFacts(ctx, u, publicID, s.d.Access.CanRequestIdentity)
	if err != nil {
		return nil, err
	}
	concernID := facts.ConcernID
	var req *store.IdentityRequest
	err = s.d.Store.Tx(ctx, func(tx *store.Store) error {
		c, dk, err := s.concern(ctx, tx, concernID)
		if err != nil {
			return err
		}
		if c.IdentitySealed == nil {
			return conflict("no_identity")
		}
		req = &store.IdentityRequest{ID: publicid.New(), ConcernID: concernID, RequesterID: u.ID, ReporterTold: in.NoNoticeReason == ""}
		if req.Reason, err = dk.Seal(requestPlace(c.ID, req, "reason"), []byte(in.Reason)); err != nil {
			return err
		}
		if req.NoNoticeReason, err = sealString(dk, requestPlace(c.ID, req, "no_notice_reason"), in.NoNoticeReason); err != nil {
			return err
		}
		if req.ReporterTold {
			// Told first, with the reasons: the reporter may want to say something before a
			// custodian decides.
			if err := s.reporterMessage(ctx, tx, c, dk, u, "casework.msg.identity_requested", in.Reason); err != nil {
				return err
			}
		}
		if err := tx.InsertIdentityRequest(ctx, req); err != nil {
			return err
		}
		return record(ctx, tx, u, "identity.request", "concern", c.ID,
			map[string]string{"request": req.ID, "reporter_told": fmt.Sprint(req.ReporterTold)})
	})
	return req, err
}

// IdentityRequestView is a request as a custodian reviews it.
type IdentityRequestView struct {
	ID             string `json:"id"`
	ConcernID      string `json:"concern_id"`
	Reference      string `json:"reference"`
	Requester      string `json:"requester"`
	RequesterID    int64  `json:"requester_id"`
	Reason         string `json:"reason"`
	ReporterTold   bool   `json:"reporter_told"`
	NoNoticeReason string `json:"no_notice_reason,omitempty"`
	Status         string `json:"status"`
}

// PendingIdentityRequests lists requests awaiting a custodian (custodians only).
func (s *Service) PendingIdentityRequests(ctx context.Context, u *store.User) ([]IdentityRequestView, error) {
	if u == nil || u.Status != "active" || !u.HasRole(domain.RoleCustodian) {
		return nil, errNotFound
	}
	reqs, err := s.d.Store.PendingIdentityRequests(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]IdentityRequestView, 0, len(reqs))
	for _, r := range reqs {
		// A custodian named in the concern (or conflicted) must not even learn it exists.
		if err := s.notExcluded(ctx, u, r.ConcernID); errors.Is(err, errNotFound) {
			continue
		} else if err != nil {
			return nil, err
		}
		c, dk, err := s.concern(ctx, s.d.Store, r.ConcernID)
		if errors.Is(err, errShredded) {
			continue
		}
		if err != nil {
			return nil, err
		}
		v := IdentityRequestView{ID: r.ID, ConcernID: c.ID, Reference: c.Reference, RequesterID: r.RequesterID,
			ReporterTold: r.ReporterTold, Status: r.Status}
		fs := intake.NewFields(dk)
		if v.Reason, err = fs.String(requestPlace(c.ID, &r, "reason"), r.Reason); err != nil {
			return nil, s.integrity(ctx, u, "concern", c.ID, err)
		}
		if v.NoNoticeReason, err = fs.String(requestPlace(c.ID, &r, "no_notice_reason"), r.NoNoticeReason); err != nil {
			return nil, s.integrity(ctx, u, "concern", c.ID, err)
		}
		if req, err := s.d.Store.UserByID(ctx, r.RequesterID); err == nil {
			v.Requester = req.Name
		}
		out = append(out, v)
	}
	return out, nil
}

// DecideIdentityRequest approves or refuses a request: a custodian, never the requester.
func (s *Service) DecideIdentityRequest(ctx context.Context, u *store.User, requestID string, approve bool, reason string) error {
	f := fault.Fields{}
	text(f, "reason", reason, true)
	if err := f.Err(); err != nil {
		return err
	}
	if u == nil || u.Status != "active" || !u.HasRole(domain.RoleCustodian) {
		return errNotFound
	}
	return s.d.Store.Tx(ctx, func(tx *store.Store) error {
		r, err := tx.IdentityRequestByPublicID(ctx, requestID)
		if errors.Is(err, store.ErrNotFound) {
			return errNotFound
		}
		if err != nil {
			return err
		}
		if err := s.notExcluded(ctx, u, r.ConcernID); err != nil {
			return err
		}
		if r.RequesterID == u.ID {
			return conflict("own_request")
		}
		if r.Status != "pending" {
			return conflict("already_decided")
		}
		c, dk, err := s.concern(ctx, tx, r.ConcernID)
		if err != nil {
			return err
		}
		p := requestPlace(c.ID, r, "decision_reason")
		p.Attrs = append(p.Attrs, "decided_by="+strconv.FormatInt(u.ID, 10), "approve="+strconv.FormatBool(approve))
		sealed, err := dk.Seal(p, []byte(reason))
		if err != nil {
			return err
		}
		ok, err := tx.DecideIdentityRequest(ctx, r.Serial, u.ID, approve, sealed)
		if err != nil {
			return err
		}
		if !ok {
			return conflict("already_decided")
		}
		action := "identity.refuse"
		if approve {
			action = "identity.approve"
		}
		return record(ctx, tx, u, action, "concern", c.ID, map[string]string{"request": r.ID})
	})
}

// SealedIdentity returns the reporter's identity still sealed to the custodians, armored for
// the age CLI, to a custodian once a request was approved. Nothing is decrypted here: the
// custodian opens it offline with their own key.
func (s *Service) SealedIdentity(ctx context.Context, u *store.User, publicID string) (string, error) {
	if u == nil || u.Status != "active" || !u.HasRole(domain.RoleCustodian) {
		return "", errNotFound
	}
	facts, err := s.d.Store.CaseFactsByPublicID(ctx, publicID)
	if errors.Is(err, store.ErrNotFound) {
		return "", errNotFound
	}
	if err != nil {
		return "", err
	}
	if s.d.Access.Excluded(u, facts) {
		return "", errNotFound
	}
	concernID := facts.ConcernID
	c, err := s.d.Store.ConcernByID(ctx, concernID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && c.IdentitySealed == nil) {
		return "", errNotFound
	}
	if err != nil {
		return "", err
	}
	ok, err := s.d.Store.HasApprovedIdentityRequest(ctx, concernID)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", fault.New(fault.Forbidden, "not_approved", "casework.not_approved")
	}
	armored, err := seal.Armor(c.IdentitySealed)
	if err != nil {
		return "", err
	}
	// The hash says which sealed identity was handed out; the custodian's check of the concern
	// id inside it (candour identity open --concern) says it is this concern's.
	if err := record(ctx, s.d.Store, u, "identity.download", "concern", c.ID, identityHash(c)); err != nil {
		return "", err
	}
	return armored, nil
}

// notExcluded stops a custodian who is named in the concern, or declared a conflict on it,
// from deciding or downloading: they could otherwise unmask the person who reported them.
func (s *Service) notExcluded(ctx context.Context, u *store.User, concernID int64) error {
	f, err := s.d.Store.CaseFacts(ctx, concernID)
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	if s.d.Access.Excluded(u, f) {
		return errNotFound
	}
	return nil
}

// requestPlace is a sealed field of an identity request: bound to its concern and requester.
func requestPlace(concernID string, r *store.IdentityRequest, field string) seal.Place {
	return seal.Place{Table: "identity_requests", Row: r.ID, Field: field,
		Attrs: []string{"concern=" + concernID, "requester=" + strconv.FormatInt(r.RequesterID, 10)}}
}
