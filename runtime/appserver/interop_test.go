package appserver

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/peertest"
	"github.com/stackctl/stackctl/runtime/config"
)

// frontEnd is a real web server in front of an app's shared socket.
type frontEnd struct {
	name string
	addr string // 127.0.0.1:PORT
}

// nginxFor starts nginx with uwsgi_pass to the app's socket and the stock
// /etc/nginx/uwsgi_params.
func nginxFor(t *testing.T, socket string) frontEnd {
	t.Helper()
	pass := strings.TrimPrefix(socket, "unix:")
	if strings.HasPrefix(socket, "unix:") {
		pass = "unix:" + pass
	}
	n := peertest.StartNginx(t, fmt.Sprintf(`
    server {
        listen 127.0.0.1:{{PORT}};
        client_max_body_size 50m;
        location / {
            include /etc/nginx/uwsgi_params;
            uwsgi_pass %s;
        }
    }`, pass))
	return frontEnd{"nginx", n.Addr}
}

func httpDo(t *testing.T, fe frontEnd, method, path string, header http.Header, body []byte) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+fe.addr+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if body == nil {
		req.Body = nil
	}
	c := &http.Client{Timeout: 60 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s %s: %v", fe.name, method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s %s: read body: %v", fe.name, method, path, err)
	}
	return resp.StatusCode, resp.Header, data
}

// rawDo sends a raw HTTP/1.0 request (nothing normalises the target) and
// returns the response.
func rawDo(t *testing.T, addr, request string) (int, []byte) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(c, request)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("raw request: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// interopMatrix runs the front-end matrix of the issues against the
// wsgiref-validated test app behind fe.
func interopMatrix(t *testing.T, h *harness, a *App, fe frontEnd) {
	// POST bodies of 0 B, 64 KiB and 10 MiB arrive whole.
	for _, n := range []int{0, 64 << 10, 10 << 20} {
		body := bytes.Repeat([]byte("0123456789abcdef"), n/16+1)[:n]
		code, _, data := httpDo(t, fe, "POST", "/echo", http.Header{"Content-Type": {"application/octet-stream"}}, body)
		sum := sha256.Sum256(body)
		var got struct {
			Len int
			Sha string
		}
		if code != 200 || json.Unmarshal(data, &got) != nil || got.Len != n || got.Sha != hex.EncodeToString(sum[:]) {
			t.Errorf("%s: POST %d bytes: %d %s", fe.name, n, code, data)
		}
	}
	// HEAD.
	code, hdr, data := httpDo(t, fe, "HEAD", "/big?5000", nil, nil)
	if code != 200 || len(data) != 0 || hdr.Get("Content-Length") != "5000" {
		t.Errorf("%s: HEAD: %d CL=%q body %d", fe.name, code, hdr.Get("Content-Length"), len(data))
	}
	// Headers with repeated names reach the app joined, not last-wins.
	code, _, data = httpDo(t, fe, "GET", "/environ", http.Header{"X-Multi": {"one", "two"}, "Cookie": {"a=1", "b=2"}}, nil)
	var env map[string]any
	if code != 200 || json.Unmarshal(data, &env) != nil {
		t.Fatalf("%s: GET /environ: %d %s", fe.name, code, data)
	}
	if env["HTTP_X_MULTI"] != "one, two" {
		t.Errorf("%s: repeated header: HTTP_X_MULTI = %q, want \"one, two\"", fe.name, env["HTTP_X_MULTI"])
	}
	if c, _ := env["HTTP_COOKIE"].(string); !strings.Contains(c, "a=1") || !strings.Contains(c, "b=2") {
		t.Errorf("%s: repeated cookie: HTTP_COOKIE = %q", fe.name, c)
	}
	// PEP 3333 keys a front end may omit are filled in.
	if env["SCRIPT_NAME"] != "" || env["wsgi.url_scheme"] != "http" || env["SERVER_PROTOCOL"] != "HTTP/1.1" {
		t.Errorf("%s: environ SCRIPT_NAME=%q scheme=%v proto=%v", fe.name, env["SCRIPT_NAME"], env["wsgi.url_scheme"], env["SERVER_PROTOCOL"])
	}
	// A query string with unicode, raw and percent-encoded, and a unicode
	// path: the app sees the bytes, latin-1 decoded, as PEP 3333 says.
	code, data = rawDo(t, fe.addr, "GET /raw/caf%C3%A9?q=%E2%9C%93&raw=\xe2\x9c\x93 HTTP/1.0\r\nHost: localhost\r\n\r\n")
	if want := "/raw/caf\xc3\xa9?q=%E2%9C%93&raw=\xe2\x9c\x93"; code != 200 || string(data) != want {
		t.Errorf("%s: unicode: %d %q, want %q", fe.name, code, data, want)
	}
	// A client that disconnects mid-response: the worker notices, serves on,
	// and is not restarted.
	before := a.Snapshot()
	c, err := net.Dial("tcp", fe.addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "GET /big?%d HTTP/1.1\r\nHost: localhost\r\n\r\n", 64<<20)
	buf := make([]byte, 32<<10)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("%s: reading the start of a big response: %v", fe.name, err)
	}
	c.Close()
	for i := 0; i < 5; i++ {
		if code, _, _ := httpDo(t, fe, "GET", "/", nil, nil); code != 200 {
			t.Fatalf("%s: after a client disconnect: %d", fe.name, code)
		}
	}
	eventually(t, 10*time.Second, "the worker to finish the abandoned response", func() bool {
		s := a.Snapshot()
		return len(s.Workers) > 0 && s.Workers[0].State == StateIdle
	})
	after := a.Snapshot()
	if after.Restarts != before.Restarts {
		t.Errorf("%s: a client disconnect restarted a worker: %d -> %d restarts", fe.name, before.Restarts, after.Restarts)
	}
	// The validator never complained.
	for _, bad := range []string{"AssertionError", "WSGIWarning", "crashed"} {
		if logContains(h, a.Name(), bad) {
			t.Errorf("%s: worker log contains %q:\n%s", fe.name, bad, logText(h, a.Name()))
		}
	}
}

