package store

import (
	"context"
	"time"

	"github.com/lib/pq"

	"candour/internal/domain"
)

// User is a staff account.
type User = domain.User

// userRow is a users row as scanned: PostgreSQL arrays need lib/pq's types, which stay here.
type userRow struct {
	ID           int64          `db:"id"`
	Email        string         `db:"email"`
	Name         string         `db:"name"`
	Roles        pq.StringArray `db:"roles"`
	ServiceAreas pq.StringArray `db:"service_areas"`
	AgeRecipient *string        `db:"age_recipient"`
	Language     string         `db:"language"`
	Status       string         `db:"status"`
}

func (r *userRow) user() User {
	return User{ID: r.ID, Email: r.Email, Name: r.Name, Roles: r.Roles, ServiceAreas: r.ServiceAreas,
		AgeRecipient: r.AgeRecipient, Language: r.Language, Status: r.Status}
}

// InsertUser stores u and sets its ID; ErrDuplicate when the e-mail address is taken.
func (s *Store) InsertUser(ctx context.Context, u *User) error {
	return duplicate(s.get(ctx, &u.ID, `INSERT INTO users (email, name, roles, service_areas, age_recipient, language)
		VALUES (lower($1), $2, COALESCE($3::text[], '{}'), COALESCE($4::text[], '{}'), $5, $6) RETURNING id`, u.Email, u.Name,
		pq.StringArray(u.Roles), pq.StringArray(u.ServiceAreas), u.AgeRecipient, u.Language))
}

// CustodianRecipients returns the age recipients of every active custodian, sorted so the
// recipient list stored beside each sealed identity is stable.
func (s *Store) CustodianRecipients(ctx context.Context) ([]string, error) {
	var rs []string
	err := s.sel(ctx, &rs, `SELECT DISTINCT age_recipient FROM users
		WHERE status = 'active' AND 'custodian' = ANY (roles) AND age_recipient IS NOT NULL
		ORDER BY age_recipient`)
	return rs, err
}

// CountUsersWithRole is how many accounts hold role, whatever their status.
func (s *Store) CountUsersWithRole(ctx context.Context, role string) (n int, err error) {
	err = s.get(ctx, &n, `SELECT count(*) FROM users WHERE $1 = ANY (roles)`, role)
	return n, err
}

// UserByID finds a user.
func (s *Store) UserByID(ctx context.Context, id int64) (*User, error) {
	return s.oneUser(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id)
}

func (s *Store) oneUser(ctx context.Context, query string, arg any) (*User, error) {
	var r userRow
	if err := s.get(ctx, &r, query, arg); err != nil {
		return nil, notFound(err)
	}
	u := r.user()
	return &u, nil
}

// Credentials are what signing in checks. They are kept out of User so a page that lists users
// cannot leak a hash by accident.
type Credentials struct {
	UserID       int64   `db:"id"`
	PasswordHash *string `db:"password_hash"`
	// TOTPSealed is the secret sealed with the server's data key, bound to the account id.
	TOTPSealed         []byte        `db:"totp_sealed"`
	TOTPEnabled        bool          `db:"totp_enabled"`
	TOTPLastStep       int64         `db:"totp_last_step"`
	RecoveryCodes      pq.ByteaArray `db:"recovery_codes"`
	FailedAttempts     int           `db:"failed_attempts"`
	MustChangePassword bool          `db:"must_change_password"`
}

const userColumns = `id, email, name, roles, service_areas, age_recipient, language, status`

// UserByEmail finds a user by e-mail address (case-insensitive).
func (s *Store) UserByEmail(ctx context.Context, email string) (*User, error) {
	return s.oneUser(ctx, `SELECT `+userColumns+` FROM users WHERE email = lower($1)`, email)
}

// Users lists every user by e-mail address.
func (s *Store) Users(ctx context.Context) ([]User, error) {
	var rows []userRow
	if err := s.sel(ctx, &rows, `SELECT `+userColumns+` FROM users ORDER BY email`); err != nil {
		return nil, err
	}
	us := make([]User, len(rows))
	for i := range rows {
		us[i] = rows[i].user()
	}
	return us, nil
}

// CredentialsFor returns the sign-in secrets of a user, locking the row until the transaction
// ends so two concurrent attempts count as two.
func (s *Store) CredentialsFor(ctx context.Context, userID int64) (*Credentials, error) {
	var c Credentials
	err := s.get(ctx, &c, `SELECT id, password_hash, totp_sealed, totp_enabled, totp_last_step,
		recovery_codes, failed_attempts, must_change_password
		FROM users WHERE id = $1 FOR UPDATE`, userID)
	return &c, notFound(err)
}

