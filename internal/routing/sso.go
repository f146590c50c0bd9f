package routing

import (
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
)

// SSOFile configures staff single sign-on with the council's OpenID Connect provider. It is
// optional: without it staff sign in with a password and second factor only.
const SSOFile = "sso.yaml"

// SSO is the council's OpenID Connect provider. The client secret is read from the file the
// policy names, so the policy (reviewed, versioned, maybe public) never holds it.
type SSO struct {
	// Name is shown on the sign-in button ("Sign in with <Name>").
	Name     string
	Issuer   string
	ClientID string
	// TenantID is set for Microsoft Entra ID, whose staff are matched on tid + oid.
	TenantID string
	secret   string
}

// ClientSecret is the secret read from client_secret_file. Never log it.
func (s *SSO) ClientSecret() string { return s.secret }

// Entra reports whether the provider is Microsoft Entra ID.
func (s *SSO) Entra() bool { return s.TenantID != "" }

type rawSSO struct {
	Name             string `yaml:"name"`
	Issuer           string `yaml:"issuer"`
	ClientID         string `yaml:"client_id"`
	ClientSecretFile string `yaml:"client_secret_file"`
	TenantID         string `yaml:"tenant_id"`
}

// entraHosts are Microsoft's sign-in hosts: an issuer on one of them is Entra ID.
var entraHosts = map[string]bool{"login.microsoftonline.com": true, "login.microsoftonline.us": true,
	"login.partner.microsoftonline.cn": true}

var guid = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// maxSecret caps what is read as a client secret: a secret file is small.
const maxSecret = 4 << 10

// buildSSO checks sso.yaml and reads the client secret. The issuer must be https (http only on
// a loopback address, for development and tests). An Entra ID issuer must be the tenant's own:
// the multi-tenant endpoints (common, organizations, consumers) would admit any tenant's
// accounts, and their metadata names a templated issuer no token matches.
func buildSSO(s *source, raw *rawSSO, fsys fs.FS) (*SSO, []*LoadError) {
	var errs []*LoadError
	o := &SSO{Name: strings.TrimSpace(raw.Name), Issuer: strings.TrimSpace(raw.Issuer),
		ClientID: strings.TrimSpace(raw.ClientID), TenantID: strings.ToLower(strings.TrimSpace(raw.TenantID))}
	u, err := url.Parse(o.Issuer)
	switch {
	case o.Issuer == "":
		errs = append(errs, s.errorf("$.issuer", "issuer is required: the provider's issuer URL"))
	case err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "":
		errs = append(errs, s.errorf("$.issuer", "issuer %q is not a URL without query or fragment", o.Issuer))
	case u.Scheme != "https" && !(u.Scheme == "http" && loopback(u.Hostname())):
		errs = append(errs, s.errorf("$.issuer", "issuer %q: want https (http only on a loopback address)", o.Issuer))
	case entraHosts[strings.ToLower(u.Host)]:
		errs = append(errs, checkEntra(s, u, o)...)
	case o.TenantID != "":
		errs = append(errs, s.errorf("$.tenant_id", "tenant_id is for Microsoft Entra ID, and %q is not an Entra ID issuer", o.Issuer))
	}
	if o.ClientID == "" {
		errs = append(errs, s.errorf("$.client_id", "client_id is required: the portal's client id at the provider"))
	}
	if o.Name == "" {
		o.Name = "OpenID Connect"
		if o.Entra() {
			o.Name = "Microsoft Entra ID"
		}
	}
	if raw.ClientSecretFile == "" {
		errs = append(errs, s.errorf("$.client_secret_file", "client_secret_file is required: the file holding the client secret"))
	} else if secret, err := readSecret(fsys, raw.ClientSecretFile); err != nil {
		errs = append(errs, s.errorf("$.client_secret_file", "client_secret_file: %v", err))
	} else {
		o.secret = secret
	}
	return o, errs
}

func checkEntra(s *source, u *url.URL, o *SSO) []*LoadError {
	tenant, rest, _ := strings.Cut(strings.Trim(u.Path, "/"), "/")
	switch strings.ToLower(tenant) {
	case "common", "organizations", "consumers", "{tenantid}":
		return []*LoadError{s.errorf("$.issuer", "issuer %q is Entra ID's multi-tenant endpoint: use your tenant's own, "+
			"https://%s/<tenant-id>/v2.0, so only your tenant's staff can sign in", o.Issuer, u.Host)}
	}
	if rest != "v2.0" || !guid.MatchString(tenant) {
		return []*LoadError{s.errorf("$.issuer", "issuer %q: an Entra ID issuer is https://%s/<tenant-id>/v2.0", o.Issuer, u.Host)}
	}
	if o.TenantID == "" {
		return []*LoadError{s.errorf("$.tenant_id", "tenant_id is required for Entra ID: staff are matched on it and their object id")}
	}
	if !strings.EqualFold(tenant, o.TenantID) {
		return []*LoadError{s.errorf("$.tenant_id", "tenant_id %s is not the issuer's tenant %s", o.TenantID, tenant)}
	}
	return nil
}

func loopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

// readSecret reads a secret file: an absolute path as it is, a relative one from the policy
// folder. Surrounding white space (a trailing newline) is not part of the secret.
func readSecret(fsys fs.FS, name string) (string, error) {
	var b []byte
	var err error
	if filepath.IsAbs(name) {
		b, err = os.ReadFile(name)
	} else {
		b, err = fs.ReadFile(fsys, path.Clean(filepath.ToSlash(name)))
	}
	if err != nil {
		return "", fmt.Errorf("read %s: %w", name, unwrapPath(err))
	}
	if len(b) > maxSecret {
		return "", fmt.Errorf("%s is longer than a client secret (%d bytes at most)", name, maxSecret)
	}
	secret := strings.TrimSpace(string(b))
	if secret == "" {
		return "", fmt.Errorf("%s is empty", name)
	}
	return secret, nil
}

// unwrapPath drops the path fs errors repeat, so the message names the file once.
func unwrapPath(err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err
	}
	return err
}
