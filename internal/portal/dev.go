package portal

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"filippo.io/age"

	"candour/internal/accounts"
	"candour/internal/keyfile"
	"candour/internal/store"
)

// DevCustodianEmail is the custodian the embedded default creates so confidential and open
// reporting work out of the box on a developer's machine.
const DevCustodianEmail = "dev-custodian@candour.invalid"

// EnsureDevCustodian gives the embedded default a custodian so confidential and open reporting
// work out of the box on a developer's machine: an age identity in <data>/dev-custodian.key
// (made once) and a user holding its recipient. It returns the key's path and recipient. The
// recipient is sealed to only while the policy pins no custodian (intake.Deps.DevCustodian):
// a real council's custodians generate their keys offline and are pinned in custodians.yaml.
// Never used with DATABASE_URL.
func (c *Council) EnsureDevCustodian(ctx context.Context, dataDir string) (path, recipient string, err error) {
	path = filepath.Join(dataDir, "dev-custodian.key")
	data, err := keyfile.ReadOrCreate(path, func() ([]byte, error) {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			return nil, err
		}
		return fmt.Appendf(nil, "# created: %s\n# public key: %s\n# DEVELOPMENT ONLY: a real custodian key never lives on the server.\n%s\n",
			time.Now().UTC().Format(time.RFC3339), id.Recipient(), id), nil
	})
	if err != nil {
		return "", "", fmt.Errorf("dev custodian: %w", err)
	}
	ids, err := age.ParseIdentities(bytes.NewReader(data))
	if err != nil || len(ids) != 1 {
		return "", "", fmt.Errorf("dev custodian: %s does not hold one age identity", path)
	}
	id, ok := ids[0].(*age.X25519Identity)
	if !ok {
		return "", "", fmt.Errorf("dev custodian: %s does not hold an X25519 identity", path)
	}
	recipient = id.Recipient().String()
	err = c.Store.InsertUser(ctx, &store.User{Email: DevCustodianEmail, Name: "Development custodian",
		Roles: []string{"custodian"}, AgeRecipient: &recipient, Language: "en"})
	if err != nil && !errors.Is(err, store.ErrDuplicate) {
		return "", "", fmt.Errorf("dev custodian: %w", err)
	}
	return path, recipient, nil
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
func (c *Council) EnsureDevOfficer(ctx context.Context) (*DevOfficer, error) {
	if n, err := c.Store.CountUsersWithRole(ctx, "monitoring_officer"); err != nil || n > 0 {
		return nil, err
	}
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	pw := "dev-" + hex.EncodeToString(b[:])
	created, err := c.Accounts.Create(ctx, accounts.Console(), accounts.NewUser{Email: DevOfficerEmail, Name: "Development Monitoring Officer",
		Roles: []string{"monitoring_officer"}, Language: "en", Password: pw})
	if err != nil {
		return nil, fmt.Errorf("dev officer: %w", err)
	}
	return &DevOfficer{Email: DevOfficerEmail, Password: pw, TOTPSecret: created.TOTPSecret}, nil
}
