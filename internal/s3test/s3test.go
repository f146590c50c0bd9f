// Package s3test runs a real S3 server for tests: versitygw (github.com/versity/versitygw, a
// maintained S3 gateway) on its posix backend, as its own process on 127.0.0.1, one per test
// that asks. The binary is built once per machine at a pinned version, with `go install`
// outside this module (its dependencies stay out of go.mod), into bin/test/ (git-ignored); the
// Go build cache makes a rebuild after `make clean` cheap.
package s3test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Version is the versitygw release the tests run.
const Version = "v1.8.0"

// Server is a running S3 server with one bucket.
type Server struct {
	Endpoint  string // 127.0.0.1:port
	AccessKey string
	SecretKey string
	Bucket    string
	Dir       string // the posix backend's top folder (the bucket is a folder in it)
}

// URL is CANDOUR_BLOB_URL for the bucket and prefix.
func (s *Server) URL(prefix string) string {
	return "s3://" + s.Bucket + "/" + prefix + "?endpoint=http://" + s.Endpoint
}

// Settings are the portal's environment for the bucket and prefix (portaltest.Setting).
func (s *Server) Settings(prefix string) map[string]string {
	return map[string]string{"CANDOUR_BLOB_URL": s.URL(prefix), "CANDOUR_BLOB_ACCESS_KEY": s.AccessKey,
		"CANDOUR_BLOB_SECRET_KEY": s.SecretKey}
}

// Client is an S3 client of the server, for a test's own look at the bucket.
func (s *Server) Client(t testing.TB) *minio.Client {
	c, err := minio.New(s.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(s.AccessKey, s.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// build returns the versitygw binary, building it when this machine has none of Version.
func build() (string, error) {
	buildOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		dir := filepath.Join(filepath.Dir(file), "..", "..", "bin", "test")
		binPath = filepath.Join(dir, "versitygw-"+Version)
		if _, err := os.Stat(binPath); err == nil {
			return
		}
		if buildErr = os.MkdirAll(dir, 0o755); buildErr != nil {
			return
		}
		// Into a folder of its own, then renamed: test binaries of other packages may be
		// building it at the same moment.
		tmp, err := os.MkdirTemp(dir, "build-")
		if err != nil {
			buildErr = err
			return
		}
		defer os.RemoveAll(tmp)
		cmd := exec.Command("go", "install", "github.com/versity/versitygw/cmd/versitygw@"+Version)
		cmd.Dir = tmp // outside any module: its own go.mod decides its dependencies
		cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOFLAGS=", "GOWORK=off", "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go install versitygw@%s: %v\n%s", Version, err, out)
			return
		}
		buildErr = os.Rename(filepath.Join(tmp, "versitygw"), binPath)
	})
	return binPath, buildErr
}

// xattrs reports whether the file system of dir keeps user extended attributes, which the
// posix backend keeps its metadata in (else it is given a sidecar folder).
func xattrs(dir string) bool {
	f := filepath.Join(dir, ".xattr-probe")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		return false
	}
	defer os.Remove(f)
	return syscall.Setxattr(f, "user.candour", []byte("1"), 0) == nil
}

// Start runs a server with one bucket, "evidence", until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := build()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{AccessKey: "candour-test-access", SecretKey: "candour-test-secret-key", Bucket: "evidence", Dir: t.TempDir()}
	args := []string{"--access", s.AccessKey, "--secret", s.SecretKey, "--quiet"}
	backend := []string{"posix"}
	if !xattrs(s.Dir) {
		backend = append(backend, "--sidecar", t.TempDir())
	}
	backend = append(backend, s.Dir)
	// versitygw cannot say which port it took of 127.0.0.1:0: take a free one and give it that,
	// again with another if something else took it in between.
	var lastErr error
	for try := 0; try < 5; try++ {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		s.Endpoint = "127.0.0.1:" + port
		if lastErr = run(t, bin, append(append(args, "--port", s.Endpoint), backend...), s.Endpoint); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		t.Fatal(lastErr)
	}
	if err := s.Client(t).MakeBucket(context.Background(), s.Bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("make bucket: %v", err)
	}
	return s
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	_, port, err := net.SplitHostPort(l.Addr().String())
	return port, err
}

// run starts the server and waits until it answers on addr, or returns why it stopped.
func run(t testing.TB, bin string, args []string, addr string) error {
	var out strings.Builder
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(time.Minute)
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("versitygw stopped: %v\n%s", err, out.String())
		default:
		}
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			t.Cleanup(func() {
				cmd.Process.Signal(syscall.SIGTERM)
				select {
				case <-exited:
				case <-time.After(10 * time.Second):
					cmd.Process.Kill()
					<-exited
				}
			})
			return nil
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-exited
			return errors.New("versitygw did not answer within a minute:\n" + out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
