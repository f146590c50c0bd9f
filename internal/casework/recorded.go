package casework

import (
	"context"

	"candour/internal/access"
	"candour/internal/intake"
	"candour/internal/store"
)

// RecordOnBehalf lets the Monitoring Officer or deputy write down a concern received by phone
// or in a meeting. The reporter gets the receipt from them and approves the record in the
// mailbox. Audited as who recorded it.
func (s *Service) RecordOnBehalf(ctx context.Context, u *store.User, r intake.ReportSubmission) (*intake.Filed, error) {
	if !access.CanSeeTriage(u) {
		return nil, errNotFound
	}
	filed, err := s.d.Intake.RecordOnBehalf(ctx, u.ID, r)
	if err != nil {
		return nil, err
	}
	c, err := s.d.Store.ConcernByReference(ctx, filed.Reference)
	if err != nil {
		return nil, err
	}
	return filed, record(ctx, s.d.Store, u, "concern.record", "concern", c.ID, nil)
}
