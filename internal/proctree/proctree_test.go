package proctree_test

import (
	"os"
	"os/exec"
	"slices"
	"strconv"
	"testing"
	"time"

	"candour/internal/proctree"
)

// A grandchild is in the tree (a portal's PostgreSQL backends are the postmaster's children),
// and a process that is not descended from the root is not.
func TestTreeHoldsGrandchildren(t *testing.T) {
	sh := exec.Command("sh", "-c", "sleep 30 & echo $!; wait")
	out, err := sh.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sh.Process.Kill(); sh.Wait() })
	buf := make([]byte, 32)
	n, err := out.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	sleeper, err := strconv.Atoi(string(buf[:n-1]))
	if err != nil {
		t.Fatalf("sleep's pid %q: %v", buf[:n], err)
	}
	t.Cleanup(func() { exec.Command("kill", strconv.Itoa(sleeper)).Run() })
	tree := proctree.Tree(os.Getpid())
	if tree[0] != os.Getpid() || !slices.Contains(tree, sh.Process.Pid) || !slices.Contains(tree, sleeper) {
		t.Fatalf("tree of %d = %v, want the shell %d and its sleep %d in it", os.Getpid(), tree, sh.Process.Pid, sleeper)
	}
	if slices.Contains(proctree.Tree(sh.Process.Pid), os.Getpid()) {
		t.Fatal("the shell's tree holds its parent")
	}
	if st := proctree.Stat(sleeper); len(st) < 15 || st[0] != "S" {
		t.Fatalf("stat of the sleeping process: %v", st)
	}
}

// Work done counts: the process's own CPU rises while it computes.
func TestCPUCountsWork(t *testing.T) {
	before, _ := proctree.CPU(os.Getpid())
	x := 0
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		for i := range 1_000_000 {
			x ^= i * i
		}
		if now, _ := proctree.CPU(os.Getpid()); now-before >= 0.05 {
			return
		}
	}
	t.Fatalf("10 s of computing (%d) and the process's CPU rose by less than 50 ms", x)
}
