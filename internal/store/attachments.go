package store

import (
	"context"
	"time"

	"github.com/jmoiron/sqlx"

	"candour/internal/publicid"
)

// Attachment is an evidence file; Name is ciphertext, the bytes are in the blob store.
type Attachment struct {
	Serial    int64     `db:"id"`
	ID        string    `db:"public_id"`
	ConcernID int64     `db:"concern_id"`
	Author    string    `db:"author"`
	Name      []byte    `db:"name"`
	Size      int64     `db:"size"`
	BlobID    int64     `db:"blob_id"`
	CreatedAt time.Time `db:"created_at"`
}

// InsertAttachment stores a under the public id the caller drew (its name and blob are bound
// to it) and sets its serial.
// A reporter's file also moves the concern's last_reporter_at, which retention respects.
func (s *Store) InsertAttachment(ctx context.Context, a *Attachment) error {
	return s.q.QueryRowxContext(ctx, `WITH touched AS (
			UPDATE concerns SET last_reporter_at = $6, awaiting_council = true WHERE id = $1 AND $2 = 'reporter'
		)
		INSERT INTO attachments (concern_id, author, name, size, blob_id, created_at, public_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`, a.ConcernID, a.Author, a.Name, a.Size, a.BlobID,
		a.CreatedAt, a.ID).Scan(&a.Serial)
}

// Attachments lists a concern's attachments, oldest first.
func (s *Store) Attachments(ctx context.Context, concernID int64) ([]Attachment, error) {
	var as []Attachment
	err := sqlx.SelectContext(ctx, s.q, &as, `SELECT id, public_id, concern_id, author, name, size, blob_id, created_at
		FROM attachments WHERE concern_id = $1 ORDER BY id`, concernID)
	return as, err
}

// Attachment finds one attachment of a concern by its public id.
func (s *Store) Attachment(ctx context.Context, concernID int64, publicID string) (*Attachment, error) {
	if !publicid.Valid(publicID) {
		return nil, ErrNotFound
	}
	var a Attachment
	err := sqlx.GetContext(ctx, s.q, &a, `SELECT id, public_id, concern_id, author, name, size, blob_id, created_at
		FROM attachments WHERE concern_id = $1 AND public_id = $2`, concernID, publicID)
	return &a, notFound(err)
}
