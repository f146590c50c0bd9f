package store

import (
	"context"
	"time"
)

// SSOCode is the kind of notification that carries a first sign-in's one-time code to the
// account's own address, sealed for the recipient in sealed_link and emptied once sent.
const SSOCode = "sso_code"

// SSOUser is the account bound to a provider's subject.
func (s *Store) SSOUser(ctx context.Context, issuer, subject string) (int64, error) {
	var id int64
	err := s.get(ctx, &id, `SELECT user_id FROM sso_subjects WHERE issuer = $1 AND subject = $2`, issuer, subject)
	return id, notFound(err)
}

// HasSSOSubject reports whether the account is bound to any provider's subject.
func (s *Store) HasSSOSubject(ctx context.Context, userID int64) (bool, error) {
	var bound bool
	err := s.get(ctx, &bound, `SELECT EXISTS (SELECT 1 FROM sso_subjects WHERE user_id = $1)`, userID)
	return bound, err
}

// BindSSOSubject binds a provider's subject to an account, replacing the account's earlier
// subject at that provider.
func (s *Store) BindSSOSubject(ctx context.Context, issuer, subject string, userID int64, at time.Time) error {
	if _, err := s.exec(ctx, `DELETE FROM sso_subjects WHERE issuer = $1 AND user_id = $2`, issuer, userID); err != nil {
		return err
	}
	_, err := s.exec(ctx, `INSERT INTO sso_subjects (issuer, subject, user_id, bound_at) VALUES ($1, $2, $3, $4)`,
		issuer, subject, userID, at)
	return err
}

// PendingSSO is a first sign-in waiting for its e-mailed code.
type PendingSSO struct {
	ID        []byte    `db:"id"`
	UserID    int64     `db:"user_id"`
	Issuer    string    `db:"issuer"`
	Subject   string    `db:"subject"`
	Code      []byte    `db:"code"`
	ExpiresAt time.Time `db:"expires_at"`
	Attempts  int       `db:"attempts"`
	// IDToken is the provider's ID token, sealed for the account, kept for signing out.
	IDToken []byte `db:"id_token"`
}

// InsertPendingSSO stores p and queues its code to recipient, sealed for them; the account's
// earlier pending sign-ins stop working.
func (s *Store) InsertPendingSSO(ctx context.Context, p *PendingSSO, recipient string, sealedCode []byte) error {
	if _, err := s.exec(ctx, `DELETE FROM sso_codes WHERE user_id = $1`, p.UserID); err != nil {
		return err
	}
	if _, err := s.exec(ctx, `INSERT INTO sso_codes (id, user_id, issuer, subject, code, expires_at, id_token)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, p.ID, p.UserID, p.Issuer, p.Subject, p.Code, p.ExpiresAt, p.IDToken); err != nil {
		return err
	}
	_, err := s.exec(ctx, `INSERT INTO notifications (recipient, kind, reference, sealed_link)
		VALUES (lower($1), '`+SSOCode+`', '', $2)`, recipient, sealedCode)
	return err
}

// PendingSSOByID finds a pending sign-in and locks it, so two guesses cannot race past the
// attempt limit.
func (s *Store) PendingSSOByID(ctx context.Context, id []byte) (*PendingSSO, error) {
	var p PendingSSO
	err := s.get(ctx, &p, `SELECT id, user_id, issuer, subject, code, expires_at, attempts, id_token
		FROM sso_codes WHERE id = $1 FOR UPDATE`, id)
	return &p, notFound(err)
}

// CountPendingSSOAttempt records a wrong code.
func (s *Store) CountPendingSSOAttempt(ctx context.Context, id []byte) error {
	_, err := s.exec(ctx, `UPDATE sso_codes SET attempts = attempts + 1 WHERE id = $1`, id)
	return err
}

// DeletePendingSSO ends a pending sign-in (used, expired or out of attempts).
func (s *Store) DeletePendingSSO(ctx context.Context, id []byte) error {
	_, err := s.exec(ctx, `DELETE FROM sso_codes WHERE id = $1`, id)
	return err
}

// UnbindSSOSubjects removes every binding of an account to a provider's subject, and its
// pending first sign-ins, and returns how many bindings went.
func (s *Store) UnbindSSOSubjects(ctx context.Context, userID int64) (int64, error) {
	if _, err := s.exec(ctx, `DELETE FROM sso_codes WHERE user_id = $1`, userID); err != nil {
		return 0, err
	}
	res, err := s.exec(ctx, `DELETE FROM sso_subjects WHERE user_id = $1`, userID)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
