package portal_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"candour/internal/accounts"
	"candour/internal/auth"
	"candour/internal/portaltest"
)

// browser is a cookie-keeping client that does not follow redirects.
func browser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// webSignIn fills in the sign-in page at base+path (English or Welsh) as a browser does.
func webSignIn(t *testing.T, b *http.Client, base, path, email, password, code string) (*http.Response, string) {
	t.Helper()
	resp, page := fetch(t, b, "GET", base+path, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: got %d", path, resp.StatusCode)
	}
	form := url.Values{"csrf": {portaltest.CSRF(t, page)}, "email": {email}, "password": {password}, "totp": {code}}
	return fetch(t, b, "POST", base+path, form)
}

func fetch(t *testing.T, b *http.Client, method, u string, form url.Values) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	return resp, string(page)
}

func deviceCookie(t *testing.T, h http.Header, path string) string {
	t.Helper()
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if c.Name == auth.DeviceCookie {
			if c.Path != path || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
				t.Errorf("device cookie: got path %q, HttpOnly %v, SameSite %v; want %s, HttpOnly, Strict", c.Path, c.HttpOnly, c.SameSite, path)
			}
			return c.Value
		}
	}
	t.Fatalf("no %s cookie in %v", auth.DeviceCookie, h["Set-Cookie"])
	return ""
}

// The attack: someone who knows the Monitoring Officer's address sends wrong passwords.
// They are refused (429 with Retry-After, on the API and on the English and Welsh sign-in
// pages), and a tampered device cookie buys them nothing, while the Monitoring Officer, with
// the right password and code from the browser they signed in with before, gets in.
func TestMonitoringOfficerSignsInFromKnownBrowserDuringAttack(t *testing.T) {
	e := portaltest.Start(t)
	mo := portaltest.Account(t, e.Portal, accounts.NewUser{Email: "mo@example.gov.uk", Roles: []string{"monitoring_officer"}})
	code := func(at time.Time) string {
		c, err := auth.CodeAt(mo.TOTPSecret, at)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// The Monitoring Officer signs in on the web once: their browser keeps a device cookie, on
	// the sign-in path only.
	moBrowser := browser(t)
	resp, page := webSignIn(t, moBrowser, e.URL(), "/staff/login", mo.User.Email, portaltest.Password, code(time.Now()))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("first sign-in: got %d %s, want 303", resp.StatusCode, page)
	}
	device := deviceCookie(t, resp.Header, "/staff/login")

	// The attacker, from a browser that never signed in: wrong passwords until refused, and
	// on until the wait is long enough for the rest of the test to happen inside it.
	wrong := map[string]string{"email": "MO@example.gov.uk", "password": "guess guess guess", "totp": "123456"}
	var refused portaltest.Response
	for i := 1; ; i++ {
		r := portaltest.DoJSON(t, e.URL(), "POST", "/api/v1/auth/login", wrong)
		if i <= 5 && r.Status != http.StatusUnauthorized {
			t.Fatalf("failure %d: got %d %s, want 401 (five are free)", i, r.Status, r.Body)
		}
		if r.Status == http.StatusTooManyRequests {
			if wait, _ := strconv.Atoi(r.Header.Get("Retry-After")); wait >= 8 {
				refused = r
				break
			}
		}
		if i == 30 {
			t.Fatalf("after %d wrong passwords: got %d %s, want 429 with Retry-After of 8 s or more", i, r.Status, r.Body)
		}
		if wait, _ := strconv.Atoi(r.Header.Get("Retry-After")); r.Status == http.StatusTooManyRequests {
			time.Sleep(time.Duration(wait) * time.Second)
		}
	}
	var body struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(refused.Body, &body); err != nil || body.Error.Code != "too_many_attempts" || body.Error.Message == "" {
		t.Errorf("refusal: got %s, want the API error too_many_attempts", refused.Body)
	}
	// A tampered cookie, or the real one with a made-up value, is an unknown browser.
	forged := []byte(device)
	forged[len(forged)/2] ^= 1
	for _, cookie := range []string{string(forged), device[:len(device)-1], "x"} {
		right := map[string]string{"email": mo.User.Email, "password": portaltest.Password, "totp": code(time.Now())}
		r := portaltest.DoJSON(t, e.URL(), "POST", "/api/v1/auth/login", right, "Cookie: "+auth.DeviceCookie+"="+cookie)
		if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
			t.Errorf("cookie %q: got %d %s, want 429 with Retry-After", cookie, r.Status, r.Body)
		}
	}
	// The sign-in pages say so in English and Welsh, as a GOV.UK error.
	for path, want := range map[string]string{"/staff/login": "too many failed attempts", "/cy/staff/login": "gormod o ymdrechion aflwyddiannus"} {
		resp, page := webSignIn(t, browser(t), e.URL(), path, mo.User.Email, portaltest.Password, code(time.Now()))
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s: got %d (Retry-After %q), want 429 with Retry-After", path, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		if !strings.Contains(page, "govuk-error-summary") || !strings.Contains(strings.ToLower(page), want) {
			t.Errorf("%s: want a GOV.UK error summary saying %q, got:\n%s", path, want, page)
		}
	}
	// The Monitoring Officer's own browser (their session long over: only the device cookie
	// is left), with the right password and the next code, gets in.
	later := browser(t)
	base, _ := url.Parse(e.URL() + "/staff/login")
	later.Jar.SetCookies(base, []*http.Cookie{{Name: auth.DeviceCookie, Value: device, Path: "/staff/login"}})
	resp, page = webSignIn(t, later, e.URL(), "/staff/login", mo.User.Email, portaltest.Password, code(time.Now().Add(30*time.Second)))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/staff" {
		t.Fatalf("known browser during the attack: got %d %s, want 303 to /staff", resp.StatusCode, page)
	}
	if got := deviceCookie(t, resp.Header, "/staff/login"); got != device {
		t.Errorf("known browser: got a new device cookie, want the same one kept")
	}
}
