package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"html/template"
	"mime/multipart"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"candour/internal/access"
	"candour/internal/auth"
	"candour/internal/casework"
	"candour/internal/fault"
	"candour/internal/server"
)

// Staff cookies. The session cookie holds the staff token; the login cookie holds the CSRF
// token of the sign-in form (double submit), since there is no session yet to keep it in.
const (
	staffCookie      = "candour_staff"
	loginCSRFCookie  = "candour_login_csrf"
	staffCSRFField   = "csrf"
	staffPrincipal   = "candour.staff"
	maxStaffFormBody = 8 << 10
)

func principal(c *fiber.Ctx) *auth.Principal {
	p, _ := c.Locals(staffPrincipal).(*auth.Principal)
	return p
}

func (s *Site) redirect(c *fiber.Ctx, path string) error {
	return c.Redirect(Localise(Lang(c), path), fiber.StatusSeeOther)
}

// staffGate wraps h so it runs only for a live staff session.
type staffGate func(h fiber.Handler) fiber.Handler

// requireStaff admits a live staff session from the cookie; anything else goes to the sign-in
// page. A setup session (TOTP to enrol, password to change) only reaches the setup pages.
// Unsafe methods must carry the session's CSRF token.
func (s *Site) requireStaff(allowSetup bool) staffGate {
	return func(h fiber.Handler) fiber.Handler {
		return func(c *fiber.Ctx) error {
			p, err := s.deps.Auth.Authenticate(c.UserContext(), c.Cookies(staffCookie), true)
			if err != nil {
				if fault.Is(err, fault.Unauthorized) {
					s.clearSession(c)
					return s.redirect(c, "/staff/login")
				}
				return err
			}
			if p.Renewed != "" {
				s.setSession(c, p.Renewed, p.Session.ExpiresAt)
			}
			if c.Method() == fiber.MethodPost && !s.staffCSRF(c, p.Session.CSRF) {
				return fiber.NewError(fiber.StatusForbidden)
			}
			if p.Session.Stage != auth.StageFull && !allowSetup {
				return s.redirect(c, "/staff/totp")
			}
			c.Locals(staffPrincipal, p)
			return h(c)
		}
	}
}

// uploadForm is where the gate leaves a multipart form whose CSRF part it has read.
const uploadForm = "candour.upload"

// staffCSRF checks a staff form's CSRF field. A multipart form (evidence) is read as a stream:
// the field comes first, and the rest is left for the handler (uploadOf), never buffered.
func (s *Site) staffCSRF(c *fiber.Ctx, want string) bool {
	if !strings.HasPrefix(c.Get(fiber.HeaderContentType), fiber.MIMEMultipartForm) {
		return sameToken(c.FormValue(staffCSRFField), want)
	}
	mr, got, ok, err := csrfFirst(c)
	if err != nil || !ok || !sameToken(got, want) {
		return false
	}
	c.Locals(uploadForm, mr)
	return true
}

// uploadOf is the multipart form the gate opened, past its CSRF part; nil when there is none.
func uploadOf(c *fiber.Ctx) *multipart.Reader {
	mr, _ := c.Locals(uploadForm).(*multipart.Reader)
	return mr
}

func sameToken(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

func (s *Site) cookie(name, value string, expires time.Time) *fiber.Cookie {
	return &fiber.Cookie{Name: name, Value: value, Path: "/", Expires: expires, HTTPOnly: true,
		Secure: s.deps.SecureCookies, SameSite: fiber.CookieSameSiteStrictMode}
}

func (s *Site) setSession(c *fiber.Ctx, token string, expires time.Time) {
	c.Cookie(s.cookie(staffCookie, token, expires))
}

func (s *Site) clearSession(c *fiber.Ctx) {
	if c.Cookies(staffCookie) != "" {
		c.Cookie(s.cookie(staffCookie, "", time.Unix(0, 0)))
	}
}

type staffLoginData struct {
	CSRF  string
	Email string
	Error string // message id
	// SSO names the council's sign-on provider for its button ("" when there is none);
	// SSOError is why signing in through it failed (message id), naming Issuer.
	SSO      string
	SSOError string
	Issuer   string
}

func (s *Site) staffLoginForm(c *fiber.Ctx) error {
	// Already signed in: straight to the staff home.
	if _, err := s.deps.Auth.Authenticate(c.UserContext(), c.Cookies(staffCookie), false); err == nil {
		return s.redirect(c, "/staff")
	}
	return s.renderLogin(c, fiber.StatusOK, "", "")
}

func (s *Site) renderLogin(c *fiber.Ctx, status int, email, msg string) error {
	return s.renderLoginWith(c, status, staffLoginData{Email: email, Error: msg})
}

// loginCSRF is the sign-in forms' CSRF token (double submit), made and set when missing.
func (s *Site) loginCSRF(c *fiber.Ctx) (string, error) {
	token := c.Cookies(loginCSRFCookie)
	if len(token) != 64 {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return "", err
		}
		token = hex.EncodeToString(b)
		c.Cookie(s.cookie(loginCSRFCookie, token, time.Time{}))
	}
	return token, nil
}

