package api

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"candour/internal/auth"
)

// SessionCookie is the staff session cookie set at sign-in (the web pages read it; the API
// reads only Authorization: Bearer, so a cross-site form cannot ride on the cookie).
const SessionCookie = "candour_staff"

// RenewedTokenHeader carries a fresh token when a request renewed the session (sliding expiry).
const RenewedTokenHeader = "X-Candour-Token"

// login: POST /api/v1/auth/login {email, password, totp?} → 200 {token} and the session
// cookie, and the device cookie a later sign-in presents (auth.Login.Device). Every failure is
// the same 401, whatever was wrong; a throttled or queued-out attempt is 429 with Retry-After.
func (a *API) login(c *fiber.Ctx) error {
	var in struct {
		Email    string `json:"email"`
		Password string `json:"password"`
		TOTP     string `json:"totp"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	is, err := a.d.Auth.SignIn(c.UserContext(), auth.Login{Email: in.Email, Password: in.Password, TOTP: in.TOTP,
		Device: c.Cookies(auth.DeviceCookie)})
	if err != nil {
		return err
	}
	c.Cookie(a.sessionCookie(is.Token, is.Session.ExpiresAt))
	device := a.sessionCookie(is.Device, time.Now().Add(auth.DeviceCookieTTL))
	device.Name, device.Path = auth.DeviceCookie, c.Path()
	c.Cookie(device)
	return c.JSON(fiber.Map{"token": is.Token, "expires_at": is.Expires})
}

// logout: POST /api/v1/auth/logout → 204; the session is revoked, so the token (and any
// renewed one) stops working at once.
func (a *API) logout(c *fiber.Ctx) error {
	if err := noBody(c); err != nil {
		return err
	}
	if err := a.d.Auth.SignOut(c.UserContext(), principal(c)); err != nil {
		return err
	}
	c.Cookie(a.sessionCookie("", time.Unix(0, 0)))
	return c.SendStatus(fiber.StatusNoContent)
}

func (a *API) sessionCookie(value string, expires time.Time) *fiber.Cookie {
	return &fiber.Cookie{Name: SessionCookie, Value: value, Path: "/", Expires: expires,
		HTTPOnly: true, Secure: a.d.SecureCookies, SameSite: fiber.CookieSameSiteStrictMode}
}
