// Package accounts is account administration: create staff accounts, change their roles,
// disable them, reset a password or a second factor. The same rules and messages serve the
// admin pages, the JSON API and `candour user` on the server.
//
// Through the portal only an administrator may do any of it, never to their own account and
// never to an account holding a protected role (ProtectedRoles): those are managed on the server
// with `candour user`, by people the council trusts with the machine.
//
// Nobody alone widens anyone's access to cases. Through the portal an administrator only
// proposes such a change (a new account that can read cases, a role or service area added, a
// reset of such an account's credentials); it stays inactive until the Monitoring Officer or
// deputy, a different person who is not its subject, approves it (requests.go). An
// administrator never sees a password or a second-factor secret: the person sets both from a
// single-use link sent to their own address.
//
// The console (`candour user` on the server) is the bootstrap and the break-glass: its
// changes apply at once, audited as the console. Whoever runs it holds the server's data key
// and the database already, so a second person in the portal would stop nobody there.
package accounts

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"filippo.io/age"

	"candour/internal/access"
	"candour/internal/audit"
	"candour/internal/auth"
	"candour/internal/domain"
	"candour/internal/fault"
	"candour/internal/routing"
	"candour/internal/store"
)

// ProtectedRoles are the roles that can read every case, open sealed identities or judge the
// audit trail. Through the portal nobody grants them, and nobody resets or disables an account
// that holds one: a single curious administrator could otherwise add their own custodian key to
// every new sealed identity, or reset the Monitoring Officer's password and second factor and
// read every case.
var ProtectedRoles = []string{domain.RoleMonitoringOfficer, domain.RoleDeputy, domain.RoleCustodian,
	domain.RoleAdmin, domain.RoleAuditor}

// CaseReadingRoles are the roles that let an account read a concern or who raised it: the
// Monitoring Officer and deputy (every case), service leads (their areas' routes), the
// safeguarding hub, investigators (their investigations' concerns) and custodians (who open
// sealed identities). Granting one needs a second person, and none goes with admin. Councillors
// (only what they raised), auditors (aggregates and the audit trail) and admins read no case.
var CaseReadingRoles = []string{domain.RoleMonitoringOfficer, domain.RoleDeputy, domain.RoleServiceLead,
	domain.RoleSafeguarding, domain.RoleInvestigator, domain.RoleCustodian}

// readsCases reports whether roles include one of CaseReadingRoles.
func readsCases(roles []string) bool {
	return slices.ContainsFunc(roles, func(r string) bool { return slices.Contains(CaseReadingRoles, r) })
}

// Limits on an account's fields.
const (
	maxEmail        = 254
	maxName         = 200
	maxServiceAreas = 50
	maxAgeRecipient = 100 // an X25519 recipient is 62 characters
)

// CodeOwnAccount is the fault code of an administrator acting on their own account.
const CodeOwnAccount = "own_account"

var (
	errProtected = fault.New(fault.Forbidden, "protected_account", "user.protected")
	errOwn       = fault.New(fault.Forbidden, CodeOwnAccount, "user.own_account")
	errNotFound  = fault.New(fault.NotFound, "not_found", "error.not_found")
	errTaken     = &fault.Error{Kind: fault.Conflict, Code: "email_taken", Message: "admin.email.taken",
		Fields: map[string]string{"email": "admin.email.taken"}}
	errOpen = fault.New(fault.Conflict, "request_open", "access_request.open")
)

// Actor is who asks: an administrator through the portal, or the server's console.
type Actor struct {
	user    *domain.User
	console bool
}

// Staff is an account acting through the portal; a nil or inactive one may do nothing.
func Staff(u *domain.User) Actor { return Actor{user: u} }

// Console is `candour user` on the server, which may manage protected accounts.
func Console() Actor { return Actor{console: true} }

func (a Actor) event(e audit.Event) audit.Event {
	if a.console {
		e.Actor = audit.ActorCLI
	} else {
		e.ActorID = a.user.ID
	}
	return e
}

// Deps is what the service is built from.
type Deps struct {
	Store *store.Store
	Auth  *auth.Service    // password hashing parameters and session revocation
	Now   func() time.Time // nil: time.Now
	// Policy gives the directory that service areas are checked against (nil: none known).
	Policy func() *routing.Policy
}

// Service administers accounts.
type Service struct{ d Deps }

// New returns the service.
func New(d Deps) *Service {
	if d.Now == nil {
		d.Now = time.Now
	}
	return &Service{d: d}
}

// admit lets the console through, and an administrator; anyone else sees nothing (404).
func admit(by Actor) error {
	if by.console || access.CanManageUsers(by.user) {
		return nil
	}
	return errNotFound
}

