// Package auth signs staff in and keeps them signed in: argon2id passwords, a TOTP second
// factor with one-time recovery codes, throttled failures (throttle.go) with a queue for
// password checks (gate.go), and server-side sessions on top of
// internal/token, so a token is honoured only while its session is live (15 minutes idle,
// sliding; 12 hours at most; revoked at once on logout, disable, password or role change).
package auth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"candour/internal/audit"
	"candour/internal/fault"
	"candour/internal/routing"
	"candour/internal/seal"
	"candour/internal/store"
	"candour/internal/token"
)

// secondFactorRoles must use TOTP: they can see or unlock the most.
var secondFactorRoles = []string{"monitoring_officer", "deputy_monitoring_officer", "custodian", "admin", "auditor"}

// NeedsSecondFactor reports whether u's roles require TOTP.
func NeedsSecondFactor(u *store.User) bool {
	for _, r := range secondFactorRoles {
		if u.HasRole(r) {
			return true
		}
	}
	return false
}

// Session lifetimes.
const (
	TokenTTL    = 15 * time.Minute // token lifetime and idle timeout
	AbsoluteTTL = 12 * time.Hour   // a session never lasts longer, however active
	// A token with less than this left is replaced by a fresh one on use (sliding renewal).
	renewWhenLeft = 10 * time.Minute
	// Activity is written at most this often per session.
	touchEvery = 30 * time.Second
)

// Session stages.
const (
	StageFull  = "full"  // password and second factor done
	StageSetup = "setup" // may only enrol TOTP or change the password
)

// ErrBadCredentials is the one answer to a failed sign-in, whatever was wrong: unknown e-mail,
// wrong password, wrong or missing code, disabled account.
var ErrBadCredentials = fault.New(fault.Unauthorized, "invalid_credentials", "auth.invalid")

// ErrUnauthorized is the one answer to a token that does not open a live session.
var ErrUnauthorized = fault.New(fault.Unauthorized, "unauthorized", "error.unauthorized")

// ErrSetupRequired: the password was right but the account must first enrol TOTP or change its
// password, which is done on the web.
var ErrSetupRequired = fault.New(fault.Forbidden, "setup_required", "auth.setup_required")

// Deps is what the service is built from.
type Deps struct {
	Store  *store.Store
	Tokens *token.Keys
	Params Params           // zero: DefaultParams
	Now    func() time.Time // nil: time.Now
	// Secrets seals second-factor secrets and enrolment links (the server's data key).
	Secrets *seal.ServerKey
	// PublicURL is where enrolment links point.
	PublicURL string
	// FailureFloor: a refused sign-in is answered no sooner than this after it began (or three
	// times a password hash, if that is longer). Zero: answered at once.
	FailureFloor time.Duration
	// SSO is the council's sign-on provider in the policy in force (nil, or returning nil:
	// none).
	SSO func() *routing.SSO
	// DeviceKey signs device cookies (DeviceKeySize bytes; nil: a key for this process only).
	DeviceKey []byte
}

// DefaultFailureFloor is the FailureFloor the portal runs with.
const DefaultFailureFloor = 250 * time.Millisecond

// Service signs staff in and checks their sessions.
type Service struct {
	d         Deps
	dummyOnce sync.Once
	dummy     string
	floor     time.Duration // FailureFloor, raised to three hashes; set with dummy
	ssoMu     sync.Mutex
	sso       *ssoClient // the provider as discovered
	throttle  *throttle
	devices   deviceCookies
	refusals  refusalPace
}

