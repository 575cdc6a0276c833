package proxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/peertest"
	"github.com/stackctl/stackctl/runtime/stats"
)

// uwsgiApp is a stdlib WSGI app for real uWSGI servers: it names its
// server, can be slow, and fails its health check while a flag file exists.
const uwsgiApp = `
import os, time
NAME = os.environ.get("SERVER_TAG", "?")
def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path.startswith("/slow/"):
        time.sleep(int(path[6:]) / 1000.0)
    if path == "/healthz" and os.path.exists(os.environ.get("HEALTH_FLAG", "/nonexistent")):
        start_response("503 Service Unavailable", [("Content-Type", "text/plain"), ("Content-Length", "4")])
        return [b"sick"]
    body = NAME.encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
`

// twoUWSGI starts two real uWSGI servers (2 processes each) on TCP ports
// and returns their addresses and the flag files that make them unhealthy.
func twoUWSGI(t *testing.T) (addrs [2]string, flags [2]string, procs [2]*peertest.UWSGI) {
	t.Helper()
	dir := peertest.Dir(t)
	writeFile(t, dir, "app/uapp.py", uwsgiApp)
	for i := range 2 {
		addrs[i] = fmt.Sprintf("127.0.0.1:%d", peertest.FreePort(t))
		flags[i] = filepath.Join(dir, fmt.Sprintf("sick%d", i))
		procs[i] = peertest.StartUWSGI(t, filepath.Join(dir, "app"), "uapp:application", addrs[i], 2,
			"--env", fmt.Sprintf("SERVER_TAG=s%d", i), "--env", "HEALTH_FLAG="+flags[i], "--listen", "128")
	}
	return addrs, flags, procs
}

// upstreamConfig is a proxy with one route to an upstream "pool" of
// servers; extra is added to the [[upstream]] table, or to [proxy] when it
// starts with "proxy:".
func upstreamConfig(listen string, servers []string, extra string) string {
	proxyExtra := ""
	if p, ok := strings.CutPrefix(extra, "proxy:"); ok {
		proxyExtra, extra = p, ""
	}
	q := make([]string, len(servers))
	for i, s := range servers {
		q[i] = strconv.Quote(s)
	}
	return fmt.Sprintf(`
run_dir = "{{DIR}}/run"
[proxy]
listen = [%s]
%s
[[proxy.route]]
path = "/"
upstream = "pool"
[[upstream]]
name = "pool"
servers = [%s]
%s
`, listen, proxyExtra, strings.Join(q, ", "), extra)
}

// workerPIDs lists the children of a uWSGI master.
func workerPIDs(t *testing.T, master int) []int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", master, master))
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		n, _ := strconv.Atoi(f)
		pids = append(pids, n)
	}
	return pids
}

