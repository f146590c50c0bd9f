package seal_test

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"
	"filippo.io/age/armor"

	"candour/internal/seal"
)

func ExampleSealIdentity() {
	// In production the custodians generate their keys offline
	// (age-keygen) and only their public recipients are configured.
	custodian, err := age.GenerateX25519Identity()
	if err != nil {
		log.Fatal(err)
	}
	recipients, err := seal.ParseRecipients([]string{custodian.Recipient().String()})
	if err != nil {
		log.Fatal(err)
	}

	sealed, err := seal.SealIdentity(recipients, []byte("Jo Bloggs, jo@example.org"))
	if err != nil {
		log.Fatal(err)
	}
	armored, err := seal.Armor(sealed)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(strings.SplitN(armored, "\n", 2)[0])

	// What "age -d -i custodian.txt" does on the custodian's machine.
	r, err := age.Decrypt(armor.NewReader(strings.NewReader(armored)), custodian)
	if err != nil {
		log.Fatal(err)
	}
	identity, err := io.ReadAll(r)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", identity)
	// Output:
	// -----BEGIN AGE ENCRYPTED FILE-----
	// Jo Bloggs, jo@example.org
}

func ExampleDataKey() {
	dir, err := os.MkdirTemp("", "candour-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	server, err := seal.LoadOrCreateServerKey(filepath.Join(dir, "server.key"))
	if err != nil {
		log.Fatal(err)
	}

	// A new concern gets its own data key; only the wrapped form is stored.
	dataKey, wrapped, err := server.NewDataKey()
	if err != nil {
		log.Fatal(err)
	}
	summary, err := dataKey.Seal([]byte("Invoices approved without quotes"))
	if err != nil {
		log.Fatal(err)
	}
	var attachment bytes.Buffer
	w, err := dataKey.EncryptStream(&attachment)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := io.Copy(w, strings.NewReader("scan of invoice 1042")); err != nil {
		log.Fatal(err)
	}
	if err := w.Close(); err != nil { // writes the last chunk
		log.Fatal(err)
	}

	// Later: unwrap the stored key and read the content back.
	dataKey, err = server.UnwrapDataKey(wrapped)
	if err != nil {
		log.Fatal(err)
	}
	plain, err := dataKey.Open(summary)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", plain)
	r, err := dataKey.DecryptStream(&attachment)
	if err != nil {
		log.Fatal(err)
	}
	// Use the attachment only once the whole read returned nil.
	file, err := io.ReadAll(r)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", file)
	// Output:
	// Invoices approved without quotes
	// scan of invoice 1042
}
