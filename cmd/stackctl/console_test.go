package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/peertest"
)

// tmux drives one session of the real binary.
type tmux struct {
	t      *testing.T
	bin    string
	socket string // a private tmux server
	name   string
}

func newTmux(t *testing.T, width, height int, command string) *tmux {
	t.Helper()
	bin := peertest.Require(t, "tmux", "tmux")
	tm := &tmux{t: t, bin: bin, socket: filepath.Join(shortDir(t), "tmux.sock"), name: "sc"}
	cmd := exec.Command(bin, "-S", tm.socket, "new-session", "-d", "-s", tm.name, "-x", fmt.Sprint(width), "-y", fmt.Sprint(height), command)
	cmd.Env = append(os.Environ(), "TERM=xterm-256color")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command(bin, "-S", tm.socket, "kill-server").Run() })
	return tm
}

func (tm *tmux) keys(keys ...string) {
	args := append([]string{"-S", tm.socket, "send-keys", "-t", tm.name}, keys...)
	if out, err := exec.Command(tm.bin, args...).CombinedOutput(); err != nil {
		tm.t.Fatalf("send-keys %v: %v\n%s", keys, err, out)
	}
}

func (tm *tmux) screen() string {
	out, _ := exec.Command(tm.bin, "-S", tm.socket, "capture-pane", "-p", "-t", tm.name).Output()
	return string(out)
}

// waitFor waits until the screen contains every string.
func (tm *tmux) waitFor(what ...string) string {
	tm.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s := tm.screen()
		ok := true
		for _, w := range what {
			if !strings.Contains(s, w) {
				ok = false
			}
		}
		if ok {
			return s
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("the screen never showed %q:\n%s", what, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// press sends a key until the screen shows want: the first keys can arrive
// before the console reads its input.
func (tm *tmux) press(key, want string) string {
	tm.t.Helper()
	for i := 0; i < 10; i++ {
		tm.keys(key)
		deadline := time.Now().Add(time.Second)
		for time.Now().Before(deadline) {
			if s := tm.screen(); strings.Contains(s, want) {
				return s
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	tm.t.Fatalf("pressing %q never showed %q:\n%s", key, want, tm.screen())
	return ""
}

func (tm *tmux) alive() bool {
	return exec.Command(tm.bin, "-S", tm.socket, "has-session", "-t", tm.name).Run() == nil
}

const printingApp = `
import os, sys
def application(environ, start_response):
    print("the app printed this for %s" % environ["PATH_INFO"], flush=True)
    body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
`

// TestConsoleEndToEnd drives the real binary in tmux: the workers view,
// restarting the selected worker (exactly that worker gets a new pid, per
// `stackctl status --json`), the app's logs, a theme switch, and quitting,
// which stops the stack and leaves no process behind.
func TestConsoleEndToEnd(t *testing.T) {
	dir := shortDir(t)
	os.WriteFile(filepath.Join(dir, "printing.py"), []byte(printingApp), 0o644)
	sock := filepath.Join(dir, "app.sock")
	cfg := filepath.Join(dir, "stackctl.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("run_dir = \"run\"\n[[app]]\nname = \"printing\"\nmodule = \"printing\"\nworkers = 3\nsocket = \"unix:%s\"\n", sock)), 0o644)

	tm := newTmux(t, 120, 36, binary+" -c "+cfg)
	tm.waitFor("Overview", "printing", "running")
	s := statusJSON(t, cfg)
	before := map[int]int{}
	for _, w := range s.Apps[0].Workers {
		before[w.ID] = w.PID
	}
	if len(before) != 3 {
		t.Fatalf("workers: %+v", s.Apps[0].Workers)
	}

	// The workers view; select worker 2 and restart it.
	tm.press("2", "[2 Workers]")
	tm.waitFor(fmt.Sprint(before[2]))
	// Select worker 2 (the selected row is marked with "›"); a key can be
	// lost while the console is busy, so resend it while the cursor is
	// still on worker 1.
	// PIDs are right-aligned, so the gap before them depends on their width.
	on := func(id int) bool {
		return regexp.MustCompile(fmt.Sprintf(`›\s+%d\s+%d\s`, id, before[id])).MatchString(tm.screen())
	}
	deadline := time.Now().Add(10 * time.Second)
	for !on(2) {
		if time.Now().After(deadline) {
			t.Fatalf("worker 2 never selected:\n%s", tm.screen())
		}
		if on(1) {
			tm.keys("j")
		}
		time.Sleep(300 * time.Millisecond)
	}
	tm.keys("r")
	tm.waitFor("printing worker 2 restarted")
	after := map[int]int{}
	for _, w := range statusJSON(t, cfg).Apps[0].Workers {
		if w.State != "stopping" {
			after[w.ID] = w.PID
		}
	}
	if after[2] == before[2] || after[2] == 0 || after[1] != before[1] || after[3] != before[3] {
		t.Fatalf("after r on worker 2: pids %v -> %v; want exactly worker 2 replaced", before, after)
	}

	// The app prints a line; the logs view shows it.
	if _, err := get(sock, "/from-the-e2e-test"); err != nil {
		t.Fatal(err)
	}
	tm.press("l", "[4 Logs]")
	tm.waitFor("the app printed this for /from-the-e2e-test")

	// Switch theme.
	tm.press("t", "theme light")

	// Quit: confirm, the stack stops, nothing is left.
	tm.press("q", "Quit?")
	tm.keys("y")
	deadline = time.Now().Add(20 * time.Second)
	for tm.alive() {
		if time.Now().After(deadline) {
			t.Fatalf("the console did not exit:\n%s", tm.screen())
		}
		time.Sleep(100 * time.Millisecond)
	}
	for id, pid := range after {
		if peertest.Alive(pid) {
			t.Errorf("worker %d (pid %d) outlived the console", id, pid)
		}
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("the app socket is left behind")
	}
}
