package config

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseServer(t *testing.T) {
	cases := []struct {
		in   string
		want ServerSpec
		err  string
	}{
		{in: "app:hello", want: ServerSpec{Scheme: "app", Address: "hello", Key: "app:hello", Weight: 1, MaxFails: -1}},
		{in: "uwsgi://127.0.0.1:3031", want: ServerSpec{Scheme: "uwsgi", Network: "tcp", Address: "127.0.0.1:3031", Key: "uwsgi://127.0.0.1:3031", Weight: 1, MaxFails: -1}},
		{in: "uwsgi://unix:/run/app.sock", want: ServerSpec{Scheme: "uwsgi", Network: "unix", Address: "/run/app.sock", Key: "uwsgi://unix:/run/app.sock", Weight: 1, MaxFails: -1}},
		{in: "http://[::1]:8000/", want: ServerSpec{Scheme: "http", Network: "tcp", Address: "[::1]:8000", Key: "http://[::1]:8000", Weight: 1, MaxFails: -1}},
		{in: "  uwsgi://10.0.0.5:3031   weight=2  backup ", want: ServerSpec{Scheme: "uwsgi", Network: "tcp", Address: "10.0.0.5:3031", Key: "uwsgi://10.0.0.5:3031", Weight: 2, Backup: true, MaxFails: -1}},
		{in: "http://h:80 down max_fails=3 fail_timeout=30s", want: ServerSpec{Scheme: "http", Network: "tcp", Address: "h:80", Key: "http://h:80", Weight: 1, Down: true, MaxFails: 3, FailTimeout: 30 * time.Second}},
		{in: "", err: "empty server"},
		{in: "tcp://1.2.3.4:5", err: "unknown server"},
		{in: "uwsgi://1.2.3.4", err: "missing port"},
		{in: "uwsgi://1.2.3.4:70000", err: "invalid port"},
		{in: "uwsgi://unix:relative.sock", err: "absolute path"},
		{in: "app:bad name", err: "unknown server option \"name\""},
		{in: "app:hello weight=0", err: "weight must be 1 to 1000"},
		{in: "app:hello weight", err: "weight must be"},
		{in: "app:hello backup=1", err: "backup takes no value"},
		{in: "app:hello fail_timeout=soon", err: "fail_timeout must be a duration"},
		{in: "app:hello slow_start=3s", err: "unknown server option"},
		{in: "http://user@h:80", err: "want http://HOST:PORT"},
	}
	for _, c := range cases {
		got, err := ParseServer(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseServer(%q) error %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseServer(%q) = %+v, %v\nwant %+v", c.in, got, err, c.want)
		}
	}
}

func TestProxyConfigDefaults(t *testing.T) {
	path := writeConfig(t, `
run_dir = "run"
[proxy]
listen = ["127.0.0.1:8080", "unix:/tmp/stackctl-test.sock"]

[[proxy.route]]
path = "/static/"
static = "app"
index = ["index.htm"]
listing = true

[[proxy.route]]
exact = "/old"
redirect = "/new"

[[proxy.route]]
upstream = "pool"
max_body = "10MiB"

[[upstream]]
name = "pool"
servers = ["app:hello weight=2", "uwsgi://127.0.0.1:3031 backup"]
balance = "hash"
hash_key = "cookie:session"
[upstream.health]
path = "/healthz"

[[app]]
name = "hello"
module = "hello"
chdir = "app"
`)
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(path)
	p := c.Proxy
	if p.AccessLog != filepath.Join(dir, "run", "logs", "access.log") || !c.DefaultAccessLog() {
		t.Errorf("AccessLog = %q", p.AccessLog)
	}
	if p.MaxBody != DefaultMaxBody || p.MaxHeaders != DefaultMaxHeaders || p.KeepaliveTimeout != DefaultKeepaliveTimeout ||
		p.TempDir != filepath.Join(dir, "run", "proxy_temp") || p.MaxConnections != DefaultMaxConnections {
		t.Errorf("proxy defaults: %+v", p)
	}
	if r := p.Routes[0]; r.Static != filepath.Join(dir, "app") || r.Path != "/static/" {
		t.Errorf("route 0: %+v", r)
	}
	if r := p.Routes[1]; r.Status != 302 || r.Path != "" {
		t.Errorf("route 1 (redirect): %+v", r)
	}
	if r := p.Routes[2]; r.Path != "/" || r.MaxBody != 10<<20 {
		t.Errorf("route 2: %+v", r)
	}
	u := c.Upstreams[0]
	if u.MaxFails != DefaultMaxFails || u.FailTimeout != DefaultFailTimeout || u.ConnectTimeout != DefaultConnectTimeout ||
		u.QueueDepth != DefaultQueueDepth || u.Keepalive != DefaultKeepalive {
		t.Errorf("upstream defaults: %+v", u)
	}
	if h := u.Health; h.Interval != DefaultHealthInterval || h.Rise != DefaultHealthRise || h.Fall != DefaultHealthFall || h.Timeout != DefaultHealthTimeout {
		t.Errorf("health defaults: %+v", h)
	}
	if got, ok := c.UpstreamNamed("hello"); !ok || got.Servers[0] != "app:hello" || got.MaxFails != 0 {
		t.Errorf("an app is an upstream of its workers: %+v %v", got, ok)
	}
	// max_fails = 0 written in the file stays 0 (passive health off).
	path = writeConfig(t, "[[upstream]]\nname = \"u\"\nservers = [\"http://h:1\"]\nmax_fails = 0\n")
	c, err = Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Upstreams[0].MaxFails != 0 {
		t.Errorf("written max_fails = 0 became %d", c.Upstreams[0].MaxFails)
	}
}