func (s *Site) renderLoginWith(c *fiber.Ctx, status int, d staffLoginData) error {
	token, err := s.loginCSRF(c)
	if err != nil {
		return err
	}
	d.CSRF = token
	if p := s.deps.Auth.SSOProvider(); p != nil {
		d.SSO = p.Name
	}
	return s.Render(c, status, "staff_login", d)
}

func (s *Site) staffLogin(c *fiber.Ctx) error {
	if len(c.Body()) > maxStaffFormBody {
		return fiber.ErrRequestEntityTooLarge
	}
	if cookie := c.Cookies(loginCSRFCookie); len(cookie) != 64 || !sameToken(c.FormValue(staffCSRFField), cookie) {
		return s.renderLogin(c, fiber.StatusForbidden, "", "staff.login.expired")
	}
	email := strings.TrimSpace(c.FormValue("email"))
	is, err := s.deps.Auth.SignIn(c.UserContext(), auth.Login{Email: email, Password: c.FormValue("password"),
		TOTP: strings.TrimSpace(c.FormValue("totp")), AllowSetup: true, Device: c.Cookies(auth.DeviceCookie)})
	if fe, ok := fault.As(err); ok && (fe.Kind == fault.Unauthorized || fe.Kind == fault.TooMany) {
		status := fiber.StatusUnauthorized
		if fe.Kind == fault.TooMany {
			status = fiber.StatusTooManyRequests
			server.SetRetryAfter(c, fe.RetryAfter)
		}
		return s.renderLogin(c, status, email, fe.Message)
	}
	if err != nil {
		return err
	}
	s.setSession(c, is.Token, is.Session.ExpiresAt)
	// On this language's sign-in path only: it is read nowhere else.
	device := s.cookie(auth.DeviceCookie, is.Device, time.Now().Add(auth.DeviceCookieTTL))
	device.Path = c.Path()
	c.Cookie(device)
	c.Cookie(s.cookie(loginCSRFCookie, "", time.Unix(0, 0)))
	if is.Session.Stage != auth.StageFull {
		return s.redirectToSetup(c, &auth.Principal{User: is.User, Session: is.Session})
	}
	return s.redirect(c, "/staff")
}

// redirectToSetup sends a setup session to what it must do next.
func (s *Site) redirectToSetup(c *fiber.Ctx, p *auth.Principal) error {
	step, err := s.deps.Auth.SetupStep(c.UserContext(), p.User)
	if err != nil {
		return err
	}
	if step == "password" {
		return s.redirect(c, "/staff/password")
	}
	return s.redirect(c, "/staff/totp")
}

// staffLogout ends the portal's session first, then, for a session that signed in through
// the council's provider, sends the browser to end the provider's session too.
func (s *Site) staffLogout(c *fiber.Ctx) error {
	p := principal(c)
	if err := s.deps.Auth.SignOut(c.UserContext(), p); err != nil {
		return err
	}
	c.Cookie(s.cookie(staffCookie, "", time.Unix(0, 0)))
	// Drop the browser's copies of staff pages (including the back/forward cache), so Back
	// after signing out cannot show a case page again.
	c.Set("Clear-Site-Data", `"cache"`)
	if p.Session.Method == "sso" {
		return s.providerLogout(c, p)
	}
	return s.redirect(c, "/staff/login")
}

