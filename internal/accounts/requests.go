package accounts

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"candour/internal/access"
	"candour/internal/audit"
	"candour/internal/domain"
	"candour/internal/fault"
	"candour/internal/store"
)

// Request is a proposed change that widens someone's access to cases, waiting for the
// Monitoring Officer or deputy: create (a new account with Roles), roles (Roles and Areas
// replace the account's) or reset (new credentials through an enrolment link).
type Request struct {
	ID         int64
	Kind       string
	UserID     int64
	Email      string // the account's
	Roles      []string
	Areas      []string
	ProposedBy string // the proposer's e-mail address
	ProposedAt time.Time
}

var (
	errDecideSelf = fault.New(fault.Forbidden, "own_request", "access_request.self")
	errDecider    = fault.New(fault.NotFound, "not_found", "error.not_found")
)

// propose records an access request by an administrator in tx, and its audit event.
func (s *Service) propose(ctx context.Context, tx *store.Store, by Actor, userID int64, kind string, roles, areas []string) (int64, error) {
	r := &store.AccessRequest{UserID: userID, Kind: kind, Roles: roles, ServiceAreas: areas, ProposedBy: by.user.ID,
		ProposedAt: s.d.Now()}
	if err := tx.InsertAccessRequest(ctx, r); err != nil {
		if errors.Is(err, store.ErrDuplicate) {
			return 0, errOpen
		}
		return 0, err
	}
	return r.ID, audit.Record(ctx, tx, by.event(audit.Event{Action: "access.propose", ObjectType: "access_request",
		ObjectID: strconv.FormatInt(r.ID, 10), Details: map[string]string{"kind": kind,
			"user": strconv.FormatInt(userID, 10), "roles": fmt.Sprint(roles), "service_areas": fmt.Sprint(areas)}}))
}

// decider admits the Monitoring Officer and deputy; anyone else sees nothing (404).
func decider(by Actor) error {
	if !by.console && access.CanApproveAccess(by.user) {
		return nil
	}
	return errDecider
}

// Requests lists the open access requests, oldest first, for the Monitoring Officer or deputy.
func (s *Service) Requests(ctx context.Context, by Actor) ([]Request, error) {
	if err := decider(by); err != nil {
		return nil, err
	}
	rs, err := s.d.Store.PendingAccessRequests(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Request, 0, len(rs))
	for _, r := range rs {
		out = append(out, Request{ID: r.ID, Kind: r.Kind, UserID: r.UserID, Email: r.Email, Roles: r.Roles,
			Areas: r.ServiceAreas, ProposedBy: r.ProposerEm, ProposedAt: r.ProposedAt})
	}
	return out, nil
}

// Decide approves or refuses an open access request. The decider must be the Monitoring Officer
// or deputy and neither its proposer nor its subject. Approved, the change applies now (a
// created account becomes active and gets its enrolment link; a reset clears the credentials
// and sends a new link); a refused account proposal leaves the account disabled.
func (s *Service) Decide(ctx context.Context, by Actor, id int64, approve bool) error {
	if err := decider(by); err != nil {
		return err
	}
	return s.d.Store.Tx(ctx, func(tx *store.Store) error {
		r, err := tx.PendingAccessRequest(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return errNotFound
		}
		if err != nil {
			return err
		}
		if r.ProposedBy == by.user.ID || r.UserID == by.user.ID {
			return errDecideSelf
		}
		u, err := tx.UserByID(ctx, r.UserID)
		if err != nil {
			return err
		}
		action := "access.refuse"
		if approve {
			action = "access.approve"
			if err := s.apply(ctx, tx, r, u); err != nil {
				return err
			}
		} else if r.Kind == "create" {
			if err := tx.SetUserStatus(ctx, u.ID, "disabled"); err != nil {
				return err
			}
		}
		if err := tx.DecideAccessRequest(ctx, r.ID, approve, by.user.ID, s.d.Now()); err != nil {
			return err
		}
		return audit.Record(ctx, tx, by.event(audit.Event{Action: action, ObjectType: "access_request",
			ObjectID: strconv.FormatInt(r.ID, 10), Details: map[string]string{"kind": r.Kind,
				"user": strconv.FormatInt(r.UserID, 10), "proposed_by": strconv.FormatInt(r.ProposedBy, 10)}}))
	})
}

// apply makes an approved request take effect, checking the roles again: the rules may have
// changed since it was proposed.
func (s *Service) apply(ctx context.Context, tx *store.Store, r *store.AccessRequest, u *domain.User) error {
	if r.Kind == "create" && u.Status != "pending" {
		return errOpen // disabled since it was proposed: enabling it is not what was asked
	}
	switch r.Kind {
	case "create", "roles":
		f := fault.Fields{}
		checkRoles(f, r.Roles)
		s.checkAreas(f, r.ServiceAreas)
		if err := f.Err(); err != nil {
			return err
		}
		if err := tx.SetUserRoles(ctx, u.ID, r.Roles, r.ServiceAreas); err != nil {
			return err
		}
		if r.Kind == "roles" {
			return s.d.Auth.RevokeUser(ctx, tx, u.ID, "", "role_change")
		}
		if err := tx.SetUserStatus(ctx, u.ID, "active"); err != nil {
			return err
		}
		u.Status = "active"
		return s.d.Auth.IssueEnrolment(ctx, tx, u)
	case "reset":
		if err := s.d.Auth.RevokeUser(ctx, tx, u.ID, "", "credentials_reset"); err != nil {
			return err
		}
		return s.resetCredentials(ctx, tx, u)
	case "sso_unbind":
		if err := s.d.Auth.RevokeUser(ctx, tx, u.ID, "", "sso_unbind"); err != nil {
			return err
		}
		_, err := tx.UnbindSSOSubjects(ctx, u.ID)
		return err
	}
	return fmt.Errorf("accounts: unknown request kind %q", r.Kind)
}
