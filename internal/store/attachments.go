package store

import (
	"context"
	"time"

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
	return s.row(ctx, `WITH touched AS (
			UPDATE concerns SET last_reporter_at = $6, awaiting_council = true WHERE id = $1 AND $2 = 'reporter'
		)
		INSERT INTO attachments (concern_id, author, name, size, blob_id, created_at, public_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`, a.ConcernID, a.Author, a.Name, a.Size, a.BlobID,
		a.CreatedAt, a.ID).Scan(&a.Serial)
}

// Attachments lists a concern's attachments, oldest first.
func (s *Store) Attachments(ctx context.Context, concernID int64) ([]Attachment, error) {
	var as []Attachment
	err := s.sel(ctx, &as, `SELECT id, public_id, concern_id, author, name, size, blob_id, created_at
		FROM attachments WHERE concern_id = $1 ORDER BY id`, concernID)
	return as, err
}

// Attachment finds one attachment of a concern by its public id.
func (s *Store) Attachment(ctx context.Context, concernID int64, publicID string) (*Attachment, error) {
	if !publicid.Valid(publicID) {
		return nil, ErrNotFound
	}
	var a Attachment
	err := s.get(ctx, &a, `SELECT id, public_id, concern_id, author, name, size, blob_id, created_at
		FROM attachments WHERE concern_id = $1 AND public_id = $2`, concernID, publicID)
	return &a, notFound(err)
}

// ClaimAttachmentRoom returns how many files a concern has and their total size. Inside a
// transaction it first takes the concern's upload lock until commit (an advisory lock, so
// replies and staff work on the concern are not held up), so a quota check made just before an
// upload commits cannot be raced by a second one.
func (s *Store) ClaimAttachmentRoom(ctx context.Context, concernID int64) (files int, bytes int64, err error) {
	// Two concerns may share a lock key: their uploads then merely wait for each other. On the
	// pool the lock would end with its statement, so it is not taken there.
	if s.db == nil {
		if _, err := s.exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('candour.upload'), CAST($1 % 2147483647 AS integer))`,
			concernID); err != nil {
			return 0, 0, err
		}
	}
	err = s.row(ctx, `SELECT count(*), coalesce(sum(size), 0) FROM attachments WHERE concern_id = $1`,
		concernID).Scan(&files, &bytes)
	return files, bytes, err
}
