package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"candour/internal/publicid"
)

// Investigation is an investigation row; text fields are ciphertext under its own data key.
type Investigation struct {
	Serial                  int64         `db:"id"`        // internal key: never leaves the server
	ID                      string        `db:"public_id"` // the random id clients see
	Reference               string        `db:"reference"`
	WrappedKey              []byte        `db:"wrapped_key"`
	Title                   []byte        `db:"title"`
	TermsOfReference        []byte        `db:"terms_of_reference"`
	CommissioningOfficerID  int64         `db:"commissioning_officer_id"`
	InvestigatingOfficerID  sql.NullInt64 `db:"investigating_officer_id"`
	InvestigatingOfficerExt []byte        `db:"investigating_officer_ext"`
	DueAt                   time.Time     `db:"due_at"`
	Status                  string        `db:"status"`
	Conclusion              []byte        `db:"conclusion"`
	CreatedAt               time.Time     `db:"created_at"`
	ReportedAt              *time.Time    `db:"reported_at"`
	ClosedAt                *time.Time    `db:"closed_at"`
}

const investigationColumns = `id, public_id, reference, wrapped_key, title, terms_of_reference, commissioning_officer_id,
	investigating_officer_id, investigating_officer_ext, due_at, status, conclusion, created_at, reported_at, closed_at`

