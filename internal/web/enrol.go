package web

import (
	"errors"
	"html/template"
	"net/url"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"candour/internal/accounts"
	"candour/internal/auth"
	"candour/internal/fault"
)

// staffEnrolData is the enrolment page: the person behind a link sets their own password and
// second factor. The token rides in a hidden field, as the TOTP secret does, and the page is
// never cached.
type staffEnrolData struct {
	Token, Email  string
	Enrolment     *auth.Enrolment
	QR            template.URL // a data: URL made by auth, never user input
	Errors        *adminErrors
	RecoveryCodes []string
	Invalid       bool // unknown, used or expired link
	Min           int
}

var enrolFields = []string{"password", "code"}

func (s *Site) enrolForm(c *fiber.Ctx) error {
	return s.renderEnrol(c, fiber.StatusOK, c.Query("token"), "", nil)
}

// renderEnrol shows the form for token, with secret (a new one when empty) and errs.
func (s *Site) renderEnrol(c *fiber.Ctx, status int, token, secret string, errs *adminErrors) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	u, err := s.deps.Auth.EnrolmentAccount(c.UserContext(), token)
	if errors.Is(err, auth.ErrEnrolmentLink) {
		return s.Render(c, fiber.StatusNotFound, "staff_enrol", staffEnrolData{Invalid: true})
	}
	if err != nil {
		return err
	}
	e, err := auth.EnrolmentFor(u.Email, secret)
	if secret == "" || err != nil {
		k, kerr := auth.NewTOTP(u.Email)
		if kerr != nil {
			return kerr
		}
		if e, err = auth.EnrolmentFor(u.Email, k.Secret()); err != nil {
			return err
		}
	}
	return s.Render(c, status, "staff_enrol", staffEnrolData{Token: token, Email: u.Email, Enrolment: e, QR: template.URL(e.QR),
		Errors: errs, Min: auth.MinPasswordLength})
}

func (s *Site) enrolSubmit(c *fiber.Ctx) error {
	v, err := url.ParseQuery(string(c.Body()))
	if err != nil {
		return fiber.ErrBadRequest
	}
	token, secret := v.Get("token"), strings.TrimSpace(v.Get("secret"))
	codes, err := s.deps.Auth.Enrol(c.UserContext(), auth.Enrol{Token: token, Password: v.Get("password"), Secret: secret,
		Code: v.Get("code")})
	if fe, ok := fault.As(err); ok && fe.Kind == fault.Invalid {
		return s.renderEnrol(c, fiber.StatusBadRequest, token, secret,
			newAdminErrors(enrolFields, fe.Fields, func(f string) string { return f }))
	}
	if errors.Is(err, auth.ErrEnrolmentLink) {
		c.Set(fiber.HeaderCacheControl, "no-store")
		return s.Render(c, fiber.StatusNotFound, "staff_enrol", staffEnrolData{Invalid: true})
	}
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return s.Render(c, fiber.StatusOK, "staff_enrol", staffEnrolData{RecoveryCodes: codes})
}

// accessRow is one access request as the Monitoring Officer sees it; labels in the page's
// language.
type accessRow struct {
	ID                      int64
	Kind, Email, ProposedBy string
	Roles, Areas            []string
	ProposedAt              string
}

type accessRequestsData struct {
	CSRF     string
	Requests []accessRow
	Error    string // message id: why the last decision was refused
	Done     string // message id of the confirmation banner
}

var accessDone = map[string]string{"approved": "access.done.approved", "refused": "access.done.refused"}

func (s *Site) accessRequests(c *fiber.Ctx) error {
	return s.renderAccessRequests(c, fiber.StatusOK, "", accessDone[c.Query("done")])
}

func (s *Site) renderAccessRequests(c *fiber.Ctx, status int, errMsg, done string) error {
	lang := Lang(c)
	rs, err := s.deps.Accounts.Requests(c.UserContext(), accounts.Staff(principal(c).User))
	if err != nil {
		return err
	}
	d := accessRequestsData{CSRF: principal(c).Session.CSRF, Error: errMsg, Done: done}
	for _, r := range rs {
		row := accessRow{ID: r.ID, Kind: s.catalog.T(lang, "access.kind."+r.Kind), Email: r.Email, ProposedBy: r.ProposedBy,
			ProposedAt: r.ProposedAt.UTC().Format("2006-01-02 15:04 UTC")}
		for _, role := range r.Roles {
			row.Roles = append(row.Roles, s.adminRoleLabel(lang, role))
		}
		for _, a := range r.Areas {
			row.Areas = append(row.Areas, s.adminAreaLabel(lang, a))
		}
		d.Requests = append(d.Requests, row)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return s.Render(c, status, "access_requests", d)
}

func (s *Site) accessDecide(c *fiber.Ctx) error {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return fiber.ErrNotFound
	}
	v, err := url.ParseQuery(string(c.Body()))
	if err != nil {
		return fiber.ErrBadRequest
	}
	approve := v.Get("decision") == "approve"
	if !approve && v.Get("decision") != "refuse" {
		return fiber.ErrBadRequest
	}
	err = s.deps.Accounts.Decide(c.UserContext(), accounts.Staff(principal(c).User), id, approve)
	if fe, ok := fault.As(err); ok && (fe.Kind == fault.Forbidden || fe.Kind == fault.Conflict || fe.Kind == fault.Invalid) {
		return s.renderAccessRequests(c, fiber.StatusBadRequest, fe.Message, "")
	}
	if err != nil {
		return err
	}
	done := "refused"
	if approve {
		done = "approved"
	}
	return s.redirect(c, "/staff/access-requests?done="+done)
}