// Users lists every account by e-mail address.
func (s *Service) Users(ctx context.Context, by Actor) ([]domain.User, error) {
	if err := admit(by); err != nil {
		return nil, err
	}
	return s.d.Store.Users(ctx)
}

// User finds one account, or a NotFound fault.
func (s *Service) User(ctx context.Context, by Actor, id int64) (*domain.User, error) {
	if err := admit(by); err != nil {
		return nil, err
	}
	return s.user(ctx, id)
}

func (s *Service) user(ctx context.Context, id int64) (*domain.User, error) {
	if id <= 0 {
		return nil, errNotFound
	}
	u, err := s.d.Store.UserByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNotFound
	}
	return u, err
}

// UserByEmail finds an active or disabled account by e-mail address, or a NotFound fault.
func (s *Service) UserByEmail(ctx context.Context, email string) (*domain.User, error) {
	u, err := s.d.Store.UserByEmail(ctx, strings.TrimSpace(email))
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNotFound
	}
	return u, err
}

// target admits by and loads the account they act on: not their own, not a protected one
// (except from the console).
func (s *Service) target(ctx context.Context, by Actor, id int64) (*domain.User, error) {
	if err := admit(by); err != nil {
		return nil, err
	}
	if !by.console && by.user.ID == id {
		return nil, errOwn
	}
	u, err := s.user(ctx, id)
	if err != nil {
		return nil, err
	}
	if !by.console && protected(u.Roles) {
		return nil, errProtected
	}
	return u, nil
}

func protected(roles []string) bool {
	return slices.ContainsFunc(roles, func(r string) bool { return slices.Contains(ProtectedRoles, r) })
}

// NewUser is an account to create.
type NewUser struct {
	Email        string
	Name         string
	Roles        []string
	ServiceAreas []string
	AgeRecipient *string // custodians only
	Language     string  // "en" or "cy"; empty: "en"
	Password     string
	// MustChange forces a password change at first sign-in.
	MustChange bool
}

// Created is a new account. TOTPSecret is set only when the console gave a password (to hand
// to the person once); otherwise an enrolment link went to the account's address. Request is
// the access request that holds a proposed account (0: active now).
type Created struct {
	User       *domain.User
	TOTPSecret string
	Request    int64
}