// Under load: draining a server, removing it (Apply without it), adding it
// back, reloading an identical config, a new listener, and SIGKILLing a
// uWSGI worker mid-request produce no failed GET.
func TestReconfigureUnderLoad(t *testing.T) {
	addrs, _, procs := twoUWSGI(t)
	dir := shortDir(t)
	s0, s1 := "uwsgi://"+addrs[0], "uwsgi://"+addrs[1]
	both := upstreamConfig(`"127.0.0.1:0"`, []string{s0, s1}, `proxy:access_log = "off"`)
	cfgBoth := parseConfig(t, dir, both)
	tp := startProxy(t, dir, cfgBoth, nil)
	url := tp.url("/slow/2")

	stop := make(chan struct{})
	done := make(chan loadResult)
	go func() { done <- runLoad(t, url, 16, stop, 0) }()
	step := func(what string, f func() error) {
		time.Sleep(500 * time.Millisecond)
		if err := f(); err != nil {
			t.Errorf("%s: %v", what, err)
		}
		t.Logf("%s", what)
	}
	step("drain s0", func() error { return tp.SetServerState("pool", s0, AdminDrain) })
	step("check s0 gets nothing", func() error {
		before := tp.server("pool", s0).Requests
		time.Sleep(300 * time.Millisecond)
		if after := tp.server("pool", s0).Requests; after != before {
			return fmt.Errorf("drained server got %d requests", after-before)
		}
		return nil
	})
	step("undrain s0", func() error { return tp.SetServerState("pool", s0, AdminUp) })
	step("remove s0", func() error {
		return tp.Apply(parseConfig(t, dir, upstreamConfig(`"127.0.0.1:0"`, []string{s1}, `proxy:access_log = "off"`)))
	})
	step("add s0 back with weight 3", func() error {
		return tp.Apply(parseConfig(t, dir, upstreamConfig(`"127.0.0.1:0"`, []string{s0 + " weight=3", s1}, `proxy:access_log = "off"`)))
	})
	step("reload the same config", func() error { return tp.Apply(parseConfig(t, dir, both)) })
	step("add a listener", func() error {
		return tp.Apply(parseConfig(t, dir, upstreamConfig(`"127.0.0.1:0", "unix:`+dir+`/px.sock"`, []string{s0, s1}, `proxy:access_log = "off"`)))
	})
	for i, p := range procs {
		step(fmt.Sprintf("kill a uWSGI worker of s%d", i), func() error {
			pids := workerPIDs(t, p.Cmd.Process.Pid)
			if len(pids) == 0 {
				return fmt.Errorf("no uWSGI workers")
			}
			return syscall.Kill(pids[0], syscall.SIGKILL)
		})
	}
	step("remove the listener", func() error { return tp.Apply(parseConfig(t, dir, both)) })
	time.Sleep(500 * time.Millisecond)
	close(stop)
	res := <-done
	t.Logf("%d GETs ok, failures %v", res.ok, res.failures)
	if res.failed() > 0 {
		t.Errorf("failed GETs during reconfiguration: %v", res.failures)
	}
	if res.ok < 500 {
		t.Errorf("only %d GETs", res.ok)
	}
}

// server returns one server's snapshot.
func (tp *testProxy) server(upstream, addr string) ServerSnapshot {
	for _, u := range tp.Snapshot().Upstreams {
		if u.Name == upstream {
			for _, s := range u.Servers {
				if s.Address == addr {
					return s
				}
			}
		}
	}
	tp.t.Fatalf("no server %s in upstream %s", addr, upstream)
	return ServerSnapshot{}
}

