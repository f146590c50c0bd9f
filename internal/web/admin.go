package web

import (
	"context"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"candour/internal/accounts"
	"candour/internal/domain"
	"candour/internal/fault"
)

// limitAdminForm refuses an oversized form before anything parses it.
func limitAdminForm(h fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if n := c.Request().Header.ContentLength(); n > maxStaffFormBody || n < 0 {
			return fiber.ErrRequestEntityTooLarge // the error handler drains or closes
		}
		return h(c)
	}
}

// adminChoice is one checkbox or radio: Label is already in the page's language.
type adminChoice struct {
	ID, Value, Label string
	Checked          bool
}

// adminError is one line of the error summary: the field's id and a message id.
type adminError struct{ ID, Message string }

// adminErrors are a form's errors by field id, and in form order for the summary.
type adminErrors struct {
	Summary []adminError
	ByField map[string]string
}

func newAdminErrors(order []string, fields map[string]string, idOf func(string) string) *adminErrors {
	e := &adminErrors{ByField: map[string]string{}}
	for _, f := range order {
		if msg, ok := fields[f]; ok {
			e.ByField[f] = msg
			e.Summary = append(e.Summary, adminError{ID: idOf(f), Message: msg})
		}
	}
	for f, msg := range fields { // a field the form does not show: still say so
		if !slices.Contains(order, f) {
			e.Summary = append(e.Summary, adminError{ID: idOf(order[0]), Message: msg})
		}
	}
	return e
}

// adminUserRow is one account as the admin pages show it: no password, no TOTP secret, no
// case of any kind.
type adminUserRow struct {
	ID           int64
	Email, Name  string
	Language     string
	Status       string
	Roles        []string // labels
	Areas        []string // labels
	CustodianKey bool
	Self         bool
}

// adminNewUser is the add-user form as typed.
type adminNewUser struct {
	Email, Name, Language, AgeRecipient string
	Roles, Areas                        []string
}

type adminUsersData struct {
	CSRF      string
	Users     []adminUserRow
	Form      adminNewUser
	Roles     []adminChoice
	Areas     []adminChoice
	Languages []adminChoice
	Errors    *adminErrors
	// Created is the account just made: its link sent, or its proposal waiting for approval.
	Created *adminCreated
}

type adminCreated struct {
	Email   string
	Pending bool
}

type adminUserData struct {
	CSRF   string
	User   adminUserRow
	Roles  []adminChoice
	Areas  []adminChoice
	Errors *adminErrors
	Done   string // message id of the confirmation banner
	SSO    string // the council's sign-on provider ("" when none): offers removing a binding
}

// adminNewUserFields is the add-user form in page order (field ids are the same).
var adminNewUserFields = []string{"email", "name", "roles", "service_areas", "language", "age_recipient"}

// adminDone are the confirmations a redirect may ask for, by ?done=.
var adminDone = map[string]string{"roles": "admin.done.roles", "disabled": "admin.done.disabled", "reset": "admin.done.reset",
	"proposed": "admin.done.proposed", "sso_unbind": "admin.done.sso_unbind"}

func (s *Site) adminUsers(c *fiber.Ctx) error {
	return s.renderAdminUsers(c, fiber.StatusOK, adminNewUser{Language: Lang(c)}, nil, nil)
}

