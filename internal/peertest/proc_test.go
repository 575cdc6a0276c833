package peertest

import (
	"os"
	"os/exec"
	"slices"
	"testing"
)

func TestChildPIDs(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Skip("sleep:", err)
	}
	pid := cmd.Process.Pid
	if ppid, _, ok := ProcStat(pid); !ok || ppid != os.Getpid() {
		t.Fatalf("ProcStat(%d): parent %d, %v; want %d", pid, ppid, ok, os.Getpid())
	}
	if !Alive(pid) || !slices.Contains(ChildPIDs(os.Getpid()), pid) {
		t.Fatalf("a running child: Alive %v, ChildPIDs %v", Alive(pid), ChildPIDs(os.Getpid()))
	}
	cmd.Process.Kill()
	cmd.Wait()
	if Alive(pid) || slices.Contains(ChildPIDs(os.Getpid()), pid) {
		t.Fatal("a reaped child is still listed")
	}
}
