package auth_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"candour/internal/accounts"
	"candour/internal/audit"
	"candour/internal/auth"
	"candour/internal/dbtest"
	"candour/internal/fault"
	"candour/internal/seal"
	"candour/internal/store"
	"candour/internal/token"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// fast parameters keep the tests quick; production uses DefaultParams.
var fast = auth.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

type fixture struct {
	svc   *auth.Service
	acc   *accounts.Service
	st    *store.Store
	db    *sqlx.DB
	clock *clock
	keys  *token.Keys
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db := dbtest.New(t)
	st := store.New(db)
	keys, err := token.LoadOrCreate(filepath.Join(t.TempDir(), "jwt"))
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Now()}
	keys.SetClock(c.now)
	secrets, err := seal.LoadOrCreateServerKey(filepath.Join(t.TempDir(), "data.key"))
	if err != nil {
		t.Fatal(err)
	}
	svc := auth.New(auth.Deps{Store: st, Tokens: keys, Params: fast, Now: c.now, Secrets: secrets})
	return &fixture{svc: svc, acc: accounts.New(accounts.Deps{Store: st, Auth: svc, Now: c.now}), st: st, db: db, clock: c, keys: keys}
}

const goodPassword = "correct horse battery"

func (f *fixture) user(t *testing.T, email string, roles ...string) *accounts.Created {
	t.Helper()
	c, err := f.acc.Create(context.Background(), accounts.Console(), accounts.NewUser{Email: email, Name: "Test " + email,
		Roles: roles, Password: goodPassword})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (f *fixture) code(t *testing.T, secret string) string {
	t.Helper()
	code, err := auth.CodeAt(secret, f.clock.now())
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// withCode fills in the current TOTP code, first moving the clock to the next 30-second step
// (a code is accepted once).
func (f *fixture) withCode(t *testing.T, c *accounts.Created, l auth.Login) auth.Login {
	t.Helper()
	f.clock.advance(30 * time.Second)
	l.TOTP = f.code(t, c.TOTPSecret)
	return l
}

func TestPasswordRules(t *testing.T) {
	cases := []struct {
		pw   string
		want error
	}{
		{"short", auth.ErrPasswordShort},
		{"elevenchars", auth.ErrPasswordShort},
		{"Password123!", auth.ErrPasswordCommon},
		{"QWERTYUIOP123", auth.ErrPasswordCommon},
		{"gwen@example.org", auth.ErrPasswordEmail},
		{strings.Repeat("a", auth.MaxPasswordLength+1), auth.ErrPasswordLong},
		{"llanfair pwll gwyngyll", nil},
		{"ŵŷŵŷŵŷŵŷŵŷŵŷ", nil},
	}
	for _, tc := range cases {
		if got := auth.CheckPassword(tc.pw, "gwen@example.org"); got != tc.want {
			t.Errorf("CheckPassword(%q): got %v, want %v", tc.pw, got, tc.want)
		}
	}
}

func TestPasswordHash(t *testing.T) {
	h, err := auth.HashPassword(goodPassword, fast)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=1024,t=1,p=1$") {
		t.Errorf("got %s, want a PHC argon2id string", h)
	}
	if !auth.VerifyPassword(h, goodPassword) || auth.VerifyPassword(h, goodPassword+"x") {
		t.Errorf("verify does not tell right from wrong")
	}
	h2, _ := auth.HashPassword(goodPassword, fast)
	if h == h2 {
		t.Errorf("two hashes of one password are equal: salt missing")
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5", "$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5"} {
		if auth.VerifyPassword(bad, goodPassword) {
			t.Errorf("malformed hash %q verified", bad)
		}
	}
	if !auth.NeedsRehash(h, auth.DefaultParams) || auth.NeedsRehash(h, fast) {
		t.Errorf("NeedsRehash wrong")
	}
}

func TestSignInWithTOTP(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := f.user(t, "mo@example.gov.uk", "monitoring_officer")

	// Right password without the code fails the same way as a wrong password.
	if _, err := f.svc.SignIn(ctx, auth.Login{Email: "mo@example.gov.uk", Password: goodPassword}); err != auth.ErrBadCredentials {
		t.Fatalf("no code: got %v, want ErrBadCredentials", err)
	}
	code := f.code(t, c.TOTPSecret)
	is, err := f.svc.SignIn(ctx, auth.Login{Email: "MO@example.gov.uk", Password: goodPassword, TOTP: code})
	if err != nil {
		t.Fatal(err)
	}
	if is.Session.Stage != auth.StageFull || is.Token == "" {
		t.Fatalf("got stage %s, want a full session with a token", is.Session.Stage)
	}
	// The same code cannot be replayed.
	if _, err := f.svc.SignIn(ctx, auth.Login{Email: "mo@example.gov.uk", Password: goodPassword, TOTP: code}); err != auth.ErrBadCredentials {
		t.Fatalf("replayed code: got %v, want ErrBadCredentials", err)
	}
	p, err := f.svc.Authenticate(ctx, is.Token, false)
	if err != nil || p.User.ID != c.User.ID {
		t.Fatalf("authenticate: got %v, %v", p, err)
	}
}

func TestRecoveryCodesWorkOnce(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := f.user(t, "auditor@example.gov.uk", "auditor")
	is, err := f.svc.SignIn(ctx, auth.Login{Email: "auditor@example.gov.uk", Password: goodPassword, TOTP: f.code(t, c.TOTPSecret)})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := f.svc.Authenticate(ctx, is.Token, false)
	f.clock.advance(31 * time.Second)
	ce, _ := f.svc.StartEnrolment(p)
	// Replacing the second factor the account already has: the code alone is not enough.
	if _, err := f.svc.ConfirmEnrolment(ctx, p, ce.Secret, f.code(t, ce.Secret), "not the password"); err == nil {
		t.Fatal("re-enrolment without the current password: got nil error, want one")
	}
	codes, err := f.svc.ConfirmEnrolment(ctx, p, ce.Secret, f.code(t, ce.Secret), goodPassword)
	if err != nil || len(codes) != 10 {
		t.Fatalf("enrol: got %d codes, %v", len(codes), err)
	}
	login := auth.Login{Email: "auditor@example.gov.uk", Password: goodPassword, TOTP: strings.ToUpper(codes[3])}
	if _, err := f.svc.SignIn(ctx, login); err != nil {
		t.Fatalf("recovery code: %v", err)
	}
	if _, err := f.svc.SignIn(ctx, login); err != auth.ErrBadCredentials {
		t.Fatalf("recovery code reused: got %v, want ErrBadCredentials", err)
	}
	// Enrolling kept the session it was done in.
	if _, err := f.svc.Authenticate(ctx, is.Token, false); err != nil {
		t.Errorf("enrolling ended its own session: %v", err)
	}
}

func TestUnknownEmailAndWrongPasswordLookTheSame(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.user(t, "lead@example.gov.uk", "service_lead")
	_, e1 := f.svc.SignIn(ctx, auth.Login{Email: "nobody@example.gov.uk", Password: goodPassword})
	_, e2 := f.svc.SignIn(ctx, auth.Login{Email: "lead@example.gov.uk", Password: "wrong password!!"})
	if e1 != auth.ErrBadCredentials || e2 != auth.ErrBadCredentials {
		t.Fatalf("got %v and %v, want ErrBadCredentials twice", e1, e2)
	}
}

// throttled reports whether err refuses the attempt unchecked, and how long it says to wait.
func throttled(err error) (time.Duration, bool) {
	fe, ok := fault.As(err)
	if !ok || fe.Kind != fault.TooMany || fe.Code != "too_many_attempts" {
		return 0, false
	}
	return fe.RetryAfter, true
}

// Someone who knows the Monitoring Officer's address fails again and again from a browser that
// never signed in to the account: they are slowed, then refused with a wait that grows to 15
// minutes and never becomes a lock, while the Monitoring Officer's own browser (its device
// cookie) signs in throughout. A forged or another account's cookie buys nothing, an unknown
// address is throttled exactly alike, and a lock left by the old code is not honoured.
func TestThrottleNotLock(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	mo := f.user(t, "mo@example.gov.uk", "monitoring_officer")
	other := f.user(t, "deputy@example.gov.uk", "deputy_monitoring_officer")
	right := auth.Login{Email: "mo@example.gov.uk", Password: goodPassword}
	is, err := f.svc.SignIn(ctx, f.withCode(t, mo, right))
	if err != nil || is.Device == "" {
		t.Fatalf("first sign-in: got device %q, %v; want a device cookie", is.Device, err)
	}
	known := right
	known.Device = is.Device
	oi, err := f.svc.SignIn(ctx, f.withCode(t, other, auth.Login{Email: other.User.Email, Password: goodPassword}))
	if err != nil {
		t.Fatal(err)
	}

	for _, email := range []string{"mo@example.gov.uk", "nobody@example.gov.uk"} {
		wrong := auth.Login{Email: email, Password: "not the password", TOTP: "123456"}
		for i := range 5 {
			if _, err := f.svc.SignIn(ctx, wrong); err != auth.ErrBadCredentials {
				t.Fatalf("%s: failure %d: got %v, want ErrBadCredentials", email, i+1, err)
			}
		}
		if wait, ok := throttled(firstErr(f.svc.SignIn(ctx, wrong))); !ok || wait != time.Second {
			t.Fatalf("%s: sixth attempt: got wait %v (throttled %v), want 1s", email, wait, ok)
		}
	}
	// The attacker goes on, waiting each time as told: the wait doubles to 15 minutes and
	// stays there; it never becomes a lock.
	wrong := auth.Login{Email: "mo@example.gov.uk", Password: "not the password"}
	last := time.Second
	for range 14 {
		f.clock.advance(last)
		if _, err := f.svc.SignIn(ctx, wrong); err != auth.ErrBadCredentials {
			t.Fatalf("after waiting %v: got %v, want a checked (wrong) attempt", last, err)
		}
		wait, ok := throttled(firstErr(f.svc.SignIn(ctx, wrong)))
		if !ok || wait <= 0 || wait > 15*time.Minute {
			t.Fatalf("got wait %v (throttled %v), want a wait of at most 15 minutes", wait, ok)
		}
		last = wait
	}
	if last != 15*time.Minute {
		t.Errorf("after 19 failures: got wait %v, want 15m", last)
	}
	// Now even the right password and code from an unknown browser wait, as must a tampered
	// cookie and another account's.
	forged := []byte(is.Device)
	forged[10] ^= 1
	for name, dev := range map[string]string{"none": "", "forged": string(forged), "other account's": oi.Device,
		"truncated": is.Device[:len(is.Device)-2], "garbage": "x"} {
		l := f.withCode(t, mo, right)
		l.Device = dev
		if _, ok := throttled(firstErr(f.svc.SignIn(ctx, l))); !ok {
			t.Errorf("%s device cookie: got through, want the unknown browsers' budget (throttled)", name)
		}
	}
	// The Monitoring Officer's browser signs in.
	got, err := f.svc.SignIn(ctx, f.withCode(t, mo, known))
	if err != nil {
		t.Fatalf("known device during the attack: %v", err)
	}
	if got.Device != is.Device {
		t.Errorf("known device: got a new cookie, want the same one kept")
	}
	// Its own failures spend its own budget.
	kwrong := known
	kwrong.Password = "typo typo typo"
	for range 5 {
		_, _ = f.svc.SignIn(ctx, kwrong)
	}
	if _, ok := throttled(firstErr(f.svc.SignIn(ctx, kwrong))); !ok {
		t.Errorf("known device after its own 5 failures: got checked, want throttled")
	}
	// Waiting out the unknown browsers' wait, the owner signs in from a new browser too.
	f.clock.advance(last)
	if _, err := f.svc.SignIn(ctx, f.withCode(t, mo, right)); err != nil {
		t.Fatalf("new browser after the wait: %v", err)
	}
	// A lock written by the old code is not honoured.
	if _, err := f.db.Exec(`UPDATE users SET locked_until = now() + interval '1 day', failed_attempts = 10 WHERE id = $1`, mo.User.ID); err != nil {
		t.Fatal(err)
	}
	f.clock.advance(time.Hour)
	if _, err := f.svc.SignIn(ctx, f.withCode(t, mo, known)); err != nil {
		t.Fatalf("with an old lock in the row: %v", err)
	}
}

func firstErr(_ *auth.Issued, err error) error { return err }

func TestSessionLifetimes(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := f.user(t, "cllr@example.gov.uk", "councillor")
	login := auth.Login{Email: "cllr@example.gov.uk", Password: goodPassword}
	is, err := f.svc.SignIn(ctx, f.withCode(t, c, login))
	if err != nil {
		t.Fatal(err)
	}
	// Sliding: a request every 10 minutes keeps the session alive, each renewing the token.
	tok := is.Token
	for i := 0; i < 5; i++ {
		f.clock.advance(10 * time.Minute)
		p, err := f.svc.Authenticate(ctx, tok, false)
		if err != nil {
			t.Fatalf("after %d min: %v", (i+1)*10, err)
		}
		if p.Renewed == "" {
			t.Fatalf("after %d min: no renewed token", (i+1)*10)
		}
		tok = p.Renewed
	}
	// Idle for 16 minutes: gone.
	f.clock.advance(16 * time.Minute)
	if _, err := f.svc.Authenticate(ctx, tok, false); err != auth.ErrUnauthorized {
		t.Fatalf("idle: got %v, want ErrUnauthorized", err)
	}
	// Absolute: however active, 12 hours is the end.
	is, _ = f.svc.SignIn(ctx, f.withCode(t, c, login))
	tok = is.Token
	var lastErr error
	for elapsed := time.Duration(0); elapsed <= 13*time.Hour; elapsed += 10 * time.Minute {
		f.clock.advance(10 * time.Minute)
		p, err := f.svc.Authenticate(ctx, tok, false)
		if err != nil {
			lastErr = err
			if elapsed < 11*time.Hour {
				t.Fatalf("active session ended after %v: %v", elapsed, err)
			}
			break
		}
		if p.Renewed != "" {
			tok = p.Renewed
		}
	}
	if lastErr != auth.ErrUnauthorized {
		t.Fatalf("a session outlived 12 hours")
	}
}

func TestRevocation(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := f.user(t, "cllr@example.gov.uk", "councillor")
	login := auth.Login{Email: "cllr@example.gov.uk", Password: goodPassword}
	sign := func() string {
		is, err := f.svc.SignIn(ctx, f.withCode(t, c, login))
		if err != nil {
			t.Fatal(err)
		}
		return is.Token
	}
	a, b := sign(), sign()
	pa, _ := f.svc.Authenticate(ctx, a, false)
	if err := f.svc.SignOut(ctx, pa); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Authenticate(ctx, a, false); err != auth.ErrUnauthorized {
		t.Errorf("after logout: got %v, want ErrUnauthorized", err)
	}
	if _, err := f.svc.Authenticate(ctx, b, false); err != nil {
		t.Errorf("the other session ended too: %v", err)
	}
	// Password change ends the other sessions but keeps this one.
	pb, _ := f.svc.Authenticate(ctx, b, false)
	d := sign()
	newPassword := "a different long passphrase"
	if err := f.svc.ChangePassword(ctx, pb, goodPassword, newPassword); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Authenticate(ctx, d, false); err != auth.ErrUnauthorized {
		t.Errorf("other session after password change: got %v", err)
	}
	if _, err := f.svc.Authenticate(ctx, b, false); err != nil {
		t.Errorf("own session after password change: %v", err)
	}
	// Disabling ends everything, and a disabled user cannot sign in.
	if err := f.acc.Disable(ctx, accounts.Console(), c.User.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Authenticate(ctx, b, false); err != auth.ErrUnauthorized {
		t.Errorf("after disable: got %v", err)
	}
	if _, err := f.svc.SignIn(ctx, f.withCode(t, c, auth.Login{Email: "cllr@example.gov.uk", Password: newPassword})); err != auth.ErrBadCredentials {
		t.Errorf("disabled sign-in: got %v", err)
	}
	// Every step was audited, and the chain holds.
	ok, n, _, err := audit.Verify(ctx, f.st)
	if err != nil || !ok || n < 8 {
		t.Errorf("audit: ok=%v events=%d err=%v", ok, n, err)
	}
}

func TestSetupSessionForMissingSecondFactor(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := f.user(t, "admin@example.gov.uk", "admin")
	// An account without a second factor (a console account made before enrolment links).
	if err := f.st.SetTOTP(ctx, c.User.ID, nil, false, nil); err != nil {
		t.Fatal(err)
	}
	login := auth.Login{Email: "admin@example.gov.uk", Password: goodPassword}
	if _, err := f.svc.SignIn(ctx, login); !errors.Is(err, auth.ErrSetupRequired) {
		t.Fatalf("API sign-in: got %v, want ErrSetupRequired", err)
	}
	login.AllowSetup = true
	is, err := f.svc.SignIn(ctx, login)
	if err != nil || is.Session.Stage != auth.StageSetup {
		t.Fatalf("web sign-in: got %v, %v, want a setup session", is, err)
	}
	if _, err := f.svc.Authenticate(ctx, is.Token, false); err != auth.ErrUnauthorized {
		t.Fatalf("setup session on a full route: got %v", err)
	}
	p, err := f.svc.Authenticate(ctx, is.Token, true)
	if err != nil {
		t.Fatal(err)
	}
	e, _ := f.svc.StartEnrolment(p)
	if _, err := f.svc.ConfirmEnrolment(ctx, p, e.Secret, "000000", ""); err == nil {
		t.Fatalf("wrong code accepted")
	}
	if _, err := f.svc.ConfirmEnrolment(ctx, p, e.Secret, f.code(t, e.Secret), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Authenticate(ctx, is.Token, false); err != nil {
		t.Fatalf("after enrolment the session is full: %v", err)
	}
}

// A TOTP secret is sealed at rest, bound to its account: the database holds no secret in
// plain, a sealed one copied to another account's row opens for nobody (sign-in fails, even
// with that account's password and the copied secret's code), and a plain secret left from
// before is sealed by SealPlainSecrets and keeps working.
func TestTOTPSecretSealedAndBoundToItsAccount(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a := f.user(t, "a@example.gov.uk", "admin")
	b := f.user(t, "b@example.gov.uk", "auditor")
	var plain *string
	var sealedA []byte
	if err := f.db.QueryRowContext(ctx, `SELECT totp_secret, totp_sealed FROM users WHERE id = $1`, a.User.ID).Scan(&plain, &sealedA); err != nil {
		t.Fatal(err)
	}
	if plain != nil || len(sealedA) == 0 || strings.Contains(string(sealedA), a.TOTPSecret) {
		t.Fatalf("stored: plain %v, sealed %d bytes; want only a sealed secret", plain, len(sealedA))
	}
	if _, err := f.db.ExecContext(ctx, `UPDATE users SET totp_sealed = $2 WHERE id = $1`, b.User.ID, sealedA); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.SignIn(ctx, auth.Login{Email: "b@example.gov.uk", Password: goodPassword, TOTP: f.code(t, a.TOTPSecret)}); !errors.Is(err, auth.ErrBadCredentials) {
		t.Errorf("sign in with a secret moved from another account: got %v, want ErrBadCredentials", err)
	}
	// A secret stored in plain before sealing: sealed at start, and it still signs in.
	if _, err := f.db.ExecContext(ctx, `UPDATE users SET totp_sealed = NULL, totp_secret = $2 WHERE id = $1`, b.User.ID, b.TOTPSecret); err != nil {
		t.Fatal(err)
	}
	if n, err := f.svc.SealPlainSecrets(ctx); err != nil || n != 1 {
		t.Fatalf("seal plain secrets: got %d, %v; want 1", n, err)
	}
	if _, err := f.svc.SignIn(ctx, auth.Login{Email: "b@example.gov.uk", Password: goodPassword, TOTP: f.code(t, b.TOTPSecret)}); err != nil {
		t.Errorf("sign in after sealing the plain secret: %v", err)
	}
}

func TestQRCode(t *testing.T) {
	e, err := auth.EnrolmentFor("mo@example.gov.uk", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(e.QR, "data:image/png;base64,") || !strings.Contains(e.URL, "issuer=Candour") {
		t.Errorf("got QR %.40s… URL %s", e.QR, e.URL)
	}
}

// The attack: whoever can write the enrolments table plants a token of their own for someone
// else's account, hashed as the table keeps tokens, and enrols a password and second factor in
// their place. The table keeps a MAC under the server key, which they do not have.
func TestPlantedEnrolmentTokenOpensNothing(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	victim := f.user(t, "victim@example.gov.uk", "auditor")
	const token = "planted-by-someone-who-writes-the-database"
	for _, stored := range [][]byte{
		func() []byte { s := sha256.Sum256([]byte(token)); return s[:] }(),
		func() []byte { s := sha256.Sum256([]byte("candour-enrolment:" + token)); return s[:] }(),
	} {
		if _, err := f.db.ExecContext(ctx, `INSERT INTO enrolments (token_hash, user_id, expires_at) VALUES ($1, $2, now() + interval '1 hour')`,
			stored, victim.User.ID); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.svc.EnrolmentAccount(ctx, token); !errors.Is(err, auth.ErrEnrolmentLink) {
		t.Errorf("a planted token: got %v, want ErrEnrolmentLink", err)
	}
	if _, err := f.svc.Enrol(ctx, auth.Enrol{Token: token, Password: "a brand new passphrase 2026", Secret: "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"}); !errors.Is(err, auth.ErrEnrolmentLink) {
		t.Errorf("enrolling with a planted token: got %v, want ErrEnrolmentLink", err)
	}
}
