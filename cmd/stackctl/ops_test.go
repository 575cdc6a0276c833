package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stackctl/stackctl/runtime/control"
)

func run(t *testing.T, args ...string) (string, int) {
	t.Helper()
	out, err := exec.Command(binary, args...).CombinedOutput()
	return string(out), exitCode(err)
}

func statusJSON(t *testing.T, cfg string) control.Snapshot {
	t.Helper()
	out, code := run(t, "status", "--json", "-c", cfg)
	if code != 0 {
		t.Fatalf("status --json: exit %d\n%s", code, out)
	}
	var s control.Snapshot
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("status --json is not JSON: %v\n%s", err, out)
	}
	return s
}

func TestCLIAgainstARunningStack(t *testing.T) {
	cfg, sock := writeStack(t, "")
	serve(t, cfg, sock)

	s := statusJSON(t, cfg)
	if len(s.Apps) != 1 || len(s.Apps[0].Workers) != 2 {
		t.Fatalf("status: %+v", s.Apps)
	}
	pid1, pid2 := s.Apps[0].Workers[0].PID, s.Apps[0].Workers[1].PID

	out, code := run(t, "status", "-c", cfg)
	if code != 0 || !strings.Contains(out, "sleepy") || !strings.Contains(out, "LAST EXIT") {
		t.Errorf("status: exit %d\n%s", code, out)
	}
	out, code = run(t, "restart", "sleepy/1", "-c", cfg)
	if code != 0 || !strings.Contains(out, "sleepy worker 1 restarted") {
		t.Fatalf("restart: exit %d\n%s", code, out)
	}
	s = statusJSON(t, cfg)
	if s.Apps[0].Workers[0].PID == pid1 || s.Apps[0].Workers[1].PID != pid2 || s.Apps[0].Workers[0].LastExit != "restart" {
		t.Errorf("after restart sleepy/1: %+v", s.Apps[0].Workers)
	}
	out, code = run(t, "scale", "sleepy", "3", "-c", cfg)
	if code != 0 || len(statusJSON(t, cfg).Apps[0].Workers) != 3 {
		t.Errorf("scale: exit %d\n%s", code, out)
	}
	out, code = run(t, "logs", "-n", "200", "sleepy", "-c", cfg)
	if code != 0 || !strings.Contains(out, "exited: restart") {
		t.Errorf("logs: exit %d\n%s", code, out)
	}
	out, code = run(t, "events", "-c", cfg)
	if code != 0 || !strings.Contains(out, "worker.spawned") || !strings.Contains(out, "scaled from 2 to 3") {
		t.Errorf("events: exit %d\n%s", code, out)
	}
	// A broken file: reload exits 1 with FILE:LINE: key, nothing changes.
	good, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, append(good, []byte("workerz = 3\n")...), 0o644)
	out, code = run(t, "reload", "-c", cfg)
	if code != 1 || !strings.Contains(out, cfg+":8: app[0].workerz: unknown key") || !strings.Contains(out, "nothing changed") {
		t.Errorf("reload of a broken file: exit %d\n%s", code, out)
	}
	if n := len(statusJSON(t, cfg).Apps[0].Workers); n != 3 {
		t.Errorf("a rejected reload changed the workers: %d", n)
	}
	out, code = run(t, "restart", "nope/1", "-c", cfg)
	if code != 1 || !strings.Contains(out, `no app named "nope"`) {
		t.Errorf("restart of an unknown app: exit %d\n%s", code, out)
	}
}

func TestSIGHUPReloads(t *testing.T) {
	cfg, sock := writeStack(t, "")
	cmd := serve(t, cfg, sock)
	good, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.Replace(string(good), "workers = 2", "workers = 3", 1)), 0o644)
	cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(20 * time.Second)
	for len(statusJSON(t, cfg).Apps[0].Workers) != 3 {
		if time.Now().After(deadline) {
			t.Fatal("SIGHUP did not apply the new worker count")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestNothingRunning(t *testing.T) {
	out, code := run(t, "status", "--socket", "/tmp/nonexistent-stackctl.sock")
	if code != 1 || !strings.Contains(out, "no stackctl is running at /tmp/nonexistent-stackctl.sock") {
		t.Errorf("status with nothing running: exit %d\n%s", code, out)
	}
}
