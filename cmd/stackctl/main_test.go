package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/peertest"
	"github.com/stackctl/stackctl/runtime/uwsgi"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "stackctl-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "stackctl")
	build := exec.Command("go", "build", "-race", "-o", binary, ".")
	if os.Getenv("GOFLAGS") == "" && overlay() != "" {
		build.Args = append(build.Args[:2], "-overlay", overlay(), "-race", "-o", binary, ".")
	}
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build stackctl: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// overlay passes a -overlay file through to the test binary's build (used
// when testing against committed versions of packages in progress).
func overlay() string {
	for _, a := range os.Args {
		if v, ok := strings.CutPrefix(a, "-test.overlay="); ok {
			return v
		}
	}
	return os.Getenv("STACKCTL_TEST_OVERLAY")
}

func shortDir(t *testing.T) string {
	d, err := os.MkdirTemp("", "sc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

const sleepyApp = `
import os, time
def application(environ, start_response):
    if environ["PATH_INFO"] == "/slow":
        time.sleep(1.5)
    body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
`

// writeStack writes an app and a config for it; returns the config path
// and the app's socket.
func writeStack(t *testing.T, extra string) (string, string) {
	dir := shortDir(t)
	os.WriteFile(filepath.Join(dir, "sleepy.py"), []byte(sleepyApp), 0o644)
	sock := filepath.Join(dir, "app.sock")
	cfg := fmt.Sprintf(`run_dir = "run"

[[app]]
name = "sleepy"
module = "sleepy"
workers = 2
socket = "unix:%s"
%s`, sock, extra)
	path := filepath.Join(dir, "stackctl.toml")
	os.WriteFile(path, []byte(cfg), 0o644)
	return path, sock
}

func TestVersion(t *testing.T) {
	out, err := exec.Command(binary, "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "stackctl ") {
		t.Fatalf("version: %q %v", out, err)
	}
}

func TestCheck(t *testing.T) {
	good, _ := writeStack(t, "")
	out, err := exec.Command(binary, "check", "-c", good).CombinedOutput()
	if err != nil || !strings.Contains(string(out), ": ok") {
		t.Fatalf("check on a good file: %v\n%s", err, out)
	}
	bad, _ := writeStack(t, "workerz = 3\nmax_rss = \"lots\"\n")
	cmd := exec.Command(binary, "check", "-c", bad)
	out, err = cmd.CombinedOutput()
	if code := exitCode(err); code != 1 {
		t.Fatalf("check on a bad file: exit %d, want 1\n%s", code, out)
	}
	// Every problem, each with file, line and key.
	for _, want := range []string{
		bad + ":8: app[0].workerz: unknown key (did you mean \"workers\"?)",
		bad + ":9: app[0].max_rss: invalid size \"lots\"",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("check output:\n%s\nwant a line %q", out, want)
		}
	}
	out, err = exec.Command(binary, "check", "--nope").CombinedOutput()
	if code := exitCode(err); code != 2 {
		t.Errorf("a usage error exits %d, want 2\n%s", code, out)
	}
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

// serve starts `stackctl serve` and waits until the app answers.
func serve(t *testing.T, cfg, sock string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(binary, "serve", "-c", cfg)
	var logBuf bytes.Buffer
	cmd.Stderr = &logBuf
	cmd.Stdout = &logBuf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("stackctl output:\n%s", logBuf.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := get(sock, "/"); err == nil {
			return cmd
		}
		if time.Now().After(deadline) {
			t.Fatalf("stackctl serve never answered on %s:\n%s", sock, logBuf.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// get sends one GET over the uwsgi socket and returns the body.
func get(sock, path string) (string, error) {
	c, err := net.DialTimeout("unix", sock, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	head, _ := uwsgi.AppendPacket(nil, 0, 0, uwsgi.VarsOf("REQUEST_METHOD", "GET", "PATH_INFO", path, "SERVER_PROTOCOL", "HTTP/1.1"))
	c.Write(head)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return string(b), fmt.Errorf("status %d", resp.StatusCode)
	}
	return string(b), err
}

// TestSIGKILLLeavesNoOrphans: whatever kills stackctl, its workers die with
// it (Pdeathsig), within 2 s.
func TestSIGKILLLeavesNoOrphans(t *testing.T) {
	cfg, sock := writeStack(t, "")
	cmd := serve(t, cfg, sock)
	workers := peertest.ChildPIDs(cmd.Process.Pid)
	if len(workers) != 2 {
		t.Fatalf("stackctl has %d children, want 2 workers: %v", len(workers), workers)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	deadline := time.Now().Add(2 * time.Second)
	for _, pid := range workers {
		for peertest.Alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("worker %d still alive 2 s after stackctl was SIGKILLed", pid)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// TestGracefulStop: SIGTERM lets the request in flight finish, then every
// worker is gone and stackctl exits 0.
func TestGracefulStop(t *testing.T) {
	cfg, sock := writeStack(t, "")
	cmd := serve(t, cfg, sock)
	workers := peertest.ChildPIDs(cmd.Process.Pid)
	type res struct {
		body string
		err  error
	}
	done := make(chan res, 1)
	go func() {
		b, err := get(sock, "/slow")
		done <- res{b, err}
	}()
	time.Sleep(400 * time.Millisecond) // the request is in the worker now
	cmd.Process.Signal(syscall.SIGTERM)
	r := <-done
	if r.err != nil {
		t.Fatalf("the request in flight failed during a graceful stop: %v", r.err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("stackctl serve exited with %v after SIGTERM", err)
		}
	case <-ctx.Done():
		t.Fatal("stackctl serve did not exit after SIGTERM")
	}
	for _, pid := range workers {
		if peertest.Alive(pid) {
			t.Errorf("worker %d outlived a graceful stop", pid)
		}
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("the app socket %s is left behind: %v", sock, err)
	}
}
