package portal

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"filippo.io/age"

	"candour/internal/accounts"
	"candour/internal/store"
)

// DevCustodianEmail is the custodian the embedded default creates so confidential and open
// reporting work out of the box on a developer's machine.
const DevCustodianEmail = "dev-custodian@candour.invalid"

// EnsureDevCustodian gives the embedded default a custodian when there is none: an age
// identity in <data>/dev-custodian.key and a user holding its recipient. It returns the key
// path ("" if a custodian already existed). Never used with DATABASE_URL: a real council's
// custodians generate their keys offline.
func (p *Portal) EnsureDevCustodian(ctx context.Context) (string, error) {
	st := store.New(p.DB)
	existing, err := st.CustodianRecipients(ctx)
	if err != nil || len(existing) > 0 {
		return "", err
	}
	path := filepath.Join(p.Config.DataDir, "dev-custodian.key")
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return "", err
	}
	body := fmt.Sprintf("# created: %s\n# public key: %s\n# DEVELOPMENT ONLY: a real custodian key never lives on the server.\n%s\n",
		time.Now().UTC().Format(time.RFC3339), id.Recipient(), id)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("dev custodian: %s exists but no custodian user does; remove the file to make a new one", path)
	}
	if err != nil {
		return "", fmt.Errorf("dev custodian: %w", err)
	}
	if _, err := f.WriteString(body); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	r := id.Recipient().String()
	if err := st.InsertUser(ctx, &store.User{Email: DevCustodianEmail, Name: "Development custodian",
		Roles: []string{"custodian"}, AgeRecipient: &r, Language: "en"}); err != nil {
		os.Remove(path)
		return "", fmt.Errorf("dev custodian: %w", err)
	}
	return path, nil
}

// DevOfficer is the development Monitoring Officer the embedded default creates on first start.
type DevOfficer struct {
	Email, Password, TOTPSecret string
}

// DevOfficerEmail is the development Monitoring Officer's sign-in.
const DevOfficerEmail = "dev-mo@candour.invalid"

// EnsureDevOfficer creates a development Monitoring Officer when nobody holds the role, so a
// developer can sign in after `make run`. The password and TOTP secret are returned once to be
// printed and are not kept anywhere but the argon2id hash. Never used with DATABASE_URL.
func (p *Portal) EnsureDevOfficer(ctx context.Context) (*DevOfficer, error) {
	var n int
	if err := p.DB.GetContext(ctx, &n, `SELECT count(*) FROM users WHERE 'monitoring_officer' = ANY (roles)`); err != nil || n > 0 {
		return nil, err
	}
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	pw := "dev-" + hex.EncodeToString(b[:])
	created, err := p.Accounts.Create(ctx, accounts.Console(), accounts.NewUser{Email: DevOfficerEmail, Name: "Development Monitoring Officer",
		Roles: []string{"monitoring_officer"}, Language: "en", Password: pw})
	if err != nil {
		return nil, fmt.Errorf("dev officer: %w", err)
	}
	return &DevOfficer{Email: DevOfficerEmail, Password: pw, TOTPSecret: created.TOTPSecret}, nil
}
