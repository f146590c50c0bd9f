package portal_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"candour/internal/accounts"
	"candour/internal/auth"
	"candour/internal/browsertest"
	"candour/internal/dbtest"
	"candour/internal/portal"
	"candour/internal/portaltest"
)

func TestBrowserStartPageSwitchesToWelsh(t *testing.T) {
	p, _ := start(t, dbtest.NewURL(t))
	ctx := browsertest.New(t, browsertest.Options{})

	browsertest.Do(t, ctx, "open the start page", chromedp.Navigate(p.URL()+"/"), chromedp.WaitReady("main"))
	if lang := browsertest.Get(t, ctx, "read lang", chromedp.Evaluate[string](`document.documentElement.lang`)); lang != "en" {
		t.Fatalf("got lang=%q, want en", lang)
	}
	// The module script ran under the CSP: GOV.UK Frontend marks the body when it initialises.
	if ok := browsertest.Get(t, ctx, "js enhanced", chromedp.Poll[bool](`document.body.classList.contains('govuk-frontend-supported')`)); !ok {
		t.Errorf("app.js did not run under the CSP")
	}
	browsertest.Axe(t, ctx)

	browsertest.Do(t, ctx, "switch to Welsh", chromedp.Click(`a[hreflang="cy"]`), chromedp.WaitReady(`html[lang="cy"]`))
	if loc := browsertest.Get(t, ctx, "location", chromedp.Location()); !strings.HasSuffix(loc, "/cy") {
		t.Errorf("got %s, want the Welsh start page at /cy", loc)
	}
	text := browsertest.Get(t, ctx, "read page", chromedp.Text("main"))
	if !strings.Contains(text, "999") || !strings.Contains(text, "Rhoi gwybod") && !strings.Contains(text, "pryder") {
		t.Errorf("Welsh page text does not look Welsh:\n%s", text)
	}
	browsertest.Axe(t, ctx)

	browsertest.Do(t, ctx, "back to English", chromedp.Click(`a[hreflang="en"]`), chromedp.WaitReady(`html[lang="en"]`))
}

// signIn signs c (whose password is portaltest.Password) in through the staff sign-in page,
// in English (lang "") or Welsh ("/cy"), with the current TOTP code.
func signIn(t *testing.T, ctx context.Context, p *portal.Portal, lang string, c *accounts.Created) {
	t.Helper()
	code, err := auth.CodeAt(c.TOTPSecret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	browsertest.Do(t, ctx, "sign in as "+c.User.Email,
		chromedp.Navigate(p.URL()+lang+"/staff/login"), chromedp.WaitReady("#email"),
		chromedp.SendKeys("#email", c.User.Email), chromedp.SendKeys("#password", portaltest.Password),
		chromedp.SendKeys("#totp", code), chromedp.Submit("#totp"), chromedp.WaitReady("#signed-in-as"))
}
