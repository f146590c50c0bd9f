package store

import (
	"context"
	"time"
)

// Session is one staff sign-in. The token names it (sid); it is live while not revoked, seen
// within the idle timeout, and before ExpiresAt (the absolute maximum).
type Session struct {
	ID         string     `db:"id"`
	UserID     int64      `db:"user_id"`
	Stage      string     `db:"stage"`
	CSRF       string     `db:"csrf"`
	CreatedAt  time.Time  `db:"created_at"`
	LastSeenAt time.Time  `db:"last_seen_at"`
	ExpiresAt  time.Time  `db:"expires_at"`
	RevokedAt  *time.Time `db:"revoked_at"`
	// Method is how it signed in: "password" (and second factor) or "sso".
	Method string `db:"method"`
	// SSOIDToken is the provider's ID token of an "sso" session, sealed for the account, for
	// ending the session at the provider too (nil: none kept).
	SSOIDToken []byte `db:"sso_id_token"`
}

// InsertSession stores a new session.
func (s *Store) InsertSession(ctx context.Context, se *Session) error {
	if se.Method == "" {
		se.Method = "password"
	}
	_, err := s.exec(ctx, `INSERT INTO sessions (id, user_id, stage, csrf, created_at, last_seen_at, expires_at, method, sso_id_token)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, se.ID, se.UserID, se.Stage, se.CSRF, se.CreatedAt, se.LastSeenAt, se.ExpiresAt,
		se.Method, se.SSOIDToken)
	return err
}

// SessionByID finds a session, live or not.
func (s *Store) SessionByID(ctx context.Context, id string) (*Session, error) {
	var se Session
	err := s.get(ctx, &se, `SELECT id, user_id, stage, csrf, created_at, last_seen_at, expires_at, revoked_at, method,
		sso_id_token FROM sessions WHERE id = $1`, id)
	return &se, notFound(err)
}

// TouchSession records activity, sliding the idle timeout.
func (s *Store) TouchSession(ctx context.Context, id string, at time.Time) error {
	_, err := s.exec(ctx, `UPDATE sessions SET last_seen_at = greatest(last_seen_at, $2)
		WHERE id = $1 AND revoked_at IS NULL`, id, at)
	return err
}

// SetSessionStage promotes a setup session to a full one (or back).
func (s *Store) SetSessionStage(ctx context.Context, id, stage string) error {
	_, err := s.exec(ctx, `UPDATE sessions SET stage = $2 WHERE id = $1 AND revoked_at IS NULL`, id, stage)
	return err
}

// RevokeSession ends one session.
func (s *Store) RevokeSession(ctx context.Context, id, reason string, at time.Time) error {
	_, err := s.exec(ctx, `UPDATE sessions SET revoked_at = $2, revoke_reason = $3
		WHERE id = $1 AND revoked_at IS NULL`, id, at, reason)
	return err
}

// RevokeUserSessions ends every live session of a user except keep (may be ""), and returns
// how many ended.
func (s *Store) RevokeUserSessions(ctx context.Context, userID int64, keep, reason string, at time.Time) (int64, error) {
	res, err := s.exec(ctx, `UPDATE sessions SET revoked_at = $3, revoke_reason = $4
		WHERE user_id = $1 AND id <> $2 AND revoked_at IS NULL`, userID, keep, at, reason)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