// New returns the service.
func New(d Deps) *Service {
	if d.Params == (Params{}) {
		d.Params = DefaultParams
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.DeviceKey == nil {
		d.DeviceKey = make([]byte, DeviceKeySize)
		_, _ = rand.Read(d.DeviceKey)
	}
	return &Service{d: d, throttle: newThrottle(), devices: deviceCookies{key: d.DeviceKey}}
}

// Params are the argon2id parameters in use.
func (s *Service) Params() Params { return s.d.Params }

// dummyHash is hashed against when the e-mail is unknown, so that case costs the same time as a
// wrong password.
func (s *Service) dummyHash() string {
	s.dummyOnce.Do(func() {
		started := time.Now()
		s.dummy, _ = HashPassword("candour-dummy-password", s.d.Params)
		if s.d.FailureFloor > 0 {
			s.floor = max(s.d.FailureFloor, 3*time.Since(started))
		}
	})
	return s.dummy
}

// Login is a sign-in attempt.
type Login struct {
	Email    string
	Password string
	TOTP     string // a TOTP code or a recovery code
	// AllowSetup lets an account that must still enrol TOTP or change its password in, with a
	// setup session (the web does; the API does not).
	AllowSetup bool
	// Device is the browser's device cookie, if it has one: a browser that signed in to this
	// account before spends its own budget of failures and goes first in the password queue.
	Device string
}

// Issued is a new session and its first token.
type Issued struct {
	Token   string
	Expires time.Time
	Session *store.Session
	User    *store.User
	// Device is the device cookie to keep in the browser (the one presented, when it was this
	// account's; otherwise a new one).
	Device string
}

// SignIn checks a login and opens a session. Every failure is ErrBadCredentials (except
// ErrSetupRequired after a right password), charged to the attempt's budget and audited. An
// attempt whose budget must wait is refused with a TooMany fault saying how long, and one that
// finds the password queue full with ErrBusy; neither checks anything, and both are answered
// at once unless refusals come faster than any person sends them (refusalPace).
//
// A refused sign-in is answered no sooner than the failure floor after it began, whatever the
// reason: an unknown e-mail skips the account's transaction (credentials, failure count), which
// would make it answer measurably sooner than a wrong password, enough to tell which e-mail
// addresses have accounts.
func (s *Service) SignIn(ctx context.Context, l Login) (*Issued, error) {
	started := time.Now()
	issued, err := s.signIn(ctx, l)
	switch {
	case errors.Is(err, ErrBadCredentials):
		s.dummyHash() // sets the floor
		sleep(ctx, s.floor-time.Since(started))
	case fault.Is(err, fault.TooMany):
		s.refusals.wait(ctx)
	}
	return issued, err
}

func (s *Service) signIn(ctx context.Context, l Login) (*Issued, error) {
	now := s.d.Now()
	if len(l.Email) > 254 || len(l.Password) > MaxPasswordLength || len(l.TOTP) > 32 {
		return nil, ErrBadCredentials
	}
	// The budget the attempt spends and its lane in the password queue: a browser holding this
	// account's device cookie has its own; any other spends the address's. Refusals come before
	// the database is asked anything, so a flood of them costs next to nothing.
	spend, lane, device := accountCharge(l.Email), laneOther, ""
	uid, id, known := s.devices.open(l.Device)
	if known {
		spend, lane, device = charge{device: true, key: id}, laneFirst, l.Device
	}
	if err := s.admit(spend, lane, now); err != nil {
		return nil, err
	}
	u, err := s.d.Store.UserByEmail(ctx, l.Email)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if known && (u == nil || uid != u.ID) { // another account's cookie: an unknown browser here
		spend, lane, device = accountCharge(l.Email), laneOther, ""
		if err := s.admit(spend, lane, now); err != nil {
			return nil, err
		}
	}
	if u == nil {
		if _, admitted := verifyPassword(s.dummyHash(), l.Password, lane, true); !admitted {
			return nil, ErrBusy
		}
		s.throttle.fail(spend, now)
		_ = audit.Record(ctx, s.d.Store, audit.Event{Action: "auth.login_failed", Actor: audit.ActorSystem,
			Details: map[string]string{"reason": "unknown_account"}})
		return nil, ErrBadCredentials
	}
	// The password is checked before the transaction: a sign-in waiting its turn in the queue
	// must hold neither a pooled connection nor the account's row, or the account's owner would
	// wait behind an attacker's attempts whatever their lane.
	cred, err := s.d.Store.CredentialsFor(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	checked := s.dummyHash()
	if cred.PasswordHash != nil {
		checked = *cred.PasswordHash
	}
	match, admitted := verifyPassword(checked, l.Password, lane, true)
	if !admitted {
		return nil, ErrBusy
	}
	var issued *Issued
	var fail string
	err = s.d.Store.Tx(ctx, func(tx *store.Store) error {
		cred, err := tx.CredentialsFor(ctx, u.ID)
		if err != nil {
			return err
		}
		// A password changed since it was checked is not the one that matched.
		passwordOK := match && cred.PasswordHash != nil && *cred.PasswordHash == checked
		switch {
		case u.Status != "active":
			fail = "disabled"
		case !passwordOK:
			fail = "password"
		}
		if fail == "" && !LocalOnly(u) {
			// An account bound to the provider signs in only through it (see sso.go).
			bound, err := tx.HasSSOSubject(ctx, u.ID)
			if err != nil {
				return err
			}
			if bound {
				fail = "sso_only"
			}
		}
		stage := StageFull
		if fail == "" && cred.TOTPEnabled {
			// A secret that is missing or does not open for this account (copied from another
			// row) is no second factor at all.
			secret, serr := s.openTOTP(u.ID, cred.TOTPSealed)
			if serr != nil {
				fail = "second_factor"
			} else if step, ok := checkTOTP(secret, l.TOTP, now, cred.TOTPLastStep); ok {
				err = tx.UseTOTPStep(ctx, u.ID, step)
			} else if h := matchRecovery(cred.RecoveryCodes, l.TOTP); h != nil {
				err = tx.RemoveRecoveryCode(ctx, u.ID, h)
			} else {
				fail = "second_factor"
			}
			if err != nil {
				return err
			}
		} else if fail == "" && NeedsSecondFactor(u) {
			stage = StageSetup // must enrol before doing anything
		}
		if fail == "" && cred.MustChangePassword {
			stage = StageSetup
		}
		if fail == "" && stage == StageSetup && !l.AllowSetup {
			fail = "setup_required"
		}
		if fail != "" {
			if fail == "password" || fail == "second_factor" {
				if err := tx.RecordLoginFailure(ctx, u.ID); err != nil {
					return err
				}
			}
			return audit.Record(ctx, tx, audit.Event{ActorID: u.ID, Action: "auth.login_failed", ObjectType: "user",
				ObjectID: strconv.FormatInt(u.ID, 10), Details: map[string]string{"reason": fail}})
		}
		if err := tx.ClearLoginFailures(ctx, u.ID); err != nil {
			return err
		}
		if NeedsRehash(*cred.PasswordHash, s.d.Params) {
			if h, err := HashPassword(l.Password, s.d.Params); err == nil {
				_ = tx.SetPassword(ctx, u.ID, h, cred.MustChangePassword, now)
			}
		}
		issued, err = s.open(ctx, tx, u, stage, "password", now)
		if err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.Event{ActorID: u.ID, Action: "auth.login", ObjectType: "session",
			ObjectID: issued.Session.ID, Details: map[string]string{"stage": stage}})
	})
	if err != nil {
		return nil, err
	}
	switch fail {
	case "":
	case "setup_required":
		return nil, ErrSetupRequired
	default:
		// Every refusal spends alike, or the throttle would tell a disabled account from a
		// wrong password.
		s.throttle.fail(spend, now)
		return nil, ErrBadCredentials
	}
	s.throttle.succeed(spend)
	if device == "" {
		if device, err = s.devices.issue(u.ID); err != nil {
			return nil, err
		}
	}
	issued.Device = device
	return issued, nil
}

// admit refuses an attempt whose budget must wait, or whose lane of the password queue is
// full; what it admits may still find the lane full by the time it gets there.
func (s *Service) admit(spend charge, lane int, now time.Time) error {
	if wait := s.throttle.wait(spend, now); wait > 0 {
		return errThrottled(wait)
	}
	if hashes.full(lane) {
		return ErrBusy
	}
	return nil
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

func (s *Service) open(ctx context.Context, tx *store.Store, u *store.User, stage, method string, now time.Time) (*Issued, error) {
	return s.openWith(ctx, tx, u, stage, method, nil, now)
}

// openWith is open keeping the provider's sealed ID token with an SSO session.
func (s *Service) openWith(ctx context.Context, tx *store.Store, u *store.User, stage, method string, idToken []byte,
	now time.Time) (*Issued, error) {
	id, err := randomHex(16)
	if err != nil {
		return nil, err
	}
	csrf, err := randomHex(32)
	if err != nil {
		return nil, err
	}
	now = now.UTC().Truncate(time.Microsecond)
	se := &store.Session{ID: id, UserID: u.ID, Stage: stage, CSRF: csrf, CreatedAt: now, LastSeenAt: now,
		ExpiresAt: now.Add(AbsoluteTTL), Method: method, SSOIDToken: idToken}
	if err := tx.InsertSession(ctx, se); err != nil {
		return nil, err
	}
	raw, exp, err := s.issue(se, now)
	if err != nil {
		return nil, err
	}
	return &Issued{Token: raw, Expires: exp, Session: se, User: u}, nil
}

// issue signs a token for se, never outliving the session's absolute maximum.
func (s *Service) issue(se *store.Session, now time.Time) (string, time.Time, error) {
	ttl := TokenTTL
	if left := se.ExpiresAt.Sub(now); left < ttl {
		ttl = left
	}
	if ttl < time.Second {
		return "", time.Time{}, ErrUnauthorized
	}
	raw, claims, err := s.d.Tokens.Issue(token.AudienceStaff, strconv.FormatInt(se.UserID, 10), se.ID, ttl)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("auth: sign token: %w", err)
	}
	return raw, claims.ExpiresAt.Time, nil
}

// Principal is a verified staff caller.
type Principal struct {
	User    *store.User
	Session *store.Session
	// Renewed, when set, is a fresh token that replaces the one presented (sliding renewal):
	// the web puts it in the cookie, the API in the X-Candour-Token header.
	Renewed        string
	RenewedExpires time.Time
}

// Authenticate checks a staff token: signature, claims, a live session of the same user, an
// active user, and the session stage (a setup session only passes when allowSetup). Every
// failure is ErrUnauthorized.
func (s *Service) Authenticate(ctx context.Context, raw string, allowSetup bool) (*Principal, error) {
	claims, err := s.d.Tokens.Verify(token.AudienceStaff, raw)
	if err != nil || claims.Session == "" {
		return nil, ErrUnauthorized
	}
	uid, err := strconv.ParseInt(claims.Subject, 10, 64)
	if err != nil {
		return nil, ErrUnauthorized
	}
	se, err := s.d.Store.SessionByID(ctx, claims.Session)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUnauthorized
	}
	if err != nil {
		return nil, err
	}
	now := s.d.Now()
	if se.UserID != uid || se.RevokedAt != nil || !now.Before(se.ExpiresAt) || now.Sub(se.LastSeenAt) > TokenTTL ||
		(se.Stage != StageFull && !allowSetup) {
		return nil, ErrUnauthorized
	}
	u, err := s.d.Store.UserByID(ctx, uid)
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.Status != "active") {
		return nil, ErrUnauthorized
	}
	if err != nil {
		return nil, err
	}
	if now.Sub(se.LastSeenAt) > touchEvery {
		if err := s.d.Store.TouchSession(ctx, se.ID, now); err != nil {
			return nil, err
		}
	}
	p := &Principal{User: u, Session: se}
	if claims.ExpiresAt.Sub(now) < renewWhenLeft {
		if raw, exp, err := s.issue(se, now); err == nil {
			p.Renewed, p.RenewedExpires = raw, exp
		}
	}
	return p, nil
}

