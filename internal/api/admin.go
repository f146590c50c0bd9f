package api

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"candour/internal/accounts"
	"candour/internal/auth"
	"candour/internal/fault"
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
}

type createdOut struct {
	ID        int64  `json:"id"`
	Status    string `json:"status"`
	RequestID int64  `json:"request_id,omitempty"`
}

// createUser makes an account: the person sets their own password and second factor from a
// link sent to their address, so nothing secret comes back. One that could read cases is only
// proposed (status pending, with its access request).
func (a *API) createUser(c *fiber.Ctx, in newUserIn) (any, error) {
	created, err := a.d.Accounts.Create(c.UserContext(), accounts.Staff(user(c)), accounts.NewUser{Email: in.Email, Name: in.Name,
		Roles: in.Roles, ServiceAreas: in.ServiceAreas, AgeRecipient: in.AgeRecipient, Language: in.Language})
	if err != nil {
		return nil, err
	}
	return createdOut{ID: created.User.ID, Status: created.User.Status, RequestID: created.Request}, nil
}

// onUser adapts an account operation on the user named in the path; one that was only
// proposed answers 202 with its access request.
func onUser[In any](do func(c *fiber.Ctx, by accounts.Actor, id int64, in In) (int64, error)) func(*fiber.Ctx, In) (any, error) {
	return func(c *fiber.Ctx, in In) (any, error) {
		id, err := parseID(c, "id")
		if err != nil {
			return nil, err
		}
		return proposedOr(do(c, accounts.Staff(user(c)), id, in))
	}
}

type rolesIn struct {
	Roles        []string `json:"roles"`
	ServiceAreas []string `json:"service_areas"`
}

func (a *API) setRoles(c *fiber.Ctx, by accounts.Actor, id int64, in rolesIn) (int64, error) {
	return a.d.Accounts.SetRoles(c.UserContext(), by, id, in.Roles, in.ServiceAreas)
}

func (a *API) disableUser(c *fiber.Ctx, by accounts.Actor, id int64, _ struct{}) (int64, error) {
	return 0, a.d.Accounts.Disable(c.UserContext(), by, id)
}

func (a *API) resetSecondFactor(c *fiber.Ctx, by accounts.Actor, id int64, _ struct{}) (int64, error) {
	return a.d.Accounts.ResetSecondFactor(c.UserContext(), by, id)
}

// resetPassword sends the person a new enrolment link; nobody else chooses their password.
func (a *API) resetPassword(c *fiber.Ctx, by accounts.Actor, id int64, _ struct{}) (int64, error) {
	return a.d.Accounts.ResetPassword(c.UserContext(), by, id)
}

type accessRequestOut struct {
	ID           int64     `json:"id"`
	Kind         string    `json:"kind"`
	UserID       int64     `json:"user_id"`
	Email        string    `json:"email"`
	Roles        []string  `json:"roles"`
	ServiceAreas []string  `json:"service_areas"`
	ProposedBy   string    `json:"proposed_by"`
	ProposedAt   time.Time `json:"proposed_at"`
}

// accessRequests lists the changes waiting for the Monitoring Officer or deputy.
func (a *API) accessRequests(c *fiber.Ctx) (any, error) {
	rs, err := a.d.Accounts.Requests(c.UserContext(), accounts.Staff(user(c)))
	if err != nil {
		return nil, err
	}
	out := make([]accessRequestOut, 0, len(rs))
	for _, r := range rs {
		out = append(out, accessRequestOut{ID: r.ID, Kind: r.Kind, UserID: r.UserID, Email: r.Email,
			Roles: append([]string{}, r.Roles...), ServiceAreas: append([]string{}, r.Areas...), ProposedBy: r.ProposedBy,
			ProposedAt: r.ProposedAt.UTC()})
	}
	return fiber.Map{"items": out}, nil
}

type accessDecisionIn struct {
	Approve *bool `json:"approve"`
}

// decideAccess approves or refuses one; its proposer and its subject may not.
func (a *API) decideAccess(c *fiber.Ctx, in accessDecisionIn) (any, error) {
	id, err := parseID(c, "id")
	if err != nil {
		return nil, err
	}
	if in.Approve == nil {
		return nil, fault.Fields{"approve": "field.required"}.Err()
	}
	return nil, a.d.Accounts.Decide(c.UserContext(), accounts.Staff(user(c)), id, *in.Approve)
}

type enrolIn struct {
	Token      string `json:"token"`
	Password   string `json:"password"`
	TOTPSecret string `json:"totp_secret"`
	TOTP       string `json:"totp"`
}

// enrol uses an enrolment link: the token is the only credential.
func (a *API) enrol(c *fiber.Ctx, in enrolIn) (any, error) {
	codes, err := a.d.Auth.Enrol(c.UserContext(), auth.Enrol{Token: in.Token, Password: in.Password, Secret: in.TOTPSecret,
		Code: in.TOTP})
	if err != nil {
		return nil, err
	}
	return fiber.Map{"recovery_codes": codes}, nil
}
