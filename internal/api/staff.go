package api

import (
	"github.com/gofiber/fiber/v2"

	"candour/internal/auth"
	"candour/internal/domain"
)

const staffPrincipal = "staffPrincipal"

// authenticate admits a staff token (Authorization: Bearer) whose session is live and whose
// user is active, and nothing else: a mailbox token has the wrong audience, and a token after
// logout, disable or a password change has a revoked session; all get the same 401. A renewed
// token, when the session slid forward, comes back in X-Candour-Token.
func (a *API) authenticate(c *fiber.Ctx) error {
	p, err := a.d.Auth.Authenticate(c.UserContext(), bearer(c), false)
	if err != nil {
		return err
	}
	if p.Renewed != "" {
		c.Set(RenewedTokenHeader, p.Renewed)
	}
	c.Locals(staffPrincipal, p)
	return nil
}

func principal(c *fiber.Ctx) *auth.Principal {
	p, _ := c.Locals(staffPrincipal).(*auth.Principal)
	return p
}

// user is the signed-in staff user; a staff gate guarantees one.
func user(c *fiber.Ctx) *domain.User {
	if p := principal(c); p != nil {
		return p.User
	}
	return nil
}

// declareConflict: POST /api/v1/concerns/{id}/conflict {reason} → 204. The declarer loses
// access to the concern at once and for good.
func (a *API) declareConflict(c *fiber.Ctx, in reasonIn) (any, error) {
	return nil, a.d.Casework.DeclareConflict(c.UserContext(), user(c), c.Params("id"), in.Reason)
}

type grantIn struct {
	UserID     int64  `json:"user_id"`
	FromUserID int64  `json:"from_user_id"`
	Reason     string `json:"reason"`
}

// grantAccess gives (or, with from_user_id, transfers) access to a case.
func (a *API) grantAccess(c *fiber.Ctx, in grantIn) (any, error) {
	return nil, a.d.Casework.GrantAccess(c.UserContext(), user(c), c.Params("id"), in.UserID, in.FromUserID, in.Reason)
}
