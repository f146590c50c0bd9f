// Package keyfile reads and creates the small secret files the portal keeps its keys in: the
// data key, the receipt key and the token signing keys. One set of rules for all of them: a
// regular file, not readable by group or other, small, and created atomically without ever
// replacing an existing key.
package keyfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// MaxSize caps how much of a key file is read and parsed.
const MaxSize = 4 << 10

// ErrExists is returned by Create when the file exists (another process created it first).
var ErrExists = errors.New("key file already exists")

// ReadOrCreate reads the key file at path or, when there is none, creates it with what generate
// returns. When another process creates it first, that file wins, so every process sharing the
// folder ends up with the same key.
func ReadOrCreate(path string, generate func() ([]byte, error)) ([]byte, error) {
	data, err := Read(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return data, err
	}
	if data, err = generate(); err != nil {
		return nil, err
	}
	switch err := Create(path, data); {
	case errors.Is(err, ErrExists):
		return Read(path)
	case err != nil:
		return nil, err
	}
	return data, nil
}

// Read reads a secret key file, refusing anything that is not a
// regular file, is readable or writable by group or other, or is larger than
// MaxSize. It returns fs.ErrNotExist (wrapped) if the file is missing.
func Read(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// Stat the open file, not the path, so the checks apply to what is read.
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%s has mode %#o: a key file must not be accessible by group or other (chmod 600)", path, perm)
	}
	if fi.Size() > MaxSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, MaxSize)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, MaxSize)
	}
	return data, nil
}

// Create atomically creates path with mode 0600 holding data, creating
// the parent directory with mode 0700 if it is missing. The content is
// written to a temporary file in the same directory, synced, and then linked
// into place, so a reader never sees a partial key and an existing key is
// never replaced: if path already exists, ErrExists is returned.
func Create(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmpName := tmp.Name()
	defer func() {
		// The temporary name is always removed: after a successful link the
		// key lives on under path.
		if rmErr := os.Remove(tmpName); rmErr != nil && !errors.Is(rmErr, fs.ErrNotExist) && err == nil {
			err = rmErr
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	// link(2) fails if path exists, unlike rename(2), so two processes
	// starting at once cannot overwrite each other's key.
	if err := os.Link(tmpName, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return ErrExists
		}
		return err
	}
	return syncDir(dir)
}

// syncDir makes a new directory entry durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		return err
	}
	return nil
}
