package store

import (
	"context"
	"time"

	"github.com/lib/pq"
)

// AccessRequest is a proposed change that widens someone's access to cases, waiting for a
// second person (migration 00027).
type AccessRequest struct {
	ID           int64          `db:"id"`
	UserID       int64          `db:"user_id"`
	Kind         string         `db:"kind"`
	Roles        pq.StringArray `db:"roles"`
	ServiceAreas pq.StringArray `db:"service_areas"`
	ProposedBy   int64          `db:"proposed_by"`
	ProposedAt   time.Time      `db:"proposed_at"`
	Status       string         `db:"status"`
	// The account's and the proposer's e-mail addresses, for the list (read only).
	Email      string `db:"email"`
	ProposerEm string `db:"proposer_email"`
}

// InsertAccessRequest stores r as pending and sets its ID; ErrDuplicate when the account
// already has one open.
func (s *Store) InsertAccessRequest(ctx context.Context, r *AccessRequest) error {
	return duplicate(s.get(ctx, &r.ID, `INSERT INTO access_requests (user_id, kind, roles, service_areas, proposed_by, proposed_at)
		VALUES ($1, $2, COALESCE($3::text[], '{}'), COALESCE($4::text[], '{}'), $5, $6) RETURNING id`,
		r.UserID, r.Kind, r.Roles, r.ServiceAreas, r.ProposedBy, r.ProposedAt))
}

const accessRequestSelect = `SELECT r.id, r.user_id, r.kind, r.roles, r.service_areas, r.proposed_by, r.proposed_at, r.status,
	u.email, p.email AS proposer_email
	FROM access_requests r JOIN users u ON u.id = r.user_id JOIN users p ON p.id = r.proposed_by`

// PendingAccessRequests lists the open requests, oldest first.
func (s *Store) PendingAccessRequests(ctx context.Context) ([]AccessRequest, error) {
	var out []AccessRequest
	err := s.sel(ctx, &out, accessRequestSelect+` WHERE r.status = 'pending' ORDER BY r.proposed_at, r.id`)
	return out, err
}

// PendingAccessRequest locks an open request until the transaction ends, or ErrNotFound.
func (s *Store) PendingAccessRequest(ctx context.Context, id int64) (*AccessRequest, error) {
	var r AccessRequest
	err := s.get(ctx, &r, accessRequestSelect+` WHERE r.id = $1 AND r.status = 'pending' FOR UPDATE OF r`, id)
	return &r, notFound(err)
}

// DecideAccessRequest approves or refuses an open request.
func (s *Store) DecideAccessRequest(ctx context.Context, id int64, approved bool, by int64, at time.Time) error {
	status := "refused"
	if approved {
		status = "approved"
	}
	return s.updateUserRow(ctx, `UPDATE access_requests SET status = $2, decided_by = $3, decided_at = $4
		WHERE id = $1 AND status = 'pending'`, id, status, by, at)
}

// InsertEnrolment stores a new enrolment link's token hash for an account, and retires the
// account's earlier links that were never used: only the newest works.
func (s *Store) InsertEnrolment(ctx context.Context, userID int64, tokenHash []byte, expires time.Time) error {
	if _, err := s.exec(ctx, `DELETE FROM enrolments WHERE user_id = $1 AND used_at IS NULL`, userID); err != nil {
		return err
	}
	_, err := s.exec(ctx, `INSERT INTO enrolments (token_hash, user_id, expires_at) VALUES ($1, $2, $3)`,
		tokenHash, userID, expires)
	return err
}

// UseEnrolment marks the unused, unexpired link with this token hash used and returns its
// account; ErrNotFound for any other (unknown, used, expired).
func (s *Store) UseEnrolment(ctx context.Context, tokenHash []byte, now time.Time) (int64, error) {
	var id int64
	err := s.get(ctx, &id, `UPDATE enrolments SET used_at = $2
		WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING user_id`, tokenHash, now)
	return id, notFound(err)
}

// EnrolmentUser returns the account of an unused, unexpired link, without using it.
func (s *Store) EnrolmentUser(ctx context.Context, tokenHash []byte, now time.Time) (int64, error) {
	var id int64
	err := s.get(ctx, &id, `SELECT user_id FROM enrolments
		WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2`, tokenHash, now)
	return id, notFound(err)
}

// EnqueueEnrolment puts an enrolment e-mail in the outbox: the link sealed for the recipient.
func (s *Store) EnqueueEnrolment(ctx context.Context, recipient string, sealedLink []byte) error {
	_, err := s.exec(ctx, `INSERT INTO notifications (recipient, kind, reference, sealed_link)
		VALUES (lower($1), '`+Enrolment+`', '', $2)`, recipient, sealedLink)
	return err
}
