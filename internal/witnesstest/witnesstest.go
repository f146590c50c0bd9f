// Package witnesstest runs a real C2SP tlog-witness for tests: litewitness from
// filippo.io/torchwood (a tool dependency in go.mod), built once per test binary, as its own
// process on 127.0.0.1, with its key in an ssh-agent served in the test process.
package witnesstest

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"candour/internal/checkpoint"
)

// Witness is a running litewitness.
type Witness struct {
	URL  string
	Name string
	Key  string // its cosignature vkey, as a policy pins it
}

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// build compiles litewitness and witnessctl once for this test binary.
func build() (string, error) {
	buildOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		if binDir, buildErr = os.MkdirTemp("", "litewitness"); buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", binDir, "filippo.io/torchwood/cmd/litewitness",
			"filippo.io/torchwood/cmd/witnessctl")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build litewitness: %v\n%s", err, out)
		}
	})
	return binDir, buildErr
}

// Start runs a witness named name that knows the log origin with the Ed25519 log key logKey
// (a vkey), until the test ends.
func Start(t testing.TB, name, origin, logKey string) *Witness {
	t.Helper()
	bin, err := build()
	if err != nil {
		t.Fatal(err)
	}
	// A unix socket path must be short: not under t.TempDir().
	dir, err := os.MkdirTemp("", "lw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "agent.sock")
	serveAgent(t, sock, priv)
	db := filepath.Join(dir, "witness.db")
	for _, args := range [][]string{{"add-log", "-db", db, "-origin", origin}, {"add-key", "-db", db, "-origin", origin, "-key", logKey}} {
		if out, err := exec.Command(filepath.Join(bin, "witnessctl"), args...).CombinedOutput(); err != nil {
			t.Fatalf("witnessctl %s: %v\n%s", args[0], err, out)
		}
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	cmd := exec.Command(filepath.Join(bin, "litewitness"), "-db", db, "-name", name, "-ssh-agent", sock,
		"-key", ssh.FingerprintSHA256(sshPub), "-listen", addr)
	log, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		log.Close()
	})
	for deadline := time.Now().Add(20 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(log.Name())
			t.Fatalf("litewitness did not start:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return &Witness{URL: "http://" + addr, Name: name, Key: checkpoint.CosignerKey(name, pub)}
}

// serveAgent serves an ssh-agent holding key on sock until the test ends.
func serveAgent(t testing.TB, sock string, key ed25519.PrivateKey) {
	keyring := agent.NewKeyring()
	if err := keyring.Add(agent.AddedKey{PrivateKey: key}); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _ = agent.ServeAgent(keyring, c) }()
		}
	}()
}

func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
