package web

import (
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"filippo.io/age"
	"github.com/gofiber/fiber/v2"

	"candour/internal/access"
	"candour/internal/auth"
	"candour/internal/domain"
	"candour/internal/fault"
	"candour/internal/store"
)

// registerAdmin adds the account pages (issue 4): list users, add one, change roles and
// service areas, disable, reset the second factor. Administrators only, everyone else gets
// 404; nothing here reads a concern, so admins never see case content.
func (s *Site) registerAdmin(app fiber.Router) {
	if s.deps.Auth == nil || s.deps.Store == nil {
		return
	}
	full := s.requireStaff(false)
	admin := func(h fiber.Handler) fiber.Handler { return full(requireAdmin(h)) }
	post := func(h fiber.Handler) fiber.Handler { return limitAdminForm(admin(h)) }
	s.Get(app, "/staff/admin/users", admin(s.adminUsers))                           // admin
	s.Post(app, "/staff/admin/users", post(s.adminCreateUser))                      // admin
	s.Get(app, "/staff/admin/users/:id", admin(s.adminUser))                        // admin
	s.Post(app, "/staff/admin/users/:id/roles", post(s.adminSetRoles))              // admin
	s.Post(app, "/staff/admin/users/:id/disable", post(s.adminDisable))             // admin
	s.Post(app, "/staff/admin/users/:id/reset-2fa", post(s.adminResetSecondFactor)) // admin
}

// requireAdmin runs h for administrators only; anyone else gets 404, as if the pages did not
// exist. It runs inside the staff gate, which has already checked the session and CSRF.
func requireAdmin(h fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if p := principal(c); p == nil || !access.CanManageUsers(p.User) {
			return fiber.ErrNotFound
		}
		return h(c)
	}
}

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
	// Created is the account just made, with its TOTP secret: shown on this one response only.
	Created *adminCreated
}

type adminCreated struct {
	Email, Secret string
}

type adminUserData struct {
	CSRF   string
	User   adminUserRow
	Roles  []adminChoice
	Areas  []adminChoice
	Errors *adminErrors
	Done   string // message id of the confirmation banner
}

// adminNewUserFields is the add-user form in page order (field ids are the same).
var adminNewUserFields = []string{"email", "name", "roles", "service_areas", "language", "age_recipient", "password"}

// adminDone are the confirmations a redirect may ask for, by ?done=.
var adminDone = map[string]string{"roles": "admin.done.roles", "disabled": "admin.done.disabled", "reset": "admin.done.reset"}

func (s *Site) adminUsers(c *fiber.Ctx) error {
	return s.renderAdminUsers(c, fiber.StatusOK, adminNewUser{Language: Lang(c)}, nil, nil)
}

func (s *Site) renderAdminUsers(c *fiber.Ctx, status int, form adminNewUser, errs *adminErrors, created *adminCreated) error {
	lang := Lang(c)
	us, err := s.deps.Store.Users(c.UserContext())
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
	password := v.Get("password")
	idOf := func(f string) string {
		if f == "roles" || f == "service_areas" || f == "language" {
			return adminChoiceID(f, 0)
		}
		return f
	}
	fail := func(fields map[string]string) error {
		return s.renderAdminUsers(c, fiber.StatusBadRequest, form, newAdminErrors(adminNewUserFields, fields, idOf), nil)
	}
	f := s.adminCheckNewUser(c, form)
	if len(f) > 0 {
		if err := auth.CheckPassword(password, form.Email); err != nil {
			f.Add("password", err.Error())
		}
		return fail(f)
	}
	var rcpt *string
	if form.AgeRecipient != "" {
		rcpt = &form.AgeRecipient
	}
	created, err := s.deps.Auth.CreateUser(c.UserContext(), principal(c).User.ID, auth.NewUser{Email: form.Email,
		Name: form.Name, Roles: form.Roles, ServiceAreas: form.Areas, AgeRecipient: rcpt, Language: form.Language,
		Password: password, MustChange: true})
	if fe, ok := fault.As(err); ok && fe.Kind == fault.Invalid {
		return fail(fe.Fields)
	}
	if err != nil {
		return err
	}
	// Rendered, not redirected: the TOTP secret is shown on this response only and kept nowhere
	// a redirect could fetch it from.
	return s.renderAdminUsers(c, fiber.StatusOK, adminNewUser{Language: Lang(c)}, nil,
		&adminCreated{Email: strings.ToLower(created.User.Email), Secret: created.TOTPSecret})
}

