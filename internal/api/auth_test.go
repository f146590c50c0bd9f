package api_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/golang-jwt/jwt/v5"
	"github.com/jmoiron/sqlx"

	"candour/internal/accounts"
	"candour/internal/domain"
	"candour/internal/intake"
	"candour/internal/portal"
	"candour/internal/portaltest"
	"candour/internal/store"
)

const password = portaltest.Password

type env struct {
	t       testing.TB
	p       *portal.Portal
	db      *sqlx.DB // the test's own SQL, in the portal's council
	dataDir string
	st      *store.Store
}

func start(t testing.TB) *env {
	t.Helper()
	e, _ := startWith(t)
	return e
}

type account struct {
	*accounts.Created
	token string
}

// user creates an account with roles and signs it in through the API.
func (e *env) user(email string, roles ...string) *account {
	e.t.Helper()
	n := accounts.NewUser{Email: email, Name: email, Roles: roles}
	if slices.Contains(roles, "custodian") { // a custodian always holds a key, pinned in the policy
		key, err := age.GenerateX25519Identity()
		if err != nil {
			e.t.Fatal(err)
		}
		r := key.Recipient().String()
		n.AgeRecipient = &r
		portaltest.PinCustodian(e.t, e.p, email, r)
	}
	return e.login(portaltest.Account(e.t, e.p, n))
}

// login signs a created account in through the API with its password and a TOTP code.
func (e *env) login(c *accounts.Created) *account {
	e.t.Helper()
	return &account{Created: c, token: portaltest.SignIn(e.t, e.p, c).Token}
}

// do sends in as JSON with a bearer token and any "Name: value" headers; the exchange is
// checked against the OpenAPI document (apicontract).
func (e *env) do(method, path, bearer string, in any, headers ...string) (int, string, http.Header) {
	e.t.Helper()
	if bearer != "" {
		headers = append(headers, "Authorization: Bearer "+bearer)
	}
	r := portaltest.DoJSON(e.t, e.p.URL(), method, path, in, headers...)
	return r.Status, string(r.Body), r.Header
}

// signingKey reads the portal's current signing key, so the test can forge otherwise-valid
// tokens that differ in one claim.
func (e *env) signingKey() (string, ed25519.PrivateKey) {
	e.t.Helper()
	dir := filepath.Join(e.dataDir, "keys", "signing")
	entries, err := os.ReadDir(dir)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, en := range entries {
		if strings.HasSuffix(en.Name(), ".pem") && !strings.HasPrefix(en.Name(), ".") {
			b, _ := os.ReadFile(filepath.Join(dir, en.Name()))
			k, err := jwt.ParseEdPrivateKeyFromPEM(b)
			if err != nil {
				e.t.Fatal(err)
			}
			return strings.TrimSuffix(en.Name(), ".pem"), k.(ed25519.PrivateKey)
		}
	}
	e.t.Fatal("no signing key")
	return "", nil
}

// report files an anonymous concern and returns its id and a mailbox token.
func (e *env) report(named ...string) (string, string) {
	e.t.Helper()
	filed, err := e.p.Intake.Submit(context.Background(), intake.ReportSubmission{Mode: "anonymous",
		ServiceArea: "childrens-services", Category: "misconduct", Summary: "Caseloads hidden",
		Details: "Cases were moved off the system before the inspection.", NamedPeople: named, Lang: "en"})
	if err != nil {
		e.t.Fatal(err)
	}
	c, err := e.st.ConcernByReference(context.Background(), filed.Reference)
	if err != nil {
		e.t.Fatal(err)
	}
	status, body, _ := e.do("POST", "/api/v1/mailbox/session", "", map[string]string{"receipt": filed.Receipt})
	if status != 200 {
		e.t.Fatalf("mailbox session: %d %s", status, body)
	}
	var out struct{ Token string }
	_ = json.Unmarshal([]byte(body), &out)
	return c.ID, out.Token
}