type staffHomeData struct {
	Name  string
	Email string
	Roles []string
	CSRF  string
	Mail  *casework.MailBacklog // the Monitoring Officer's and deputy's view; nil for others
}

func (s *Site) staffHome(c *fiber.Ctx) error {
	p := principal(c)
	d := staffHomeData{Name: p.User.Name, Email: p.User.Email, Roles: p.User.Roles, CSRF: p.Session.CSRF}
	// The Monitoring Officer sees staff e-mail the mail server has not taken.
	if s.deps.Casework != nil && access.CanSeeTriage(p.User) {
		mail, err := s.deps.Casework.UndeliveredMail(c.UserContext(), p.User)
		if err != nil {
			return err
		}
		d.Mail = &mail
	}
	return s.Render(c, fiber.StatusOK, "staff_home", d)
}

type staffTOTPData struct {
	CSRF          string
	Enrolment     *auth.Enrolment
	QR            template.URL // a data: URL made by auth, never user input
	Error         string
	RecoveryCodes []string
	Required      bool
}

func (s *Site) staffTOTPForm(c *fiber.Ctx) error {
	p := principal(c)
	e, err := s.deps.Auth.StartEnrolment(p)
	if err != nil {
		return err
	}
	return s.Render(c, fiber.StatusOK, "staff_totp", staffTOTPData{CSRF: p.Session.CSRF, Enrolment: e, QR: template.URL(e.QR),
		Required: p.Session.Stage != auth.StageFull})
}

func (s *Site) staffTOTP(c *fiber.Ctx) error {
	p := principal(c)
	secret := strings.TrimSpace(c.FormValue("secret"))
	codes, err := s.deps.Auth.ConfirmEnrolment(c.UserContext(), p, secret, c.FormValue("code"), c.FormValue("current_password"))
	if err != nil {
		var fe *fault.Error
		if errors.As(err, &fe) && fe.Kind == fault.Invalid {
			msg := "totp.wrong"
			if fe.Fields["current_password"] != "" {
				msg = "password.wrong"
			}
			e, eerr := auth.EnrolmentFor(p.User.Email, secret)
			if eerr != nil {
				if e, eerr = s.deps.Auth.StartEnrolment(p); eerr != nil {
					return eerr
				}
			}
			return s.Render(c, fiber.StatusBadRequest, "staff_totp", staffTOTPData{CSRF: p.Session.CSRF, Enrolment: e, QR: template.URL(e.QR),
				Error: msg, Required: p.Session.Stage != auth.StageFull})
		}
		return err
	}
	return s.Render(c, fiber.StatusOK, "staff_totp", staffTOTPData{CSRF: p.Session.CSRF, RecoveryCodes: codes})
}

var passwordFields = []string{"current_password", "new_password", "confirm_password"}

type staffPasswordData struct {
	Fields []string
	CSRF   string
	Errors map[string]string
	Done   bool
	Min    int
}

func (s *Site) staffPasswordForm(c *fiber.Ctx) error {
	return s.Render(c, fiber.StatusOK, "staff_password", staffPasswordData{Fields: passwordFields, CSRF: principal(c).Session.CSRF,
		Min: auth.MinPasswordLength})
}

func (s *Site) staffPasswordSave(c *fiber.Ctx) error {
	p := principal(c)
	d := staffPasswordData{Fields: passwordFields, CSRF: p.Session.CSRF, Min: auth.MinPasswordLength}
	next := c.FormValue("new_password")
	if next != c.FormValue("confirm_password") {
		d.Errors = map[string]string{"confirm_password": "password.mismatch"}
		return s.Render(c, fiber.StatusBadRequest, "staff_password", d)
	}
	if err := s.deps.Auth.ChangePassword(c.UserContext(), p, c.FormValue("current_password"), next); err != nil {
		if fe, ok := fault.As(err); ok && fe.Kind == fault.Invalid {
			d.Errors = fe.Fields
			return s.Render(c, fiber.StatusBadRequest, "staff_password", d)
		}
		return err
	}
	if p.Session.Stage != auth.StageFull {
		return s.redirectToSetup(c, p)
	}
	d.Done = true
	return s.Render(c, fiber.StatusOK, "staff_password", d)
}
