package casework

import (
	"context"
	"errors"
	"regexp"
	"strings"

	"candour/internal/access"
	"candour/internal/domain"
	"candour/internal/fault"
	"candour/internal/store"
)

// referenceShape is what a typed reference may look like before it is looked up at all.
var referenceShape = regexp.MustCompile(`^[A-Z0-9-]{1,40}$`)

// NormalReference is a reference as a person typed it, in the form it is stored in.
func NormalReference(ref string) string { return strings.ToUpper(strings.TrimSpace(ref)) }

// LooksLikeReference reports whether ref (normalised) could be a reference at all.
func LooksLikeReference(ref string) bool { return referenceShape.MatchString(ref) }

// concernIDByReference finds the concern a person named by its reference, or a field error on
// field: required when empty, unknown otherwise (a concern that does not exist and one the
// caller may not know about look the same). The id is the concern's public id.
func (s *Service) concernIDByReference(ctx context.Context, field, ref string) (string, error) {
	ref = NormalReference(ref)
	if ref == "" {
		return "", fault.Fields{field: "field.required"}.Err()
	}
	unknown := fault.Fields{field: "caseworkweb.unknown_concern"}.Err()
	if !referenceShape.MatchString(ref) {
		return "", unknown
	}
	c, err := s.d.Store.ConcernByReference(ctx, ref)
	if errors.Is(err, store.ErrNotFound) {
		return "", unknown
	}
	if err != nil {
		return "", err
	}
	return c.ID, nil
}

// LinkConcernByReference links the concern with the typed reference to an investigation.
func (s *Service) LinkConcernByReference(ctx context.Context, u *domain.User, investigationID string, ref string) error {
	if !access.CanCommissionInvestigation(u) {
		return errNotFound
	}
	id, err := s.concernIDByReference(ctx, "reference", ref)
	if err != nil {
		return err
	}
	err = s.LinkConcern(ctx, u, investigationID, id)
	if fault.Is(err, fault.NotFound) {
		// The Monitoring Officer sees every investigation, so a 404 here is the concern:
		// excluded from it by a conflict, which looks the same as an unknown reference.
		return fault.Fields{"reference": "caseworkweb.unknown_concern"}.Err()
	}
	return err
}

// SealedIdentityByReference is SealedIdentity for the concern with the typed reference, and
// the name of the file a custodian saves it as.
func (s *Service) SealedIdentityByReference(ctx context.Context, u *domain.User, ref string) (name, armored string, err error) {
	if !u.Active() || !u.HasRole(domain.RoleCustodian) {
		return "", "", errNotFound
	}
	id, err := s.concernIDByReference(ctx, "reference", ref)
	if err != nil {
		return "", "", err
	}
	armored, err = s.SealedIdentity(ctx, u, id)
	if fault.Is(err, fault.NotFound) {
		return "", "", fault.Fields{"reference": "caseworkweb.unknown_concern"}.Err()
	}
	return IdentityFile(NormalReference(ref)), armored, err
}

// IdentityFile is the name a sealed identity is saved under.
func IdentityFile(ref string) string { return "identity-" + ref + ".age" }

// GrantAccessByEmail is GrantAccess with the officers named by e-mail address (the concern
// page's form); fromEmail empty grants, otherwise transfers.
func (s *Service) GrantAccessByEmail(ctx context.Context, u *domain.User, id string, toEmail, fromEmail, reason string) error {
	if !access.CanSeeTriage(u) { // only the Monitoring Officer and deputy grant: nobody else may probe addresses
		return errNotFound
	}
	userID := func(field, email string) (int64, error) {
		if strings.TrimSpace(email) == "" {
			return 0, nil
		}
		o, err := s.d.Store.UserByEmail(ctx, strings.TrimSpace(email))
		if errors.Is(err, store.ErrNotFound) {
			return 0, fault.Fields{field: "casework.unknown_officer"}.Err()
		}
		if err != nil {
			return 0, err
		}
		return o.ID, nil
	}
	to, err := userID("user_id", toEmail)
	if err != nil {
		return err
	}
	from, err := userID("from_user_id", fromEmail)
	if err != nil {
		return err
	}
	return s.GrantAccess(ctx, u, id, to, from, reason)
}