func TestJWTAttacksAre401(t *testing.T) {
	e := start(t)
	mo := e.user("elin.rowlands@enghraifft.example", "monitoring_officer")
	if status, body, _ := e.do("GET", "/api/v1/triage", mo.token, nil); status != 200 {
		t.Fatalf("valid token: got %d %s, want 200", status, body)
	}
	_, mailboxToken := e.report()

	kid, priv := e.signingKey()
	parts := strings.Split(mo.token, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims map[string]any
	_ = json.Unmarshal(payload, &claims)
	enc := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
	sign := func(change func(jwt.MapClaims)) string {
		c := jwt.MapClaims{}
		for k, v := range claims {
			c[k] = v
		}
		change(c)
		tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
		tok.Header["kid"] = kid
		s, err := tok.SignedString(priv)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	now := time.Now()
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(claims))
	hs.Header["kid"] = kid
	hsToken, _ := hs.SignedString([]byte(priv.Public().(ed25519.PublicKey)))
	tampered := strings.Replace(string(payload), `"sub":"`+claims["sub"].(string)+`"`, `"sub":"999"`, 1)

	attacks := map[string]string{
		"alg none":          enc(map[string]any{"alg": "none", "typ": "JWT", "kid": kid}) + "." + parts[1] + ".",
		"HS256 with pubkey": hsToken,
		"unknown kid":       enc(map[string]any{"alg": "EdDSA", "typ": "JWT", "kid": "19700101T000000-deadbeef"}) + "." + parts[1] + "." + parts[2],
		"expired": sign(func(c jwt.MapClaims) {
			c["exp"] = now.Add(-time.Minute).Unix()
			c["iat"] = now.Add(-20 * time.Minute).Unix()
		}),
		"not yet valid":    sign(func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Hour).Unix() }),
		"wrong issuer":     sign(func(c jwt.MapClaims) { c["iss"] = "someone-else" }),
		"mailbox token":    mailboxToken,
		"mailbox audience": sign(func(c jwt.MapClaims) { c["aud"] = []string{"mailbox"} }),
		"no session":       sign(func(c jwt.MapClaims) { delete(c, "sid") }),
		"tampered payload": parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(tampered)) + "." + parts[2],
		"oversized":        strings.Repeat("a", 5000),
		"garbage":          "not-a-token",
		"none at all":      "",
	}
	for name, tok := range attacks {
		status, body, _ := e.do("GET", "/api/v1/triage", tok, nil)
		if status != 401 || !strings.Contains(body, `"code":"unauthorized"`) {
			t.Errorf("%s: got %d %s, want 401 unauthorized", name, status, body)
		}
	}
	// A staff token never opens the mailbox.
	if status, _, _ := e.do("GET", "/api/v1/mailbox", mo.token, nil); status != 401 {
		t.Errorf("staff token on the mailbox: got %d, want 401", status)
	}

	// After logout the token is dead.
	if status, _, _ := e.do("POST", "/api/v1/auth/logout", mo.token, nil); status != 204 {
		t.Fatalf("logout: got %d, want 204", status)
	}
	if status, _, _ := e.do("GET", "/api/v1/triage", mo.token, nil); status != 401 {
		t.Errorf("after logout: got %d, want 401", status)
	}

	// A disabled user's token is dead at once.
	deputy := e.user("owain.bevan@enghraifft.example", "deputy_monitoring_officer")
	if err := e.p.Accounts.Disable(context.Background(), accounts.Console(), deputy.User.ID); err != nil {
		t.Fatal(err)
	}
	if status, _, _ := e.do("GET", "/api/v1/triage", deputy.token, nil); status != 401 {
		t.Errorf("disabled user: got %d, want 401", status)
	}
}

func TestUnknownEmailAndWrongPasswordLookTheSame(t *testing.T) {
	e := start(t)
	e.user("cllr@example.gov.uk", "councillor")
	time.Sleep(time.Second) // the first user's sign-in warmed nothing we compare
	try := func(email, pw string) (int, string, time.Duration) {
		started := time.Now()
		status, body, _ := e.do("POST", "/api/v1/auth/login", "", map[string]string{"email": email, "password": pw, "totp": "123456"})
		return status, body, time.Since(started)
	}
	s1, b1, _ := try("nobody@example.gov.uk", password)
	s2, b2, _ := try("cllr@example.gov.uk", "the wrong password")
	if s1 != 401 || s1 != s2 || b1 != b2 {
		t.Fatalf("unknown email: %d %s; wrong password: %d %s; want the same 401", s1, b1, s2, b2)
	}
	// Timing is compared in BenchmarkLoginTiming, not here: these machines are too noisy for
	// a timed assertion.
}

