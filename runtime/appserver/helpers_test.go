package appserver

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/runtime/config"
	"github.com/stackctl/stackctl/runtime/logs"
	"github.com/stackctl/stackctl/runtime/uwsgi"
)

// shortDir returns a temporary directory with a short path: unix socket
// paths are limited to 107 bytes and t.TempDir() paths can be longer.
func shortDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "sc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

type harness struct {
	t      testing.TB
	dir    string
	srv    *Server
	logs   *logs.Store
	events chan Event
}

func newHarness(t testing.TB) *harness { return newHarnessWith(t, nil) }

// newHarnessWith is newHarness with the server's options adjusted by edit.
func newHarnessWith(t testing.TB, edit func(dir string, o *Options)) *harness {
	t.Helper()
	dir := shortDir(t)
	h := &harness{t: t, dir: dir, logs: logs.NewStore(filepath.Join(dir, "logs"), 2000), events: make(chan Event, 10000)}
	opts := Options{RunDir: filepath.Join(dir, "run"), Logs: h.logs, SampleInterval: 200 * time.Millisecond, OnEvent: func(e Event) {
		select {
		case h.events <- e:
		default:
		}
	}}
	if edit != nil {
		edit(dir, &opts)
	}
	srv, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	h.srv = srv
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		srv.Close(ctx)
		h.logs.Close()
	})
	return h
}

// app writes a Python module and returns an app config serving it.
func (h *harness) app(name, code string) config.App {
	h.t.Helper()
	dir := filepath.Join(h.dir, "src-"+name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".py"), []byte(code), 0o644); err != nil {
		h.t.Fatal(err)
	}
	return config.App{
		Name: name, Module: name + ":application", Chdir: dir, Python: "python3",
		Workers: 2, Threads: 1, Socket: "unix:" + filepath.Join(h.dir, name+".sock"), Listen: 1024,
		GracePeriod: config.Duration(10 * time.Second), StartTimeout: config.Duration(20 * time.Second),
		BufferSize: config.DefaultBufferSize,
	}
}

// start adds an app and waits until its workers are ready.
func (h *harness) start(cfg config.App) *App {
	h.t.Helper()
	a, err := h.srv.AddApp(cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.WaitReady(ctx); err != nil {
		h.t.Fatalf("WaitReady: %v", err)
	}
	return a
}

// waitEvent waits for an event of kind for app matching pred.
func (h *harness) waitEvent(kind string, pred func(Event) bool, timeout time.Duration) Event {
	h.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case e := <-h.events:
			if e.Kind == kind && (pred == nil || pred(e)) {
				return e
			}
		case <-deadline:
			h.t.Fatalf("no %s event within %s", kind, timeout)
		}
	}
}

// eventually polls cond until it holds or timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// uwsgiDo sends one request over the app's shared socket (as nginx does)
// and returns the response with its body read.
func uwsgiDo(t testing.TB, socket, method, uri string, header http.Header, body []byte) (*http.Response, []byte, error) {
	t.Helper()
	network, addr := "unix", strings.TrimPrefix(socket, "unix:")
	if !strings.HasPrefix(socket, "unix:") {
		network = "tcp"
	}
	conn, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		return nil, nil, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	req, _ := http.NewRequest(method, "http://localhost"+uri, bytes.NewReader(body))
	req.RequestURI = uri
	for k, vs := range header {
		req.Header[k] = vs
	}
	var e uwsgi.Encoder
	if err := uwsgi.EncodeRequest(&e, req, &uwsgi.RequestInfo{RemoteAddr: "127.0.0.1", RemotePort: "1234", ServerName: "localhost", ServerPort: "80", ContentLength: int64(len(body))}); err != nil {
		return nil, nil, err
	}
	head, _ := e.Bytes()
	if _, err := conn.Write(append(head, body...)); err != nil {
		return nil, nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return nil, nil, err
	}
	data, err := io.ReadAll(resp.Body)
	return resp, data, err
}

// laneDo sends one request over a lane.
func laneDo(ctx context.Context, l *uwsgi.Lane, method, uri string, body []byte) (*uwsgi.Response, []byte, error) {
	req, _ := http.NewRequest(method, "http://localhost"+uri, bytes.NewReader(body))
	req.RequestURI = uri
	var e uwsgi.Encoder
	if err := uwsgi.EncodeRequest(&e, req, &uwsgi.RequestInfo{RemoteAddr: "127.0.0.1", RemotePort: "1", ServerName: "localhost", ServerPort: "80", ContentLength: int64(len(body))}); err != nil {
		return nil, nil, err
	}
	head, _ := e.Bytes()
	var br io.Reader
	if len(body) > 0 {
		br = bytes.NewReader(body)
	}
	resp, err := l.Do(ctx, append([]byte(nil), head...), br, method == "HEAD")
	if err != nil {
		return nil, nil, err
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, data, err
}

const helloApp = `
import os
def application(environ, start_response):
    body = ("hello from %s pid %d\n" % (os.environ["STACKCTL_WORKER_ID"], os.getpid())).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
`

var _ = fmt.Sprintf
