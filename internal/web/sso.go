package web

import (
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"candour/internal/auth"
	"candour/internal/fault"
)

// Single sign-on cookies. The flow cookie carries state, nonce and PKCE verifier (sealed by
// auth) to the provider and back: SameSite=Lax, or the browser would not send it on the
// provider's redirect back. The pending cookie names a first sign-in waiting for its e-mailed
// code; the code form is posted from our own page, so it can be Strict.
const (
	ssoFlowCookie    = "candour_sso_flow"
	ssoPendingCookie = "candour_sso_pending"
	// ssoLogoutCookie holds the state the provider must bring back after ending its session
	// (Lax: it comes back on the provider's redirect).
	ssoLogoutCookie = "candour_sso_logout"
	ssoCookiePath   = "/"
)

// ssoStart sends the browser to the council's provider.
func (s *Site) ssoStart(c *fiber.Ctx) error {
	to, flow, err := s.deps.Auth.BeginSSO(c.UserContext(), Lang(c))
	if err != nil {
		return s.ssoFailed(c, err)
	}
	c.Cookie(&fiber.Cookie{Name: ssoFlowCookie, Value: flow, Path: ssoCookiePath, Expires: time.Now().Add(auth.SSOFlowTTL),
		HTTPOnly: true, Secure: s.deps.SecureCookies, SameSite: fiber.CookieSameSiteLaxMode})
	return c.Redirect(to, fiber.StatusSeeOther)
}

// ssoFailed answers a sign-in the provider did not answer or that was refused with the
// sign-in page, so local sign-in is still there; the issuer is named on the page and in the
// log (never a token or code).
func (s *Site) ssoFailed(c *fiber.Ctx, err error) error {
	var down *auth.SSOUnavailableError
	switch {
	case errors.As(err, &down):
		s.logger.Warn("single sign-on provider did not answer", "issuer", down.Issuer, "err", down.Err.Error())
		return s.renderLoginWith(c, fiber.StatusServiceUnavailable, staffLoginData{SSOError: "staff.sso.unavailable", Issuer: down.Issuer})
	case fault.Is(err, fault.Unauthorized):
		fe, _ := fault.As(err)
		return s.renderLoginWith(c, fiber.StatusUnauthorized, staffLoginData{SSOError: fe.Message})
	}
	return err
}

func (s *Site) clearCookie(c *fiber.Ctx, name string) {
	if c.Cookies(name) != "" {
		c.Cookie(&fiber.Cookie{Name: name, Path: ssoCookiePath, Expires: time.Unix(0, 0), HTTPOnly: true,
			Secure: s.deps.SecureCookies, SameSite: fiber.CookieSameSiteLaxMode})
	}
}

type ssoDoneData struct{ Name string }

// ssoCallback is where the provider sends the browser back. A bound account is signed in and
// shown a page to continue from (a redirect straight on would still be part of the provider's
// cross-site navigation, and the browser would hold back the Strict session cookie); a first
// sign-in goes to the code page.
func (s *Site) ssoCallback(c *fiber.Ctx) error {
	flow := c.Cookies(ssoFlowCookie)
	if lang := s.deps.Auth.FlowLang(flow); lang != "" {
		c.Locals(langKey, lang) // the provider knows one callback; the person's language rode in the flow
	}
	s.clearCookie(c, ssoFlowCookie)
	res, err := s.deps.Auth.CompleteSSO(c.UserContext(), auth.SSOCallback{Flow: flow, State: c.Query("state"),
		Code: c.Query("code"), Error: c.Query("error")})
	if err != nil {
		return s.ssoFailed(c, err)
	}
	if res.Pending != "" {
		c.Cookie(s.cookie(ssoPendingCookie, res.Pending, time.Now().Add(auth.SSOCodeTTL)))
		return s.redirect(c, "/staff/sso/code")
	}
	s.setSession(c, res.Issued.Token, res.Issued.Session.ExpiresAt)
	return s.Render(c, fiber.StatusOK, "staff_sso_done", ssoDoneData{Name: res.Issued.User.Name})
}