// BenchmarkLoginTiming reports how long a sign-in with an unknown e-mail takes relative to one
// with a wrong password: both run one argon2id hash, so the ratio should stay near 1.
func BenchmarkLoginTiming(b *testing.B) {
	e := start(b)
	// Three failures per account are free; more would meet the backoff. Twelve accounts give
	// 36 samples of each case, interleaved, and the medians are compared: one slow request on
	// a shared machine says nothing.
	const accounts, tries = 12, 3
	for i := range accounts {
		e.user(fmt.Sprintf("cllr%d@example.gov.uk", i), "councillor")
	}
	var unknown, wrong []time.Duration
	for try := range tries {
		for i := range accounts {
			for _, c := range []struct {
				email, pw string
				into      *[]time.Duration
			}{{fmt.Sprintf("nobody%d-%d@example.gov.uk", i, try), password, &unknown},
				{fmt.Sprintf("cllr%d@example.gov.uk", i), "the wrong password", &wrong}} {
				started := time.Now()
				e.do("POST", "/api/v1/auth/login", "", map[string]string{"email": c.email, "password": c.pw, "totp": "123456"})
				*c.into = append(*c.into, time.Since(started))
			}
		}
	}
	median := func(d []time.Duration) time.Duration {
		slices.Sort(d)
		return d[len(d)/2]
	}
	mu, mw := median(unknown), median(wrong)
	b.ReportMetric(float64(mu.Microseconds())/1000, "unknown_email_median_ms")
	b.ReportMetric(float64(mw.Microseconds())/1000, "wrong_password_median_ms")
	b.ReportMetric(float64(mu)/float64(mw), "ratio")
}