func (s *Site) renderAdminUsers(c *fiber.Ctx, status int, form adminNewUser, errs *adminErrors, created *adminCreated) error {
	lang := Lang(c)
	us, err := s.deps.Accounts.Users(c.UserContext(), accounts.Staff(principal(c).User))
	if err != nil {
		return err
	}
	self := principal(c).User.ID
	d := adminUsersData{CSRF: principal(c).Session.CSRF, Form: form, Errors: errs, Created: created,
		Roles: s.adminRoleChoices(lang, "roles", form.Roles), Areas: s.adminAreaChoices(lang, "service_areas", form.Areas)}
	for _, u := range us {
		d.Users = append(d.Users, s.adminRow(lang, &u, self))
	}
	for _, l := range []string{"en", "cy"} {
		d.Languages = append(d.Languages, adminChoice{ID: adminChoiceID("language", len(d.Languages)), Value: l,
			Label: s.catalog.T(lang, "admin.language."+l), Checked: form.Language == l})
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return s.Render(c, status, "admin_users", d)
}

func (s *Site) adminCreateUser(c *fiber.Ctx) error {
	v, err := url.ParseQuery(string(c.Body()))
	if err != nil {
		return fiber.ErrBadRequest
	}
	form := adminNewUser{Email: strings.TrimSpace(v.Get("email")), Name: strings.TrimSpace(v.Get("name")),
		Language: v.Get("language"), AgeRecipient: strings.TrimSpace(v.Get("age_recipient")),
		Roles: adminUniq(v["roles"]), Areas: adminUniq(v["service_areas"])}
	idOf := func(f string) string {
		if f == "roles" || f == "service_areas" || f == "language" {
			return adminChoiceID(f, 0)
		}
		return f
	}
	fail := func(fields map[string]string) error {
		return s.renderAdminUsers(c, fiber.StatusBadRequest, form, newAdminErrors(adminNewUserFields, fields, idOf), nil)
	}
	created, err := s.deps.Accounts.Create(c.UserContext(), accounts.Staff(principal(c).User), accounts.NewUser{
		Email: form.Email, Name: form.Name, Roles: form.Roles, ServiceAreas: form.Areas, AgeRecipient: &form.AgeRecipient,
		Language: form.Language})
	if fe, ok := fault.As(err); ok && len(fe.Fields) > 0 {
		return fail(fe.Fields)
	}
	if err != nil {
		return err
	}
	return s.renderAdminUsers(c, fiber.StatusOK, adminNewUser{Language: Lang(c)}, nil,
		&adminCreated{Email: strings.ToLower(created.User.Email), Pending: created.Request != 0})
}

// adminTarget loads the account named in the path, or 404.
func (s *Site) adminTarget(c *fiber.Ctx) (*domain.User, error) {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return nil, fiber.ErrNotFound
	}
	return s.deps.Accounts.User(c.UserContext(), accounts.Staff(principal(c).User), id)
}

func (s *Site) adminUser(c *fiber.Ctx) error {
	u, err := s.adminTarget(c)
	if err != nil {
		return err
	}
	return s.renderAdminUser(c, fiber.StatusOK, u, u.Roles, u.ServiceAreas, nil, adminDone[c.Query("done")])
}

func (s *Site) renderAdminUser(c *fiber.Ctx, status int, u *domain.User, roles, areas []string, errs *adminErrors, done string) error {
	lang := Lang(c)
	d := adminUserData{CSRF: principal(c).Session.CSRF, User: s.adminRow(lang, u, principal(c).User.ID),
		Roles: s.adminRoleChoices(lang, "roles", roles), Areas: s.adminAreaChoices(lang, "service_areas", areas),
		Errors: errs, Done: done}
	if p := s.deps.Auth.SSOProvider(); p != nil {
		d.SSO = p.Name
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return s.Render(c, status, "admin_user", d)
}

// adminUserFields is the account page's forms in page order.
var adminUserFields = []string{"account", "roles", "service_areas"}

func adminFieldID(f string) string {
	if f == "account" {
		return "account-actions"
	}
	return adminChoiceID(f, 0)
}

func (s *Site) adminSetRoles(c *fiber.Ctx) error {
	u, err := s.adminTarget(c)
	if err != nil {
		return err
	}
	v, err := url.ParseQuery(string(c.Body()))
	if err != nil {
		return fiber.ErrBadRequest
	}
	roles, areas := adminUniq(v["roles"]), adminUniq(v["service_areas"])
	request, err := s.deps.Accounts.SetRoles(c.UserContext(), accounts.Staff(principal(c).User), u.ID, roles, areas)
	if fe, ok := fault.As(err); ok && fe.Kind == fault.Invalid {
		return s.renderAdminUser(c, fiber.StatusBadRequest, u, roles, areas, newAdminErrors(adminUserFields, fe.Fields, adminFieldID), "")
	}
	return s.adminDone(c, u, request, err, "roles")
}

// adminDone answers an account action: back to the account with a confirmation (that it applied,
// or that it waits for the Monitoring Officer's approval), or the reason it was refused on the
// same page.
func (s *Site) adminDone(c *fiber.Ctx, u *domain.User, request int64, err error, done string) error {
	if request != 0 {
		done = "proposed"
	}
	if fe, ok := fault.As(err); ok && fe.Code == "request_open" {
		return s.renderAdminUser(c, fiber.StatusConflict, u, u.Roles, u.ServiceAreas,
			newAdminErrors(adminUserFields, map[string]string{"account": fe.Message}, adminFieldID), "")
	}
	if fe, ok := fault.As(err); ok && fe.Code == accounts.CodeOwnAccount {
		// A slip on one's own account would lock the admin out with nobody left to undo it.
		return s.renderAdminUser(c, fiber.StatusBadRequest, u, u.Roles, u.ServiceAreas,
			newAdminErrors(adminUserFields, map[string]string{"account": "admin.error.self"}, adminFieldID), "")
	}
	if err != nil {
		return err
	}
	return s.redirect(c, "/staff/admin/users/"+strconv.FormatInt(u.ID, 10)+"?done="+done)
}

func (s *Site) adminDisable(c *fiber.Ctx) error {
	u, err := s.adminTarget(c)
	if err != nil {
		return err
	}
	return s.adminDone(c, u, 0, s.deps.Accounts.Disable(c.UserContext(), accounts.Staff(principal(c).User), u.ID), "disabled")
}

// adminReset answers a reset of the account's credentials (reset2FA or password: both clear
// the two and send a new enrolment link; or its SSO binding), done at once or only proposed.
func (s *Site) adminReset(reset func(context.Context, accounts.Actor, int64) (int64, error), done string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		u, err := s.adminTarget(c)
		if err != nil {
			return err
		}
		request, err := reset(c.UserContext(), accounts.Staff(principal(c).User), u.ID)
		return s.adminDone(c, u, request, err, done)
	}
}

