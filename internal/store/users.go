package store

import (
	"context"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// User is a staff account.
type User struct {
	ID           int64          `db:"id"`
	Email        string         `db:"email"`
	Name         string         `db:"name"`
	Roles        pq.StringArray `db:"roles"`
	ServiceAreas pq.StringArray `db:"service_areas"`
	AgeRecipient *string        `db:"age_recipient"`
	Language     string         `db:"language"`
	Status       string         `db:"status"`
}

// InsertUser stores u and sets its ID.
func (s *Store) InsertUser(ctx context.Context, u *User) error {
	return sqlx.GetContext(ctx, s.q, &u.ID, `INSERT INTO users (email, name, roles, service_areas, age_recipient, language)
		VALUES (lower($1), $2, COALESCE($3::text[], '{}'), COALESCE($4::text[], '{}'), $5, $6) RETURNING id`, u.Email, u.Name, u.Roles, u.ServiceAreas, u.AgeRecipient, u.Language)
}

// CustodianRecipients returns the age recipients of every active custodian, sorted so the
// recipient list stored beside each sealed identity is stable.
func (s *Store) CustodianRecipients(ctx context.Context) ([]string, error) {
	var rs []string
	err := sqlx.SelectContext(ctx, s.q, &rs, `SELECT age_recipient FROM users
		WHERE status = 'active' AND 'custodian' = ANY (roles) AND age_recipient IS NOT NULL
		ORDER BY age_recipient`)
	return rs, err
}

// UserByID finds a user.
func (s *Store) UserByID(ctx context.Context, id int64) (*User, error) {
	var u User
	err := sqlx.GetContext(ctx, s.q, &u, `SELECT id, email, name, roles, service_areas, age_recipient, language, status
		FROM users WHERE id = $1`, id)
	return &u, notFound(err)
}

// HasRole reports whether u holds role.
func (u *User) HasRole(role string) bool {
	for _, r := range u.Roles {
		if r == role {
			return true
		}
	}
	return false
}