// InsertInvestigation stores inv under the reference and public id the caller drew and sets its
// serial, status and creation time; false (nothing stored) when the reference is taken.
func (s *Store) InsertInvestigation(ctx context.Context, inv *Investigation) (bool, error) {
	err := s.row(ctx, `INSERT INTO investigations (reference, wrapped_key, title, terms_of_reference,
		commissioning_officer_id, investigating_officer_id, investigating_officer_ext, due_at, public_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (reference) DO NOTHING
		RETURNING id, status, created_at`,
		inv.Reference, inv.WrappedKey, inv.Title, inv.TermsOfReference, inv.CommissioningOfficerID, inv.InvestigatingOfficerID,
		inv.InvestigatingOfficerExt, inv.DueAt, inv.ID).Scan(&inv.Serial, &inv.Status, &inv.CreatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// InvestigationByPublicID loads the investigation a client names.
func (s *Store) InvestigationByPublicID(ctx context.Context, publicID string) (*Investigation, error) {
	if !publicid.Valid(publicID) {
		return nil, ErrNotFound
	}
	var inv Investigation
	err := s.get(ctx, &inv, `SELECT `+investigationColumns+` FROM investigations WHERE public_id = $1`, publicID)
	return &inv, notFound(err)
}

// InvestigationsOf lists the investigations a user commissions or investigates (all of them
// for monitoring), newest first, leaving out any with a linked concern that names the user
// (namedKey, the keyed hash of their e-mail) or on which they declared a conflict: even an
// investigation's reference and dates are not for them.
func (s *Store) InvestigationsOf(ctx context.Context, userID int64, all bool, namedKey []byte) ([]Investigation, error) {
	var invs []Investigation
	err := s.sel(ctx, &invs, `SELECT `+investigationColumns+` FROM investigations i
		WHERE ($2 OR commissioning_officer_id = $1 OR investigating_officer_id = $1)
		  AND NOT EXISTS (SELECT 1 FROM investigation_concerns l JOIN concerns c ON c.id = l.concern_id
		                  WHERE l.investigation_id = i.id
		                    AND (c.named_keys @> ARRAY[CAST($3 AS bytea)]
		                         OR EXISTS (SELECT 1 FROM conflicts x WHERE x.concern_id = c.id AND x.user_id = $1)))
		ORDER BY id DESC LIMIT 500`, userID, all, namedKey)
	return invs, err
}

// UpdateInvestigation writes status, conclusion and the status dates, only if the row is still
// in status from (so out-of-order or concurrent changes fail cleanly).
func (s *Store) UpdateInvestigation(ctx context.Context, inv *Investigation, from string) (bool, error) {
	res, err := s.exec(ctx, `UPDATE investigations SET status = $2, conclusion = $3, reported_at = $4,
		closed_at = $5 WHERE id = $1 AND status = $6`, inv.Serial, inv.Status, inv.Conclusion, inv.ReportedAt, inv.ClosedAt, from)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// LinkConcern links a concern to an investigation; false if it was already linked.
func (s *Store) LinkConcern(ctx context.Context, investigationID, concernID, userID int64) (bool, error) {
	res, err := s.exec(ctx, `INSERT INTO investigation_concerns (investigation_id, concern_id, linked_by)
		VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, investigationID, concernID, userID)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// UnlinkConcern removes a link; false if there was none.
func (s *Store) UnlinkConcern(ctx context.Context, investigationID, concernID int64) (bool, error) {
	res, err := s.exec(ctx, `DELETE FROM investigation_concerns WHERE investigation_id = $1 AND concern_id = $2`,
		investigationID, concernID)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// LinkedConcerns lists the concerns linked to an investigation.
func (s *Store) LinkedConcerns(ctx context.Context, investigationID int64) ([]QueueRow, error) {
	var rows []QueueRow
	err := s.sel(ctx, &rows, `SELECT c.id, c.public_id, c.reference, c.channel, c.mode, c.service_area, c.category,
		c.safeguarding, c.status, c.route_rule, c.received_at, c.acknowledge_by, c.decide_by, c.feedback_by
		FROM investigation_concerns l JOIN concerns c ON c.id = l.concern_id
		WHERE l.investigation_id = $1 ORDER BY c.received_at, c.public_id`, investigationID)
	return rows, err
}

// InvestigationsOfConcern lists the public ids of the investigations a concern is linked to.
func (s *Store) InvestigationsOfConcern(ctx context.Context, concernID int64) ([]string, error) {
	var ids []string
	err := s.sel(ctx, &ids, `SELECT i.public_id FROM investigation_concerns l
		JOIN investigations i ON i.id = l.investigation_id WHERE l.concern_id = $1 ORDER BY i.id`, concernID)
	return ids, err
}

// LinkedConcernSerial finds the concern a client names among those linked to an investigation.
func (s *Store) LinkedConcernSerial(ctx context.Context, investigationID int64, concernPublicID string) (int64, error) {
	if !publicid.Valid(concernPublicID) {
		return 0, ErrNotFound
	}
	var id int64
	err := s.get(ctx, &id, `SELECT c.id FROM investigation_concerns l JOIN concerns c ON c.id = l.concern_id
		WHERE l.investigation_id = $1 AND c.public_id = $2`, investigationID, concernPublicID)
	return id, notFound(err)
}

// Allegation is one numbered allegation; text fields are ciphertext.
type Allegation struct {
	ID              int64         `db:"id"`
	InvestigationID int64         `db:"investigation_id"`
	Number          int           `db:"number"`
	SourceConcernID sql.NullInt64 `db:"source_concern_id"`
	// SourceConcern is the source concern's public id (read only).
	SourceConcern *string `db:"source_concern"`
	Text          []byte  `db:"text"`
	Evidence      []byte  `db:"evidence"`
	Finding       *string `db:"finding"`
	FindingText   []byte  `db:"finding_text"`
}

// InsertAllegation numbers a stores a new allegation (next number in its investigation).
func (s *Store) InsertAllegation(ctx context.Context, a *Allegation) error {
	return s.row(ctx, `INSERT INTO allegations (investigation_id, number, source_concern_id, text, evidence)
		VALUES ($1, (SELECT COALESCE(max(number), 0) + 1 FROM allegations WHERE investigation_id = $1), $2, $3, $4)
		RETURNING id, number`, a.InvestigationID, a.SourceConcernID, a.Text, a.Evidence).Scan(&a.ID, &a.Number)
}

// SetFinding records an allegation's finding.
func (s *Store) SetFinding(ctx context.Context, investigationID, allegationID int64, finding string, findingText, evidence []byte) (bool, error) {
	res, err := s.exec(ctx, `UPDATE allegations SET finding = $3, finding_text = $4,
		evidence = COALESCE($5, evidence) WHERE investigation_id = $1 AND id = $2`, investigationID, allegationID, finding, findingText, evidence)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// Allegations lists an investigation's allegations in number order.
func (s *Store) Allegations(ctx context.Context, investigationID int64) ([]Allegation, error) {
	var as []Allegation
	err := s.sel(ctx, &as, `SELECT a.id, a.investigation_id, a.number, a.source_concern_id,
		c.public_id AS source_concern, a.text, a.evidence, a.finding, a.finding_text
		FROM allegations a LEFT JOIN concerns c ON c.id = a.source_concern_id
		WHERE a.investigation_id = $1 ORDER BY a.number`, investigationID)
	return as, err
}

// Recommendation is one recommendation; text and owner are ciphertext.
type Recommendation struct {
	ID              int64     `db:"id"`
	InvestigationID int64     `db:"investigation_id"`
	Text            []byte    `db:"text"`
	Owner           []byte    `db:"owner"`
	DueAt           time.Time `db:"due_at"`
	Status          string    `db:"status"`
}

// InsertRecommendation stores r.
func (s *Store) InsertRecommendation(ctx context.Context, r *Recommendation) error {
	return s.row(ctx, `INSERT INTO recommendations (investigation_id, text, owner, due_at)
		VALUES ($1, $2, $3, $4) RETURNING id, status`, r.InvestigationID, r.Text, r.Owner, r.DueAt).Scan(&r.ID, &r.Status)
}

// SetRecommendationStatus changes a recommendation's status.
func (s *Store) SetRecommendationStatus(ctx context.Context, investigationID, id int64, status string) (bool, error) {
	res, err := s.exec(ctx, `UPDATE recommendations SET status = $3,
		done_at = CASE WHEN $3 = 'done' THEN now() END WHERE investigation_id = $1 AND id = $2`, investigationID, id, status)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// Recommendations lists an investigation's recommendations.
func (s *Store) Recommendations(ctx context.Context, investigationID int64) ([]Recommendation, error) {
	var rs []Recommendation
	err := s.sel(ctx, &rs, `SELECT id, investigation_id, text, owner, due_at, status
		FROM recommendations WHERE investigation_id = $1 ORDER BY id`, investigationID)
	return rs, err
}
