package portal_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"candour/internal/accounts"
	"candour/internal/auth"
	"candour/internal/browsertest"
	"candour/internal/dbtest"
	"candour/internal/portaltest"
)

func TestBrowserStaffSignInWithTOTPAndSignOut(t *testing.T) {
	p, _ := start(t, dbtest.NewURL(t))
	const email, password = "elin.rowlands@enghraifft.example", portaltest.Password
	c := portaltest.Account(t, p, accounts.NewUser{Email: email, Name: "Elin Rowlands", Roles: []string{"monitoring_officer"}})
	ctx := browsertest.New(t, browsertest.Options{})

	// Not signed in: the staff home sends us to sign in.
	browsertest.Do(t, ctx, "open staff home", chromedp.Navigate(p.URL()+"/staff"), chromedp.WaitReady("#email"))
	if loc := browsertest.Get(t, ctx, "location", chromedp.Location()); !strings.HasSuffix(loc, "/staff/login") {
		t.Fatalf("got %s, want the sign-in page", loc)
	}
	browsertest.Axe(t, ctx)

	// A wrong code gets the generic error.
	browsertest.Do(t, ctx, "sign in with a wrong code",
		chromedp.SendKeys("#email", email), chromedp.SendKeys("#password", password), chromedp.SendKeys("#totp", "000000"),
		chromedp.Submit("#totp"), chromedp.WaitReady(".govuk-error-summary"))

	code, _ := auth.CodeAt(c.TOTPSecret, time.Now())
	browsertest.Do(t, ctx, "sign in with password and code",
		chromedp.SetValue("#email", email), chromedp.SendKeys("#password", password), chromedp.SendKeys("#totp", code),
		chromedp.Submit("#totp"), chromedp.WaitReady("#signed-in-as"))
	if text := browsertest.Get(t, ctx, "read home", chromedp.Text("main")); !strings.Contains(text, "Elin Rowlands") || !strings.Contains(text, "Monitoring Officer") {
		t.Fatalf("staff home does not greet the officer:\n%s", text)
	}
	cookieHttpOnly := browsertest.Get(t, ctx, "cookie hidden from script", chromedp.Evaluate[string](`document.cookie`))
	if strings.Contains(cookieHttpOnly, "candour_staff") {
		t.Errorf("session cookie visible to script: %s", cookieHttpOnly)
	}
	browsertest.Axe(t, ctx)

	browsertest.Do(t, ctx, "sign out", chromedp.Click("#sign-out"), chromedp.WaitReady("#email"))
	// Back does not show the staff page again, and neither does asking for it.
	_ = browsertest.Get(t, ctx, "go back", chromedp.Evaluate[bool](`history.back(), true`))
	browsertest.Do(t, ctx, "after back", chromedp.Sleep(2*time.Second))
	if text := browsertest.Get(t, ctx, "read page after back", chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText`)); strings.Contains(text, "signed in as") {
		t.Errorf("after sign-out, Back shows the staff page:\n%s", text)
	}
	browsertest.Do(t, ctx, "open staff home again", chromedp.Navigate(p.URL()+"/staff"), chromedp.WaitReady("main"))
	if loc := browsertest.Get(t, ctx, "location", chromedp.Location()); !strings.HasSuffix(loc, "/staff/login") {
		t.Errorf("after sign-out got %s, want the sign-in page", loc)
	}
}
