package proxy

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stackctl/stackctl/internal/peertest"
)

// TestDifferentialNginx sends the same requests through a real nginx and
// through our proxy, each in front of the same real uWSGI (uwsgi protocol,
// unix socket) and the same real gunicorn (HTTP), both running a Flask app
// that reports what it received, and compares what clients get and what
// the app sees.
func TestDifferentialNginx(t *testing.T) {
	peertest.RequirePython(t, "flask")
	dir := peertest.Dir(t)
	writeFile(t, dir, "app/flaskapp.py", flaskApp)
	appDir := filepath.Join(dir, "app")
	sock := filepath.Join(dir, "uwsgi.sock")
	peertest.StartUWSGI(t, appDir, "flaskapp:application", sock, 2)
	gun := peertest.StartGunicorn(t, appDir, "flaskapp:application", 2)

	ng := peertest.StartNginx(t, fmt.Sprintf(`
    client_max_body_size 8m;
    upstream gun { server %s; keepalive 16; }
    server {
        listen 127.0.0.1:{{PORT}};
        server_name u.test;
        location / {
            include /etc/nginx/uwsgi_params;
            uwsgi_param HTTP_X_FORWARDED_FOR $proxy_add_x_forwarded_for;
            uwsgi_param HTTP_X_FORWARDED_PROTO $scheme;
            uwsgi_param HTTP_X_FORWARDED_HOST $http_host;
            uwsgi_pass unix:%s;
        }
    }
    server {
        listen 127.0.0.1:{{PORT}};
        server_name g.test;
        location / {
            proxy_pass http://gun;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $http_host;
        }
    }`, gun.Addr, sock))

	pdir := shortDir(t)
	cfg := parseConfig(t, pdir, fmt.Sprintf(`
run_dir = "{{DIR}}/run"
[proxy]
listen = ["127.0.0.1:0"]
max_body = "8MiB"
[[proxy.route]]
host = "u.test"
upstream = "uw"
[[proxy.route]]
host = "g.test"
upstream = "gun"
[[upstream]]
name = "uw"
servers = ["uwsgi://unix:%s"]
[[upstream]]
name = "gun"
servers = ["http://%s"]
`, sock, gun.Addr))
	tp := startProxy(t, pdir, cfg, nil)

	type req struct {
		name, method, path, body string
		hdr                      http.Header
		// ours are environ values where stackctl deliberately differs
		// from nginx, by server host.
		ours map[string]map[string]any
	}
	reqs := []req{
		{"plain GET", "GET", "/env?a=1&b=two%20words", "", nil, nil},
		// nginx passes repeated header lines to a uwsgi server as repeated
		// vars, of which the app sees only the last; we join them as RFC
		// 9110 says ("; " for cookies), as an HTTP server sees them.
		{"headers and cookies", "GET", "/env/x/y", "", http.Header{
			"X-Custom": {"one", "two"}, "Cookie": {"a=1", "b=2"}, "Accept": {"text/html"}, "User-Agent": {"difftest/1"},
		}, map[string]map[string]any{"u.test": {"HTTP_COOKIE": "a=1; b=2", "HTTP_X_CUSTOM": "one, two"}}},
		{"existing X-Forwarded-For is appended to", "GET", "/env", "", http.Header{"X-Forwarded-For": {"203.0.113.7, 198.51.100.1"}}, nil},
		// A header the client names in Connection is hop-by-hop (RFC 9110
		// §7.6.1): we drop it, nginx passes it on.
		{"hop-by-hop header dropped", "GET", "/env", "", http.Header{"Connection": {"X-Custom"}, "X-Custom": {"secret"}},
			map[string]map[string]any{"u.test": {"HTTP_X_CUSTOM": nil, "HTTP_CONNECTION": nil}, "g.test": {"HTTP_X_CUSTOM": nil}}},
		{"POST form", "POST", "/env", "a=1&b=2", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, nil},
		{"POST 3 MiB", "POST", "/env", strings.Repeat("0123456789abcdef", 3<<16), http.Header{"Content-Type": {"application/octet-stream"}}, nil},
		{"PUT", "PUT", "/env", "put body", nil, nil},
		{"DELETE", "DELETE", "/env", "", nil, nil},
		{"HEAD", "HEAD", "/env", "", nil, nil},
		{"hello", "GET", "/hello", "", nil, nil},
		{"app 404", "GET", "/nope", "", nil, nil},
		{"app 503", "GET", "/status/503", "", nil, nil},
		{"redirect", "GET", "/go", "", nil, nil},
		{"1 MiB response", "GET", "/big/1048576", "", nil, nil},
		{"streamed response", "GET", "/stream", "", nil, nil},
		{"unicode path", "GET", "/unicode/caf%C3%A9/%E2%9C%93", "", nil, nil},
	}
	headersThatMatter := []string{"Content-Type", "Content-Length", "Location", "Set-Cookie", "X-App"}
	envKeys := []string{"REQUEST_METHOD", "PATH_INFO", "QUERY_STRING", "CONTENT_TYPE", "CONTENT_LENGTH",
		"SERVER_PROTOCOL", "REMOTE_ADDR", "HTTP_HOST", "HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO",
		"HTTP_X_FORWARDED_HOST", "HTTP_COOKIE", "HTTP_X_CUSTOM", "HTTP_ACCEPT", "HTTP_USER_AGENT", "HTTP_CONNECTION",
		"wsgi.url_scheme", "body_len", "body_sha"}
	c := newClient()
	for _, host := range []string{"u.test", "g.test"} {
		for _, rq := range reqs {
			t.Run(host+"/"+rq.name, func(t *testing.T) {
				hdr := http.Header{"Host": {host}}
				for k, v := range rq.hdr {
					hdr[k] = v
				}
				if hdr.Get("User-Agent") == "" {
					hdr.Set("User-Agent", "difftest")
				}
				nr, nb := get(t, c, rq.method, "http://"+ng.Addr+rq.path, hdr, rq.body)
				or, ob := get(t, c, rq.method, tp.url(rq.path), hdr, rq.body)
				ours := rq.ours[host]
				if nr.StatusCode != or.StatusCode {
					t.Errorf("status: nginx %d, stackctl %d", nr.StatusCode, or.StatusCode)
				}
				for _, h := range headersThatMatter {
					nv, ov := strings.Join(nr.Header.Values(h), "|"), strings.Join(or.Header.Values(h), "|")
					if h == "Content-Length" && ((nr.ContentLength >= 0) != (or.ContentLength >= 0) || ours != nil) {
						// nginx may re-frame a response as chunked; what matters
						// is the body (whose length differs where the environ does).
						continue
					}
					if nv != ov {
						t.Errorf("header %s: nginx %q, stackctl %q", h, nv, ov)
					}
				}
				if strings.HasPrefix(nr.Header.Get("Content-Type"), "application/json") && nr.StatusCode == 200 && rq.method != "HEAD" {
					var ne, oe map[string]any
					if err := json.Unmarshal([]byte(nb), &ne); err != nil {
						t.Fatalf("nginx body: %v: %q", err, nb)
					}
					if err := json.Unmarshal([]byte(ob), &oe); err != nil {
						t.Fatalf("stackctl body: %v: %q", err, ob)
					}
					keys := envKeys
					if strings.HasPrefix(rq.path, "/unicode/") {
						keys = []string{"p"}
					}
					for _, k := range keys {
						if want, ok := ours[k]; ok {
							if fmt.Sprint(oe[k]) != fmt.Sprint(want) {
								t.Errorf("environ %s behind stackctl: %v, want %v (nginx: %v)", k, oe[k], want, ne[k])
							}
							continue
						}
						if fmt.Sprint(ne[k]) != fmt.Sprint(oe[k]) {
							t.Errorf("environ %s: behind nginx %v, behind stackctl %v", k, ne[k], oe[k])
						}
					}
					if rq.name == "existing X-Forwarded-For is appended to" && oe["HTTP_X_FORWARDED_FOR"] != "203.0.113.7, 198.51.100.1, 127.0.0.1" {
						t.Errorf("X-Forwarded-For = %v", oe["HTTP_X_FORWARDED_FOR"])
					}
				} else if nb != ob {
					t.Errorf("body: nginx %d bytes %.80q, stackctl %d bytes %.80q", len(nb), nb, len(ob), ob)
				}
			})
		}
	}
	// Every request shows in the access log, with the upstream address.
	buf := tp.AccessLog()
	if buf == nil {
		t.Fatal("no access log")
	}
	lines := buf.Tail(1000)
	if len(lines) != 2*len(reqs) {
		t.Errorf("%d access log lines, want %d", len(lines), 2*len(reqs))
	}
	for _, l := range lines {
		if !strings.Contains(l.Text, "uwsgi://unix:"+sock) && !strings.Contains(l.Text, "http://"+gun.Addr) {
			t.Errorf("access log line without the upstream: %s", l.Text)
			break
		}
	}
}