type ssoCodeData struct {
	CSRF  string
	Error string // message id
}

// ssoCodeForm is reached by the callback's redirect, still part of the provider's cross-site
// navigation, so the Strict pending cookie is not sent here: the form's post checks it.
func (s *Site) ssoCodeForm(c *fiber.Ctx) error {
	return s.renderCode(c, fiber.StatusOK, "")
}

func (s *Site) renderCode(c *fiber.Ctx, status int, msg string) error {
	token, err := s.loginCSRF(c)
	if err != nil {
		return err
	}
	return s.Render(c, status, "staff_sso_code", ssoCodeData{CSRF: token, Error: msg})
}

// ssoCode checks the e-mailed code of a first sign-in.
func (s *Site) ssoCode(c *fiber.Ctx) error {
	if cookie := c.Cookies(loginCSRFCookie); len(cookie) != 64 || !sameToken(c.FormValue(staffCSRFField), cookie) {
		return s.renderCode(c, fiber.StatusForbidden, "staff.login.expired")
	}
	is, err := s.deps.Auth.ConfirmSSOCode(c.UserContext(), c.Cookies(ssoPendingCookie), strings.TrimSpace(c.FormValue("code")))
	if err != nil {
		if fault.Is(err, fault.Invalid) {
			return s.renderCode(c, fiber.StatusBadRequest, "sso.code_wrong")
		}
		s.clearSession(c)
		c.Cookie(s.cookie(ssoPendingCookie, "", time.Unix(0, 0)))
		return s.ssoFailed(c, err)
	}
	c.Cookie(s.cookie(ssoPendingCookie, "", time.Unix(0, 0)))
	c.Cookie(s.cookie(loginCSRFCookie, "", time.Unix(0, 0)))
	s.setSession(c, is.Token, is.Session.ExpiresAt)
	return s.redirect(c, "/staff")
}

// providerLogout sends the browser to the provider's end_session_endpoint. When the provider
// has none, or does not answer, the portal's sign-out stands alone and the page says so.
func (s *Site) providerLogout(c *fiber.Ctx, p *auth.Principal) error {
	to, state, err := s.deps.Auth.ProviderLogout(c.UserContext(), p, Lang(c))
	var down *auth.SSOUnavailableError
	switch {
	case errors.As(err, &down):
		s.logger.Warn("single sign-on provider did not answer at sign-out", "issuer", down.Issuer, "err", down.Err.Error())
		return s.redirect(c, auth.SSOSignedOutPath+"?at=portal")
	case errors.Is(err, auth.ErrNoProviderLogout):
		return s.redirect(c, auth.SSOSignedOutPath+"?at=portal")
	case err != nil:
		return err
	}
	c.Cookie(&fiber.Cookie{Name: ssoLogoutCookie, Value: state, Path: ssoCookiePath, Expires: time.Now().Add(auth.SSOFlowTTL),
		HTTPOnly: true, Secure: s.deps.SecureCookies, SameSite: fiber.CookieSameSiteLaxMode})
	return c.Redirect(to, fiber.StatusSeeOther)
}

type ssoSignedOutData struct {
	Message  string // message id
	Provider string
}

// ssoSignedOut is where the provider sends the browser back after ending its session. Only
// the state this browser was sent with says the provider did; anything else says the portal's
// session is over and the provider's may not be.
func (s *Site) ssoSignedOut(c *fiber.Ctx) error {
	want := c.Cookies(ssoLogoutCookie)
	s.clearCookie(c, ssoLogoutCookie)
	d := ssoSignedOutData{Message: "staff.sso.signed_out.unconfirmed"}
	if p := s.deps.Auth.SSOProvider(); p != nil {
		d.Provider = p.Name
	}
	switch {
	case c.Query("at") == "portal":
		d.Message = "staff.sso.signed_out.local"
	case sameToken(c.Query("state"), want):
		d.Message = "staff.sso.signed_out.provider"
	}
	return s.Render(c, fiber.StatusOK, "staff_sso_signed_out", d)
}
