package proxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stackctl/stackctl/runtime/appserver"
	"github.com/stackctl/stackctl/runtime/config"
	"github.com/stackctl/stackctl/runtime/logs"
	"github.com/stackctl/stackctl/runtime/stats"
)

// shortDir is a temporary directory with a short path (unix socket paths
// are limited to 107 bytes), readable by all (uWSGI/nginx workers).
func shortDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "px")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(d, 0o755)
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// parseConfig parses a config file text written into dir.
func parseConfig(t testing.TB, dir, text string) *config.Config {
	t.Helper()
	text = strings.ReplaceAll(text, "{{DIR}}", dir)
	path := filepath.Join(dir, "stackctl.toml")
	c, err := config.Parse(path, []byte(text))
	if err != nil {
		t.Fatalf("config: %v\n%s", err, text)
	}
	return c
}

// testProxy is a running proxy with what its test needs.
type testProxy struct {
	*Proxy
	t      testing.TB
	dir    string
	logs   *logs.Store
	mu     sync.Mutex
	events []stats.Event
}

func (tp *testProxy) addr() string { return tp.Addrs()[0] }

func (tp *testProxy) url(path string) string { return "http://" + tp.addr() + path }

func (tp *testProxy) eventList() []stats.Event {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return append([]stats.Event(nil), tp.events...)
}

// startProxy starts a proxy from a config text; apps resolves app names
// (nil: none). It is closed when the test ends, and the test then checks
// that no goroutine of the proxy is left.
func startProxy(t testing.TB, dir string, cfg *config.Config, apps func(string) LaneSource) *testProxy {
	t.Helper()
	tp := &testProxy{t: t, dir: dir, logs: logs.NewStore(filepath.Join(dir, "logs"), 1000)}
	p, err := New(cfg, Options{Apps: apps, Logs: tp.logs, OnEvent: func(e stats.Event) {
		tp.mu.Lock()
		tp.events = append(tp.events, e)
		tp.mu.Unlock()
	}})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	tp.Proxy = p
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := p.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
		tp.logs.Close()
	})
	return tp
}

// appHarness runs stackctl's own app server for a test.
type appHarness struct {
	srv *appserver.Server
	dir string
}

func newAppHarness(t testing.TB, dir string) *appHarness {
	t.Helper()
	srv, err := appserver.New(appserver.Options{RunDir: filepath.Join(dir, "run"), SampleInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		srv.Close(ctx)
	})
	return &appHarness{srv: srv, dir: dir}
}

func (h *appHarness) apps(name string) LaneSource {
	if a := h.srv.App(name); a != nil {
		return a
	}
	return nil
}

// start starts the [[app]] named name from cfg and waits until it is ready.
func (h *appHarness) start(t testing.TB, cfg *config.Config, name string) *appserver.App {
	t.Helper()
	ac := cfg.App(name)
	if ac == nil {
		t.Fatalf("no app %s in config", name)
	}
	a, err := h.srv.AddApp(*ac)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.WaitReady(ctx); err != nil {
		t.Fatalf("WaitReady: %v", err)
	}
	return a
}

// writeFile writes a file under dir (creating directories).
func writeFile(t testing.TB, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// get does one request and returns the response with its body read.
func get(t testing.TB, c *http.Client, method, url string, hdr http.Header, body string) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	if h := hdr.Get("Host"); h != "" {
		req.Host = h
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("%s %s: body: %v", method, url, err)
	}
	return resp, string(b)
}

