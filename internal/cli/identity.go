package cli

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"filippo.io/age"
	"filippo.io/age/armor"
)

// maxSealed caps what is read as a sealed identity; a real one is well under 4 KiB.
const maxSealed = 64 << 10

// identityCmd runs `candour identity open --key FILE [--in FILE] [--concern ID]`: a custodian
// opens a sealed identity offline with their own age key. It needs no configuration and no
// database, and the key never leaves the custodian's machine. age has no associated data, so
// the concern's public id is sealed inside the identity ("concern"); with --concern, an
// identity sealed for another concern (moved there in the database) is refused, and one sealed
// before identities were bound is opened with a warning.
func identityCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "open" {
		fmt.Fprintln(stderr, "usage: candour identity open --key FILE [--in FILE]   (the sealed identity on stdin by default)")
		return 2
	}
	fs := flag.NewFlagSet("identity open", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keyPath := fs.String("key", "", "the custodian's age identity file")
	in := fs.String("in", "", "the sealed identity (armored or binary age); default stdin")
	concern := fs.String("concern", "", "the concern's id as the portal shows it; refuse an identity sealed for another")
	if err := fs.Parse(args[1:]); err != nil || *keyPath == "" || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: candour identity open --key FILE [--in FILE]")
		return 2
	}
	ids, err := readIdentities(*keyPath)
	if err != nil {
		fmt.Fprintf(stderr, "candour: %v\n", err)
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
	if *concern != "" {
		var sealed struct {
			Concern string `json:"concern"`
		}
		if err := json.Unmarshal(out, &sealed); err != nil {
			fmt.Fprintln(stderr, "candour: the sealed identity is not an identity")
			return 1
		}
		switch sealed.Concern {
		case *concern:
		case "":
			fmt.Fprintln(stderr, "candour: warning: sealed before identities were bound to their concern; it cannot be shown to be this concern's")
		default:
			// Nothing of the identity is printed: it is someone else's.
			fmt.Fprintf(stderr, "candour: integrity: this identity was sealed for concern %s, not %s: it was moved in the database\n", sealed.Concern, *concern)
			return 1
		}
	}
	stdout.Write(append(out, '\n'))
	return 0
}

// readIdentities reads an age identity file (capped: a key file is a few hundred bytes).
func readIdentities(path string) ([]age.Identity, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ids, err := age.ParseIdentities(io.LimitReader(f, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("%s is not an age identity file", path)
	}
	return ids, nil
}
