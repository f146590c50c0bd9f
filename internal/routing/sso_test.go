package routing

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"
)

const tenant = "6f1c1a2e-4b7d-4c1e-9a3b-2d5e8f0a1b2c"

func TestSSOPolicy(t *testing.T) {
	tests := []struct {
		name, yaml string
		secret     string // client-secret content; "" leaves the file out
		line       int
		reason     string // substring of the error; "" for a good file
	}{
		{"generic", "issuer: https://id.example.gov.uk\nclient_id: candour\nclient_secret_file: client-secret\n", "s3cret\n", 0, ""},
		{"entra", "issuer: https://login.microsoftonline.com/" + tenant + "/v2.0\nclient_id: candour\nclient_secret_file: client-secret\ntenant_id: " + tenant + "\n", "s3cret", 0, ""},
		{"loopback http", "issuer: http://127.0.0.1:5556\nclient_id: candour\nclient_secret_file: client-secret\n", "s3cret", 0, ""},
		{"entra common", "issuer: https://login.microsoftonline.com/common/v2.0\nclient_id: candour\nclient_secret_file: client-secret\ntenant_id: " + tenant + "\n", "s", 1, "multi-tenant endpoint"},
		{"entra templated", "issuer: https://login.microsoftonline.com/{tenantid}/v2.0\nclient_id: candour\nclient_secret_file: client-secret\n", "s", 1, "multi-tenant endpoint"},
		{"entra organizations", "issuer: https://login.microsoftonline.com/organizations/v2.0\nclient_id: candour\nclient_secret_file: client-secret\n", "s", 1, "multi-tenant endpoint"},
		{"entra without tenant", "issuer: https://login.microsoftonline.com/" + tenant + "/v2.0\nclient_id: candour\nclient_secret_file: client-secret\n", "s", 0, "tenant_id is required"},
		{"entra other tenant", "issuer: https://login.microsoftonline.com/" + tenant + "/v2.0\nclient_id: c\nclient_secret_file: client-secret\ntenant_id: 00000000-0000-0000-0000-000000000000\n", "s", 4, "is not the issuer's tenant"},
		{"plain http", "issuer: http://id.example.gov.uk\nclient_id: candour\nclient_secret_file: client-secret\n", "s", 1, "want https"},
		{"no client id", "issuer: https://id.example.gov.uk\nclient_secret_file: client-secret\n", "s", 0, "client_id is required"},
		{"missing secret file", "issuer: https://id.example.gov.uk\nclient_id: candour\nclient_secret_file: client-secret\n", "", 3, "read client-secret"},
		{"empty secret", "issuer: https://id.example.gov.uk\nclient_id: candour\nclient_secret_file: client-secret\n", " \n", 3, "client-secret is empty"},
		{"secret inline", "issuer: https://id.example.gov.uk\nclient_id: candour\nclient_secret: s3cret\n", "", 3, `unknown field "client_secret"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := variant(t, "")
			fsys[SSOFile] = &fstest.MapFile{Data: []byte(tt.yaml)}
			if tt.secret != "" {
				fsys["client-secret"] = &fstest.MapFile{Data: []byte(tt.secret)}
			}
			p, err := LoadFS(fsys)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("got %v, want the policy to load", err)
				}
				if p.SSO == nil || p.SSO.ClientSecret() != strings.TrimSpace(tt.secret) || p.SSO.ClientID != "candour" {
					t.Fatalf("got %+v, want the provider with its secret read from the file", p.SSO)
				}
				return
			}
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("got %v, want a LoadError", err)
			}
			if le.File != SSOFile || (tt.line > 0 && le.Line != tt.line) || !strings.Contains(le.Reason, tt.reason) {
				t.Errorf("got %v, want %s:%d: …%s…", le, SSOFile, tt.line, tt.reason)
			}
		})
	}
}

// The secret is not part of the policy version: rotating it changes no stored decision's
// policy, and the version (which is logged and stored) says nothing about it.
func TestSSOSecretNotInVersion(t *testing.T) {
	load := func(secret string) *Policy {
		fsys := variant(t, "")
		fsys[SSOFile] = &fstest.MapFile{Data: []byte("issuer: https://id.example.gov.uk\nclient_id: candour\nclient_secret_file: client-secret\n")}
		fsys["client-secret"] = &fstest.MapFile{Data: []byte(secret)}
		p, err := LoadFS(fsys)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	a, b := load("one"), load("two")
	if a.Version != b.Version {
		t.Errorf("got versions %s and %s, want the same whatever the secret", a.Version, b.Version)
	}
	if p, _ := LoadFS(variant(t, "")); p.SSO != nil || p.Version == a.Version {
		t.Errorf("without sso.yaml: got %+v version %s, want no provider and another version", p.SSO, p.Version)
	}
}
