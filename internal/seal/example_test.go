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
	// Each field is bound to its place: table, row (public id), column.
	place := seal.Place{Table: "concerns", Row: "2b1f0c3e-0d0a-4c1e-9a51-3c52f2d1e7a1", Field: "content"}
	summary, err := dataKey.Seal(place, []byte("Invoices approved without quotes"))
	if err != nil {
		log.Fatal(err)
	}
	var attachment bytes.Buffer
	w, err := dataKey.EncryptStream(&attachment, seal.Place{Table: "attachments", Row: "0f5e8a9c-7b7d-4f60-8d2b-1e0c9a4b6d33", Field: "blob"})
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
	plain, err := dataKey.Open(place, summary)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", plain.Plain)
	r, _, err := dataKey.DecryptStream(&attachment, seal.Place{Table: "attachments", Row: "0f5e8a9c-7b7d-4f60-8d2b-1e0c9a4b6d33", Field: "blob"})
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
