package store

import (
	"context"

	"github.com/lib/pq"

	"candour/internal/publicid"
)

// CaseFacts is what an access decision needs to know about a concern: never content.
type CaseFacts struct {
	ConcernID   int64         `db:"id"` // the serial: internal
	PublicID    string        `db:"public_id"`
	Reference   string        `db:"reference"`
	Status      string        `db:"status"`
	ServiceArea string        `db:"service_area"`
	NamedKeys   pq.ByteaArray `db:"named_keys"`
	Route       []byte        `db:"route"` // the stored routing decision (JSON)
	CreatedBy   *int64        `db:"created_by"`
	// ReferredTo and ReferredEmail name the procedure the concern was referred to and the
	// directory holder it went to.
	ReferredTo    *string `db:"referred_to"`
	ReferredEmail *string `db:"referred_email"`
	// Conflicted are the users who declared a conflict; Granted those with a live grant.
	Conflicted pq.Int64Array `db:"conflicted"`
	Granted    pq.Int64Array `db:"granted"`
}

const caseFactsSQL = `SELECT c.id, c.public_id, c.reference, c.status, c.service_area, c.named_keys, c.route, c.created_by, c.referred_to, c.referred_email,
	ARRAY(SELECT user_id FROM conflicts WHERE concern_id = c.id ORDER BY user_id) AS conflicted,
	ARRAY(SELECT user_id FROM case_access WHERE concern_id = c.id AND revoked_at IS NULL ORDER BY user_id) AS granted
	FROM concerns c `

// CaseFacts loads the access facts of a concern by its serial.
func (s *Store) CaseFacts(ctx context.Context, concernID int64) (*CaseFacts, error) {
	var f CaseFacts
	err := s.get(ctx, &f, caseFactsSQL+`WHERE c.id = $1`, concernID)
	return &f, notFound(err)
}

// CaseFactsByPublicID loads the access facts of the concern a client names.
func (s *Store) CaseFactsByPublicID(ctx context.Context, publicID string) (*CaseFacts, error) {
	if !publicid.Valid(publicID) {
		return nil, ErrNotFound
	}
	var f CaseFacts
	err := s.get(ctx, &f, caseFactsSQL+`WHERE c.public_id = $1`, publicID)
	return &f, notFound(err)
}

// DeclareConflict records that userID has a conflict on a concern. Declaring twice is a no-op.
func (s *Store) DeclareConflict(ctx context.Context, concernID, userID int64, reason []byte) error {
	_, err := s.exec(ctx, `INSERT INTO conflicts (concern_id, user_id, reason) VALUES ($1, $2, $3)
		ON CONFLICT (concern_id, user_id) DO NOTHING`, concernID, userID, reason)
	return err
}

// GrantCaseAccess gives userID access to a concern.
func (s *Store) GrantCaseAccess(ctx context.Context, concernID, userID int64, grantedBy *int64, reason []byte) error {
	_, err := s.exec(ctx, `INSERT INTO case_access (concern_id, user_id, granted_by, reason) VALUES ($1, $2, $3, $4)
		ON CONFLICT (concern_id, user_id) WHERE revoked_at IS NULL DO NOTHING`, concernID, userID, grantedBy, reason)
	return err
}

// RevokeCaseAccess ends userID's grant on a concern, if any.
func (s *Store) RevokeCaseAccess(ctx context.Context, concernID, userID int64) error {
	_, err := s.exec(ctx, `UPDATE case_access SET revoked_at = now()
		WHERE concern_id = $1 AND user_id = $2 AND revoked_at IS NULL`, concernID, userID)
	return err
}
