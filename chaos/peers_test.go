//go:build chaos

package chaos

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/peertest"
)

// uwsgiStack is the baseline: nginx in front of a uWSGI master over a unix
// socket (uwsgi_pass, nginx's stock uwsgi_params), as bench/stack.sh runs it.
type uwsgiStack struct {
	t     *testing.T
	uwsgi *peertest.UWSGI
	addr  string // nginx
	fifo  string // uWSGI's master FIFO
}

// startUWSGIStack starts uWSGI (processes workers, with extra arguments) and
// nginx in front of it, and waits until the workers are up and nginx
// answers.
func startUWSGIStack(t *testing.T, dir string, processes int, extra ...string) *uwsgiStack {
	t.Helper()
	sock := filepath.Join(dir, "uwsgi.sock")
	fifo := filepath.Join(dir, "uwsgi.fifo")
	args := append([]string{"--master-fifo", fifo, "--env", "TAG=uwsgi"}, extra...)
	uw := peertest.StartUWSGI(t, dir, "app", sock, processes, args...)
	t.Cleanup(func() { stopQuickly(uw.Process) })
	ng := peertest.StartNginx(t, fmt.Sprintf(`
    server {
        listen 127.0.0.1:{{PORT}};
        location / {
            include /etc/nginx/uwsgi_params;
            uwsgi_pass unix:%s;
        }
    }`, sock))
	u := &uwsgiStack{t: t, uwsgi: uw, addr: ng.Addr, fifo: fifo}
	u.waitWorkers(func(n int) bool { return n == processes }, "all workers up")
	c := &httpClient{addr: u.addr, req: []byte("GET / HTTP/1.1\r\nHost: chaos\r\nConnection: close\r\n\r\n")}
	if status, body, err := c.get(); err != nil || status != 200 {
		t.Fatalf("nginx + uWSGI does not answer: %d %q %v\n%s", status, body, err, uw.Output())
	}
	return u
}

// stopQuickly stops a uWSGI started by this test once its scenario is over:
// SIGINT, and SIGKILL to its process group 2 s later. After a storm of
// kills uWSGI often ignores SIGINT for the whole 10 s peertest waits (its
// master is asleep, throttling respawns): time this suite does not have.
// peertest's own cleanup, which runs after this one, then only reaps it.
func stopQuickly(p *peertest.Process) {
	pid := p.Cmd.Process.Pid
	syscall.Kill(pid, syscall.SIGINT)
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if !peertest.Alive(pid) {
			break
		}
	}
	syscall.Kill(-pid, syscall.SIGKILL)
	p.Stop()
}

// workers are the uWSGI master's children.
func (u *uwsgiStack) workers() []int { return peertest.ChildPIDs(u.uwsgi.Cmd.Process.Pid) }

// waitWorkers waits until ok(number of workers), for at most 30 s.
func (u *uwsgiStack) waitWorkers(ok func(int) bool, what string) {
	u.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok(len(u.workers())) {
		if time.Now().After(deadline) {
			u.t.Fatalf("uWSGI: not %s after 30 s (%d workers)\n%s", what, len(u.workers()), tail(u.uwsgi.Output(), 20))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// command writes commands to uWSGI's master FIFO ('c' chain reload, '+' and
// '-' one worker more or less in cheaper mode).
func (u *uwsgiStack) command(cmds string) {
	u.t.Helper()
	f, err := os.OpenFile(u.fifo, os.O_WRONLY, 0)
	if err != nil {
		u.t.Fatalf("master FIFO: %v", err)
	}
	defer f.Close()
	// One write per command: the master reads the FIFO a byte at a time per
	// cycle only when each command is its own write.
	for _, c := range cmds {
		if _, err := f.Write([]byte{byte(c)}); err != nil {
			u.t.Fatalf("master FIFO: %v", err)
		}
	}
}

// scaleTo brings uWSGI (cheaper mode) to n workers: one '+' or '-' at a
// time, each given 2 s to show — the master applies them on its cycle and
// drops commands that arrive while one is under way.
func (u *uwsgiStack) scaleTo(n int) {
	u.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for have := len(u.workers()); have != n; have = len(u.workers()) {
		if time.Now().After(deadline) {
			u.t.Fatalf("uWSGI: %d workers after 30 s, want %d\n%s", have, n, tail(u.uwsgi.Output(), 20))
		}
		cmd := "+"
		if have > n {
			cmd = "-"
		}
		u.command(cmd)
		for end := time.Now().Add(2 * time.Second); len(u.workers()) == have && time.Now().Before(end); {
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// logCount counts the lines of uWSGI's log containing s.
func (u *uwsgiStack) logCount(s string) int { return strings.Count(u.uwsgi.Output(), s) }

// killEvery SIGKILLs a random pid of pids() every interval for d, each only
// if it is still a child of parent (so a recycled pid is never hit), and
// returns how many were killed.
func killEvery(d, interval time.Duration, parent int, pids func() []int) int {
	kills := 0
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for end := time.Now().Add(d); time.Now().Before(end); <-tick.C {
		candidates := pids()
		if len(candidates) == 0 {
			continue
		}
		pid := candidates[rand.IntN(len(candidates))]
		if ppid, _, ok := peertest.ProcStat(pid); ok && ppid == parent && syscall.Kill(pid, syscall.SIGKILL) == nil {
			kills++
		}
	}
	return kills
}

// disjoint reports whether a and b share no pid.
func disjoint(a, b []int) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return false
		}
	}
	return true
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
