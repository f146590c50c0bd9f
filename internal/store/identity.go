package store

import (
	"context"
	"database/sql"
	"time"

	"candour/internal/publicid"
)

// IdentityRequest is a request to disclose a reporter's sealed identity.
type IdentityRequest struct {
	Serial         int64         `db:"id"`
	ID             string        `db:"public_id"`
	ConcernID      int64         `db:"concern_id"`
	RequesterID    int64         `db:"requester_id"`
	Reason         []byte        `db:"reason"`
	ReporterTold   bool          `db:"reporter_told"`
	NoNoticeReason []byte        `db:"no_notice_reason"`
	Status         string        `db:"status"`
	DecidedBy      sql.NullInt64 `db:"decided_by"`
	DecisionReason []byte        `db:"decision_reason"`
	CreatedAt      time.Time     `db:"created_at"`
	DecidedAt      *time.Time    `db:"decided_at"`
}

const identityRequestColumns = `id, public_id, concern_id, requester_id, reason, reporter_told, no_notice_reason, status,
	decided_by, decision_reason, created_at, decided_at`

// InsertIdentityRequest stores r under the public id the caller drew (its reason is bound to it).
func (s *Store) InsertIdentityRequest(ctx context.Context, r *IdentityRequest) error {
	return s.row(ctx, `INSERT INTO identity_requests (concern_id, requester_id, reason, reporter_told, no_notice_reason, public_id)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, status, created_at`, r.ConcernID, r.RequesterID, r.Reason, r.ReporterTold,
		r.NoNoticeReason, r.ID).Scan(&r.Serial, &r.Status, &r.CreatedAt)
}

// IdentityRequestByPublicID loads the request a client names.
func (s *Store) IdentityRequestByPublicID(ctx context.Context, publicID string) (*IdentityRequest, error) {
	if !publicid.Valid(publicID) {
		return nil, ErrNotFound
	}
	var r IdentityRequest
	err := s.get(ctx, &r, `SELECT `+identityRequestColumns+` FROM identity_requests WHERE public_id = $1`, publicID)
	return &r, notFound(err)
}

// IdentityRequestsOf lists a concern's requests, oldest first.
func (s *Store) IdentityRequestsOf(ctx context.Context, concernID int64) ([]IdentityRequest, error) {
	var rs []IdentityRequest
	err := s.sel(ctx, &rs, `SELECT `+identityRequestColumns+` FROM identity_requests WHERE concern_id = $1 ORDER BY id`, concernID)
	return rs, err
}

// PendingIdentityRequests lists requests awaiting a custodian, oldest first.
func (s *Store) PendingIdentityRequests(ctx context.Context) ([]IdentityRequest, error) {
	var rs []IdentityRequest
	err := s.sel(ctx, &rs, `SELECT `+identityRequestColumns+` FROM identity_requests WHERE status = 'pending' ORDER BY id LIMIT 200`)
	return rs, err
}

// DecideIdentityRequest approves or refuses a pending request; false if it was not pending.
func (s *Store) DecideIdentityRequest(ctx context.Context, serial, custodianID int64, approve bool, reason []byte) (bool, error) {
	status := "refused"
	if approve {
		status = "approved"
	}
	res, err := s.exec(ctx, `UPDATE identity_requests SET status = $2, decided_by = $3, decision_reason = $4,
		decided_at = now() WHERE id = $1 AND status = 'pending' AND requester_id <> $3`, serial, status, custodianID, reason)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// HasApprovedIdentityRequest reports whether a concern's identity may be released.
func (s *Store) HasApprovedIdentityRequest(ctx context.Context, concernID int64) (bool, error) {
	var ok bool
	err := s.get(ctx, &ok, `SELECT EXISTS (SELECT 1 FROM identity_requests WHERE concern_id = $1 AND status = 'approved')`, concernID)
	return ok, err
}