func TestNginxInterop(t *testing.T) {
	h := newHarness(t)
	a := wsgiTestApp(t, h, "nginxapp", config.SpeedupsAuto)
	interopMatrix(t, h, a, nginxFor(t, a.spec.cfg.Socket))
}

// TestNginxInteropTCP runs the matrix over a TCP socket, as uwsgi_pass
// 127.0.0.1:PORT is often written.
func TestNginxInteropTCP(t *testing.T) {
	h := newHarness(t)
	src, _ := os.ReadFile("testdata/wsgiapp.py")
	cfg := h.app("tcpapp", string(src))
	cfg.Workers = 1
	cfg.Socket = fmt.Sprintf("127.0.0.1:%d", peertest.FreePort(t))
	a := h.start(cfg)
	interopMatrix(t, h, a, nginxFor(t, cfg.Socket))
}

func flaskApp(t *testing.T, h *harness) config.App {
	py := peertest.RequirePython(t, "flask")
	src, err := os.ReadFile("testdata/flaskapp.py")
	if err != nil {
		t.Fatal(err)
	}
	cfg := h.app("flaskapp", string(src))
	cfg.Module = "flaskapp:app"
	cfg.Python = py
	return cfg
}

func TestFlaskBehindNginx(t *testing.T) {
	h := newHarness(t)
	a := h.start(flaskApp(t, h))
	fe := nginxFor(t, a.spec.cfg.Socket)
	code, _, body := httpDo(t, fe, "GET", "/", nil, nil)
	if code != 200 || !strings.Contains(string(body), `"app":"flask"`) {
		t.Fatalf("GET /: %d %s", code, body)
	}
	code, _, body = httpDo(t, fe, "PUT", "/items/42?x=%C3%A9", nil, []byte("{}"))
	if code != 200 || !strings.Contains(string(body), `"item":42`) || !strings.Contains(string(body), `"method":"PUT"`) || !strings.Contains(string(body), `"x":"\u00e9"`) {
		t.Errorf("PUT /items/42: %d %s", code, body)
	}
	code, _, body = httpDo(t, fe, "POST", "/upload", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, []byte("name=stack&n=1"))
	if code != 200 || !strings.Contains(string(body), `"name":"stack"`) {
		t.Errorf("POST form: %d %s", code, body)
	}
	big := bytes.Repeat([]byte("x"), 10<<20)
	code, _, body = httpDo(t, fe, "POST", "/upload", http.Header{"Content-Type": {"application/octet-stream"}}, big)
	if code != 200 || !strings.Contains(string(body), fmt.Sprintf(`"len":%d`, len(big))) {
		t.Errorf("POST 10 MiB: %d %.200s", code, body)
	}
	code, _, _ = httpDo(t, fe, "GET", "/fail", nil, nil)
	if code != 500 {
		t.Errorf("GET /fail: %d, want 500", code)
	}
	eventually(t, 5*time.Second, "Flask's traceback in the log", func() bool {
		return logContains(h, "flaskapp", "ValueError: flask view failed")
	})
	if code, _, _ := httpDo(t, fe, "GET", "/nope", nil, nil); code != 404 {
		t.Errorf("GET /nope: %d, want 404", code)
	}
}

