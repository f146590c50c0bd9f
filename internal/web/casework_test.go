package web

import (
	"path/filepath"
	"testing"
	"time"

	"candour/internal/casework"
	"candour/internal/i18n"
	"candour/internal/intake"
	"candour/internal/routing"
)

func TestTimeLeft(t *testing.T) {
	s := newSite(t)
	day := 24 * time.Hour
	tests := []struct {
		lang string
		d    time.Duration
		want string
	}{
		{"en", 7*day - time.Minute, "7 days left"},
		{"en", 1 * day, "1 day left"},
		{"en", 5 * time.Hour, "5 hours left"},
		{"en", 10 * time.Minute, "1 hour left"},
		{"en", -2 * day, "overdue by 2 days"},
		{"en", -1 * time.Hour, "overdue by 1 hour"},
		{"cy", 2 * day, "2 ddiwrnod ar ôl"},
		{"cy", 3 * day, "3 diwrnod ar ôl"},
		{"cy", 6 * day, "6 diwrnod ar ôl"},
		{"cy", -2 * day, "2 ddiwrnod yn hwyr"},
		{"cy", 3 * time.Hour, "3 awr ar ôl"},
	}
	for _, tt := range tests {
		if got := s.timeLeft(tt.lang, tt.d); got != tt.want {
			t.Errorf("timeLeft(%s, %v) = %q, want %q", tt.lang, tt.d, got, tt.want)
		}
	}
}

// TestCaseworkKeysExist checks the message ids the casework pages build at run time (the
// template test only sees literal ones), against the shipped policy.
func TestCaseworkKeysExist(t *testing.T) {
	s := newSite(t)
	p, err := routing.Load(filepath.Join("..", "..", "policies"))
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	add := func(prefix string, values ...string) {
		for _, v := range values {
			keys = append(keys, prefix+v)
		}
	}
	add("caseworkweb.status.", casework.Statuses...)
	add("caseworkweb.channel.", "web", "councillor", "recorded")
	add("caseworkweb.mode.", "anonymous", "confidential", "open")
	add("caseworkweb.inv_status.", casework.InvestigationStatuses...)
	add("caseworkweb.advance.", casework.InvestigationStatuses[1:]...)
	add("caseworkweb.finding.", casework.Findings...)
	add("caseworkweb.rec_status.", "open", "in_progress", "done")
	add("caseworkweb.refer.", casework.ReferTargets...)
	add("caseworkweb.event.", "acknowledge", "refer", "decline", "accept", "close")
	add("caseworkweb.from.", "reporter", "council")
	add("caseworkweb.rule.", p.RuleIDs()...)
	add("caseworkweb.holder.", p.Directory.Roles()...)
	add("caseworkweb.holder.", "lead_member", "head_of_service")
	add("report.category.", intake.Categories...)
	for _, k := range caseworkNotices {
		keys = append(keys, k)
	}
	for _, k := range keys {
		for _, lang := range i18n.Languages {
			if !s.catalog.Has(lang, k) {
				t.Errorf("%s: missing from %s", k, lang)
			}
		}
	}
}