// Every mistake is reported as FILE:LINE: key: message, all at once.
func TestProxyConfigErrors(t *testing.T) {
	text := `[proxy]
listen = ["127.0.0.1:80", "nope", "unix:relative"]
max_headers = -1

[[proxy.route]]
path = "static"
static = "does-not-exist"
upstream = "pool"

[[proxy.route]]
regex = "(unclosed"
redirect = "/x"
status = 200

[[proxy.route]]
path = "/s/"
static = "app"
fallback = "@nowhere"

[[proxy.route]]
path = "/u/"
upstream = "ghost"
strip_prefix = true

[[proxy.route]]
host = "bad host"
index = ["a/b"]
redirect = "/y"

[[upstream]]
name = "pool"
servers = ["uwsgi://1.2.3.4", "app:ghost", "http://h:1 weight=9999", "http://h:3", "http://h:3 backup"]
balance = "fastest"

[[upstream]]
name = "pool"
servers = ["http://h:2 backup"]
balance = "hash"
[upstream.health]
path = "healthz"
expect = 42
`
	path := writeConfig(t, text)
	_, err := Load(path)
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("Load: %v", err)
	}
	want := []string{
		":2: proxy.listen[1]: invalid address \"nope\"",
		":2: proxy.listen[2]: invalid unix socket",
		":3: proxy.max_headers: must be positive",
		":6: proxy.route[0].path: must start with '/'",
		":7: proxy.route[0].static: directory",
		":5: proxy.route[0]: a route needs exactly one of static, upstream, redirect",
		":11: proxy.route[1].regex: invalid regular expression",
		":13: proxy.route[1].status: invalid redirect status 200",
		":18: proxy.route[2].fallback: no route named \"nowhere\"",
		":22: proxy.route[3].upstream: no upstream or app named \"ghost\"",
		":26: proxy.route[4].host: invalid host \"bad host\"",
		":27: proxy.route[4].index: only applies to a static route",
		":27: proxy.route[4].index[0]: invalid index file name",
		":32: upstream[0].servers[0]: invalid address in \"uwsgi://1.2.3.4\": missing port",
		":32: upstream[0].servers[1]: no app named \"ghost\"",
		":32: upstream[0].servers[2]: invalid \"weight=9999\"",
		":32: upstream[0].servers[4]: server http://h:3 is listed twice",
		":33: upstream[0].balance: unknown balance \"fastest\"",
		":36: upstream[1].name: duplicate upstream name \"pool\" (also upstream[0], line 31)",
		":37: upstream[1].servers: every server is a backup",
		":35: upstream[1].hash_key: missing",
		":40: upstream[1].health.path: must start with '/'",
		":41: upstream[1].health.expect: must be an HTTP status",
	}
	got := err.Error()
	for _, w := range want {
		if !strings.Contains(got, path+w) {
			t.Errorf("missing %q in:\n%s", w, got)
		}
	}
	if n := len(es); n < len(want) {
		t.Errorf("%d errors, want at least %d:\n%s", n, len(want), got)
	}
}

func TestProxyConfigUnknownKey(t *testing.T) {
	path := writeConfig(t, "[proxy]\nlisten = [\"127.0.0.1:1\"]\n[[proxy.route]]\nupstrem = \"x\"\n")
	_, err := Load(path)
	if err == nil || !strings.Contains(err.Error(), ":4: proxy.route[0].upstrem: unknown key (did you mean \"upstream\"?)") {
		t.Fatalf("unknown key: %v", err)
	}
	path = writeConfig(t, "[[upstream]]\nname = \"u\"\nservers = [\"http://h:1\"]\n[upstream.health]\nintervall = \"1s\"\n")
	_, err = Load(path)
	if err == nil || !strings.Contains(err.Error(), ":5: upstream[0].health.intervall: unknown key (did you mean \"interval\"?)") {
		t.Fatalf("unknown health key: %v", err)
	}
}

// Rewrite rules are compiled at load; a bad rule is located at its key.
func TestProxyConfigRewriteErrors(t *testing.T) {
	path := writeConfig(t, `[proxy]
listen = ["127.0.0.1:1"]

[[proxy.rewrite]]
match = "^/ok$"
to = "/fine"

[[proxy.rewrite]]
match = "^/(unclosed"
to = "/x"

[[proxy.route]]
redirect = "/z"
[[proxy.route.rewrite]]
match = "^/a$"
to = "/b"
flags = ["P=nowhere"]
[[proxy.route.rewrite]]
match = "^/c$"
to = "/d"
[[proxy.route.rewrite.if]]
test = "%{HTTP_HOST}"
pattern = "(bad"
`)
	_, err := Load(path)
	if err == nil {
		t.Fatal("bad rewrite rules loaded")
	}
	got := err.Error()
	for _, w := range []string{
		path + ":9: proxy.rewrite[1].match:",
		path + ":17: proxy.route[0].rewrite[0].flags: no upstream or app named \"nowhere\"",
		path + ":23: proxy.route[0].rewrite[1].if[0].pattern:",
	} {
		if !strings.Contains(got, w) {
			t.Errorf("missing %q in:\n%s", w, got)
		}
	}
}