// djangoProject creates a project with django-admin startproject, as a user
// would, and returns its app config.
func djangoProject(t *testing.T, h *harness) config.App {
	py := peertest.RequirePython(t, "django")
	dir := filepath.Join(h.dir, "django")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, "-m", "django", "startproject", "mysite", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("django-admin startproject: %v\n%s", err, out)
	}
	// A view of our own next to the generated ones.
	urls := filepath.Join(dir, "mysite", "urls.py")
	src, _ := os.ReadFile(urls)
	src = append(src, []byte(`
from django.http import JsonResponse
def hello(request):
    return JsonResponse({"django": True, "method": request.method, "path": request.path, "q": request.GET.get("q")})
urlpatterns.append(path("hello/", hello))
`)...)
	os.WriteFile(urls, src, 0o644)
	return config.App{
		Name: "mysite", Module: "mysite.wsgi:application", Chdir: dir, Python: py,
		Workers: 2, Threads: 1, Socket: "unix:" + filepath.Join(h.dir, "mysite.sock"), Listen: 1024,
		GracePeriod: config.Duration(10 * time.Second), StartTimeout: config.Duration(30 * time.Second),
		BufferSize: config.DefaultBufferSize,
	}
}

func TestDjangoBehindNginx(t *testing.T) {
	h := newHarness(t)
	a := h.start(djangoProject(t, h))
	fe := nginxFor(t, a.spec.cfg.Socket)
	code, _, body := httpDo(t, fe, "GET", "/hello/?q=%E2%9C%93", nil, nil)
	if code != 200 || !strings.Contains(string(body), `"django": true`) || !strings.Contains(string(body), `"q": "\u2713"`) {
		t.Fatalf("GET /hello/: %d %s", code, body)
	}
	// The admin login page: templates, static URLs, CSRF cookie.
	code, hdr, body := httpDo(t, fe, "GET", "/admin/login/", nil, nil)
	if code != 200 || !strings.Contains(string(body), "csrfmiddlewaretoken") || !strings.Contains(hdr.Get("Set-Cookie"), "csrftoken") {
		t.Errorf("GET /admin/login/: %d cookie=%q", code, hdr.Get("Set-Cookie"))
	}
	// Django's redirect for a missing trailing slash (APPEND_SLASH).
	req, _ := http.NewRequest("GET", "http://"+fe.addr+"/hello", nil)
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 301 || resp.Header.Get("Location") != "/hello/" {
		t.Errorf("GET /hello: %d Location=%q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// And through a lane, as stackctl's proxy will reach it.
	lanes, _ := a.Lanes()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, data, err := laneDoHeader(ctx, lanes[0], "GET", "/hello/", http.Header{"Host": {"localhost"}}, nil)
	if err != nil || r.StatusCode != 200 || !strings.Contains(string(data), `"django": true`) {
		t.Errorf("lane GET /hello/: %v %v %s", r, err, data)
	}
}