// SignOut revokes the session of p.
func (s *Service) SignOut(ctx context.Context, p *Principal) error {
	return s.d.Store.Tx(ctx, func(tx *store.Store) error {
		if err := tx.RevokeSession(ctx, p.Session.ID, "logout", s.d.Now()); err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.Event{ActorID: p.User.ID, Action: "auth.logout", ObjectType: "session",
			ObjectID: p.Session.ID})
	})
}

// RevokeUser ends every session of userID (disable, role change, admin reset), keeping keep.
func (s *Service) RevokeUser(ctx context.Context, tx *store.Store, userID int64, keep, reason string) error {
	_, err := tx.RevokeUserSessions(ctx, userID, keep, reason, s.d.Now())
	return err
}

// ChangePassword checks the current password, applies the rules, stores the new hash, ends the
// user's other sessions and promotes this one if it was a setup session for a forced change.
func (s *Service) ChangePassword(ctx context.Context, p *Principal, current, next string) error {
	if err := CheckPassword(next, p.User.Email); err != nil {
		return &fault.Error{Kind: fault.Invalid, Code: "invalid", Message: "error.invalid",
			Fields: map[string]string{"new_password": err.Error()}}
	}
	return s.d.Store.Tx(ctx, func(tx *store.Store) error {
		cred, err := tx.CredentialsFor(ctx, p.User.ID)
		if err != nil {
			return err
		}
		if cred.PasswordHash == nil || !VerifyPassword(*cred.PasswordHash, current) {
			return &fault.Error{Kind: fault.Invalid, Code: "invalid", Message: "error.invalid",
				Fields: map[string]string{"current_password": "password.wrong"}}
		}
		h, err := HashPassword(next, s.d.Params)
		if err != nil {
			return err
		}
		if err := tx.SetPassword(ctx, p.User.ID, h, false, s.d.Now()); err != nil {
			return err
		}
		if err := s.RevokeUser(ctx, tx, p.User.ID, p.Session.ID, "password_change"); err != nil {
			return err
		}
		if err := s.promote(ctx, tx, p, cred.TOTPEnabled); err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.Event{ActorID: p.User.ID, Action: "user.password_change", ObjectType: "user",
			ObjectID: strconv.FormatInt(p.User.ID, 10)})
	})
}

