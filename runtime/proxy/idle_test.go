package proxy

import (
	"net"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Idle keep-alive connections cost neither a goroutine nor buffers: the
// http1 engine parks them in epoll, and the proxy's own accept path must
// not defeat that.
func TestIdleConnectionsAreCheap(t *testing.T) {
	if useNetHTTP {
		t.Skip("net/http keeps a goroutine per connection")
	}
	dir := shortDir(t)
	writeFile(t, dir, "public/a.txt", "Hello, World!")
	tp := startProxy(t, dir, parseConfig(t, dir, `
run_dir = "{{DIR}}/run"
[proxy]
listen = ["127.0.0.1:0"]
access_log = "off"
[[proxy.route]]
path = "/"
redirect = "/elsewhere"
`), nil)
	const n = 2000
	// Client sockets by raw syscalls, so that the Go heap measured below
	// is the server's alone.
	ta, err := net.ResolveTCPAddr("tcp", tp.addr())
	if err != nil {
		t.Fatal(err)
	}
	sa := &syscall.SockaddrInet4{Port: ta.Port}
	copy(sa.Addr[:], ta.IP.To4())
	var fds []int
	defer func() {
		for _, fd := range fds {
			syscall.Close(fd)
		}
	}()
	runtime.GC()
	debug.FreeOSMemory()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	g0 := runtime.NumGoroutine()
	buf := make([]byte, 4096)
	for i := 0; i < n; i++ {
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		fds = append(fds, fd)
		if err := syscall.Connect(fd, sa); err != nil {
			t.Fatal(err)
		}
		syscall.Write(fd, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
		syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &syscall.Timeval{Sec: 5})
		if m, err := syscall.Read(fd, buf); err != nil || m == 0 || !strings.HasPrefix(string(buf[:m]), "HTTP/1.1 302") {
			t.Fatalf("request %d: %v %q", i, err, buf[:max(m, 0)])
		}
	}
	// The engine parks a connection after a short busy period.
	time.Sleep(1500 * time.Millisecond)
	// Two collections: buffers the engine pooled during the busy period
	// are dropped from sync.Pool only by the second.
	runtime.GC()
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	g1 := runtime.NumGoroutine()
	perConn := float64(int64(after.HeapInuse+after.StackInuse)-int64(before.HeapInuse+before.StackInuse)) / n
	t.Logf("%d idle connections: %d goroutines more, Go heap+stack %.0f B per connection", n, g1-g0, perConn)
	if perConn > 2048 {
		t.Errorf("%.0f B of Go memory per idle connection, want under 2 KiB", perConn)
	}
	if g1-g0 > n/10 {
		t.Errorf("%d goroutines for %d idle connections: connections are not parked", g1-g0, n)
	}
}
