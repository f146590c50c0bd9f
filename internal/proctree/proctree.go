// Package proctree reads, from Linux's /proc, the CPU time of a process and of every process
// descended from it: the benchmarks' measure of what an operation costs the machine, beside
// how long it took (a portal and its embedded PostgreSQL, or a test process and the server it
// started).
package proctree

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// CPU is the CPU time, in seconds, of process pid and of all its descendants. The descendants'
// include the time of their own children that exited and were waited for (a PostgreSQL
// backend whose client disconnected).
func CPU(pid int) (self, descendants float64) {
	const hz = 100 // USER_HZ on Linux
	// Fields utime, stime, then cutime, cstime.
	ticks := func(p int, fields ...int) float64 {
		st := Stat(p)
		if len(st) < 15 {
			return 0
		}
		var sum float64
		for _, i := range fields {
			v, _ := strconv.ParseFloat(st[i], 64)
			sum += v
		}
		return sum / hz
	}
	self = ticks(pid, 11, 12) // its children are counted below, as descendants
	for _, p := range Tree(pid)[1:] {
		descendants += ticks(p, 11, 12, 13, 14)
	}
	return self, descendants
}

// Tree is root and every live process descended from it, root first.
func Tree(root int) []int {
	parents := map[int]int{}
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		if p, err := strconv.Atoi(d.Name()); err == nil {
			if st := Stat(p); len(st) > 1 {
				parents[p], _ = strconv.Atoi(st[1])
			}
		}
	}
	tree := []int{root}
	for p := range parents {
		for q := parents[p]; q != 0; q = parents[q] {
			if q == root {
				tree = append(tree, p)
				break
			}
		}
	}
	return tree
}

// Stat is /proc/pid/stat's fields after the command name (state first), or nil.
func Stat(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	return strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
}
