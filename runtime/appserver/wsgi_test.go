package appserver

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stackctl/stackctl/runtime/config"
	"github.com/stackctl/stackctl/runtime/uwsgi"
)

// result is one response as a test sees it, whichever way it came.
type result struct {
	status int
	header http.Header
	body   []byte
	err    error // a transport error, or an error reading the body
}

// transport sends one request to an app.
type transport func(t *testing.T, method, uri string, header http.Header, body []byte) result

func viaSocket(a *App) transport {
	return func(t *testing.T, method, uri string, header http.Header, body []byte) result {
		resp, data, err := uwsgiDo(t, a.spec.cfg.Socket, method, uri, header, body)
		if resp == nil {
			return result{err: err}
		}
		return result{status: resp.StatusCode, header: resp.Header, body: data, err: err}
	}
}

func viaLane(a *App) transport {
	return func(t *testing.T, method, uri string, header http.Header, body []byte) result {
		lanes, _ := a.Lanes()
		if len(lanes) == 0 {
			t.Fatal("no lanes")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		resp, data, err := laneDoHeader(ctx, lanes[0], method, uri, header, body)
		if resp == nil {
			return result{err: err}
		}
		return result{status: resp.StatusCode, header: resp.Header, body: data, err: err}
	}
}

func laneDoHeader(ctx context.Context, l *uwsgi.Lane, method, uri string, header http.Header, body []byte) (*uwsgi.Response, []byte, error) {
	req, _ := http.NewRequest(method, "http://localhost"+uri, nil)
	req.RequestURI = uri
	for k, vs := range header {
		req.Header[k] = vs
	}
	var e uwsgi.Encoder
	// The encoding stackctl's proxy uses on lanes.
	if err := uwsgi.EncodeRequest(&e, req, &uwsgi.RequestInfo{RemoteAddr: "127.0.0.1", RemotePort: "1", ServerName: "localhost", ServerPort: "80", ContentLength: int64(len(body)), SplitVars: true}); err != nil {
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
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	return resp, data, err
}

// speedupsModes are the two implementations of the worker's hot spots
// (config.App.Speedups): tests of the WSGI contract run under both.
var speedupsModes = []string{config.SpeedupsRequired, config.SpeedupsOff}

func wsgiTestApp(t *testing.T, h *harness, name string, speedups string) *App {
	t.Helper()
	src, err := os.ReadFile("testdata/wsgiapp.py")
	if err != nil {
		t.Fatal(err)
	}
	cfg := h.app(name, string(src))
	cfg.Workers = 1
	cfg.Speedups = speedups
	requireSpeedups(t, h, cfg)
	a := h.start(cfg)
	want := map[string]string{config.SpeedupsRequired: "C", config.SpeedupsOff: "Python"}[speedups]
	if r := viaSocket(a)(t, "GET", "/speedups", nil, nil); want != "" && string(r.body) != want {
		t.Fatalf("speedups = %q: the worker runs the %q versions, want %q (%v)", speedups, r.body, want, r.err)
	}
	if said := logContains(h, name, "with speedups"); want != "" && said != (want == "C") {
		t.Errorf("speedups = %q: the ready event says \"with speedups\": %v\n%s", speedups, said, logText(h, name))
	}
	return a
}

// TestWSGIConformance runs the PEP 3333 matrix against an app wrapped in
// wsgiref.validate.validator, over the shared socket (what nginx uses) and
// over a lane (what stackctl's proxy uses). Any validator complaint is an
// AssertionError or a warning-turned-error in the worker's log.
func TestWSGIConformance(t *testing.T) {
	for _, mode := range speedupsModes {
		t.Run(mode, func(t *testing.T) { testWSGIConformance(t, mode) })
	}
}

func testWSGIConformance(t *testing.T, speedups string) {
	h := newHarness(t)
	a := wsgiTestApp(t, h, "wsgiapp", speedups)
	for _, tc := range []struct {
		name string
		tr   transport
	}{{"socket", viaSocket(a)}, {"lane", viaLane(a)}} {
		t.Run(tc.name, func(t *testing.T) {
			do := tc.tr
			// GET: the environ.
			r := do(t, "GET", "/environ?q=caf%C3%A9&x=1", http.Header{"X-Test": {"one"}}, nil)
			if r.err != nil || r.status != 200 {
				t.Fatalf("GET /environ: %d %v %s", r.status, r.err, r.body)
			}
			var env map[string]any
			if err := json.Unmarshal(r.body, &env); err != nil {
				t.Fatal(err)
			}
			for k, want := range map[string]any{
				"REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": "/environ", "QUERY_STRING": "q=caf%C3%A9&x=1",
				"SERVER_NAME": "localhost", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_X_TEST": "one",
				"wsgi.url_scheme": "http", "wsgi.multithread": false,
			} {
				if env[k] != want {
					t.Errorf("environ[%s] = %v, want %v", k, env[k], want)
				}
			}
			for _, k := range []string{"HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"} {
				if _, ok := env[k]; ok {
					t.Errorf("environ has %s", k)
				}
			}
			// POST with bodies of several sizes, read in chunks.
			for _, n := range []int{0, 1, 100, 64 << 10, 1 << 20} {
				body := bytes.Repeat([]byte("abcdefghij"), n/10+1)[:n]
				r := do(t, "POST", "/echo", http.Header{"Content-Type": {"application/octet-stream"}}, body)
				sum := sha256.Sum256(body)
				var got struct {
					Len int
					Sha string
				}
				if r.err != nil || r.status != 200 || json.Unmarshal(r.body, &got) != nil || got.Len != n || got.Sha != hex.EncodeToString(sum[:]) {
					t.Errorf("POST %d bytes: %d %v %s", n, r.status, r.err, r.body)
				}
			}
			// An app that reads only part of the body: the rest is drained and
			// the next request on the same lane/worker still works.
			if r := do(t, "POST", "/partial-read", nil, bytes.Repeat([]byte("z"), 200000)); r.status != 200 {
				t.Errorf("partial read: %d %v", r.status, r.err)
			}
			if r := do(t, "GET", "/", nil, nil); r.status != 200 {
				t.Errorf("after partial read: %d %v", r.status, r.err)
			}
			// HEAD: headers, no body.
			r = do(t, "HEAD", "/big?5000", nil, nil)
			if r.err != nil || r.status != 200 || len(r.body) != 0 || r.header.Get("Content-Length") != "5000" {
				t.Errorf("HEAD: %d %v body=%d CL=%q", r.status, r.err, len(r.body), r.header.Get("Content-Length"))
			}
			// A streamed response (a generator), the write() callable, a file_wrapper.
			r = do(t, "GET", "/stream?4", nil, nil)
			if r.err != nil || string(r.body) != "chunk 0\nchunk 1\nchunk 2\nchunk 3\n" {
				t.Errorf("stream: %v %q", r.err, r.body)
			}
			r = do(t, "GET", "/write", nil, nil)
			if r.err != nil || string(r.body) != "written and returned\n" {
				t.Errorf("write(): %v %q", r.err, r.body)
			}
			r = do(t, "GET", "/file?300000", nil, nil)
			want := append(bytes.Repeat(func() []byte {
				b := make([]byte, 256)
				for i := range b {
					b[i] = byte(i)
				}
				return b
			}(), 300000/256), bytes.Repeat([]byte("x"), 300000%256)...)
			if r.err != nil || !bytes.Equal(r.body, want) {
				t.Errorf("file_wrapper: %v len %d", r.err, len(r.body))
			}
			// 204: no body, and the connection/lane stays usable.
			if r := do(t, "GET", "/204", nil, nil); r.status != 204 || len(r.body) != 0 {
				t.Errorf("204: %d %q", r.status, r.body)
			}
			// An app that raises before responding: 500, and the worker serves on.
			r = do(t, "GET", "/raise", nil, nil)
			if r.status != 500 {
				t.Errorf("raise: %d %v", r.status, r.err)
			}
			if r := do(t, "GET", "/", nil, nil); r.status != 200 {
				t.Errorf("after raise: %d %v", r.status, r.err)
			}
		})
	}
	// Raising mid-body: on a lane the body ends with an abort marker and the
	// lane stays in step; on the socket the connection just ends.
	r := viaLane(a)(t, "GET", "/raise-late", nil, nil)
	if !errors.Is(r.err, uwsgi.ErrAborted) || string(r.body) != "first part\n" {
		t.Errorf("raise-late on a lane: err=%v body=%q", r.err, r.body)
	}
	if r := viaLane(a)(t, "GET", "/", nil, nil); r.status != 200 {
		t.Errorf("lane after an aborted body: %d %v", r.status, r.err)
	}
	eventually(t, 5*time.Second, "the traceback in the app log", func() bool {
		return logContains(h, "wsgiapp", "RuntimeError: the test app raised")
	})
	for _, bad := range []string{"AssertionError", "WSGIWarning", "lane 0 closed"} {
		if logContains(h, "wsgiapp", bad) {
			t.Errorf("worker log contains %q:\n%s", bad, logText(h, "wsgiapp"))
		}
	}
	// Status records arrive batched: wait for the counters to catch up.
	eventually(t, 5*time.Second, "3 exceptions counted", func() bool { return a.Snapshot().Exceptions >= 3 })
	if snap := a.Snapshot(); snap.Workers[0].Restarts != 0 {
		t.Errorf("after the matrix: %d restarts, want 0", snap.Workers[0].Restarts)
	}
}

func logText(h *harness, app string) string {
	b, ok := h.logs.Lookup(app)
	if !ok {
		return ""
	}
	var sb strings.Builder
	for _, l := range b.Tail(5000) {
		sb.WriteString(l.Stream + ": " + l.Text + "\n")
	}
	return sb.String()
}

func logContains(h *harness, app, s string) bool { return strings.Contains(logText(h, app), s) }

// TestThreadedWorker: one worker with 4 threads serves 4 requests at once
// — each waits at a barrier for the other three, so they must run
// concurrently (the C speedups release the GIL while they wait for the
// socket) — over the shared socket and over the 4 lanes, under both
// implementations.
func TestThreadedWorker(t *testing.T) {
	const code = `import threading
barrier = threading.Barrier(4, timeout=10)
barrier3 = threading.Barrier(3, timeout=10)

def application(environ, start_response):
    if environ["PATH_INFO"] == "/meet":
        barrier.wait()
    if environ["PATH_INFO"] == "/meet3":
        barrier3.wait()
    body = ("%s %d %s" % (environ["PATH_INFO"], threading.get_ident(), environ["wsgi.multithread"])).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
`
	for _, mode := range speedupsModes {
		t.Run(mode, func(t *testing.T) {
			h := newHarness(t)
			cfg := h.app("threaded", code)
			cfg.Workers, cfg.Threads, cfg.Speedups = 1, 4, mode
			requireSpeedups(t, h, cfg)
			a := h.start(cfg)
			lanes, _ := a.Lanes()
			if len(lanes) != 4 {
				t.Fatalf("%d lanes, want 4", len(lanes))
			}
			for _, via := range []string{"socket", "lanes"} {
				bodies := make([]string, 4)
				errs := make([]error, 4)
				var wg sync.WaitGroup
				for i := range 4 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						var r result
						if via == "socket" {
							r = viaSocket(a)(t, "GET", "/meet", nil, nil)
						} else {
							ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
							defer cancel()
							resp, data, err := laneDoHeader(ctx, lanes[i], "GET", "/meet", nil, nil)
							r = result{body: data, err: err}
							if resp != nil {
								r.status = resp.StatusCode
							}
						}
						bodies[i], errs[i] = string(r.body), r.err
						if r.err == nil && r.status != 200 {
							errs[i] = fmt.Errorf("status %d: %s", r.status, r.body)
						}
					}()
				}
				wg.Wait()
				threads := map[string]bool{}
				for i, b := range bodies {
					f := strings.Fields(b)
					if errs[i] != nil || len(f) != 3 || f[0] != "/meet" || f[2] != "True" {
						t.Fatalf("via %s, request %d: %q %v\n%s", via, i, b, errs[i], logText(h, "threaded"))
					}
					threads[f[1]] = true
				}
				if len(threads) != 4 {
					t.Errorf("via %s: served by %d threads, want 4", via, len(threads))
				}
			}
			// A client that sends half its request holds one thread in a
			// read; the other three still meet.
			network, addr := "unix", strings.TrimPrefix(cfg.Socket, "unix:")
			slow, err := net.Dial(network, addr)
			if err != nil {
				t.Fatal(err)
			}
			defer slow.Close()
			req, _ := http.NewRequest("GET", "http://localhost/slow", nil)
			req.RequestURI = "/slow"
			var e uwsgi.Encoder
			if err := uwsgi.EncodeRequest(&e, req, &uwsgi.RequestInfo{RemoteAddr: "127.0.0.1", RemotePort: "1", ServerName: "localhost", ServerPort: "80"}); err != nil {
				t.Fatal(err)
			}
			packet, _ := e.Bytes()
			packet = append([]byte(nil), packet...)
			if _, err := slow.Write(packet[:10]); err != nil {
				t.Fatal(err)
			}
			time.Sleep(300 * time.Millisecond) // for a thread to take it
			var wg sync.WaitGroup
			for range 3 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if r := viaSocket(a)(t, "GET", "/meet3", nil, nil); r.err != nil || r.status != 200 {
						t.Errorf("beside a slow client: %d %v %s", r.status, r.err, r.body)
					}
				}()
			}
			wg.Wait()
			slow.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := slow.Write(packet[10:]); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(slow), req)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("the slow client: %v %v", resp, err)
			}
		})
	}
}
