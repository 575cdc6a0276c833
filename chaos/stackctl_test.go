//go:build chaos

package chaos

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/peertest"
	"github.com/stackctl/stackctl/runtime/control"
)

// helloApp answers "TAG PID": the tag tells which server answered (the
// upstream scenario), the pid which worker (how many were recycled).
const helloApp = `import os
TAG = os.environ.get("TAG", "app")
def application(environ, start_response):
    body = ("%s %d" % (TAG, os.getpid())).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
`

// scenarioDir returns a short, world-readable directory holding the app.
func scenarioDir(t *testing.T) string {
	dir := peertest.Dir(t)
	if err := os.WriteFile(filepath.Join(dir, "app.py"), []byte(helloApp), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// header is the part every stackctl configuration of the suite shares: a
// private run directory and control socket, the proxy on port. The access
// log is off as it is in the nginx baseline.
func header(dir string, port int) string {
	return fmt.Sprintf(`run_dir = "%[1]s/run"

[control]
socket = "%[1]s/control.sock"

[proxy]
listen = ["127.0.0.1:%[2]d"]
access_log = "off"
`, dir, port)
}

// app is one [[app]] serving app.py from dir with TAG = name.
func app(dir, name string, workers int, extra string) string {
	return fmt.Sprintf(`
[[app]]
name = %[2]q
module = "app"
chdir = %[1]q
python = %[4]q
workers = %[3]d
env = { TAG = %[2]q }
%[5]s`, dir, name, workers, peertest.DebianPython, extra)
}

// oneAppConfig is the stack of most scenarios: every request to app "hello".
func oneAppConfig(dir string, port, workers int, extra string) string {
	return header(dir, port) + `
[[proxy.route]]
path = "/"
upstream = "hello"
` + app(dir, "hello", workers, extra)
}

// stackctl is a running `stackctl serve`, started by this test.
type stackctl struct {
	t      *testing.T
	dir    string
	file   string // the configuration
	addr   string // the proxy's address
	cmd    *exec.Cmd
	exited chan struct{}
	log    string
	ctl    *control.Client
}

// startStackctl writes cfg to DIR/stackctl.toml, starts `stackctl serve` on
// it and waits until every app has all its workers ready and the proxy
// answers path. The cleanup stops it and checks that it left no process.
func startStackctl(t *testing.T, dir, cfg string, port int, path string) *stackctl {
	t.Helper()
	file := filepath.Join(dir, "stackctl.toml")
	writeFile(t, file, cfg)
	s := &stackctl{t: t, dir: dir, file: file, addr: fmt.Sprintf("127.0.0.1:%d", port), ctl: control.NewClient(filepath.Join(dir, "control.sock"))}
	t.Cleanup(s.ctl.Close)
	s.serve(path)
	t.Cleanup(s.stop)
	return s
}

// serve starts the process (again, after a kill) and waits for it.
func (s *stackctl) serve(path string) {
	t := s.t
	t.Helper()
	s.log = filepath.Join(s.dir, fmt.Sprintf("stackctl-%d.log", time.Now().UnixNano()))
	logf, err := os.Create(s.log)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	s.cmd = exec.Command(binary, "serve", "-c", s.file)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	// If this test binary dies, stackctl dies with it (and its workers with
	// stackctl): a crashed suite leaves nothing behind either.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.exited = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); close(done) }(s.cmd, s.exited)
	s.waitServing(path, 30*time.Second)
}

// waitServing waits until all workers are ready and GET path answers 2xx.
func (s *stackctl) waitServing(path string, timeout time.Duration) time.Duration {
	t := s.t
	t.Helper()
	start := time.Now()
	c := &httpClient{addr: s.addr, req: []byte("GET " + path + " HTTP/1.1\r\nHost: chaos\r\nConnection: close\r\n\r\n")}
	for {
		select {
		case <-s.exited:
			t.Fatalf("stackctl serve exited while starting:\n%s", s.output())
		default:
		}
		if s.allReady() {
			if status, _, err := c.get(); err == nil && status/100 == 2 {
				return time.Since(start)
			}
			c.close()
		}
		if time.Since(start) > timeout {
			t.Fatalf("stackctl serve not serving %s after %s:\n%s", path, timeout, s.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// allReady reports whether every app has its desired workers, all ready.
func (s *stackctl) allReady() bool {
	snap, err := s.snapshotErr()
	if err != nil {
		return false
	}
	for _, a := range snap.Apps {
		if len(readyWorkers(a)) != a.Desired {
			return false
		}
	}
	return true
}

func (s *stackctl) snapshotErr() (*control.Snapshot, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.ctl.Snapshot(ctx)
}

// snapshot is `stackctl status --json`, through the control client.
func (s *stackctl) snapshot() *control.Snapshot {
	s.t.Helper()
	snap, err := s.snapshotErr()
	if err != nil {
		s.t.Fatalf("snapshot: %v", err)
	}
	return snap
}

// waitConnsBelow waits (at most 10 s) until the proxy holds fewer than n
// client connections: the slow clients of a previous round are gone.
func (s *stackctl) waitConnsBelow(n int) {
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if snap, err := s.snapshotErr(); err == nil && snap.Proxy.Conns < n {
			return
		}
	}
	s.t.Errorf("the proxy still holds %d connections 10 s after the slow clients left", s.snapshot().Proxy.Conns)
}

// readyWorkers are the workers that serve: a process, ready, not stopping.
func readyWorkers(a control.App) []control.Worker {
	var ws []control.Worker
	for _, w := range a.Workers {
		if w.PID != 0 && (w.State == "idle" || w.State == "busy") {
			ws = append(ws, w)
		}
	}
	return ws
}

// run runs `stackctl ARGS -c FILE`, as an operator would, and fails the
// test on a non-zero exit.
func (s *stackctl) run(args ...string) string {
	s.t.Helper()
	out, err := exec.Command(binary, append(args, "-c", s.file)...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("stackctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// kill SIGKILLs stackctl and reaps it.
func (s *stackctl) kill() {
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
}

// stop stops stackctl gracefully (SIGTERM), SIGKILLs it after 30 s, and
// fails the test if any process of its run directory outlived it.
func (s *stackctl) stop() {
	select {
	case <-s.exited:
	default:
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(30 * time.Second):
			s.t.Errorf("stackctl serve did not stop 30 s after SIGTERM; killing it")
			s.kill()
		}
	}
	// Workers die with stackctl (the parent-death signal); give the kernel
	// a moment to deliver it, then kill and report any that did not.
	deadline := time.Now().Add(2 * time.Second)
	for {
		left := s.processes()
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			for _, pid := range left {
				syscall.Kill(pid, syscall.SIGKILL)
			}
			s.t.Errorf("processes of the stack in %s outlived stackctl: %v", s.dir, left)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s.t.Failed() {
		s.t.Logf("stackctl output (last lines):\n%s", s.output())
		s.keepLog()
	}
}

// keepLog copies stackctl's whole log to $CHAOS_LOGS (if set) for a
// post-mortem: the scenario's directory is removed when the test ends.
func (s *stackctl) keepLog() {
	dir := os.Getenv("CHAOS_LOGS")
	if dir == "" {
		return
	}
	dst := filepath.Join(dir, strings.ReplaceAll(s.t.Name(), "/", "_")+".log")
	b, err := os.ReadFile(s.log)
	if err == nil {
		os.MkdirAll(dir, 0o755)
		err = os.WriteFile(dst, b, 0o644)
	}
	if err != nil {
		s.t.Logf("CHAOS_LOGS: %v", err)
		return
	}
	s.t.Logf("stackctl's whole log: %s", dst)
}

// output is the tail of stackctl's log.
func (s *stackctl) output() string {
	b, _ := os.ReadFile(s.log)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	return strings.Join(lines, "\n")
}

// processes lists the live processes of this stack: stackctl itself
// (serve -c DIR/stackctl.toml) and its workers (python3
// DIR/run/stackctl_worker.py) — not the peers a scenario runs beside it.
func (s *stackctl) processes() []int {
	return processesMentioning(s.file, filepath.Join(s.dir, "run")+"/")
}

// processesMentioning lists the live processes whose command line contains
// any of marks. A zombie is not alive: it only waits for its parent.
func processesMentioning(marks ...string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !containsAny(string(cmdline), marks) {
			continue
		}
		if peertest.Alive(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	// Write and rename, so a reload never reads half a file.
	if err := os.WriteFile(path+".tmp", []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}
