package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "app"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "stackctl.toml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadValid(t *testing.T) {
	path := writeConfig(t, `
run_dir = "run"

[[app]]
name = "hello"
module = "hello:application"
chdir = "app"
workers = 3
threads = 2
socket = "127.0.0.1:3031"
max_requests = 500
max_rss = "256MiB"
request_timeout = "1.5s"
env = { GREETING = "hi", DEBUG = "1" }

[[app]]
name = "blog"
module = "blog.wsgi"
chdir = "app"
`)
	c, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	dir := filepath.Dir(path)
	if c.RunDir != filepath.Join(dir, "run") {
		t.Errorf("RunDir = %q, want it relative to the file", c.RunDir)
	}
	h := c.App("hello")
	if h == nil {
		t.Fatal("app hello missing")
	}
	if h.Workers != 3 || h.Threads != 2 || h.MaxRequests != 500 {
		t.Errorf("hello = %+v", h)
	}
	if h.MaxRSS != 256<<20 {
		t.Errorf("MaxRSS = %d", h.MaxRSS)
	}
	if h.RequestTimeout.D() != 1500*time.Millisecond {
		t.Errorf("RequestTimeout = %v", h.RequestTimeout)
	}
	if h.Chdir != filepath.Join(dir, "app") {
		t.Errorf("Chdir = %q", h.Chdir)
	}
	if h.Env["GREETING"] != "hi" {
		t.Errorf("Env = %v", h.Env)
	}
	if m, fn := h.Callable(); m != "hello" || fn != "application" {
		t.Errorf("Callable = %q %q", m, fn)
	}
	b := c.App("blog")
	if b.Workers != DefaultWorkers || b.Threads != 1 || b.Python != DefaultPython {
		t.Errorf("defaults not applied: %+v", b)
	}
	if m, fn := b.Callable(); m != "blog.wsgi" || fn != "application" {
		t.Errorf("default callable = %q %q", m, fn)
	}
	if b.Socket != "unix:"+filepath.Join(c.RunDir, "blog.sock") {
		t.Errorf("default socket = %q", b.Socket)
	}
	if c.Control.Socket != filepath.Join(c.RunDir, "control.sock") {
		t.Errorf("control socket = %q", c.Control.Socket)
	}
	if c.Line("app[1].module") != 18 {
		t.Errorf("Line(app[1].module) = %d, want 18", c.Line("app[1].module"))
	}
}

