// Package peertest starts the real peers stackctl is tested against —
// nginx, Apache httpd, uWSGI and gunicorn from Debian's packages — each from
// a private configuration in a test's own directory, listening on loopback
// or unix sockets only, and stops them (by PID) when the test ends.
//
// A missing peer skips the test with a message saying what to install,
// except in CI (CI=true), where it fails: CI must prove interop, not skip it.
package peertest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// DebianPython is the interpreter that sees Debian's python3-* packages
// (Flask, Django); python3 on PATH may be another one.
const DebianPython = "/usr/bin/python3"

// Require returns the path of a peer's binary, or skips (fails in CI).
func Require(t testing.TB, binary, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(binary)
	if err != nil {
		for _, dir := range []string{"/usr/sbin", "/sbin"} {
			if _, serr := os.Stat(filepath.Join(dir, binary)); serr == nil {
				return filepath.Join(dir, binary)
			}
		}
		Missing(t, fmt.Sprintf("%s not found: apt-get install %s", binary, pkg))
	}
	return p
}

// RequirePython skips (fails in CI) unless DebianPython can import every
// module named.
func RequirePython(t testing.TB, modules ...string) string {
	t.Helper()
	if _, err := os.Stat(DebianPython); err != nil {
		Missing(t, DebianPython+" not found: apt-get install python3")
	}
	for _, m := range modules {
		if out, err := exec.Command(DebianPython, "-c", "import "+m).CombinedOutput(); err != nil {
			Missing(t, fmt.Sprintf("%s cannot import %s (apt-get install python3-%s): %s", DebianPython, m, m, bytes.TrimSpace(out)))
		}
	}
	return DebianPython
}

// Missing skips the test for want of a peer (msg says which and how to
// install it), or fails it in CI, where every peer must be present.
func Missing(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("peer missing in CI: %s", msg)
	}
	t.Skip("peer missing: " + msg)
}

// Dir returns a short private directory readable by every user (Apache's
// children run as www-data; unix socket paths must stay under 108 bytes).
func Dir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "pt")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(d, 0o755)
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// WaitDial waits until network/addr accepts a connection.
func WaitDial(t testing.TB, network, addr string, timeout time.Duration, logs ...string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout(network, addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			var extra string
			for _, l := range logs {
				b, _ := os.ReadFile(l)
				extra += "\n--- " + l + ":\n" + string(b)
			}
			t.Fatalf("%s %s not accepting after %s: %v%s", network, addr, timeout, err, extra)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Process is a peer started by a test.
type Process struct {
	Name string
	Dir  string
	Cmd  *exec.Cmd
	Log  string // the file its stdout and stderr go to

	stopSig syscall.Signal
	once    sync.Once
	done    chan struct{}
}

func start(t testing.TB, name, dir string, stopSig syscall.Signal, ownGroup bool, argv ...string) *Process {
	t.Helper()
	logPath := filepath.Join(dir, name+".out")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: ownGroup, Setsid: !ownGroup, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	logf.Close()
	p := &Process{Name: name, Dir: dir, Cmd: cmd, Log: logPath, stopSig: stopSig, done: make(chan struct{})}
	go func() { cmd.Wait(); close(p.done) }()
	t.Cleanup(p.Stop)
	return p
}

// Stop stops the peer (its own stop signal, then SIGKILL to its process
// group after 10 s) and waits for it.
func (p *Process) Stop() {
	p.once.Do(func() {
		p.Cmd.Process.Signal(p.stopSig)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
		// Children that outlived their parent (nginx or Apache workers).
		syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL)
	})
}

// Output returns what the peer wrote so far.
func (p *Process) Output() string {
	b, _ := os.ReadFile(p.Log)
	return string(b)
}

// Nginx is a running nginx.
type Nginx struct {
	*Process
	Addr string // 127.0.0.1:PORT of the default server
}

// StartNginx runs nginx with the given http-block contents. The text may use
// {{PORT}} (a free port for the caller's server block) and {{DIR}} (the
// private directory). It waits until {{PORT}} accepts connections.
func StartNginx(t testing.TB, httpBlock string) *Nginx {
	t.Helper()
	bin := Require(t, "nginx", "nginx")
	dir := Dir(t)
	port := FreePort(t)
	httpBlock = strings.NewReplacer("{{PORT}}", fmt.Sprint(port), "{{DIR}}", dir).Replace(httpBlock)
	conf := fmt.Sprintf(`daemon off;
master_process on;
worker_processes auto;
user root;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events { worker_connections 16384; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log off;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
%[2]s
}
`, dir, httpBlock)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-t", "-c", path, "-p", dir).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s\n%s", err, out, conf)
	}
	p := start(t, "nginx", dir, syscall.SIGQUIT, true, bin, "-c", path, "-p", dir)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	WaitDial(t, "tcp", addr, 10*time.Second, p.Log, filepath.Join(dir, "error.log"))
	return &Nginx{Process: p, Addr: addr}
}

