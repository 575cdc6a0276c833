package appserver

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/runtime/uwsgi"
)

// TestBadPackets sends truncated, oversized and garbage packets to the
// shared socket: each connection is closed with a line in the app's log,
// and the worker keeps serving.
func TestBadPackets(t *testing.T) {
	h := newHarness(t)
	cfg := h.app("bad", helloApp)
	cfg.Workers = 1
	cfg.BufferSize = 8 << 10
	a := h.start(cfg)
	addr := strings.TrimPrefix(cfg.Socket, "unix:")
	valid, _ := uwsgi.AppendPacket(nil, 0, 0, uwsgi.VarsOf("REQUEST_METHOD", "GET", "PATH_INFO", "/"))
	big, _ := uwsgi.AppendPacket(nil, 0, 0, uwsgi.VarsOf("HTTP_COOKIE", strings.Repeat("c", 20000), "REQUEST_METHOD", "GET"))
	tests := []struct {
		name    string
		send    []byte
		halfEnd bool // close our write side after sending (a truncated packet)
		log     string
	}{
		{"truncated header", []byte{0, 10}, true, "truncated uwsgi packet"},
		{"truncated vars", valid[:len(valid)-3], true, "truncated uwsgi packet"},
		{"vars over buffer_size", big, false, "exceeds buffer_size"},
		{"key runs past the block", []byte{0, 3, 0, 0, 9, 0, 'A'}, false, "malformed uwsgi packet"},
		{"empty key", []byte{0, 4, 0, 0, 0, 0, 0, 0}, false, "malformed uwsgi packet"},
		{"unsupported modifier1", append([]byte{100}, valid[1:]...), false, "unsupported modifier1 100"},
		{"HTTP instead of uwsgi", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), false, ""},
		{"bad CONTENT_LENGTH", func() []byte {
			b, _ := uwsgi.AppendPacket(nil, 0, 0, uwsgi.VarsOf("REQUEST_METHOD", "POST", "CONTENT_LENGTH", "-5"))
			return b
		}(), false, "bad CONTENT_LENGTH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("unix", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			c.Write(tt.send)
			if tt.halfEnd {
				c.(*net.UnixConn).CloseWrite()
			}
			got, err := io.ReadAll(c)
			if err != nil {
				t.Fatalf("the worker did not close the connection: %v", err)
			}
			if len(got) != 0 && !strings.HasPrefix(string(got), "HTTP/1.1 400") {
				t.Errorf("answer to a bad packet: %q", got)
			}
			if tt.log != "" {
				eventually(t, 5*time.Second, "a log line "+tt.log, func() bool { return logContains(h, "bad", tt.log) })
			}
			resp, body, err := uwsgiDo(t, cfg.Socket, "GET", "/", nil, nil)
			if err != nil || resp.StatusCode != 200 || !strings.HasPrefix(string(body), "hello") {
				t.Fatalf("the next good request: %v %v", resp, err)
			}
		})
	}
	if s := a.Snapshot(); s.Restarts != 0 {
		t.Errorf("bad packets restarted a worker: %d restarts\n%s", s.Restarts, logText(h, "bad"))
	}
}

// TestBadPacketOnLane: a lane that receives garbage is closed, requests
// queued behind it fail with ErrNotStarted (safe to resend), and the worker
// is replaced.
func TestBadPacketOnLane(t *testing.T) {
	h := newHarness(t)
	cfg := h.app("badlane", helloApp)
	cfg.Workers = 1
	a := h.start(cfg)
	lanes, _ := a.Lanes()
	first := a.Snapshot().Workers[0].PID
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	garbage := []byte{0, 4, 0, 0, 0, 0, 0, 0} // an empty key
	_, err := lanes[0].Do(ctx, garbage, nil, false)
	if !errors.Is(err, uwsgi.ErrMaybeStarted) {
		t.Fatalf("garbage on a lane: %v, want ErrMaybeStarted (the worker closed it)", err)
	}
	eventually(t, 10*time.Second, "a new worker with a new lane", func() bool {
		w := a.Snapshot().Workers
		ls, _ := a.Lanes()
		return len(w) == 1 && w[0].PID != first && w[0].State == StateIdle && len(ls) == 1 && ls[0] != lanes[0]
	})
	ls, _ := a.Lanes()
	if r, _, err := laneDo(ctx, ls[0], "GET", "/", nil); err != nil || r.StatusCode != 200 {
		t.Fatalf("the replacement's lane: %v", err)
	}
}

// TestImportFailure: an app that cannot import is reported with its
// traceback, retried with backoff rather than in a tight loop, and the
// master (and the other apps) keep running. Fixing the code recovers it.
func TestImportFailure(t *testing.T) {
	h := newHarness(t)
	good := h.start(h.app("good", helloApp))
	cfg := h.app("broken", "import os\nimport no_such_module_here\n")
	cfg.Workers = 2
	a, err := h.srv.AddApp(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = a.WaitReady(ctx)
	var le *LoadError
	if !errors.As(err, &le) || !strings.Contains(le.Traceback, "ModuleNotFoundError: No module named 'no_such_module_here'") {
		t.Fatalf("WaitReady: %v, want a LoadError with the traceback", err)
	}
	if !strings.Contains(err.Error(), "No module named 'no_such_module_here'") {
		t.Errorf("error text %q does not say what failed", err)
	}
	s := a.Snapshot()
	if s.State != AppCrashLoop || !strings.Contains(s.LoadError, "no_such_module_here") {
		t.Errorf("state %s, load error %q", s.State, s.LoadError)
	}
	eventually(t, 5*time.Second, "the traceback in the app log", func() bool {
		return logContains(h, "broken", "ModuleNotFoundError")
	})
	// Not a tight loop: over 2 s, at most a handful of attempts per slot.
	time.Sleep(2 * time.Second)
	spawns := strings.Count(logText(h, "broken"), "spawned")
	if spawns > 8 {
		t.Errorf("%d spawns in ~2 s: the crash loop is not backing off", spawns)
	}
	for _, w := range a.Snapshot().Workers {
		if w.PID == 0 && w.RetryAt.IsZero() && w.State == StateStarting {
			t.Errorf("worker %d is dead with no retry scheduled", w.ID)
		}
	}
	// The master and the other app are fine.
	if resp, _, err := uwsgiDo(t, good.spec.cfg.Socket, "GET", "/", nil, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("the good app: %v", err)
	}
	// Fix the code: a later retry (or an explicit restart) recovers.
	h.app("broken", helloApp)
	if err := a.RestartWorker(ctx, 1); err != nil {
		t.Fatalf("restart after the fix: %v", err)
	}
	if err := a.RestartWorker(ctx, 2); err != nil {
		t.Fatalf("restart after the fix: %v", err)
	}
	if err := a.WaitReady(ctx); err != nil {
		t.Fatalf("after the fix: %v", err)
	}
	if s := a.Snapshot(); s.State != AppRunning || s.LoadError != "" {
		t.Errorf("after the fix: state %s, load error %q", s.State, s.LoadError)
	}
}
