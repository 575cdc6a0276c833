package peertest

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ProcStat returns a process's parent and state ("R", "S", "Z"...) from
// /proc/PID/stat; ok is false when there is no such process.
func ProcStat(pid int) (ppid int, state string, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, "", false
	}
	s := string(b)
	// The command name, in parentheses, may hold spaces and parentheses.
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 2 {
		return 0, "", false
	}
	ppid, _ = strconv.Atoi(f[1])
	return ppid, f[0], true
}

// Alive reports whether pid is a process that has not exited (a zombie
// has).
func Alive(pid int) bool {
	_, state, ok := ProcStat(pid)
	return ok && state != "Z" && state != "X"
}

// ChildPIDs lists the children of pid that have not exited.
func ChildPIDs(pid int) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, _, ok := ProcStat(n); ok && ppid == pid && Alive(n) {
			out = append(out, n)
		}
	}
	return out
}
