package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"candour/internal/seal"
)

func TestIdentityOpen(t *testing.T) {
	custodian, _ := age.GenerateX25519Identity()
	other, _ := age.GenerateX25519Identity()
	recipients, err := seal.ParseRecipients([]string{custodian.Recipient().String(), other.Recipient().String()})
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := seal.SealIdentity(recipients, []byte(`{"name":"Gwen Whistleblower"}`))
	if err != nil {
		t.Fatal(err)
	}
	armored, _ := seal.Armor(sealed)
	dir := t.TempDir()
	key := filepath.Join(dir, "key.txt")
	os.WriteFile(key, []byte("# custodian\n"+custodian.String()+"\n"), 0o600)
	wrongKey := filepath.Join(dir, "wrong.txt")
	stranger, _ := age.GenerateX25519Identity()
	os.WriteFile(wrongKey, []byte(stranger.String()+"\n"), 0o600)

	for name, in := range map[string][]byte{"armored": []byte(armored), "binary": sealed} {
		var out, errb bytes.Buffer
		if code := identityCmd([]string{"open", "--key", key}, bytes.NewReader(in), &out, &errb); code != 0 || !strings.Contains(out.String(), "Gwen Whistleblower") {
			t.Errorf("%s: got exit %d, %q %q", name, code, out.String(), errb.String())
		}
	}
	var out, errb bytes.Buffer
	if code := identityCmd([]string{"open", "--key", wrongKey}, strings.NewReader(armored), &out, &errb); code != 1 || out.Len() != 0 {
		t.Errorf("wrong key: got exit %d, output %q", code, out.String())
	}
	if code := identityCmd([]string{"open"}, strings.NewReader(armored), &out, &errb); code != 2 {
		t.Errorf("no key: got exit %d, want 2", code)
	}
}