func newClient() *http.Client {
	return &http.Client{
		Timeout:       30 * time.Second,
		Transport:     &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// load runs GETs from n goroutines until stop closes (or limit requests
// each), and returns how many succeeded and the failures by kind.
type loadResult struct {
	ok       int
	failures map[string]int
	lat      []time.Duration
}

func runLoad(t testing.TB, url string, n int, stop <-chan struct{}, perWorker int) loadResult {
	t.Helper()
	var mu sync.Mutex
	res := loadResult{failures: map[string]int{}}
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newClient()
			defer c.CloseIdleConnections()
			for k := 0; perWorker <= 0 || k < perWorker; k++ {
				select {
				case <-stop:
					return
				default:
				}
				t0 := time.Now()
				resp, err := c.Get(url)
				var why string
				if err != nil {
					why = err.Error()
				} else {
					_, rerr := io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					switch {
					case rerr != nil:
						why = "body: " + rerr.Error()
					case resp.StatusCode != 200:
						why = fmt.Sprintf("status %d", resp.StatusCode)
					}
				}
				d := time.Since(t0)
				mu.Lock()
				if why == "" {
					res.ok++
					res.lat = append(res.lat, d)
				} else {
					res.failures[why]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return res
}

func (r loadResult) quantile(q float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), r.lat...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(q * float64(len(s)))
	if i >= len(s) {
		i = len(s) - 1
	}
	return s[i]
}

func (r loadResult) failed() int {
	n := 0
	for _, c := range r.failures {
		n += c
	}
	return n
}

// proxyGoroutines lists the stacks of goroutines running this package's
// code (other than tests), to prove Close leaves none behind.
func proxyGoroutines() []string {
	buf := make([]byte, 1<<20)
	n := runtime.Stack(buf, true)
	var out []string
	for _, g := range strings.Split(string(buf[:n]), "\n\n") {
		if strings.Contains(g, "stackctl/runtime/proxy.") && !strings.Contains(g, "_test.go") &&
			!strings.Contains(g, "proxy.proxyGoroutines") {
			out = append(out, g)
		}
	}
	return out
}

// waitNoGoroutines waits until no goroutine of the package runs.
func waitNoGoroutines(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		gs := proxyGoroutines()
		if len(gs) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines of the proxy left after Close:\n%s", len(gs), strings.Join(gs, "\n\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// rawRequest writes raw bytes on a new connection and returns the status
// code of the answer (0 when the connection closed without one).
func rawRequest(t testing.TB, addr, raw string) (int, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(io.LimitReader(c, 1<<20))
	s := string(b)
	var code int
	fmt.Sscanf(s, "HTTP/1.1 %d", &code)
	return code, s
}

// flaskApp is the application the interop tests run under uWSGI, gunicorn
// and our own workers: it shows what it received.
const flaskApp = `
import hashlib, json, time
from flask import Flask, request, Response, redirect, stream_with_context

app = Flask(__name__)
application = app

KEYS = ["REQUEST_METHOD", "PATH_INFO", "QUERY_STRING", "CONTENT_TYPE", "CONTENT_LENGTH",
        "SERVER_PROTOCOL", "REMOTE_ADDR", "HTTP_HOST", "HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO",
        "HTTP_X_FORWARDED_HOST", "HTTP_COOKIE", "HTTP_X_CUSTOM", "HTTP_ACCEPT", "HTTP_USER_AGENT",
        "HTTP_CONNECTION", "HTTP_UPGRADE", "wsgi.url_scheme"]

@app.route("/env", methods=["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"])
@app.route("/env/<path:rest>", methods=["GET", "POST"])
def env(rest=None):
    body = request.get_data()
    out = {k: request.environ.get(k) for k in KEYS}
    out["body_len"] = len(body)
    out["body_sha"] = hashlib.sha256(body).hexdigest()
    resp = Response(json.dumps(out, sort_keys=True), mimetype="application/json")
    resp.headers["X-App"] = "flask"
    resp.set_cookie("seen", "1", path="/")
    return resp

@app.route("/hello")
def hello():
    return "Hello, World!"

@app.route("/status/<int:code>")
def status(code):
    return Response("status %d\n" % code, status=code)

@app.route("/go")
def go():
    return redirect("/hello")

@app.route("/big/<int:n>")
def big(n):
    return Response(b"x" * n, mimetype="application/octet-stream")

@app.route("/stream")
def stream():
    def gen():
        for i in range(5):
            yield "chunk %d\n" % i
    return Response(stream_with_context(gen()), mimetype="text/plain")

@app.route("/slow/<int:ms>")
def slow(ms):
    time.sleep(ms / 1000.0)
    return "slept %d\n" % ms

@app.route("/healthz")
def healthz():
    return "ok"

@app.route("/unicode/<path:p>")
def unicode_path(p):
    return Response(json.dumps({"p": p, "raw": request.environ.get("REQUEST_URI") or request.environ.get("RAW_URI")}), mimetype="application/json")
`

// helloApp is a stdlib-only WSGI app for our own workers.
const helloApp = `
import os, time
def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path.startswith("/slow/"):
        time.sleep(int(path[6:]) / 1000.0)
    if path == "/midfail":
        # Streamed (no Content-Length), then the app fails mid-body.
        start_response("200 OK", [("Content-Type", "text/plain")])
        def gen():
            yield b"partial "
            raise RuntimeError("boom")
        return gen()
    if path == "/pid":
        body = str(os.getpid()).encode()
    elif path.startswith("/where/"):
        body = ("%s|%s|%s" % (path, environ.get("QUERY_STRING", ""), environ.get("REQUEST_URI", ""))).encode("latin-1")
    elif path == "/echo":
        n = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(n)
    else:
        body = b"Hello, World!"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
`
