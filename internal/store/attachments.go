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
	// Pending is a reporter's upload not yet sent: only the reporter sees it, with Findings
	// (what cleaning found, sealed), until they send or discard it (migration 00032).
	Pending  bool   `db:"pending"`
	Findings []byte `db:"findings"`
	// OriginalOf is, for a file kept as sent at the reporter's request, its cleaned copy.
	OriginalOf *int64 `db:"original_of"`
}

const attachmentColumns = `id, public_id, concern_id, author, name, size, blob_id, created_at, pending, findings, original_of`

// InsertAttachment stores a under the public id the caller drew (its name and blob are bound
// to it) and sets its serial.
// A reporter's file, once sent (not pending), also moves the concern's last_reporter_at, which
// retention respects.
func (s *Store) InsertAttachment(ctx context.Context, a *Attachment) error {
	return s.row(ctx, `WITH touched AS (
			UPDATE concerns SET last_reporter_at = $6, awaiting_council = true WHERE id = $1 AND $2 = 'reporter' AND NOT $8
		)
		INSERT INTO attachments (concern_id, author, name, size, blob_id, created_at, public_id, pending, findings, original_of)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`, a.ConcernID, a.Author, a.Name, a.Size, a.BlobID,
		a.CreatedAt, a.ID, a.Pending, a.Findings, a.OriginalOf).Scan(&a.Serial)
}

// Attachments lists a concern's sent attachments, oldest first; pending ones are the
// reporter's alone (PendingAttachments).
func (s *Store) Attachments(ctx context.Context, concernID int64) ([]Attachment, error) {
	var as []Attachment
	err := s.sel(ctx, &as, `SELECT `+attachmentColumns+`
		FROM attachments WHERE concern_id = $1 AND NOT pending ORDER BY id`, concernID)
	return as, err
}

// Attachment finds one sent attachment of a concern (a kept original too) by its public id.
func (s *Store) Attachment(ctx context.Context, concernID int64, publicID string) (*Attachment, error) {
	return s.attachment(ctx, concernID, publicID, false)
}

func (s *Store) attachment(ctx context.Context, concernID int64, publicID string, pending bool) (*Attachment, error) {
	if !publicid.Valid(publicID) {
		return nil, ErrNotFound
	}
	var a Attachment
	err := s.get(ctx, &a, `SELECT `+attachmentColumns+`
		FROM attachments WHERE concern_id = $1 AND public_id = $2 AND pending = $3 AND (NOT $3 OR original_of IS NULL)`,
		concernID, publicID, pending)
	return &a, notFound(err)
}

// PendingAttachment finds a concern's cleaned upload that is waiting to be sent, and the
// original kept with it (nil when none).
func (s *Store) PendingAttachment(ctx context.Context, concernID int64, publicID string) (a, original *Attachment, err error) {
	if a, err = s.attachment(ctx, concernID, publicID, true); err != nil {
		return nil, nil, err
	}
	var o Attachment
	err = s.get(ctx, &o, `SELECT `+attachmentColumns+` FROM attachments WHERE original_of = $1`, a.Serial)
	if err = notFound(err); err == ErrNotFound {
		return a, nil, nil
	}
	return a, &o, err
}

// PendingAttachments lists a concern's cleaned uploads waiting to be sent, oldest first.
func (s *Store) PendingAttachments(ctx context.Context, concernID int64) ([]Attachment, error) {
	var as []Attachment
	err := s.sel(ctx, &as, `SELECT `+attachmentColumns+`
		FROM attachments WHERE concern_id = $1 AND pending AND original_of IS NULL ORDER BY id`, concernID)
	return as, err
}

// SendAttachment makes the pending upload serial, and the original kept with it when keep is
// set, visible to staff; an original not kept is deleted with its blob. The findings go: they
// describe the original. It is ErrNotFound when the upload is no longer pending (sent,
// discarded or swept). A reporter's file moves the concern's last_reporter_at.
func (s *Store) SendAttachment(ctx context.Context, concernID, serial int64, keep bool, now time.Time) error {
	if !keep {
		if _, err := s.exec(ctx, `WITH gone AS (DELETE FROM attachments WHERE original_of = $1 AND pending RETURNING blob_id)
			DELETE FROM blobs WHERE id IN (SELECT blob_id FROM gone)`, serial); err != nil {
			return err
		}
	}
	res, err := s.exec(ctx, `WITH touched AS (
			UPDATE concerns SET last_reporter_at = $3, awaiting_council = true WHERE id = $2
		)
		UPDATE attachments SET pending = false, findings = NULL
		WHERE (id = $1 OR original_of = $1) AND concern_id = $2 AND pending`, serial, concernID, now)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err == nil && n == 0 {
		err = ErrNotFound
	}
	return err
}

// DiscardAttachment deletes the pending upload serial of the concern, the original kept with
// it, and their blobs. It is ErrNotFound when it is no longer pending.
func (s *Store) DiscardAttachment(ctx context.Context, concernID, serial int64) error {
	var n int
	err := s.row(ctx, `WITH gone AS (
			DELETE FROM attachments WHERE (id = $1 OR original_of = $1) AND concern_id = $2 AND pending RETURNING blob_id
		), blobs_gone AS (DELETE FROM blobs WHERE id IN (SELECT blob_id FROM gone))
		SELECT count(*) FROM gone`, serial, concernID).Scan(&n)
	if err == nil && n == 0 {
		err = ErrNotFound
	}
	return err
}

// SweepPendingAttachments deletes uploads (with their originals and blobs) that were not sent
// and were made before before; it returns how many files went. Blob files go at the next
// FileBlobs.Sweep, unreadable meanwhile without a row.
func (s *Store) SweepPendingAttachments(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.row(ctx, `WITH gone AS (
			DELETE FROM attachments WHERE pending AND created_at < $1 RETURNING blob_id
		), blobs_gone AS (DELETE FROM blobs WHERE id IN (SELECT blob_id FROM gone))
		SELECT count(*) FROM gone`, before).Scan(&n)
	return n, err
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