func TestLoadErrors(t *testing.T) {
	const head = "[[app]]\nname = \"a\"\nmodule = \"a:app\"\nchdir = \"app\"\n" // lines 1-4
	tests := []struct {
		name string
		text string
		want []string // each a substring of one error line, in order
	}{
		{"unknown key with hint", head + "workerz = 2\n", []string{":5: app[0].workerz: unknown key (did you mean \"workers\"?)"}},
		{"unknown top-level key", "rundir = \"x\"\n", []string{":1: rundir: unknown key (did you mean \"run_dir\"?)"}},
		{"wrong type", head + "workers = \"two\"\n", []string{":5: app[0].workers: wrong type: want integer, got string"}},
		{"bad duration", head + "request_timeout = \"5x\"\n", []string{":5: app[0].request_timeout: invalid duration \"5x\""}},
		{"bare number duration", head + "request_timeout = \"30\"\n", []string{":5: app[0].request_timeout: invalid duration"}},
		{"bad size", head + "max_rss = \"lots\"\n", []string{":5: app[0].max_rss: invalid size \"lots\""}},
		{"negative workers", head + "workers = -1\n", []string{":5: app[0].workers: must be between 1 and 1024, got -1"}},
		{"missing chdir", "[[app]]\nname = \"a\"\nmodule = \"a\"\nchdir = \"nope\"\n", []string{":4: app[0].chdir: directory"}},
		{"duplicate names", head + "\n[[app]]\nname = \"a\"\nmodule = \"b\"\nchdir = \"app\"\n", []string{":7: app[1].name: duplicate app name \"a\" (also app[0], line 2)"}},
		{"missing module", "[[app]]\nname = \"a\"\nchdir = \"app\"\n", []string{":1: app[0].module: missing"}},
		{"bad module", head + "\n[[app]]\nname = \"b\"\nmodule = \"foo bar\"\nchdir = \"app\"\n", []string{":8: app[1].module: invalid module \"foo bar\""}},
		{"bad socket", head + "socket = \"localhost\"\n", []string{":5: app[0].socket: invalid address"}},
		{"socket mode on tcp", head + "socket = \"127.0.0.1:1\"\nsocket_mode = \"0666\"\n", []string{":6: app[0].socket_mode: only applies to a unix socket"}},
		{"bad speedups", head + "speedups = \"yes\"\n", []string{":5: app[0].speedups: unknown value \"yes\": want \"auto\", \"off\" or \"required\""}},
		{"bad interpreter", head + "python = \"/nonexistent/python9\"\n", []string{":5: app[0].python: interpreter"}},
		{"syntax error", "[[app]\nname = 1\n", []string{":1: expected ']]'"}},
		{"bad env key", head + "env = { \"BAD-KEY\" = \"x\" }\n", []string{":5: app[0].env.BAD-KEY: invalid environment variable name"}},
		{"two errors", "[[app]]\nname = \"a b\"\nchdir = \"app\"\n", []string{":2: app[0].name: invalid name", ":1: app[0].module: missing"}},
		{"every schema problem at once", head + "workerz = 2\nmax_rss = \"lots\"\nthreads = \"4\"\n\n[[app]]\nname = \"b\"\nmodule = \"b\"\nchdir = \"app\"\nenv = \"X=1\"\n[control]\nsockt = \"x\"\n",
			[]string{":5: app[0].workerz: unknown key", ":6: app[0].max_rss: invalid size", ":7: app[0].threads: wrong type: want integer, got string", ":13: app[1].env: wrong type: want table, got string", ":15: control.sockt: unknown key (did you mean \"socket\"?)"}},
		{"array where a table is wanted", "[control]\nsocket = [\"a\"]\n", []string{":2: control.socket: wrong type: want string, got array"}},
		{"table header for a scalar", "[run_dir]\nx = 1\n", []string{":1: run_dir: wrong type: want string, got a table"}},
		{"single table for an array of tables", "[app]\nname = \"a\"\n", []string{":1: app: wrong type: want array, got a table"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, tt.text)
			_, err := Load(path)
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("error %T %v is not Errors", err, err)
			}
			if len(es) != len(tt.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(es), len(tt.want), err)
			}
			for i, w := range tt.want {
				got := es[i].Error()
				if !strings.HasPrefix(got, path) {
					t.Errorf("error %q does not start with the file name", got)
				}
				if !strings.Contains(got, w) {
					t.Errorf("error %d = %q, want it to contain %q", i, got, w)
				}
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want Size
		err  bool
	}{
		{"0", 0, false},
		{"1024", 1024, false},
		{"256MiB", 256 << 20, false},
		{"256mib", 256 << 20, false},
		{"1GB", 1_000_000_000, false},
		{"1 GiB", 1 << 30, false},
		{"64k", 64 << 10, false},
		{"1m", 1 << 20, false},
		{"1.5KiB", 1536, false},
		{"12B", 12, false},
		{"", 0, true},
		{"MiB", 0, true},
		{"-1", 0, true},
		{"ten", 0, true},
		{"99999999999TiB", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, err=%v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestSizeFromInteger(t *testing.T) {
	path := writeConfig(t, "[[app]]\nname = \"a\"\nmodule = \"a\"\nchdir = \"app\"\nmax_rss = 1048576\nbuffer_size = \"8KiB\"\n")
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Apps[0].MaxRSS != 1<<20 || c.Apps[0].BufferSize != 8<<10 {
		t.Errorf("MaxRSS = %d, BufferSize = %d", c.Apps[0].MaxRSS, c.Apps[0].BufferSize)
	}
}

func TestPositionsNested(t *testing.T) {
	doc := []byte(`top = 1
[[app]]
name = "a"
env = { A = "1",
  B = "2" }
[[app]]
name = "b"
[app.env]
C = "3"
[[proxy.route]]
path = "/"
[[proxy.route]]
path = "/static/"
`)
	pos := indexPositions(doc)
	for key, want := range map[string]int{
		"top": 1, "app[0]": 2, "app[0].name": 3, "app[0].env.B": 5, "app[1].name": 7,
		"app[1].env": 8, "app[1].env.C": 9, "proxy.route[1].path": 13, "app[1].workers": 6,
	} {
		if got := pos.line(key); got != want {
			t.Errorf("line(%q) = %d, want %d", key, got, want)
		}
	}
}

func TestDemo(t *testing.T) {
	c, err := Demo(t.TempDir())
	if err != nil {
		t.Fatalf("Demo: %v", err)
	}
	a := c.App("demo")
	if a == nil || a.Workers != 2 {
		t.Fatalf("demo app = %+v", a)
	}
	if _, err := os.Stat(filepath.Join(a.Chdir, "demo.py")); err != nil {
		t.Errorf("demo app not written: %v", err)
	}
}
