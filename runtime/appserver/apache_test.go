package appserver

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stackctl/stackctl/internal/peertest"
)

// apacheFor starts Apache (mpm_event) with mod_proxy_uwsgi passing the
// prefix (a path ending in "/") to the app's unix socket. Apache's children
// run as www-data, which is why the socket needs socket_mode.
func apacheFor(t *testing.T, socket, prefix string) frontEnd {
	t.Helper()
	path := strings.TrimPrefix(socket, "unix:")
	a := peertest.StartApache(t, fmt.Sprintf(`
LimitRequestBody 0
ProxyPass "%s" "unix:%s|uwsgi://localhost/"
`, prefix, path))
	return frontEnd{"apache", a.Addr}
}

// worldReachable makes the harness directory and socket usable by another
// user (Apache's www-data), as socket_mode would in production.
func worldReachable(t *testing.T, h *harness) {
	os.Chmod(h.dir, 0o755)
}

func apacheApp(t *testing.T, h *harness, name string) *App {
	t.Helper()
	worldReachable(t, h)
	src, err := os.ReadFile("testdata/wsgiapp.py")
	if err != nil {
		t.Fatal(err)
	}
	cfg := h.app(name, string(src))
	cfg.Workers = 1
	cfg.SocketMode = "0666"
	return h.start(cfg)
}

func TestApacheInterop(t *testing.T) {
	h := newHarness(t)
	a := apacheApp(t, h, "apacheapp")
	if st, err := os.Stat(strings.TrimPrefix(a.spec.cfg.Socket, "unix:")); err != nil || st.Mode().Perm() != 0o666 {
		t.Fatalf("socket_mode not applied: %v %v", st.Mode(), err)
	}
	interopMatrix(t, h, a, apacheFor(t, a.spec.cfg.Socket, "/"))
}

// TestApacheMountedUnderPrefix: Apache splits SCRIPT_NAME and PATH_INFO at
// the ProxyPass prefix; the app must see SCRIPT_NAME = the prefix and
// PATH_INFO = the rest, and Apache's extra CGI vars must not confuse it.
func TestApacheMountedUnderPrefix(t *testing.T) {
	h := newHarness(t)
	a := apacheApp(t, h, "prefixapp")
	fe := apacheFor(t, a.spec.cfg.Socket, "/myapp/")
	for _, tc := range []struct{ path, script, info string }{
		{"/myapp/x", "/myapp", "/x"},
		{"/myapp/deeper/x/", "/myapp", "/deeper/x/"},
		{"/myapp/myapp/x", "/myapp", "/myapp/x"}, // a remainder that repeats the prefix is not split twice
	} {
		code, _, body := httpDo(t, fe, "GET", tc.path+"?a=1", nil, nil)
		var got struct{ Path, Script_name, Query string }
		if code != 200 || json.Unmarshal(body, &got) != nil {
			t.Fatalf("GET %s: %d %s", tc.path, code, body)
		}
		if got.Script_name != tc.script || got.Path != tc.info || got.Query != "a=1" {
			t.Errorf("GET %s: SCRIPT_NAME %q PATH_INFO %q QUERY_STRING %q, want %q %q a=1", tc.path, got.Script_name, got.Path, got.Query, tc.script, tc.info)
		}
	}
	// The whole environ is still valid PEP 3333 with Apache's extra CGI vars.
	code, _, body := httpDo(t, fe, "GET", "/myapp/environ", nil, nil)
	var env map[string]any
	if code != 200 || json.Unmarshal(body, &env) != nil || env["SCRIPT_NAME"] != "/myapp" || env["PATH_INFO"] != "/environ" {
		t.Fatalf("GET /myapp/environ: %d %s", code, body)
	}
	t.Logf("vars Apache sent: %s", keys(env))
	if logContains(h, "prefixapp", "AssertionError") || logContains(h, "prefixapp", "WSGIWarning") {
		t.Errorf("the validator complained:\n%s", logText(h, "prefixapp"))
	}
}

func keys(m map[string]any) string {
	var ks []string
	for k := range m {
		if !strings.HasPrefix(k, "wsgi.") {
			ks = append(ks, k)
		}
	}
	return strings.Join(ks, " ")
}

func TestFlaskAndDjangoBehindApache(t *testing.T) {
	h := newHarness(t)
	worldReachable(t, h)
	fcfg := flaskApp(t, h)
	fcfg.SocketMode = "0666"
	os.Chmod(fcfg.Chdir, 0o755)
	fa := h.start(fcfg)
	fe := apacheFor(t, fa.spec.cfg.Socket, "/")
	code, _, body := httpDo(t, fe, "GET", "/items/7?x=1", nil, nil)
	if code != 200 || !strings.Contains(string(body), `"item":7`) {
		t.Errorf("Flask via Apache: %d %s", code, body)
	}
	dcfg := djangoProject(t, h)
	dcfg.SocketMode = "0666"
	filepath.Walk(dcfg.Chdir, func(p string, _ os.FileInfo, _ error) error { return os.Chmod(p, 0o755) })
	da := h.start(dcfg)
	de := apacheFor(t, da.spec.cfg.Socket, "/")
	code, _, body = httpDo(t, de, "GET", "/hello/?q=x", nil, nil)
	if code != 200 || !strings.Contains(string(body), `"django": true`) {
		t.Errorf("Django via Apache: %d %s", code, body)
	}
}

// TestNginxMountedUnderPrefix: nginx users mount an app under a prefix with
// uwsgi_param SCRIPT_NAME; nginx then sends the whole path in PATH_INFO.
// The worker splits it, so the app sees what it sees behind Apache.
func TestNginxMountedUnderPrefix(t *testing.T) {
	h := newHarness(t)
	src, _ := os.ReadFile("testdata/wsgiapp.py")
	cfg := h.app("nginxprefix", string(src))
	cfg.Workers = 1
	a := h.start(cfg)
	n := peertest.StartNginx(t, fmt.Sprintf(`
    server {
        listen 127.0.0.1:{{PORT}};
        location /myapp/ {
            include /etc/nginx/uwsgi_params;
            uwsgi_param SCRIPT_NAME /myapp;
            uwsgi_pass unix:%s;
        }
    }`, strings.TrimPrefix(a.spec.cfg.Socket, "unix:")))
	fe := frontEnd{"nginx", n.Addr}
	for _, tc := range []struct{ path, script, info string }{
		{"/myapp/x", "/myapp", "/x"},
		{"/myapp/deeper/x/", "/myapp", "/deeper/x/"},
		{"/myapp/myapp/x", "/myapp", "/myapp/x"},
	} {
		code, _, body := httpDo(t, fe, "GET", tc.path+"?a=1", nil, nil)
		var got struct{ Path, Script_name, Query string }
		if code != 200 || json.Unmarshal(body, &got) != nil {
			t.Fatalf("GET %s: %d %s", tc.path, code, body)
		}
		if got.Script_name != tc.script || got.Path != tc.info {
			t.Errorf("GET %s: SCRIPT_NAME %q PATH_INFO %q, want %q %q", tc.path, got.Script_name, got.Path, tc.script, tc.info)
		}
	}
}
