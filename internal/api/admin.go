package api

import (
	"candour/internal/accounts"

	"github.com/gofiber/fiber/v2"
)

type userOut struct {
	ID           int64    `json:"id"`
	Email        string   `json:"email"`
	Name         string   `json:"name"`
	Roles        []string `json:"roles"`
	ServiceAreas []string `json:"service_areas"`
	Language     string   `json:"language"`
	Status       string   `json:"status"`
	CustodianKey bool     `json:"custodian_key"`
}

func (a *API) listUsers(c *fiber.Ctx) error {
	us, err := a.d.Accounts.Users(c.UserContext(), accounts.Staff(user(c)))
	if err != nil {
		return err
	}
	out := make([]userOut, 0, len(us))
	for _, u := range us {
		out = append(out, userOut{ID: u.ID, Email: u.Email, Name: u.Name, Roles: append([]string{}, u.Roles...),
			ServiceAreas: append([]string{}, u.ServiceAreas...), Language: u.Language, Status: u.Status,
			CustodianKey: u.AgeRecipient != nil})
	}
	return c.JSON(fiber.Map{"items": out})
}

type newUserIn struct {
	Email        string   `json:"email"`
	Name         string   `json:"name"`
	Roles        []string `json:"roles"`
	ServiceAreas []string `json:"service_areas"`
	AgeRecipient *string  `json:"age_recipient"`
	Language     string   `json:"language"`
	Password     string   `json:"password"`
}

// createUser makes an account with a temporary password the person must change at first
// sign-in; the TOTP secret is returned once, to hand over.
func (a *API) createUser(c *fiber.Ctx, in newUserIn) (any, error) {
	created, err := a.d.Accounts.Create(c.UserContext(), accounts.Staff(user(c)), accounts.NewUser{Email: in.Email, Name: in.Name,
		Roles: in.Roles, ServiceAreas: in.ServiceAreas, AgeRecipient: in.AgeRecipient, Language: in.Language,
		Password: in.Password, MustChange: true})
	if err != nil {
		return nil, err
	}
	return fiber.Map{"id": created.User.ID, "totp_secret": created.TOTPSecret}, nil
}

// onUser adapts an account operation on the user named in the path.
func onUser[In any](do func(c *fiber.Ctx, by accounts.Actor, id int64, in In) error) func(*fiber.Ctx, In) (any, error) {
	return func(c *fiber.Ctx, in In) (any, error) {
		id, err := parseID(c, "id")
		if err != nil {
			return nil, err
		}
		return nil, do(c, accounts.Staff(user(c)), id, in)
	}
}

type rolesIn struct {
	Roles        []string `json:"roles"`
	ServiceAreas []string `json:"service_areas"`
}

func (a *API) setRoles(c *fiber.Ctx, by accounts.Actor, id int64, in rolesIn) error {
	return a.d.Accounts.SetRoles(c.UserContext(), by, id, in.Roles, in.ServiceAreas)
}

func (a *API) disableUser(c *fiber.Ctx, by accounts.Actor, id int64, _ struct{}) error {
	return a.d.Accounts.Disable(c.UserContext(), by, id)
}

func (a *API) resetSecondFactor(c *fiber.Ctx, by accounts.Actor, id int64, _ struct{}) error {
	return a.d.Accounts.ResetSecondFactor(c.UserContext(), by, id)
}

type passwordIn struct {
	Password string `json:"password"`
}

// resetPassword sets a temporary password the user must change at next sign-in.
func (a *API) resetPassword(c *fiber.Ctx, by accounts.Actor, id int64, in passwordIn) error {
	return a.d.Accounts.ResetPassword(c.UserContext(), by, id, in.Password)
}