// Apache is a running Apache httpd.
type Apache struct {
	*Process
	Addr string
}

// ApacheModules are loaded by StartApache unless the caller passes its own.
var ApacheModules = []string{"mpm_event", "authz_core", "mime", "proxy", "proxy_uwsgi", "proxy_http", "rewrite", "headers", "alias", "dir", "setenvif"}

// StartApache runs Apache httpd (mpm_event unless modules say otherwise)
// with the given directives after the global ones. The text may use
// {{PORT}} and {{DIR}}; it must contain the server's own config (Listen is
// added for {{PORT}}). Apache runs its children as www-data, so every
// directory it serves must be world-readable; it runs in its own session
// because on shutdown it signals its whole process group.
func StartApache(t testing.TB, directives string, modules ...string) *Apache {
	t.Helper()
	bin := Require(t, "apache2", "apache2")
	if len(modules) == 0 {
		modules = ApacheModules
	}
	dir := Dir(t)
	port := FreePort(t)
	directives = strings.NewReplacer("{{PORT}}", fmt.Sprint(port), "{{DIR}}", dir).Replace(directives)
	var b strings.Builder
	fmt.Fprintf(&b, "ServerRoot %s\nPidFile %s/httpd.pid\nErrorLog %s/error.log\nLogLevel warn\nMutex file:%s default\n", dir, dir, dir, dir)
	fmt.Fprintf(&b, "DefaultRuntimeDir %s\nUser www-data\nGroup www-data\nServerName localhost\nListen 127.0.0.1:%d\n", dir, port)
	for _, m := range modules {
		fmt.Fprintf(&b, "LoadModule %s_module /usr/lib/apache2/modules/mod_%s.so\n", m, m)
	}
	b.WriteString("TypesConfig /etc/mime.types\n")
	b.WriteString(directives)
	path := filepath.Join(dir, "httpd.conf")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-t", "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("apache2 -t: %v\n%s\n%s", err, out, b.String())
	}
	p := start(t, "apache2", dir, syscall.SIGTERM, false, bin, "-f", path, "-DFOREGROUND")
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	WaitDial(t, "tcp", addr, 10*time.Second, p.Log, filepath.Join(dir, "error.log"))
	return &Apache{Process: p, Addr: addr}
}

// UWSGI is a running uWSGI master.
type UWSGI struct {
	*Process
	Socket string // "127.0.0.1:PORT" or a unix path
}

// StartUWSGI runs uWSGI 2.0 with the python3 plugin serving module from
// chdir on socket (an address or a unix path), with the given extra
// arguments. It stops with SIGINT: without --die-on-term uWSGI 2.0 treats
// SIGTERM as "reload".
func StartUWSGI(t testing.TB, chdir, module, socket string, processes int, extra ...string) *UWSGI {
	t.Helper()
	bin := Require(t, "uwsgi", "uwsgi uwsgi-plugin-python3")
	dir := Dir(t)
	argv := []string{bin, "--plugin", "python3", "--master", "--die-on-term", "--processes", fmt.Sprint(processes),
		"--socket", socket, "--chdir", chdir, "--module", module, "--disable-logging", "--chmod-socket=666"}
	argv = append(argv, extra...)
	p := start(t, "uwsgi", dir, syscall.SIGINT, true, argv...)
	network := "tcp"
	if strings.HasPrefix(socket, "/") {
		network = "unix"
	}
	WaitDial(t, network, socket, 15*time.Second, p.Log)
	return &UWSGI{Process: p, Socket: socket}
}

// Gunicorn is a running gunicorn.
type Gunicorn struct {
	*Process
	Addr string
}

// StartGunicorn runs gunicorn (sync workers) under DebianPython.
func StartGunicorn(t testing.TB, chdir, module string, workers int, extra ...string) *Gunicorn {
	t.Helper()
	py := RequirePython(t, "gunicorn")
	dir := Dir(t)
	addr := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	argv := append([]string{py, "-m", "gunicorn", "-w", fmt.Sprint(workers), "-b", addr, "--chdir", chdir}, extra...)
	argv = append(argv, module)
	p := start(t, "gunicorn", dir, syscall.SIGTERM, true, argv...)
	WaitDial(t, "tcp", addr, 15*time.Second, p.Log)
	return &Gunicorn{Process: p, Addr: addr}
}
