package cli

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"

	"filippo.io/age"
	"filippo.io/age/armor"
)

// maxSealed caps what is read as a sealed identity; a real one is well under 4 KiB.
const maxSealed = 64 << 10

// identityCmd runs `candour identity open --key FILE [--in FILE]`: a custodian opens a sealed
// identity offline with their own age key. It needs no configuration and no database, and the
// key never leaves the custodian's machine.
func identityCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "open" {
		fmt.Fprintln(stderr, "usage: candour identity open --key FILE [--in FILE]   (the sealed identity on stdin by default)")
		return 2
	}
	fs := flag.NewFlagSet("identity open", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keyPath := fs.String("key", "", "the custodian's age identity file")
	in := fs.String("in", "", "the sealed identity (armored or binary age); default stdin")
	if err := fs.Parse(args[1:]); err != nil || *keyPath == "" || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: candour identity open --key FILE [--in FILE]")
		return 2
	}
	keyFile, err := os.Open(*keyPath)
	if err != nil {
		fmt.Fprintf(stderr, "candour: %v\n", err)
		return 1
	}
	defer keyFile.Close()
	ids, err := age.ParseIdentities(io.LimitReader(keyFile, 64<<10))
	if err != nil {
		fmt.Fprintf(stderr, "candour: %s is not an age identity file\n", *keyPath)
		return 1
	}
	src := stdin
	if *in != "" {
		f, err := os.Open(*in)
		if err != nil {
			fmt.Fprintf(stderr, "candour: %v\n", err)
			return 1
		}
		defer f.Close()
		src = f
	}
	sealed, err := io.ReadAll(io.LimitReader(src, maxSealed+1))
	if err != nil || len(sealed) > maxSealed {
		fmt.Fprintln(stderr, "candour: cannot read the sealed identity (too large or unreadable)")
		return 1
	}
	var r io.Reader = bytes.NewReader(sealed)
	if bytes.HasPrefix(bytes.TrimSpace(sealed), []byte("-----BEGIN AGE ENCRYPTED FILE-----")) {
		r = armor.NewReader(bytes.NewReader(bytes.TrimSpace(sealed)))
	}
	plain, err := age.Decrypt(r, ids...)
	if err != nil {
		fmt.Fprintf(stderr, "candour: cannot open it with this key: %v\n", err)
		return 1
	}
	out, err := io.ReadAll(io.LimitReader(plain, maxSealed))
	if err != nil {
		fmt.Fprintf(stderr, "candour: the sealed identity is damaged: %v\n", err)
		return 1
	}
	stdout.Write(append(out, '\n'))
	return 0
}