// TestRoleRouteTable: every role against every staff route that exists so far. 404 means
// "not yours" (existence is not revealed); 401 is only for a missing or bad token.
func TestRoleRouteTable(t *testing.T) {
	e := start(t)
	roles := domain.Roles
	accounts := map[string]*account{}
	for _, r := range roles {
		accounts[r] = e.user(r+"@example.gov.uk", r)
	}
	concern, mailboxToken := e.report()
	type route struct {
		method, path string
		body         any
		allowed      map[string]int // role → status; others get 404
	}
	routes := []route{
		// Route holders, the safeguarding hub and investigators get their own (here empty) queue.
		{"GET", "/api/v1/triage", nil, map[string]int{"monitoring_officer": 200, "deputy_monitoring_officer": 200,
			"service_lead": 200, "safeguarding": 200, "investigator": 200}},
		{"GET", "/api/v1/concerns/" + concern, nil, map[string]int{"monitoring_officer": 200, "deputy_monitoring_officer": 200}},
		{"POST", "/api/v1/concerns/" + concern + "/messages", map[string]string{"body": "A question"},
			map[string]int{"monitoring_officer": 201, "deputy_monitoring_officer": 201}},
		{"POST", "/api/v1/concerns/" + concern + "/notes", map[string]any{"body": "Checked the rota", "personal": true},
			map[string]int{"monitoring_officer": 201, "deputy_monitoring_officer": 201}},
		{"POST", "/api/v1/concerns/" + concern + "/identity-requests", map[string]string{"reason": "Interview"},
			map[string]int{"monitoring_officer": 409, "deputy_monitoring_officer": 409}}, // anonymous: nothing to disclose
		{"GET", "/api/v1/identity-requests", nil, map[string]int{"custodian": 200}},
		{"POST", "/api/v1/concerns/" + concern + "/access", map[string]any{"user_id": accounts["investigator"].User.ID, "reason": "Helps with the case"},
			map[string]int{"monitoring_officer": 204, "deputy_monitoring_officer": 204}},
		{"GET", "/api/v1/users", nil, map[string]int{"admin": 200}},
		{"POST", "/api/v1/recorded-concerns", map[string]any{"mode": "anonymous", "service_area": "housing", "category": "other", "summary": "By phone", "details": "Taken down by phone."},
			map[string]int{"monitoring_officer": 201, "deputy_monitoring_officer": 201}},
		{"GET", "/api/v1/investigations", nil, map[string]int{"monitoring_officer": 200, "deputy_monitoring_officer": 200, "investigator": 200}},
		{"POST", "/api/v1/investigations", map[string]string{"title": "T", "terms_of_reference": "ToR", "investigating_officer": "An External Investigator", "due_at": "2027-01-31"},
			map[string]int{"monitoring_officer": 201, "deputy_monitoring_officer": 201}},
		{"POST", "/api/v1/councillor/concerns", map[string]any{"service_area": "housing", "summary": "Repairs backlog", "details": "Tenants wait months."},
			map[string]int{"councillor": 201}},
		{"GET", "/api/v1/audit/verify", nil, map[string]int{"auditor": 200}},
		{"GET", "/api/v1/audit/checkpoints", nil, map[string]int{"auditor": 200}},
		{"POST", "/api/v1/concerns/" + concern + "/conflict", map[string]string{"reason": "I know the team"},
			map[string]int{"monitoring_officer": 204, "deputy_monitoring_officer": 204, "investigator": 204}}, // the investigator was granted access above
	}
	for _, rt := range routes {
		for _, r := range roles {
			want, ok := rt.allowed[r]
			if !ok {
				want = 404
			}
			status, body, _ := e.do(rt.method, rt.path, accounts[r].token, rt.body)
			if status != want {
				t.Errorf("%s %s as %s: got %d %s, want %d", rt.method, rt.path, r, status, body, want)
			}
		}
		if status, _, _ := e.do(rt.method, rt.path, mailboxToken, rt.body); status != 401 {
			t.Errorf("%s %s with a mailbox token: got %d, want 401", rt.method, rt.path, status)
		}
		if status, _, _ := e.do(rt.method, rt.path, "", rt.body); status != 401 {
			t.Errorf("%s %s without a token: got %d, want 401", rt.method, rt.path, status)
		}
	}
	// Staff tokens, whatever the role, never open the reporter's mailbox.
	for _, r := range roles {
		if status, _, _ := e.do("GET", "/api/v1/mailbox", accounts[r].token, nil); status != 401 {
			t.Errorf("GET /api/v1/mailbox as %s: got %d, want 401", r, status)
		}
	}
	// Having declared a conflict, the officers no longer see the concern in the queue.
	_, body, _ := e.do("GET", "/api/v1/triage", accounts["monitoring_officer"].token, nil)
	if strings.Contains(body, `"id":"`+concern+`"`) {
		t.Errorf("a concern with a declared conflict is still in the queue: %s", body)
	}
}

func TestNamedHeadOfServiceGets404AndEmptyQueue(t *testing.T) {
	e := start(t)
	mo := e.user("elin.rowlands@enghraifft.example", "monitoring_officer")
	deputy := e.user("owain.bevan@enghraifft.example", "deputy_monitoring_officer")
	hos := e.user("sioned.parry@enghraifft.example", "service_lead")
	namingHoS, _ := e.report("Sioned Parry")
	namingMO, _ := e.report("Elin Rowlands")
	conflict := func(a *account, id string) int {
		s, _, _ := e.do("POST", "/api/v1/concerns/"+id+"/conflict", a.token, map[string]string{"reason": "x"})
		return s
	}
	if s := conflict(hos, namingHoS); s != 404 {
		t.Errorf("named Head of Service on the concern: got %d, want 404", s)
	}
	if s := conflict(hos, "6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b"); s != 404 {
		t.Errorf("a concern that does not exist: got %d, want 404", s)
	}
	_, q, _ := e.do("GET", "/api/v1/triage", mo.token, nil)
	if strings.Contains(q, `"id":"`+namingMO+`"`) || !strings.Contains(q, `"id":"`+namingHoS+`"`) {
		t.Errorf("MO queue: want the concern naming the HoS and not the one naming the MO: %s", q)
	}
	_, q, _ = e.do("GET", "/api/v1/triage", deputy.token, nil)
	if !strings.Contains(q, `"id":"`+namingMO+`"`) {
		t.Errorf("deputy queue lacks the concern naming the MO: %s", q)
	}
}
