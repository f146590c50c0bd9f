// Package browsertest drives Debian's Chromium headless with chromedp against a portal on
// 127.0.0.1, and checks pages with axe-core. Tests fail, never skip, when Chromium is missing:
// CI installs it.
package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// Executable finds Chromium: $CHROMIUM, then the usual names on PATH.
func Executable() (string, error) {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("chromium not found: apt-get install -y chromium (or set CHROMIUM)")
}

// Options tune one browser.
type Options struct {
	NoJavaScript bool // behave like Tor Browser "Safest": no script runs at all
	NoWebFonts   bool // and no downloaded font: each font request fails and is kept for FontRequests
	Timeout      time.Duration
}

// New starts a fresh headless Chromium with its own profile and returns a tab context that is
// cancelled (and the browser closed) when the test ends.
func New(t testing.TB, opts Options) context.Context {
	t.Helper()
	exe, err := Executable()
	if err != nil {
		t.Fatal(err)
	}
	if opts.Timeout == 0 {
		// Generous: CI runs several test packages at once on two cores, and a whole story in
		// the browser signs in (argon2id) and renders a dozen pages.
		opts.Timeout = 4 * time.Minute
	}
	allocOpts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 900),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), allocOpts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	// The first call starts the browser and must not carry a timeout (it would stop the
	// browser); later actions run under the derived deadline.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	ctx, cancelTimeout := context.WithTimeout(ctx, opts.Timeout)
	t.Cleanup(cancelTimeout)
	if opts.NoJavaScript {
		setScriptDisabled(t, ctx, true)
		ctx = context.WithValue(ctx, noJavaScriptKey{}, true)
	}
	if opts.NoWebFonts {
		ctx = context.WithValue(ctx, fontsKey{}, blockFonts(t, ctx))
	}
	return ctx
}

type fontsKey struct{}

// fontLog is the font requests a page made; they were failed, as Tor Browser "Safest" fails
// them.
type fontLog struct {
	mu   sync.Mutex
	urls []string
}

// blockFonts intercepts every font request and fails it. Failing them (rather than starting
// Chromium with --disable-remote-fonts, which never asks) is what lets a test see that a page
// wanted one.
func blockFonts(t testing.TB, ctx context.Context) *fontLog {
	t.Helper()
	l := &fontLog{}
	// The listener may not send commands itself; a goroutine fails the paused requests.
	paused := make(chan fetch.RequestID, 256)
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*fetch.EventRequestPaused); ok {
			l.mu.Lock()
			l.urls = append(l.urls, e.Request.URL)
			l.mu.Unlock()
			select {
			case paused <- e.RequestID:
			default:
			}
		}
	}); err != nil {
		t.Fatalf("listen for font requests: %v", err)
	}
	go func() {
		for {
			select {
			case id := <-paused:
				_, _ = chromedp.Call(ctx, fetch.FailRequest, fetch.FailRequestParams{RequestID: id, ErrorReason: network.ErrorReasonBlockedByClient})
			case <-ctx.Done():
				return
			}
		}
	}()
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{ResourceType: network.ResourceTypeFont}}}); err != nil {
		t.Fatalf("intercept font requests: %v", err)
	}
	return l
}

// FontRequests returns the URLs of the fonts pages asked for (and did not get) in a browser
// started with NoWebFonts.
func FontRequests(ctx context.Context) []string {
	l, ok := ctx.Value(fontsKey{}).(*fontLog)
	if !ok {
		panic("browsertest: FontRequests needs Options.NoWebFonts")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.urls)
}

type noJavaScriptKey struct{}

func setScriptDisabled(t testing.TB, ctx context.Context, disabled bool) {
	t.Helper()
	if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: disabled}); err != nil {
		t.Fatalf("set script execution disabled=%v: %v", disabled, err)
	}
}

// Do runs chromedp steps and fails the test saying what was being done.
func Do(t testing.TB, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// Get runs one chromedp action and returns its value, failing the test on error.
func Get[T any](t testing.TB, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// Violation is one axe-core rule failure.
type Violation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target []any `json:"target"`
	} `json:"nodes"`
}

func axeSource(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	path := filepath.Join(root, "frontend", "node_modules", "axe-core", "axe.min.js")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("axe-core missing (run `npm ci` in frontend/, as `make test` does): %v", err)
	}
	return string(b)
}

// Axe runs axe-core (WCAG 2.x A and AA rules) on the current page and fails the test on any
// serious or critical violation. DevTools evaluation is not subject to the page's CSP. In a
// no-JavaScript browser axe still needs timers, which do not fire while scripting is off, so
// scripting is switched on for the check alone: the page's own scripts were skipped at load
// and do not run now, so axe sees the page as a no-JavaScript visitor does.
func Axe(t testing.TB, ctx context.Context) {
	t.Helper()
	if noJS, _ := ctx.Value(noJavaScriptKey{}).(bool); noJS {
		setScriptDisabled(t, ctx, false)
		defer setScriptDisabled(t, ctx, true)
	}
	script := axeSource(t) + `
;(async () => {
  const r = await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a','wcag2aa','wcag21a','wcag21aa','wcag22aa']}});
  return JSON.stringify(r.violations);
})()`
	out := Get(t, ctx, "axe-core", chromedp.Evaluate[string](script, chromedp.EvalAwaitPromise))
	var violations []Violation
	if err := json.Unmarshal([]byte(out), &violations); err != nil {
		t.Fatalf("axe-core result: %v", err)
	}
	var bad []string
	for _, v := range violations {
		if v.Impact == "serious" || v.Impact == "critical" {
			var targets []string
			for _, n := range v.Nodes {
				targets = append(targets, fmt.Sprint(n.Target...))
			}
			bad = append(bad, fmt.Sprintf("%s (%s): %s at %s", v.ID, v.Impact, v.Help, strings.Join(targets, "; ")))
		}
	}
	if len(bad) > 0 {
		url, _ := chromedp.Run(ctx, chromedp.Location())
		t.Errorf("axe-core on %s: got %d serious/critical violations, want 0:\n%s", url, len(bad), strings.Join(bad, "\n"))
	}
}