// promote makes a setup session full once nothing is outstanding.
func (s *Service) promote(ctx context.Context, tx *store.Store, p *Principal, totpEnabled bool) error {
	if p.Session.Stage == StageFull {
		return nil
	}
	cred, err := tx.CredentialsFor(ctx, p.User.ID)
	if err != nil {
		return err
	}
	if cred.MustChangePassword || (NeedsSecondFactor(p.User) && !cred.TOTPEnabled) {
		return nil
	}
	p.Session.Stage = StageFull
	return tx.SetSessionStage(ctx, p.Session.ID, StageFull)
}

// Enrolment is a pending TOTP enrolment: the secret travels in a hidden form field only in the
// signed-in, CSRF-protected enrolment form and is stored once a code from it is confirmed.
type Enrolment struct {
	Secret string
	QR     string // data: URL
	URL    string // otpauth:// URL, for copy-paste
}

// StartEnrolment makes a new TOTP secret for p.
func (s *Service) StartEnrolment(p *Principal) (*Enrolment, error) {
	k, err := NewTOTP(p.User.Email)
	if err != nil {
		return nil, err
	}
	return EnrolmentFor(p.User.Email, k.Secret())
}

// EnrolmentFor renders the enrolment of an existing secret.
func EnrolmentFor(email, secret string) (*Enrolment, error) {
	k, err := TOTPKey(email, secret)
	if err != nil {
		return nil, err
	}
	qr, err := QRDataURL(k)
	if err != nil {
		return nil, err
	}
	return &Enrolment{Secret: secret, QR: qr, URL: k.URL()}, nil
}

