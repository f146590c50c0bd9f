// Package i18n holds Candour's English and Welsh message catalogues and
// translates message ids for the HTML pages and system messages.
//
// Catalogues are embedded JSON files (locales/en.json, locales/cy.json) in
// go-i18n v2 format with flat, dotted ids. Plural messages use the CLDR
// forms: English needs one and other; Welsh needs zero, one, two, few, many
// and other. Every id must exist in both languages: the tests enforce it, so
// a missing translation fails the build, not a user.
package i18n

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	pathpkg "path"
	"slices"
	"strconv"
	"strings"
	"time"

	goi18n "github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
)

// Supported languages (BCP 47 tags, as used in lang attributes and URLs).
const (
	English = "en"
	Welsh   = "cy"
)

// Languages lists the supported languages, English first.
var Languages = []string{English, Welsh}

//go:embed locales/*.json
var locales embed.FS

// Catalog translates message ids. It is safe for concurrent use.
type Catalog struct {
	localizers map[string]*goi18n.Localizer
	messages   map[string]map[string]*goi18n.Message // lang → id → message
}

// Load parses the embedded catalogues. It fails if a file is missing or
// malformed.
func Load() (*Catalog, error) {
	bundle := goi18n.NewBundle(language.English)
	bundle.RegisterUnmarshalFunc("json", json.Unmarshal)
	c := &Catalog{
		localizers: make(map[string]*goi18n.Localizer, len(Languages)),
		messages:   make(map[string]map[string]*goi18n.Message, len(Languages)),
	}
	// Each feature keeps its messages in its own pair of files, <area>.en.json and
	// <area>.cy.json (the core ones are en.json and cy.json), so features do not collide.
	paths, err := fs.Glob(locales, "locales/*.json")
	if err != nil {
		return nil, err
	}
	for _, lang := range Languages {
		c.messages[lang] = map[string]*goi18n.Message{}
		c.localizers[lang] = goi18n.NewLocalizer(bundle, lang)
	}
	for _, path := range paths {
		base := strings.TrimSuffix(pathpkg.Base(path), ".json")
		lang := base[strings.LastIndex(base, ".")+1:]
		byID, ok := c.messages[lang]
		if !ok {
			return nil, fmt.Errorf("i18n: %s: language %q is not supported", path, lang)
		}
		buf, err := locales.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("i18n: read %s: %w", path, err)
		}
		file, err := bundle.ParseMessageFileBytes(buf, path)
		if err != nil {
			return nil, fmt.Errorf("i18n: parse %s: %w", path, err)
		}
		for _, m := range file.Messages {
			if _, dup := byID[m.ID]; dup {
				return nil, fmt.Errorf("i18n: %s: message %q is defined twice", path, m.ID)
			}
			byID[m.ID] = m
		}
	}
	for _, lang := range Languages {
		if len(c.messages[lang]) == 0 {
			return nil, fmt.Errorf("i18n: no messages for %s", lang)
		}
	}
	return c, nil
}

// Supported reports whether lang is one of Languages.
func Supported(lang string) bool {
	return lang == English || lang == Welsh
}

func normalise(lang string) string {
	if Supported(lang) {
		return lang
	}
	return English
}

// T translates id into lang (an unsupported lang means English). data fills
// the message's {{.Name}} placeholders. A missing id returns the id itself:
// that is a bug, and the tests look for it.
func (c *Catalog) T(lang, id string, data ...map[string]any) string {
	lang = normalise(lang)
	if _, ok := c.messages[lang][id]; !ok {
		return id
	}
	cfg := &goi18n.LocalizeConfig{MessageID: id}
	if len(data) > 0 {
		cfg.TemplateData = merge(data)
	}
	s, err := c.localizers[lang].Localize(cfg)
	if err != nil {
		return id
	}
	return s
}

// N translates the plural message id for count, choosing the CLDR plural
// form of lang. The message sees {{.Count}} (and {{.PluralCount}}) besides
// data.
func (c *Catalog) N(lang, id string, count int, data ...map[string]any) string {
	lang = normalise(lang)
	if _, ok := c.messages[lang][id]; !ok {
		return id
	}
	td := merge(data)
	td["Count"] = count
	td["PluralCount"] = count
	s, err := c.localizers[lang].Localize(&goi18n.LocalizeConfig{
		MessageID:    id,
		PluralCount:  count,
		TemplateData: td,
	})
	if err != nil {
		return id
	}
	return s
}

// Day writes t's date in lang by day only, as it falls where t is: "7 March 2027",
// "7 Mawrth 2027". Callers put t in the council's time zone first.
func (c *Catalog) Day(lang string, t time.Time) string {
	return strconv.Itoa(t.Day()) + " " + c.T(lang, "report.month."+strconv.Itoa(int(t.Month()))) + " " + strconv.Itoa(t.Year())
}

// Has reports whether id exists in lang.
func (c *Catalog) Has(lang, id string) bool {
	_, ok := c.messages[normalise(lang)][id]
	return ok
}

// Keys returns the sorted message ids of lang (nil for an unsupported one).
func (c *Catalog) Keys(lang string) []string {
	if !Supported(lang) {
		return nil
	}
	return slices.Sorted(maps.Keys(c.messages[lang]))
}

// PluralForms returns the CLDR plural forms that message id defines in lang
// ("zero", "one", "two", "few", "many", "other"), or nil for a message that
// is not plural.
func (c *Catalog) PluralForms(lang, id string) []string {
	m, ok := c.messages[normalise(lang)][id]
	if !ok {
		return nil
	}
	var forms []string
	for _, f := range []struct {
		name, text string
	}{
		{"zero", m.Zero}, {"one", m.One}, {"two", m.Two},
		{"few", m.Few}, {"many", m.Many}, {"other", m.Other},
	} {
		if f.text != "" {
			forms = append(forms, f.name)
		}
	}
	if len(forms) == 1 && forms[0] == "other" {
		return nil // a plain message: go-i18n keeps its text in Other
	}
	return forms
}

func merge(data []map[string]any) map[string]any {
	out := make(map[string]any)
	for _, d := range data {
		maps.Copy(out, d)
	}
	return out
}