// adminCheckNewUser checks what auth.CreateUser leaves to its callers (and the database would
// otherwise refuse with a 500): the shape of each field, known service areas, no duplicate
// e-mail, and a custodian's age recipient.
func (s *Site) adminCheckNewUser(c *fiber.Ctx, form adminNewUser) fault.Fields {
	f := fault.Fields{}
	switch {
	case form.Email == "":
		f.Add("email", "field.required")
	case len(form.Email) < 3 || len(form.Email) > 254 || strings.Count(form.Email, "@") != 1 ||
		strings.HasPrefix(form.Email, "@") || strings.HasSuffix(form.Email, "@") || strings.ContainsAny(form.Email, " \t\r\n<>\""):
		f.Add("email", "field.email")
	}
	switch {
	case form.Name == "":
		f.Add("name", "field.required")
	case len([]rune(form.Name)) > 200:
		f.Add("name", "field.too_long")
	case strings.ContainsFunc(form.Name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		f.Add("name", "field.control")
	}
	if len(form.Roles) == 0 {
		f.Add("roles", "field.required")
	}
	for _, r := range form.Roles {
		if !domain.ValidRole(r) {
			f.Add("roles", "user.role_unknown")
		}
	}
	if !s.adminKnownAreas(form.Areas) {
		f.Add("service_areas", "field.choice")
	}
	if form.Language != "en" && form.Language != "cy" {
		f.Add("language", "field.choice")
	}
	custodian := slices.Contains(form.Roles, domain.RoleCustodian)
	switch {
	case custodian && form.AgeRecipient == "":
		f.Add("age_recipient", "admin.age.required")
	case !custodian && form.AgeRecipient != "":
		f.Add("age_recipient", "admin.age.custodians_only")
	case form.AgeRecipient != "":
		if _, err := age.ParseX25519Recipient(form.AgeRecipient); err != nil || len(form.AgeRecipient) > 100 {
			f.Add("age_recipient", "admin.age.invalid")
		}
	}
	if _, ok := f["email"]; !ok {
		if us, err := s.deps.Store.Users(c.UserContext()); err == nil {
			for _, u := range us {
				if strings.EqualFold(u.Email, form.Email) {
					f.Add("email", "admin.email.taken")
				}
			}
		}
	}
	return f
}

func (s *Site) adminKnownAreas(codes []string) bool {
	if s.deps.Policy == nil {
		return len(codes) == 0
	}
	p := s.deps.Policy()
	for _, code := range codes {
		if p == nil {
			return false
		}
		if _, ok := p.Directory.ServiceArea(code); !ok {
			return false
		}
	}
	return true
}

// adminTarget loads the account named in the path, or 404.
func (s *Site) adminTarget(c *fiber.Ctx) (*store.User, error) {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return nil, fiber.ErrNotFound
	}
	u, err := s.deps.Store.UserByID(c.UserContext(), id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fiber.ErrNotFound
	}
	return u, err
}

func (s *Site) adminUser(c *fiber.Ctx) error {
	u, err := s.adminTarget(c)
	if err != nil {
		return err
	}
	return s.renderAdminUser(c, fiber.StatusOK, u, u.Roles, u.ServiceAreas, nil, adminDone[c.Query("done")])
}

func (s *Site) renderAdminUser(c *fiber.Ctx, status int, u *store.User, roles, areas []string, errs *adminErrors, done string) error {
	lang := Lang(c)
	d := adminUserData{CSRF: principal(c).Session.CSRF, User: s.adminRow(lang, u, principal(c).User.ID),
		Roles: s.adminRoleChoices(lang, "roles", roles), Areas: s.adminAreaChoices(lang, "service_areas", areas),
		Errors: errs, Done: done}
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

// adminNotSelf refuses to let an admin change, disable or reset their own account here: a slip
// would lock them out (or end their session) with nobody left to undo it.
func (s *Site) adminNotSelf(c *fiber.Ctx, u *store.User) error {
	if u.ID != principal(c).User.ID {
		return nil
	}
	return s.renderAdminUser(c, fiber.StatusBadRequest, u, u.Roles, u.ServiceAreas,
		newAdminErrors(adminUserFields, map[string]string{"account": "admin.error.self"}, adminFieldID), "")
}

func (s *Site) adminSetRoles(c *fiber.Ctx) error {
	u, err := s.adminTarget(c)
	if err != nil {
		return err
	}
	if u.ID == principal(c).User.ID {
		return s.adminNotSelf(c, u)
	}
	v, err := url.ParseQuery(string(c.Body()))
	if err != nil {
		return fiber.ErrBadRequest
	}
	roles, areas := adminUniq(v["roles"]), adminUniq(v["service_areas"])
	f := fault.Fields{}
	if len(roles) == 0 {
		f.Add("roles", "admin.roles.required")
	}
	if !s.adminKnownAreas(areas) {
		f.Add("service_areas", "field.choice")
	}
	if len(f) == 0 {
		err := s.deps.Auth.SetRoles(c.UserContext(), principal(c).User.ID, u.ID, roles, areas)
		fe, invalid := fault.As(err)
		switch {
		case err == nil:
			return s.redirect(c, "/staff/admin/users/"+strconv.FormatInt(u.ID, 10)+"?done=roles")
		case !invalid || fe.Kind != fault.Invalid:
			return err
		}
		f = fe.Fields
	}
	return s.renderAdminUser(c, fiber.StatusBadRequest, u, roles, areas, newAdminErrors(adminUserFields, f, adminFieldID), "")
}

func (s *Site) adminDisable(c *fiber.Ctx) error {
	u, err := s.adminTarget(c)
	if err != nil {
		return err
	}
	if u.ID == principal(c).User.ID {
		return s.adminNotSelf(c, u)
	}
	if err := s.deps.Auth.DisableUser(c.UserContext(), principal(c).User.ID, u.ID); err != nil {
		return err
	}
	return s.redirect(c, "/staff/admin/users/"+strconv.FormatInt(u.ID, 10)+"?done=disabled")
}

func (s *Site) adminResetSecondFactor(c *fiber.Ctx) error {
	u, err := s.adminTarget(c)
	if err != nil {
		return err
	}
	if u.ID == principal(c).User.ID {
		return s.adminNotSelf(c, u)
	}
	if err := s.deps.Auth.ResetSecondFactor(c.UserContext(), principal(c).User.ID, u.ID); err != nil {
		return err
	}
	return s.redirect(c, "/staff/admin/users/"+strconv.FormatInt(u.ID, 10)+"?done=reset")
}

func (s *Site) adminRow(lang string, u *store.User, self int64) adminUserRow {
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