func (s *Site) adminRow(lang string, u *domain.User, self int64) adminUserRow {
	row := adminUserRow{ID: u.ID, Email: u.Email, Name: u.Name, Status: u.Status, CustodianKey: u.AgeRecipient != nil,
		Language: s.catalog.T(lang, "admin.language."+u.Language), Self: u.ID == self}
	for _, r := range u.Roles {
		row.Roles = append(row.Roles, s.adminRoleLabel(lang, r))
	}
	for _, a := range u.ServiceAreas {
		row.Areas = append(row.Areas, s.adminAreaLabel(lang, a))
	}
	return row
}

func (s *Site) adminRoleLabel(lang, role string) string {
	if id := "staff.role." + role; s.catalog.Has(lang, id) {
		return s.catalog.T(lang, id)
	}
	return role
}

func (s *Site) adminAreaLabel(lang, code string) string {
	if s.deps.Policy != nil {
		if p := s.deps.Policy(); p != nil {
			if a, ok := p.Directory.ServiceArea(code); ok {
				return inLang(lang, a.Name, a.NameCy)
			}
		}
	}
	return code
}

func (s *Site) adminRoleChoices(lang, field string, checked []string) []adminChoice {
	out := make([]adminChoice, 0, len(domain.Roles))
	for i, r := range domain.Roles {
		out = append(out, adminChoice{ID: adminChoiceID(field, i), Value: r, Label: s.adminRoleLabel(lang, r), Checked: slices.Contains(checked, r)})
	}
	return out
}

func (s *Site) adminAreaChoices(lang, field string, checked []string) []adminChoice {
	var out []adminChoice
	if s.deps.Policy == nil || s.deps.Policy() == nil {
		return nil
	}
	for i, a := range s.deps.Policy().Directory.ServiceAreas() {
		out = append(out, adminChoice{ID: adminChoiceID(field, i), Value: a.Code, Label: inLang(lang, a.Name, a.NameCy),
			Checked: slices.Contains(checked, a.Code)})
	}
	return out
}

// adminChoiceID is the id of a group's i-th input: the first has the group's id, so an error
// summary link lands on it (the GOV.UK convention).
func adminChoiceID(field string, i int) string {
	id := strings.ReplaceAll(field, "_", "-")
	if i == 0 {
		return id
	}
	return id + "-" + strconv.Itoa(i+1)
}

// adminUniq trims, drops empties and repeats, and keeps at most 50 (more is not a real form).
func adminUniq(vs []string) []string {
	var out []string
	for _, v := range vs {
		if v = strings.TrimSpace(v); v != "" && !slices.Contains(out, v) && len(out) < 50 {
			out = append(out, v)
		}
	}
	return out
}
