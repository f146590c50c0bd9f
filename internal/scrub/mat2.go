package scrub

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os/exec"
	"strconv"
	"time"
)

// Documents are cleaned by Debian's mat2 (as Tails and SecureDrop do), which needs the whole
// file: it is run in a bubblewrap sandbox with no network and nothing of the host but /usr,
// the file only ever on the sandbox's private tmpfs (memory, never disk), under an address
// space limit and a time limit, one at a time.
const (
	// MaxDocument is the largest PDF or Office file cleaned: the sandbox's tmpfs holds it
	// and its cleaned copy in memory.
	MaxDocument      = 50_000_000
	PDF         Kind = "pdf"
	DOCX        Kind = "docx"
	XLSX        Kind = "xlsx"
	PPTX        Kind = "pptx"
	ODT         Kind = "odt"
	ODS         Kind = "ods"
	ODP         Kind = "odp"
	// Properties is a document's properties: author, organisation, dates, software, comment
	// authors and revision ids (mat2 removes whichever are present).
	Properties = "properties"
)

// The sandbox's limits; variables so the tests can show a file past them is refused.
var (
	mat2Memory = 2 << 30 // address space (prlimit --as); mat2's Python and poppler need ~1 GiB mapped
	mat2Time   = 2 * time.Minute
)

// mat2Turn lets one document cleaner run at a time: each may take a second of CPU and a GiB.
var mat2Turn = make(chan struct{}, 1)

// mat2Ready is whether mat2 and bubblewrap are installed; without them documents are stored
// as they are, with the warning.
var mat2Ready = func() bool {
	for _, p := range []string{"mat2", "bwrap", "prlimit"} {
		if _, err := exec.LookPath(p); err != nil {
			return false
		}
	}
	return true
}()

// sniffDocument tells a PDF or an Office file from its first bytes: mat2 picks its parser by
// the file's extension, so the kind is the extension.
func sniffDocument(head []byte) Kind {
	switch {
	case bytes.HasPrefix(head, []byte("%PDF-")):
		return PDF
	case !bytes.HasPrefix(head, []byte("PK\x03\x04")):
		return ""
	// ODF stores its media type, uncompressed, as the first entry.
	case bytes.Contains(head, []byte("application/vnd.oasis.opendocument.text")):
		return ODT
	case bytes.Contains(head, []byte("application/vnd.oasis.opendocument.spreadsheet")):
		return ODS
	case bytes.Contains(head, []byte("application/vnd.oasis.opendocument.presentation")):
		return ODP
	case !bytes.Contains(head, []byte("[Content_Types].xml")) && !bytes.Contains(head, []byte("_rels/")):
		return ""
	case bytes.Contains(head, []byte("xl/")):
		return XLSX
	case bytes.Contains(head, []byte("ppt/")):
		return PPTX
	}
	return DOCX // mat2 cleans every OOXML file with the same parser
}

// cleanDocument runs mat2 on r in the sandbox and copies the cleaned file to w. The request
// is read on the caller's goroutine only; the file goes in on stdin, and the cleaned copy
// comes out on stdout only once mat2 succeeded.
func cleanDocument(kind Kind, r io.Reader, w io.Writer, rep *Report) error {
	mat2Turn <- struct{}{}
	defer func() { <-mat2Turn }()
	ctx, cancel := context.WithTimeout(context.Background(), mat2Time)
	defer cancel()
	in, out := "in."+string(kind), "in.cleaned."+string(kind)
	light := ""
	if kind == PDF {
		light = "--lightweight " // keeps the text layer; the full mode renders pages to images
	}
	cmd := exec.CommandContext(ctx, "prlimit", "--as="+strconv.Itoa(mat2Memory), "--",
		"bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--clearenv",
		"--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
		"--symlink", "usr/bin", "/bin", "--ro-bind-try", "/etc/alternatives", "/etc/alternatives",
		"--ro-bind-try", "/etc/fonts", "/etc/fonts",
		// mat2 picks its parser by the media type Python's mimetypes finds for the extension.
		"--ro-bind-try", "/etc/mime.types", "/etc/mime.types", "--proc", "/proc", "--dev", "/dev",
		"--size", strconv.Itoa(3*MaxDocument), "--tmpfs", "/tmp", "--setenv", "HOME", "/tmp", "--chdir", "/tmp",
		"/bin/sh", "-c", "cat > "+in+" && mat2 "+light+in+" >/dev/null 2>&1 && cat "+out)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer cmd.Wait() // after a failure below: reaps the killed process
	// A HEIC's report comes from its meta box, near the start: its first bytes are kept.
	var head headBuffer
	if kind == HEIC {
		r = io.TeeReader(r, &head)
	}
	n, err := io.Copy(sandboxInput{stdin}, io.LimitReader(r, MaxDocument+1))
	stdin.Close()
	var stopped sandboxStopped
	switch {
	case errors.As(err, &stopped):
		// The sandbox stopped reading: killed at its time or memory limit, or gave up.
		cancel()
		return ErrCorrupt
	case err != nil:
		cancel()
		return err
	case n > MaxDocument:
		cancel()
		return ErrTooLarge
	}
	if _, err := io.Copy(w, io.LimitReader(stdout, 2*MaxDocument)); err != nil {
		cancel()
		return err
	}
	// mat2 refusing the file (damaged, or not what it seems) or running out of time or
	// memory: it cannot be cleaned, so it is refused like a damaged image.
	if err := cmd.Wait(); err != nil {
		return ErrCorrupt
	}
	if kind == HEIC {
		heicFindings(head, rep)
	} else {
		rep.removed(Properties)
	}
	return nil
}

// sandboxInput tells a failed write into the sandbox (it stopped reading) from a failed
// read of the upload.
type sandboxInput struct{ w io.Writer }

type sandboxStopped struct{ error }

func (s sandboxInput) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	if err != nil {
		err = sandboxStopped{err}
	}
	return n, err
}

// headBuffer keeps the first heicMetaLen bytes written to it and drops the rest.
type headBuffer []byte

func (h *headBuffer) Write(p []byte) (int, error) {
	if room := heicMetaLen - len(*h); room > 0 {
		*h = append(*h, p[:min(room, len(p))]...)
	}
	return len(p), nil
}