// SetPassword replaces the password hash; mustChange forces a change at the next sign-in.
func (s *Store) SetPassword(ctx context.Context, userID int64, hash string, mustChange bool, at time.Time) error {
	return s.updateUserRow(ctx, `UPDATE users SET password_hash = $2, must_change_password = $3, password_changed_at = $4,
		failed_attempts = 0, locked_until = NULL WHERE id = $1`, userID, hash, mustChange, at)
}

// SetTOTP stores a sealed TOTP secret (nil removes it) and whether it is confirmed, replacing
// the recovery codes. Any plain secret left from before sealing goes.
func (s *Store) SetTOTP(ctx context.Context, userID int64, sealed []byte, enabled bool, recoveryHashes [][]byte) error {
	return s.updateUserRow(ctx, `UPDATE users SET totp_sealed = $2, totp_secret = NULL, totp_enabled = $3, totp_last_step = 0,
		recovery_codes = COALESCE($4::bytea[], '{}') WHERE id = $1`, userID, sealed, enabled, pq.ByteaArray(recoveryHashes))
}

// PlainSecret is a TOTP secret stored before secrets were sealed.
type PlainSecret struct {
	UserID int64  `db:"id"`
	Secret string `db:"totp_secret"`
}

// PlainTOTPSecrets locks and returns every TOTP secret still stored in plain.
func (s *Store) PlainTOTPSecrets(ctx context.Context) ([]PlainSecret, error) {
	var out []PlainSecret
	err := s.sel(ctx, &out, `SELECT id, totp_secret FROM users WHERE totp_secret IS NOT NULL ORDER BY id FOR UPDATE`)
	return out, err
}

// SealTOTPSecret replaces an account's plain TOTP secret by its sealed form, keeping whether
// it is confirmed, its last step and its recovery codes.
func (s *Store) SealTOTPSecret(ctx context.Context, userID int64, sealed []byte) error {
	return s.updateUserRow(ctx, `UPDATE users SET totp_sealed = $2, totp_secret = NULL WHERE id = $1`, userID, sealed)
}

// ClearCredentials removes an account's password, second factor and recovery codes: only an
// enrolment link lets anyone in again.
func (s *Store) ClearCredentials(ctx context.Context, userID int64) error {
	return s.updateUserRow(ctx, `UPDATE users SET password_hash = NULL, must_change_password = false, totp_sealed = NULL,
		totp_secret = NULL, totp_enabled = false, totp_last_step = 0, recovery_codes = '{}', failed_attempts = 0,
		locked_until = NULL WHERE id = $1`, userID)
}

// UseTOTPStep records the time step of an accepted code, so it cannot be used again.
func (s *Store) UseTOTPStep(ctx context.Context, userID, step int64) error {
	return s.updateUserRow(ctx, `UPDATE users SET totp_last_step = $2 WHERE id = $1`, userID, step)
}

// RemoveRecoveryCode deletes one used recovery code (by hash).
func (s *Store) RemoveRecoveryCode(ctx context.Context, userID int64, hash []byte) error {
	return s.updateUserRow(ctx, `UPDATE users SET recovery_codes = array_remove(recovery_codes, $2::bytea) WHERE id = $1`, userID, hash)
}

// RecordLoginFailure counts a failed sign-in. Nothing is locked: failures are throttled in
// memory (auth), so anyone who knows an address cannot lock its owner out. A lock left by an
// older version is cleared, never honoured.
func (s *Store) RecordLoginFailure(ctx context.Context, userID int64) error {
	return s.updateUserRow(ctx, `UPDATE users SET failed_attempts = failed_attempts + 1, locked_until = NULL WHERE id = $1`, userID)
}

// ClearLoginFailures resets the backoff after a successful sign-in.
func (s *Store) ClearLoginFailures(ctx context.Context, userID int64) error {
	return s.updateUserRow(ctx, `UPDATE users SET failed_attempts = 0, locked_until = NULL WHERE id = $1`, userID)
}

// SetUserStatus sets status to 'active', 'disabled' or 'pending'.
func (s *Store) SetUserStatus(ctx context.Context, userID int64, status string) error {
	return s.updateUserRow(ctx, `UPDATE users SET status = $2 WHERE id = $1`, userID, status)
}

// SetUserRoles replaces a user's roles and service areas.
func (s *Store) SetUserRoles(ctx context.Context, userID int64, roles, areas []string) error {
	return s.updateUserRow(ctx, `UPDATE users SET roles = COALESCE($2::text[], '{}'), service_areas = COALESCE($3::text[], '{}')
		WHERE id = $1`, userID, pq.StringArray(roles), pq.StringArray(areas))
}

// updateUserRow runs a statement that must touch exactly one row.
func (s *Store) updateUserRow(ctx context.Context, query string, args ...any) error {
	res, err := s.exec(ctx, query, args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}