// ErrBadCode: the confirmation code does not match the secret being enrolled.
var ErrBadCode = &fault.Error{Kind: fault.Invalid, Code: "invalid", Message: "error.invalid",
	Fields: map[string]string{"code": "totp.wrong"}}

// ConfirmEnrolment stores secret once code proves the authenticator has it, replaces the
// recovery codes (returned, to show once), ends the user's other sessions and promotes this
// one.
//
// Replacing a second factor that is already set also needs the current password: a stolen
// session alone must not be able to swap in its own device and lock the owner out.
func (s *Service) ConfirmEnrolment(ctx context.Context, p *Principal, secret, code, currentPassword string) ([]string, error) {
	if len(secret) < 16 || len(secret) > 64 {
		return nil, ErrBadCode
	}
	step, ok := checkTOTP(secret, code, s.d.Now(), 0)
	if !ok {
		return nil, ErrBadCode
	}
	cred, err := s.d.Store.CredentialsFor(ctx, p.User.ID)
	if err != nil {
		return nil, err
	}
	if cred.TOTPEnabled && (cred.PasswordHash == nil || !VerifyPassword(*cred.PasswordHash, currentPassword)) {
		return nil, &fault.Error{Kind: fault.Invalid, Code: "invalid", Message: "error.invalid",
			Fields: map[string]string{"current_password": "password.wrong"}}
	}
	codes, hashes, err := NewRecoveryCodes()
	if err != nil {
		return nil, err
	}
	err = s.d.Store.Tx(ctx, func(tx *store.Store) error {
		sealed, err := s.SealTOTP(p.User.ID, secret)
		if err != nil {
			return err
		}
		if err := tx.SetTOTP(ctx, p.User.ID, sealed, true, hashes); err != nil {
			return err
		}
		if err := tx.UseTOTPStep(ctx, p.User.ID, step); err != nil {
			return err
		}
		if err := s.RevokeUser(ctx, tx, p.User.ID, p.Session.ID, "totp_enrolled"); err != nil {
			return err
		}
		if err := s.promote(ctx, tx, p, true); err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.Event{ActorID: p.User.ID, Action: "user.totp_enrol", ObjectType: "user",
			ObjectID: strconv.FormatInt(p.User.ID, 10)})
	})
	return codes, err
}

// SetupStep says what a setup session must do next: "password" (a forced change), "totp"
// (enrol a second factor) or "" (nothing).
func (s *Service) SetupStep(ctx context.Context, u *store.User) (string, error) {
	var step string
	err := s.d.Store.Tx(ctx, func(tx *store.Store) error {
		cred, err := tx.CredentialsFor(ctx, u.ID)
		if err != nil {
			return err
		}
		switch {
		case cred.MustChangePassword:
			step = "password"
		case NeedsSecondFactor(u) && !cred.TOTPEnabled:
			step = "totp"
		}
		return nil
	})
	return step, err
}
