package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// badInputStack is a proxy in front of our own app server (lanes), with
// small limits.
func badInputStack(t *testing.T) *testProxy {
	t.Helper()
	tp, _, _ := laneStack(t, 2, "")
	return tp
}

// Malformed and oversized requests each get their 4xx, and the proxy keeps
// serving: the next good request on a new connection succeeds.
func TestMalformedRequests(t *testing.T) {
	for _, engine := range []string{"http1", "net/http"} {
		t.Run(engine, func(t *testing.T) {
			if engine == "net/http" {
				useNetHTTP = true
				defer func() { useNetHTTP = false }()
			}
			tp := badInputStack(t)
			addr := tp.addr()
			big := strings.Repeat("a", 40<<10)
			many := strings.Repeat("X-Many: 1\r\n", 150)
			cases := []struct {
				name   string
				raw    string
				want   []int // acceptable statuses
				engine string
			}{
				{"garbage request line", "GARBAGE\r\n\r\n", []int{400}, ""},
				{"bad version", "GET / HTTP/9.9\r\nHost: x\r\n\r\n", []int{400, 505}, ""},
				{"space in target", "GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", []int{400}, ""},
				{"header without colon", "GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", []int{400}, ""},
				{"space before colon", "GET / HTTP/1.1\r\nHost: x\r\nX-A : b\r\n\r\n", []int{400}, "http1"},
				{"obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX-A: b\r\n c\r\n\r\n", []int{400}, "http1"},
				{"missing Host in HTTP/1.1", "GET / HTTP/1.1\r\n\r\n", []int{400}, ""},
				{"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", []int{400}, ""},
				{"conflicting Content-Lengths", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello", []int{400}, ""},
				{"Content-Length and Transfer-Encoding", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", []int{400}, "http1"},
				{"unknown Transfer-Encoding", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", []int{400, 501}, ""},
				{"negative Content-Length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", []int{400}, ""},
				// net/http closes at once after a bad chunk or past max_body
				// (it drains at most 256 KiB), with the rest of the request
				// unread: the kernel may reset the connection and lose the
				// answer. http1 lingers, as nginx does.
				{"bad chunk size", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", []int{400}, "http1"},
				{"oversized header", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + big + "\r\n\r\n", []int{431}, ""},
				{"too many headers", "GET / HTTP/1.1\r\nHost: x\r\n" + many + "\r\n", []int{431}, ""},
				{"body over max_body", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n", []int{413}, ""},
				{"chunked body over max_body", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
					strings.Repeat(fmt.Sprintf("%x\r\n%s\r\n", 64<<10, strings.Repeat("b", 64<<10)), 17) + "0\r\n\r\n", []int{413}, "http1"},
				{"NUL in header", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", []int{400}, ""},
			}
			for _, c := range cases {
				if c.engine != "" && c.engine != engine {
					continue // net/http is laxer here; the http1 engine is the one in use
				}
				code, resp := rawRequest(t, addr, c.raw)
				ok := false
				for _, w := range c.want {
					ok = ok || code == w
				}
				if !ok {
					t.Errorf("%s: status %d, want %v\n%.200s", c.name, code, c.want, resp)
				}
				if good, body := rawRequest(t, addr, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); good != 200 || !strings.HasSuffix(body, "Hello, World!") {
					t.Fatalf("after %s: good request got %d", c.name, good)
				}
			}
			// Nothing malformed reached the app: it saw only the good requests.
			s := tp.Snapshot()
			if up := s.Upstreams[0].Servers[0]; up.Status.X4xx != 0 || up.Status.X5xx != 0 {
				t.Errorf("the app saw errors: %+v", up.Status)
			}
		})
	}
}

// A thousand clients that open a connection and trickle a request head
// (or send nothing) do not delay normal requests, and are cut off by
// read_header_timeout.
func TestSlowClients(t *testing.T) {
	dir := shortDir(t)
	writeFile(t, dir, "src/hello.py", helloApp)
	cfg := parseConfig(t, dir, `
run_dir = "{{DIR}}/run"
[proxy]
listen = ["127.0.0.1:0"]
access_log = "off"
read_header_timeout = "3s"
[[proxy.route]]
path = "/"
upstream = "hello"
[[app]]
name = "hello"
module = "hello:application"
chdir = "{{DIR}}/src"
`)
	h := newAppHarness(t, dir)
	h.start(t, cfg, "hello")
	tp := startProxy(t, dir, cfg, h.apps)
	addr := tp.addr()
	quiet := runLoad(t, tp.url("/"), 4, nil, 200)

	const slow = 1000
	conns := make([]net.Conn, 0, slow)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < slow; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("slow client %d: %v", i, err)
		}
		if i%2 == 0 {
			io.WriteString(c, "GET / HTTP/1.1\r\nHo") // half a head, then nothing
		}
		conns = append(conns, c)
	}
	time.Sleep(200 * time.Millisecond)
	if n := tp.Snapshot().Connections; n < slow {
		t.Fatalf("%d connections open, want at least %d", n, slow)
	}
	loaded := runLoad(t, tp.url("/"), 4, nil, 200)
	if loaded.failed() > 0 {
		t.Fatalf("failures with slow clients: %v", loaded.failures)
	}
	t.Logf("p99 quiet %s, with %d slow clients %s", quiet.quantile(0.99), slow, loaded.quantile(0.99))
	if p99 := loaded.quantile(0.99); p99 > max(5*quiet.quantile(0.99), 20*time.Millisecond) {
		t.Errorf("p99 %s with slow clients, %s without", p99, quiet.quantile(0.99))
	}
	// read_header_timeout: the slow clients are answered 408 or closed.
	time.Sleep(3500 * time.Millisecond)
	deadline := time.Now().Add(5 * time.Second)
	for tp.Snapshot().Connections > 10 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections still open after read_header_timeout", tp.Snapshot().Connections)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// max_connections: at the limit the proxy stops accepting (connections
// wait in the backlog, as with nginx's worker_connections) and takes the
// next one as soon as a slot frees.
func TestMaxConnections(t *testing.T) {
	addrs, _, _ := twoUWSGI(t)
	dir := shortDir(t)
	tp := startProxy(t, dir, parseConfig(t, dir, upstreamConfig(`"127.0.0.1:0"`, []string{"uwsgi://" + addrs[0]}, "proxy:max_connections = 3")), nil)
	var held []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", tp.addr())
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	time.Sleep(100 * time.Millisecond)
	got := make(chan int, 1)
	go func() {
		code, _ := rawRequest(t, tp.addr(), "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		got <- code
	}()
	select {
	case code := <-got:
		t.Fatalf("a 4th connection was served (%d) with max_connections = 3", code)
	case <-time.After(300 * time.Millisecond):
	}
	held[0].Close()
	select {
	case code := <-got:
		if code != 200 {
			t.Fatalf("queued connection: %d", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("queued connection not served after a slot freed")
	}
	for _, c := range held[1:] {
		c.Close()
	}
}

// Close finishes requests in flight, stops health checks and leaves no
// goroutine behind; the listeners are gone.
func TestCloseIsGraceful(t *testing.T) {
	tp, _, dir := laneStack(t, 2, "")
	c := newClient()
	addr := tp.addr()
	var wg sync.WaitGroup
	var slowStatus int
	var slowBody string
	wg.Add(1)
	go func() {
		defer wg.Done()
		resp, err := c.Get(tp.url("/slow/700"))
		if err != nil {
			t.Errorf("in-flight request: %v", err)
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		slowStatus, slowBody = resp.StatusCode, string(b)
	}()
	time.Sleep(200 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	t0 := time.Now()
	if err := tp.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()
	if slowStatus != 200 || slowBody != "Hello, World!" {
		t.Fatalf("request in flight at Close: %d %q", slowStatus, slowBody)
	}
	if took := time.Since(t0); took < 300*time.Millisecond {
		t.Fatalf("Close returned after %s, before the request in flight finished", took)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Fatal("listener still accepts after Close")
	}
	c.CloseIdleConnections()
	waitNoGoroutines(t)
	if err := tp.Apply(parseConfig(t, dir, `
run_dir = "{{DIR}}/run2"
[proxy]
listen = ["127.0.0.1:0"]
[[proxy.route]]
redirect = "/x"`)); err == nil {
		t.Fatal("Apply after Close succeeded")
	}
}

// Close with every kind of goroutine running (health checkers, an HTTP
// upstream's pooled connections, a WebSocket-style upgraded connection)
// leaves none.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	up := upgradeServer(t)
	addrs, _, _ := twoUWSGI(t)
	dir := shortDir(t)
	tp := startProxy(t, dir, parseConfig(t, dir, fmt.Sprintf(`
run_dir = "{{DIR}}/run"
[proxy]
listen = ["127.0.0.1:0", "unix:{{DIR}}/p.sock"]
[[proxy.route]]
path = "/ws"
upstream = "ws"
[[proxy.route]]
path = "/"
upstream = "u"
[[upstream]]
name = "ws"
servers = ["http://%s"]
[upstream.health]
path = "/"
interval = "20ms"
timeout = "15ms"
[[upstream]]
name = "u"
servers = ["uwsgi://%s", "uwsgi://%s"]
[upstream.health]
path = "/"
interval = "20ms"
timeout = "15ms"
`, up, addrs[0], addrs[1])), nil)
	c := newClient()
	for range 5 {
		get(t, c, "GET", tp.url("/"), nil, "")
		get(t, c, "GET", tp.url("/ws/plain"), nil, "")
	}
	ws := dialUpgrade(t, tp.addr())
	defer ws.Close()
	time.Sleep(100 * time.Millisecond)
	if len(proxyGoroutines()) == 0 {
		t.Fatal("no proxy goroutines seen while running: the check is blind")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	tp.Close(ctx) // the upgraded connection outlives ctx: Close cuts it
	c.CloseIdleConnections()
	waitNoGoroutines(t)
}

// upgradeServer is an HTTP server with one upgrading endpoint (a
// WebSocket-style echo after 101) and plain answers elsewhere.
func upgradeServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "echo" {
			fmt.Fprintf(w, "plain %s", r.URL.Path)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		brw.Flush()
		io.Copy(conn, brw) // echo until the client closes
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

// dialUpgrade opens an upgraded connection through the proxy and checks
// it echoes.
func dialUpgrade(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET /ws/echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 || resp.Header.Get("Upgrade") != "echo" {
		t.Fatalf("upgrade: %v %+v", err, resp)
	}
	for _, msg := range []string{"hello", "world"} {
		io.WriteString(c, msg)
		buf := make([]byte, len(msg))
		if _, err := io.ReadFull(br, buf); err != nil || string(buf) != msg {
			t.Fatalf("echo through the upgraded connection: %v %q", err, buf)
		}
	}
	c.SetDeadline(time.Time{})
	return c
}

func TestUpgradePassesThrough(t *testing.T) {
	up := upgradeServer(t)
	dir := shortDir(t)
	tp := startProxy(t, dir, parseConfig(t, dir, upstreamConfig(`"127.0.0.1:0"`, []string{"http://" + up}, "")), nil)
	c := dialUpgrade(t, tp.addr())
	c.Close()
	_, body := get(t, newClient(), "GET", tp.url("/plain"), nil, "")
	if body != "plain /plain" {
		t.Fatalf("plain request: %q", body)
	}
}
