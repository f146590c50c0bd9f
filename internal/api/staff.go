package api

import (
	"errors"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"candour/internal/access"
	"candour/internal/audit"
	"candour/internal/auth"
	"candour/internal/store"
)

const staffPrincipal = "staffPrincipal"

// requireStaff admits a staff token (Authorization: Bearer) whose session is live and whose
// user is active, and nothing else: a mailbox token has the wrong audience, and a token after
// logout, disable or a password change has a revoked session; all get the same 401. A renewed
// token, when the session slid forward, comes back in X-Candour-Token.
func (a *API) requireStaff(c *fiber.Ctx) error {
	p, err := a.d.Auth.Authenticate(c.UserContext(), bearer(c), false)
	if err != nil {
		return err
	}
	if p.Renewed != "" {
		c.Set(RenewedTokenHeader, p.Renewed)
	}
	c.Locals(staffPrincipal, p)
	return c.Next()
}

func principal(c *fiber.Ctx) *auth.Principal {
	p, _ := c.Locals(staffPrincipal).(*auth.Principal)
	return p
}

// user is the signed-in staff user; requireStaff guarantees one.
func user(c *fiber.Ctx) *store.User {
	if p := principal(c); p != nil {
		return p.User
	}
	return nil
}

// caseFacts loads the concern named in the path for u, or 404 when it does not exist or u has
// no access to it (the two look the same).
func (a *API) caseFacts(c *fiber.Ctx, allowed func(*store.User, *store.CaseFacts) bool) (*store.CaseFacts, error) {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return nil, fiber.ErrNotFound
	}
	f, err := a.d.Store.CaseFacts(c.UserContext(), id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fiber.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if !allowed(user(c), f) {
		return nil, fiber.ErrNotFound
	}
	return f, nil
}

// declareConflict: POST /api/v1/concerns/{id}/conflict {reason} → 204. The declarer loses
// access to the concern at once and for good.
func (a *API) declareConflict(c *fiber.Ctx) error {
	id := c.Params("id")
	var in struct {
		Reason string `json:"reason"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if err := a.d.Casework.DeclareConflict(c.UserContext(), user(c), id, in.Reason); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// grantAccess gives (or, with from_user_id, transfers) access to a case.
func (a *API) grantAccess(c *fiber.Ctx) error {
	id := c.Params("id")
	var in struct {
		UserID     int64  `json:"user_id"`
		FromUserID int64  `json:"from_user_id"`
		Reason     string `json:"reason"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if err := a.d.Casework.GrantAccess(c.UserContext(), user(c), id, in.UserID, in.FromUserID, in.Reason); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// auditVerify: GET /api/v1/audit/verify → {ok, events, first_bad?} (auditor).
func (a *API) auditVerify(c *fiber.Ctx) error {
	u := user(c)
	if !access.CanReadAudit(u) {
		return fiber.ErrNotFound
	}
	res, err := audit.Check(c.UserContext(), a.d.Store)
	if err != nil {
		return err
	}
	if err := audit.Record(c.UserContext(), a.d.Store, audit.Event{ActorID: u.ID, Action: "audit.verify",
		Details: map[string]string{"ok": strconv.FormatBool(res.OK), "events": strconv.Itoa(res.Events)}}); err != nil {
		return err
	}
	return c.JSON(res)
}