// Apply either changes everything or nothing: a listener that cannot bind
// leaves the old routes and listeners in place.
func TestApplyIsAtomic(t *testing.T) {
	addrs, _, _ := twoUWSGI(t)
	dir := shortDir(t)
	tp := startProxy(t, dir, parseConfig(t, dir, upstreamConfig(`"127.0.0.1:0"`, []string{"uwsgi://" + addrs[0]}, "")), nil)
	c := newClient()
	if _, body := get(t, c, "GET", tp.url("/"), nil, ""); body != "s0" {
		t.Fatalf("before: %q", body)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	bad := parseConfig(t, dir, upstreamConfig(`"127.0.0.1:0", "`+busy.Addr().String()+`"`, []string{"uwsgi://" + addrs[1]}, ""))
	if err := tp.Apply(bad); err == nil || !strings.Contains(err.Error(), busy.Addr().String()) {
		t.Fatalf("Apply with a busy address: %v", err)
	}
	if _, body := get(t, c, "GET", tp.url("/"), nil, ""); body != "s0" {
		t.Fatalf("after a failed Apply the routes changed: %q", body)
	}
	if got := tp.Addrs(); len(got) != 1 {
		t.Fatalf("listeners after a failed Apply: %v", got)
	}
	// An app that is not running fails the same way.
	adir := shortDir(t)
	writeFile(t, adir, "src/hello.py", helloApp)
	withApp := parseConfig(t, adir, upstreamConfig(`"127.0.0.1:0"`, []string{"app:hello"}, `
[[app]]
name = "hello"
module = "hello:application"
chdir = "{{DIR}}/src"`))
	if err := tp.Apply(withApp); err == nil || !strings.Contains(err.Error(), "not running") {
		t.Fatalf("Apply with an app not running: %v", err)
	}
	if _, body := get(t, c, "GET", tp.url("/"), nil, ""); body != "s0" {
		t.Fatalf("after a failed Apply the routes changed: %q", body)
	}
}

// Listeners that stay are not closed by Apply (a kept-alive connection
// keeps working); added ones serve; removed ones stop accepting.
func TestListenersAddRemove(t *testing.T) {
	addrs, _, _ := twoUWSGI(t)
	dir := shortDir(t)
	up := []string{"uwsgi://" + addrs[0]}
	tp := startProxy(t, dir, parseConfig(t, dir, upstreamConfig(`"127.0.0.1:0"`, up, "")), nil)
	first := tp.addr()
	conn, err := net.Dial("tcp", first)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	kept := func() {
		t.Helper()
		fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 4096)
		n, err := conn.Read(buf)
		if err != nil || !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 200") {
			t.Fatalf("kept-alive connection: %v %q", err, buf[:n])
		}
	}
	kept()
	sock := filepath.Join(dir, "px.sock")
	two := parseConfig(t, dir, upstreamConfig(`"127.0.0.1:0", "unix:`+sock+`"`, up, ""))
	if err := tp.Apply(two); err != nil {
		t.Fatal(err)
	}
	kept()
	uc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return net.Dial("unix", sock)
	}}}
	resp, err := uc.Get("http://x/")
	if err != nil {
		t.Fatalf("new unix listener: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("new unix listener: %d", resp.StatusCode)
	}
	uc.CloseIdleConnections()
	if err := tp.Apply(parseConfig(t, dir, upstreamConfig(`"127.0.0.1:0"`, up, ""))); err != nil {
		t.Fatal(err)
	}
	kept()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("unix", sock)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("removed listener still accepts")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// New client limits replace the listener's engine, not its socket: an
	// idle kept-alive connection is closed cleanly (as by nginx's reload;
	// clients reconnect), new connections are served by the new limits.
	if err := tp.Apply(parseConfig(t, dir, upstreamConfig(`"127.0.0.1:0"`, up, "proxy:max_headers = 5"))); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := conn.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("idle connection after an engine swap: %d bytes, %v; want a clean close", n, err)
	}
	if code, _ := rawRequest(t, first, "GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\nE: 1\r\nF: 1\r\nConnection: close\r\n\r\n"); code != 431 {
		t.Fatalf("7 header fields with max_headers = 5: %d, want 431", code)
	}
	if code, _ := rawRequest(t, first, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); code != 200 {
		t.Fatalf("after the engine swap: %d", code)
	}
	if got := tp.Addrs(); len(got) != 1 || got[0] != first {
		t.Fatalf("listeners: %v, want only %s", got, first)
	}
}

// Admin state and statistics survive reloads; the config's own "down"
// flag, when it changes, overrides an operator's state.
func TestStateCarriedOver(t *testing.T) {
	addrs, _, _ := twoUWSGI(t)
	dir := shortDir(t)
	s0, s1 := "uwsgi://"+addrs[0], "uwsgi://"+addrs[1]
	cfg := parseConfig(t, dir, upstreamConfig(`"127.0.0.1:0"`, []string{s0, s1}, ""))
	tp := startProxy(t, dir, cfg, nil)
	c := newClient()
	for range 10 {
		get(t, c, "GET", tp.url("/"), nil, "")
	}
	if err := tp.SetServerState("pool", s0, AdminDrain); err != nil {
		t.Fatal(err)
	}
	if err := tp.SetWeight("pool", s1, 5); err != nil {
		t.Fatal(err)
	}
	before := tp.server("pool", s0).Requests
	if err := tp.Apply(parseConfig(t, dir, upstreamConfig(`"127.0.0.1:0"`, []string{s0, s1}, ""))); err != nil {
		t.Fatal(err)
	}
	got0, got1 := tp.server("pool", s0), tp.server("pool", s1)
	if got0.State != StateDrain || got0.Requests != before || before == 0 {
		t.Fatalf("after reload: s0 %s with %d requests, want drain with %d", got0.State, got0.Requests, before)
	}
	if got1.Weight != 5 {
		t.Fatalf("after reload: s1 weight %d, want the 5 set at run time", got1.Weight)
	}
	for range 10 {
		if _, body := get(t, c, "GET", tp.url("/"), nil, ""); body != "s1" {
			t.Fatalf("drained server answered after reload: %q", body)
		}
	}
	// The config now says s0 is down: the config wins.
	if err := tp.Apply(parseConfig(t, dir, upstreamConfig(`"127.0.0.1:0"`, []string{s0 + " down", s1 + " weight=2"}, ""))); err != nil {
		t.Fatal(err)
	}
	if st := tp.server("pool", s0).State; st != StateDown {
		t.Fatalf("s0 %s, want down from the config", st)
	}
	if w := tp.server("pool", s1).Weight; w != 2 {
		t.Fatalf("s1 weight %d, want the config's new 2", w)
	}
	if err := tp.SetServerState("pool", "nope", AdminUp); err == nil {
		t.Fatal("SetServerState of an unknown server succeeded")
	}
	if err := tp.SetServerState("pool", s0, "sideways"); err == nil {
		t.Fatal("SetServerState with a bad state succeeded")
	}
	var kinds []string
	for _, e := range tp.eventList() {
		kinds = append(kinds, e.Fields["server"]+":"+e.Fields["from"]+">"+e.Fields["to"]+"("+e.Fields["cause"]+")")
	}
	want := s0 + ":up>drain(admin)"
	if len(kinds) == 0 || kinds[0] != want {
		t.Fatalf("events %v, want first %s", kinds, want)
	}
	if last := kinds[len(kinds)-1]; last != s0+":drain>down(admin)" {
		t.Fatalf("events %v, want the config's down last", kinds)
	}
}