// Check normalises n (trimmed e-mail, name and key, default language) and returns every field
// that is wrong, by field name, as message ids. It is the only account validator: the pages,
// the API and the console all go through it.
func (s *Service) Check(n *NewUser) fault.Fields {
	n.Email, n.Name = strings.TrimSpace(n.Email), strings.TrimSpace(n.Name)
	if n.Language == "" {
		n.Language = "en"
	}
	f := fault.Fields{}
	switch a, err := mail.ParseAddress(n.Email); {
	case n.Email == "":
		f.Add("email", "field.required")
	case err != nil || a.Address != n.Email || len(n.Email) > maxEmail:
		f.Add("email", "field.email")
	}
	switch {
	case n.Name == "":
		f.Add("name", "field.required")
	case !utf8.ValidString(n.Name):
		f.Add("name", "field.invalid")
	case utf8.RuneCountInString(n.Name) > maxName:
		f.Add("name", "field.too_long")
	case strings.ContainsFunc(n.Name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		f.Add("name", "field.control")
	}
	checkRoles(f, n.Roles)
	s.checkAreas(f, n.ServiceAreas)
	if n.Language != "en" && n.Language != "cy" {
		f.Add("language", "field.choice")
	}
	custodian := slices.Contains(n.Roles, domain.RoleCustodian)
	switch {
	case n.AgeRecipient == nil || strings.TrimSpace(*n.AgeRecipient) == "":
		n.AgeRecipient = nil
		if custodian {
			f.Add("age_recipient", "admin.age.required")
		}
	default:
		// A bad custodian key would make every later confidential report fail to seal.
		key := strings.TrimSpace(*n.AgeRecipient)
		n.AgeRecipient = &key
		if _, err := age.ParseX25519Recipient(key); err != nil || len(key) > maxAgeRecipient {
			f.Add("age_recipient", "admin.age.invalid")
		}
	}
	// No password: the person sets their own from an enrolment link.
	if n.Password != "" {
		if err := auth.CheckPassword(n.Password, n.Email); err != nil {
			f.Add("password", err.Error())
		}
	}
	return f
}

func checkRoles(f fault.Fields, roles []string) {
	if len(roles) == 0 {
		f.Add("roles", "admin.roles.required")
	}
	for _, r := range roles {
		if !domain.ValidRole(r) {
			f.Add("roles", "user.role_unknown")
		}
	}
	// One person administering accounts and reading cases could grant themselves anything.
	if slices.Contains(roles, domain.RoleAdmin) && readsCases(roles) {
		f.Add("roles", "admin.roles.separation")
	}
}

// routeHolder reports whether email is someone's in the council's directory: an account with
// it holds every case routed to that person, whatever its roles.
func (s *Service) routeHolder(email string) bool {
	if s.d.Policy == nil {
		return false
	}
	p := s.d.Policy()
	if p == nil {
		return false
	}
	_, ok := p.Directory.Person(email)
	return ok
}

// canReadCases reports whether an account with this address and these roles could read a case.
func (s *Service) canReadCases(email string, roles []string) bool {
	return readsCases(roles) || s.routeHolder(email)
}

func (s *Service) checkAreas(f fault.Fields, codes []string) {
	if len(codes) > maxServiceAreas {
		f.Add("service_areas", "field.too_many")
		return
	}
	if len(codes) == 0 {
		return
	}
	var p *routing.Policy
	if s.d.Policy != nil {
		p = s.d.Policy()
	}
	for _, code := range codes {
		if p == nil {
			f.Add("service_areas", "field.choice")
			return
		}
		if _, ok := p.Directory.ServiceArea(code); !ok {
			f.Add("service_areas", "field.choice")
		}
	}
}

// Create checks and stores a new account. From the console it is active at once, with the
// password given (and a TOTP secret returned to hand over) or, without one, an enrolment link
// to its address. Through the portal an account that could read cases is only proposed: it is
// stored pending, with no role, until the Monitoring Officer or deputy approves it; any other
// gets its enrolment link at once.
func (s *Service) Create(ctx context.Context, by Actor, n NewUser) (*Created, error) {
	if err := admit(by); err != nil {
		return nil, err
	}
	if f := s.Check(&n); len(f) > 0 {
		return nil, f.Err()
	}
	// Checked after the fields, so an administrator sees what is wrong with the form first.
	if !by.console && (protected(n.Roles) || n.AgeRecipient != nil || n.Password != "") {
		return nil, errProtected
	}
	pending := !by.console && s.canReadCases(n.Email, n.Roles)
	var hash, secret string
	if n.Password != "" {
		h, err := auth.HashPassword(n.Password, s.d.Auth.Params())
		if err != nil {
			return nil, err
		}
		key, err := auth.NewTOTP(n.Email)
		if err != nil {
			return nil, err
		}
		hash, secret = h, key.Secret()
	}
	u := &domain.User{Email: n.Email, Name: n.Name, Roles: n.Roles, ServiceAreas: n.ServiceAreas,
		AgeRecipient: n.AgeRecipient, Language: n.Language, Status: "active"}
	if pending {
		u.Roles, u.ServiceAreas, u.Status = nil, nil, "pending"
	}
	var request int64
	err := s.d.Store.Tx(ctx, func(tx *store.Store) error {
		if err := tx.InsertUser(ctx, u); err != nil {
			if errors.Is(err, store.ErrDuplicate) {
				return errTaken
			}
			return err
		}
		if pending {
			if err := tx.SetUserStatus(ctx, u.ID, "pending"); err != nil {
				return err
			}
			var err error
			request, err = s.propose(ctx, tx, by, u.ID, "create", n.Roles, n.ServiceAreas)
			return err
		}
		if hash != "" {
			if err := tx.SetPassword(ctx, u.ID, hash, n.MustChange, s.d.Now()); err != nil {
				return err
			}
			sealed, err := s.d.Auth.SealTOTP(u.ID, secret)
			if err != nil {
				return err
			}
			if err := tx.SetTOTP(ctx, u.ID, sealed, true, nil); err != nil {
				return err
			}
		} else if err := s.d.Auth.IssueEnrolment(ctx, tx, u); err != nil {
			return err
		}
		return audit.Record(ctx, tx, by.event(audit.Event{Action: "user.create", ObjectType: "user",
			ObjectID: strconv.FormatInt(u.ID, 10), Details: map[string]string{"roles": fmt.Sprint(n.Roles)}}))
	})
	if err != nil {
		return nil, err
	}
	return &Created{User: u, TOTPSecret: secret, Request: request}, nil
}

// change runs write on the target account in one transaction with ending its sessions (so the
// change applies at once) and the audit record; a write that only proposed the change (applied
// false) recorded its own event and leaves the sessions be.
// check, when not nil, validates the change once the target is known to be one by may change.
func (s *Service) change(ctx context.Context, by Actor, id int64, action, reason string, details map[string]string,
	check func() error, write func(tx *store.Store, u *domain.User) (bool, error)) error {
	u, err := s.target(ctx, by, id)
	if err != nil {
		return err
	}
	if check != nil {
		if err := check(); err != nil {
			return err
		}
	}
	return s.d.Store.Tx(ctx, func(tx *store.Store) error {
		applied, err := write(tx, u)
		if err != nil || !applied {
			return err
		}
		if err := s.d.Auth.RevokeUser(ctx, tx, u.ID, "", reason); err != nil {
			return err
		}
		return audit.Record(ctx, tx, by.event(audit.Event{Action: action, ObjectType: "user",
			ObjectID: strconv.FormatInt(u.ID, 10), Details: details}))
	})
}

// Disable disables an account and ends its sessions at once.
func (s *Service) Disable(ctx context.Context, by Actor, id int64) error {
	return s.change(ctx, by, id, "user.disable", "disabled", nil, nil, func(tx *store.Store, u *domain.User) (bool, error) {
		return true, tx.SetUserStatus(ctx, u.ID, "disabled")
	})
}

// SetRoles replaces an account's roles and service areas. Through the portal a change that
// adds a case-reading role or a service area is only proposed: it returns the access request
// that holds it, and nothing changes until it is approved. Anything else applies at once (0).
func (s *Service) SetRoles(ctx context.Context, by Actor, id int64, roles, areas []string) (int64, error) {
	check := func() error {
		f := fault.Fields{}
		checkRoles(f, roles)
		s.checkAreas(f, areas)
		if err := f.Err(); err != nil {
			return err
		}
		if !by.console && protected(roles) {
			return errProtected
		}
		return nil
	}
	var request int64
	err := s.change(ctx, by, id, "user.roles", "role_change", map[string]string{"roles": fmt.Sprint(roles)}, check,
		func(tx *store.Store, u *domain.User) (bool, error) {
			if !by.console && (u.Status == "pending" || widens(u, roles, areas)) {
				var err error
				request, err = s.propose(ctx, tx, by, u.ID, "roles", roles, areas)
				return false, err
			}
			return true, tx.SetUserRoles(ctx, u.ID, roles, areas)
		})
	return request, err
}

// widens reports whether roles and areas give u a case-reading role or a service area it does
// not hold now.
func widens(u *domain.User, roles, areas []string) bool {
	for _, r := range roles {
		if slices.Contains(CaseReadingRoles, r) && !u.HasRole(r) {
			return true
		}
	}
	for _, a := range areas {
		if !slices.Contains(u.ServiceAreas, a) {
			return true
		}
	}
	return false
}

// ResetSecondFactor and ResetPassword both reset the account's credentials: the password,
// second factor and recovery codes go, its sessions end, and a new enrolment link goes to its
// own address, where the person sets both again (nobody else ever learns either). The account
// of someone who can read cases is only proposed for a reset, as whoever holds the new
// credentials can read what they can.
func (s *Service) ResetSecondFactor(ctx context.Context, by Actor, id int64) (int64, error) {
	return s.reset(ctx, by, id, "user.totp_reset", "totp_reset")
}

// ResetPassword: see ResetSecondFactor.
func (s *Service) ResetPassword(ctx context.Context, by Actor, id int64) (int64, error) {
	return s.reset(ctx, by, id, "user.password_reset", "password_reset")
}

func (s *Service) reset(ctx context.Context, by Actor, id int64, action, reason string) (int64, error) {
	var request int64
	err := s.change(ctx, by, id, action, reason, nil, nil, func(tx *store.Store, u *domain.User) (bool, error) {
		if !by.console && s.canReadCases(u.Email, u.Roles) {
			var err error
			request, err = s.propose(ctx, tx, by, u.ID, "reset", nil, nil)
			return false, err
		}
		return true, s.resetCredentials(ctx, tx, u)
	})
	return request, err
}

// UnbindSSO removes the account's binding to its provider's subject (say, the person's
// directory account was recreated and has a new one), and any first sign-in waiting for its
// code; its sessions end. The next sign-in through the provider needs the code e-mailed to the
// account again, and until then the account may sign in with its password. Whoever holds
// a binding can read what the account can, so for an account that can read cases an
// administrator only proposes it, as for a reset; a protected account's is the console's.
func (s *Service) UnbindSSO(ctx context.Context, by Actor, id int64) (int64, error) {
	var request int64
	err := s.change(ctx, by, id, "user.sso_unbind", "sso_unbind", nil, nil, func(tx *store.Store, u *domain.User) (bool, error) {
		if !by.console && s.canReadCases(u.Email, u.Roles) {
			var err error
			request, err = s.propose(ctx, tx, by, u.ID, "sso_unbind", nil, nil)
			return false, err
		}
		_, err := tx.UnbindSSOSubjects(ctx, u.ID)
		return true, err
	})
	return request, err
}

func (s *Service) resetCredentials(ctx context.Context, tx *store.Store, u *domain.User) error {
	if err := tx.ClearCredentials(ctx, u.ID); err != nil {
		return err
	}
	if u.Status != "active" {
		return nil // a disabled account gets no link: enabling it is another decision
	}
	return s.d.Auth.IssueEnrolment(ctx, tx, u)
}
