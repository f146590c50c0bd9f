// Package intaketest builds the real intake service for tests, as the portal does: the sample
// policy, fresh keys in a temporary folder and a fresh test database. One place, so every
// package's tests file concerns the same way.
package intaketest

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/jmoiron/sqlx"

	"candour/internal/dbtest"
	"candour/internal/intake"
	"candour/internal/policytest"
	"candour/internal/receipt"
	"candour/internal/routing"
	"candour/internal/seal"
	"candour/internal/store"
	"candour/internal/token"
)

// Kit is an intake service and everything it was built from.
type Kit struct {
	DB        *sqlx.DB
	OwnerURL  string // the schema's owner, for playing someone who changes it
	Store     *store.Store
	Policy    *routing.Policy
	PolicyDir string // the Kit's own copy of the sample policy
	ServerKey *seal.ServerKey
	Names     *receipt.Hasher // receipts and named-people keys
	Tokens    *token.Keys
	Intake    *intake.Service
}

// Options adjust the service.
type Options struct {
	Now           func() time.Time // default time.Now
	MaxAttachment int64            // default 8 MiB
	BlobDir       string           // attachments as files here (CANDOUR_BLOB_DIR); default PostgreSQL
	// Council is the slug of the council the Kit works for, added on first use; "": the
	// default council. DB's sessions are set to it, as the store's transactions are.
	Council string
}

// New builds a Kit on a fresh database; the test fails if anything cannot be built.
func New(t testing.TB, o Options) *Kit {
	t.Helper()
	policyDir := policytest.Dir(t)
	policy, err := routing.Load(policyDir)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	d := dbtest.NewDatabase(t)
	url := d.URL
	k := &Kit{DB: dbtest.Open(t, dbtest.InCouncil(t, url, store.DefaultCouncil)), OwnerURL: d.OwnerURL, Policy: policy, PolicyDir: policyDir}
	k.Store = store.New(k.DB)
	if o.Council != "" {
		id, err := k.Store.EnsureCouncil(context.Background(), o.Council)
		if err != nil {
			t.Fatal(err)
		}
		k.DB = dbtest.Open(t, dbtest.InCouncil(t, url, id))
		k.Store = store.New(k.DB).ForCouncil(id)
	}
	if o.BlobDir != "" {
		fb, err := store.OpenFileBlobs(o.BlobDir, false)
		if err != nil {
			t.Fatal(err)
		}
		k.Store = k.Store.WithFileBlobs(fb)
	}
	if k.ServerKey, err = seal.LoadOrCreateServerKey(filepath.Join(dir, "data.key")); err != nil {
		t.Fatal(err)
	}
	if k.Names, err = receipt.LoadOrCreateKey(filepath.Join(dir, "receipt.key")); err != nil {
		t.Fatal(err)
	}
	if k.Tokens, err = token.LoadOrCreate(filepath.Join(dir, "jwt")); err != nil {
		t.Fatal(err)
	}
	if o.MaxAttachment == 0 {
		o.MaxAttachment = 8 << 20
	}
	k.Intake = intake.New(intake.Deps{Store: k.Store, Policy: k.PolicyFunc(), ServerKey: k.ServerKey, Receipts: k.Names,
		Throttle: receipt.NewThrottle(600, 600, 50), Tokens: k.Tokens, Now: o.Now, MaxAttachment: o.MaxAttachment})
	return k
}

// AddCustodian pins an identity custodian with a fresh age identity in the Kit's policy and
// gives them an account, so confidential and open reports can be filed, and returns the
// identity.
func (k *Kit) AddCustodian(t testing.TB) *age.X25519Identity {
	t.Helper()
	id := policytest.PinCustodian(t, k.PolicyDir, "Cara Custodian", "custodian@example.gov.uk")
	policy, err := routing.Load(k.PolicyDir)
	if err != nil {
		t.Fatal(err)
	}
	k.Policy = policy
	r := id.Recipient().String()
	if err := k.Store.InsertUser(context.Background(), &store.User{Email: "custodian@example.gov.uk", Name: "Cara Custodian",
		Roles: []string{"custodian"}, AgeRecipient: &r, Language: "en"}); err != nil {
		t.Fatal(err)
	}
	return id
}

// PolicyFunc is the policy in the form services take it.
func (k *Kit) PolicyFunc() func() *routing.Policy { return func() *routing.Policy { return k.Policy } }