// A dead server: requests go to the live one (connection refused is
// retried for any method), the dead one is marked failed with an event.
func TestPassiveHealthFailover(t *testing.T) {
	addrs, _, _ := twoUWSGI(t)
	dir := shortDir(t)
	dead := fmt.Sprintf("uwsgi://127.0.0.1:%d", peertest.FreePort(t))
	live := "uwsgi://" + addrs[0]
	tp := startProxy(t, dir, parseConfig(t, dir, upstreamConfig(`"127.0.0.1:0"`, []string{dead, live}, `max_fails = 2
fail_timeout = "30s"`)), nil)
	c := newClient()
	for i := range 20 {
		method := "GET"
		if i%2 == 1 {
			method = "POST" // never sent anywhere: safe to retry too
		}
		resp, body := get(t, c, method, tp.url("/"), nil, "x")
		if resp.StatusCode != 200 || body != "s0" {
			t.Fatalf("%s %d: %d %q", method, i, resp.StatusCode, body)
		}
	}
	s := tp.server("pool", dead)
	if s.State != StateFailed || s.Fails != 2 {
		t.Fatalf("dead server: state %s fails %d, want failed after 2", s.State, s.Fails)
	}
	evs := tp.eventList()
	if len(evs) != 1 || evs[0].Fields["to"] != StateFailed || !strings.Contains(evs[0].Fields["reason"], "refused") {
		t.Fatalf("events: %+v", evs)
	}
	// Everything down: a clean 502.
	tp2 := startProxy(t, shortDir(t), parseConfig(t, dir, upstreamConfig(`"127.0.0.1:0"`, []string{dead}, "")), nil)
	resp, body := get(t, c, "GET", tp2.url("/"), nil, "")
	if resp.StatusCode != 502 || !strings.Contains(body, "502 Bad Gateway") {
		t.Fatalf("all servers dead: %d %q", resp.StatusCode, body)
	}
}

