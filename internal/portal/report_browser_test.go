package portal_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"candour/internal/browsertest"
	"candour/internal/dbtest"
	"candour/internal/portaltest"
)

// TestBrowserReportAndMailboxWithoutJavaScript is the frightened social worker on Tor Browser
// "Safest": no script runs and no web font loads. They are offered the onion address, report
// anonymously, write down the receipt, open the mailbox with it and reply, and no page asked for
// a font; every page passes axe-core. Once in English, once in Welsh.
func TestBrowserReportAndMailboxWithoutJavaScript(t *testing.T) {
	p := portaltest.Start(t, portaltest.Setting("DATABASE_URL", dbtest.NewURL(t)),
		portaltest.Setting("CANDOUR_ONION_URL", onionURL)).Portal
	for _, tt := range []struct {
		lang, prefix                 string
		form, receipt, thread, reply string // text each page must show
	}{
		{"en", "", "Protect yourself before you start", "Your receipt", "Send a message", "I can send you the rota for March."},
		{"cy", "/cy", "Diogelwch eich hun cyn i chi ddechrau", "Eich derbynneb", "Anfon neges", "Gallaf anfon rota mis Mawrth atoch."},
	} {
		t.Run(tt.lang, func(t *testing.T) {
			ctx := browsertest.New(t, browsertest.Options{NoJavaScript: true, NoWebFonts: true, Timeout: 45 * time.Second})
			// Tor Browser offers the onion service on the pages a reporter arrives at.
			for _, path := range []string{tt.prefix + "/", tt.prefix + "/report", tt.prefix + "/mailbox"} {
				resp, body := get(t, p.URL()+path)
				if resp.Header.Get("Onion-Location") != onionURL+path {
					t.Errorf("%s: Onion-Location %q, want %q", path, resp.Header.Get("Onion-Location"), onionURL+path)
				}
				// The start and report pages also show it, to copy into Tor Browser.
				if shows := strings.Contains(body, onionURL); shows != !strings.HasSuffix(path, "/mailbox") {
					t.Errorf("%s: shows the onion address: %v", path, shows)
				}
			}
			checkPage := func(what, want string) {
				t.Helper()
				if lang := browsertest.Get(t, ctx, "read lang", chromedp.Evaluate[string](`document.documentElement.lang`)); lang != tt.lang {
					t.Errorf("%s: got lang=%q, want %q", what, lang, tt.lang)
				}
				if text := browsertest.Get(t, ctx, "read "+what, chromedp.Text("main")); !strings.Contains(text, want) {
					t.Errorf("%s: page lacks %q:\n%s", what, want, text)
				}
				if js := browsertest.Get(t, ctx, "js state", chromedp.Evaluate[bool](`document.body.classList.contains('govuk-frontend-supported')`)); js {
					t.Errorf("%s: page script ran, but JavaScript is disabled", what)
				}
				axeWithoutPageScript(t, ctx)
			}

			browsertest.Do(t, ctx, "open the form", chromedp.Navigate(p.URL()+tt.prefix+"/report"), chromedp.WaitReady(`#details`))
			checkPage("form", tt.form)
			if addr := browsertest.Get(t, ctx, "read the onion address", chromedp.Text(`#onion-address`)); strings.TrimSpace(addr) != onionURL {
				t.Errorf("form shows onion address %q, want %q", addr, onionURL)
			}

			browsertest.Do(t, ctx, "fill in the form",
				chromedp.Click(`#mode`), // anonymous
				chromedp.SetValue(`#service_area`, "childrens-services"),
				chromedp.Click(`#category-misconduct`),
				chromedp.SendKeys(`#summary`, "Caseloads hidden from inspectors"),
				chromedp.SendKeys(`#details`, "Cases were moved off the system before the inspection."),
				chromedp.SendKeys(`#named_people`, "A. Manager"),
				chromedp.Click(`#safeguarding-no`),
				chromedp.Click(`form[action$="/report"] button[type=submit]`),
				chromedp.WaitReady(`#receipt-block`),
			)
			checkPage("receipt", tt.receipt)
			rcpt := strings.TrimSpace(browsertest.Get(t, ctx, "read the receipt", chromedp.Text(`#receipt`)))
			ref := strings.TrimSpace(browsertest.Get(t, ctx, "read the reference", chromedp.Text(`#reference`)))
			if len(strings.ReplaceAll(strings.ReplaceAll(rcpt, "-", ""), " ", "")) != 20 || !strings.HasPrefix(ref, "C-") {
				t.Fatalf("got receipt %q and reference %q, want 20 characters and C-…", rcpt, ref)
			}

			browsertest.Do(t, ctx, "check the receipt and open the mailbox",
				chromedp.SendKeys(`#receipt-check`, rcpt),
				chromedp.Click(`form[action$="/mailbox"] button[type=submit]`),
				chromedp.WaitReady(`#evidence`),
			)
			checkPage("thread", tt.thread)
			if text := browsertest.Get(t, ctx, "read the thread", chromedp.Text("main")); !strings.Contains(text, ref) {
				t.Errorf("thread does not show the reference %s", ref)
			}

			browsertest.Do(t, ctx, "reply",
				chromedp.SendKeys(`#body`, tt.reply),
				chromedp.Click(`form[action$="/mailbox/reply"] button[type=submit]`),
				chromedp.WaitReady(`#thread`),
			)
			if text := browsertest.Get(t, ctx, "read the reply", chromedp.Text(`#thread`)); !strings.Contains(text, tt.reply) {
				t.Errorf("the reply is not in the thread:\n%s", text)
			}
			if loc := browsertest.Get(t, ctx, "location", chromedp.Location()); !strings.Contains(loc, tt.prefix+"/mailbox/thread") {
				t.Errorf("got %s, want the %s thread", loc, tt.lang)
			}
			axeWithoutPageScript(t, ctx)
			if fonts := browsertest.FontRequests(ctx); len(fonts) > 0 {
				t.Errorf("pages asked for web fonts, which Tor Browser Safest refuses: %v", fonts)
			}
		})
	}
}

// onionURL is a v3 onion address (the Tor Project's own) for the tests.
const onionURL = "http://2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion"

// axeWithoutPageScript runs axe-core on a page loaded with JavaScript disabled and checks the
// page's own script stayed off.
func axeWithoutPageScript(t *testing.T, ctx context.Context) {
	t.Helper()
	browsertest.Axe(t, ctx)
	if js := browsertest.Get(t, ctx, "js state", chromedp.Evaluate[bool](`document.body.classList.contains('govuk-frontend-supported')`)); js {
		t.Errorf("the page's own script ran during the accessibility check")
	}
}
