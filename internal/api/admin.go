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

// createUser makes an account with a temporary password the person must change at first
// sign-in; the TOTP secret is returned once, to hand over.
func (a *API) createUser(c *fiber.Ctx) error {
	var in struct {
		Email        string   `json:"email"`
		Name         string   `json:"name"`
		Roles        []string `json:"roles"`
		ServiceAreas []string `json:"service_areas"`
		AgeRecipient *string  `json:"age_recipient"`
		Language     string   `json:"language"`
		Password     string   `json:"password"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	created, err := a.d.Accounts.Create(c.UserContext(), accounts.Staff(user(c)), accounts.NewUser{Email: in.Email, Name: in.Name,
		Roles: in.Roles, ServiceAreas: in.ServiceAreas, AgeRecipient: in.AgeRecipient, Language: in.Language,
		Password: in.Password, MustChange: true})
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"id": created.User.ID, "totp_secret": created.TOTPSecret})
}

func (a *API) setRoles(c *fiber.Ctx) error {
	id, err := parseID(c, "id")
	if err != nil {
		return err
	}
	var in struct {
		Roles        []string `json:"roles"`
		ServiceAreas []string `json:"service_areas"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if err := a.d.Accounts.SetRoles(c.UserContext(), accounts.Staff(user(c)), id, in.Roles, in.ServiceAreas); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (a *API) disableUser(c *fiber.Ctx) error {
	if err := noBody(c); err != nil {
		return err
	}
	id, err := parseID(c, "id")
	if err != nil {
		return err
	}
	if err := a.d.Accounts.Disable(c.UserContext(), accounts.Staff(user(c)), id); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (a *API) resetSecondFactor(c *fiber.Ctx) error {
	if err := noBody(c); err != nil {
		return err
	}
	id, err := parseID(c, "id")
	if err != nil {
		return err
	}
	if err := a.d.Accounts.ResetSecondFactor(c.UserContext(), accounts.Staff(user(c)), id); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// resetPassword sets a temporary password the user must change at next sign-in.
func (a *API) resetPassword(c *fiber.Ctx) error {
	id, err := parseID(c, "id")
	if err != nil {
		return err
	}
	var in struct {
		Password string `json:"password"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if err := a.d.Accounts.ResetPassword(c.UserContext(), accounts.Staff(user(c)), id, in.Password); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}