// Active checks: a server failing its health check is taken out after
// fall failures and back after rise successes, each with an event.
func TestActiveHealthChecks(t *testing.T) {
	addrs, flags, _ := twoUWSGI(t)
	dir := shortDir(t)
	s0, s1 := "uwsgi://"+addrs[0], "uwsgi://"+addrs[1]
	tp := startProxy(t, dir, parseConfig(t, dir, upstreamConfig(`"127.0.0.1:0"`, []string{s0, s1}, `
[upstream.health]
path = "/healthz"
interval = "50ms"
timeout = "40ms"
rise = 2
fall = 2`)), nil)
	waitState := func(addr, state string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for tp.server("pool", addr).State != state {
			if time.Now().After(deadline) {
				t.Fatalf("%s stayed %s, want %s", addr, tp.server("pool", addr).State, state)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitState(s0, StateUp)
	if err := os.WriteFile(flags[0], nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitState(s0, StateUnhealthy)
	s := tp.server("pool", s0)
	if s.Health != "unhealthy" || s.LastCheck == nil || s.LastCheck.OK || s.LastCheck.Status != 503 {
		t.Fatalf("snapshot: %+v last %+v", s, s.LastCheck)
	}
	c := newClient()
	for range 10 {
		if _, body := get(t, c, "GET", tp.url("/"), nil, ""); body != "s1" {
			t.Fatalf("unhealthy server answered: %q", body)
		}
	}
	os.Remove(flags[0])
	waitState(s0, StateUp)
	var changes []string
	for _, e := range tp.eventList() {
		if e.Kind == stats.KindHealthChanged && e.Fields["server"] == s0 {
			changes = append(changes, e.Fields["to"])
			if !strings.Contains(e.Fields["reason"], "check") {
				t.Errorf("event without a reason: %+v", e)
			}
		}
	}
	if strings.Join(changes, ",") != "unhealthy,up" {
		t.Fatalf("health events %v", changes)
	}
}

// Retry rules against servers that fail after the request was sent: a GET
// goes to the next server, a POST does not (unless retry_non_idempotent),
// and a read timeout is a 504.
func TestRetryRules(t *testing.T) {
	addrs, _, _ := twoUWSGI(t)
	// A server that takes the request and closes without an answer, as a
	// crashing one does.
	bh, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer bh.Close()
	go func() {
		for {
			c, err := bh.Accept()
			if err != nil {
				return
			}
			go func() {
				c.Read(make([]byte, 65536))
				c.Close()
			}()
		}
	}()
	broken, live := "uwsgi://"+bh.Addr().String(), "uwsgi://"+addrs[0]
	servers := []string{broken, live}
	c := newClient()
	run := func(extra string) *testProxy {
		d := shortDir(t)
		return startProxy(t, d, parseConfig(t, d, upstreamConfig(`"127.0.0.1:0"`, servers, "balance = \"round_robin\"\nmax_fails = 0\n"+extra)), nil)
	}
	tp := run("")
	for range 10 {
		if resp, _ := get(t, c, "GET", tp.url("/"), nil, ""); resp.StatusCode != 200 {
			t.Fatalf("GET with a broken server in the pool: %d", resp.StatusCode)
		}
	}
	// POSTs alone alternate between the servers: those sent to the broken
	// one fail and are not resent.
	var got200, got502 int
	for range 10 {
		resp, _ := get(t, c, "POST", tp.url("/"), nil, "data")
		switch resp.StatusCode {
		case 200:
			got200++
		case 502:
			got502++
		default:
			t.Fatalf("POST: %d", resp.StatusCode)
		}
	}
	if got502 != 5 || got200 != 5 {
		t.Fatalf("POSTs: %d ok, %d 502; want those sent to the broken server to fail, not be resent", got200, got502)
	}
	tp = run("retry_non_idempotent = true")
	for range 10 {
		if resp, _ := get(t, c, "POST", tp.url("/"), nil, "data"); resp.StatusCode != 200 {
			t.Fatalf("POST with retry_non_idempotent: %d", resp.StatusCode)
		}
	}
	// tries = 1: no second attempt.
	tp = run("tries = 1")
	fails := 0
	for range 10 {
		if resp, _ := get(t, c, "GET", tp.url("/"), nil, ""); resp.StatusCode == 502 {
			fails++
		}
	}
	if fails == 0 {
		t.Fatal("tries = 1 still retried")
	}
	// A read timeout: 504 (one server, nothing to retry on).
	d := shortDir(t)
	tp = startProxy(t, d, parseConfig(t, d, upstreamConfig(`"127.0.0.1:0"`, []string{live}, `read_timeout = "200ms"`)), nil)
	t0 := time.Now()
	resp, _ := get(t, c, "GET", tp.url("/slow/2000"), nil, "")
	if resp.StatusCode != 504 || time.Since(t0) > 1500*time.Millisecond {
		t.Fatalf("read timeout: %d after %s, want 504 after ~200ms", resp.StatusCode, time.Since(t0))
	}
	// The access log names both attempts of a retried request.
	tp = run("")
	for range 4 {
		get(t, c, "GET", tp.url("/"), nil, "")
	}
	found := false
	for _, l := range tp.AccessLog().Tail(10) {
		if strings.Contains(l.Text, broken+", "+live) {
			found = true
		}
	}
	if !found {
		t.Errorf("no access log line lists both tries: %v", tp.AccessLog().Tail(10))
	}
}
