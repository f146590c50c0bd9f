package portal_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"candour/internal/accounts"
	"candour/internal/browsertest"
	"candour/internal/dbtest"
	"candour/internal/intake"
	"candour/internal/portaltest"
)

// TestBrowserAnnualReportBothLanguages: an auditor signs in, reads the statistics, the annual
// report in English and Welsh and the audit view; every page passes axe-core, the charts are
// accessible SVG, small numbers read "fewer than 5" / "llai na 5", and the perturbation is
// stated.
func TestBrowserAnnualReportBothLanguages(t *testing.T) {
	p, _ := start(t, dbtest.NewURL(t))
	auditor := portaltest.Account(t, p, accounts.NewUser{Email: "aled.auditor@enghraifft.example", Name: "Aled Auditor",
		Roles: []string{"auditor"}})
	// Six misconduct concerns about housing and two about fraud in finance (a small cell).
	for i := 0; i < 8; i++ {
		r := intake.ReportSubmission{Mode: "anonymous", ServiceArea: "housing", Category: "misconduct",
			Summary: "Rotas falsified", Details: "The rota was changed after the shift.", Lang: "en"}
		if i >= 6 {
			r.ServiceArea, r.Category = "finance", "fraud"
		}
		if _, err := p.Intake.Submit(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	// The annual report covers a year that has ended: file them last year.
	if _, err := councilSQL(t, p).Exec(`UPDATE concerns SET received_at = received_at - interval '1 year'`); err != nil {
		t.Fatal(err)
	}
	ctx := browsertest.New(t, browsertest.Options{})
	signIn(t, ctx, p, "", auditor)

	london, _ := time.LoadLocation("Europe/London")
	year := strconv.Itoa(time.Now().In(london).Year() - 1)
	browsertest.Do(t, ctx, "open statistics", chromedp.Navigate(p.URL()+"/staff/stats"), chromedp.WaitReady("#summary"))
	browsertest.Axe(t, ctx)

	// The eight are published perturbed (cell-key), so the page states the table instead.
	for _, tt := range []struct{ path, lang, small, heading, table string }{
		{"/staff/stats/annual?year=" + year, "en", "fewer than 5", "Whistleblowing annual report " + year,
			"by at most 2 either way"},
		{"/cy/staff/stats/annual?year=" + year, "cy", "llai na 5", "Adroddiad blynyddol chwythu'r chwiban " + year,
			"o 2 ar y mwyaf"},
	} {
		browsertest.Do(t, ctx, "open "+tt.path, chromedp.Navigate(p.URL()+tt.path), chromedp.WaitReady(`html[lang="`+tt.lang+`"] #plain-summary`))
		text := browsertest.Get(t, ctx, "read report", chromedp.Text("main"))
		for _, want := range []string{tt.heading, tt.small, tt.table, "candour-ck-2.1"} {
			if !strings.Contains(text, want) {
				t.Errorf("%s: page lacks %q:\n%s", tt.path, want, text)
			}
		}
		charts := browsertest.Get(t, ctx, "count charts", chromedp.Evaluate[int](
			`document.querySelectorAll('svg[role="img"] > title[id] + desc[id]').length`))
		if charts < 7 {
			t.Errorf("%s: got %d accessible charts, want one per table (7)", tt.path, charts)
		}
		browsertest.Axe(t, ctx)
	}

	browsertest.Do(t, ctx, "open audit view", chromedp.Navigate(p.URL()+"/staff/audit"), chromedp.WaitReady("#chain-result"))
	if text := browsertest.Get(t, ctx, "read audit", chromedp.Text("main")); !strings.Contains(text, "intact") || !strings.Contains(text, "stats.read") {
		t.Errorf("audit view does not show an intact chain and the statistics reads:\n%s", text)
	}
	browsertest.Axe(t, ctx)
}
