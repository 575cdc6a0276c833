package http1

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestIdleConnMemory opens HTTP1_MEMTEST (e.g. 10000) keep-alive
// connections, one request each, lets them go idle and reports what the
// server holds per idle connection: Go heap and stacks in use, and the
// process RSS. The clients run in a child process (this test binary
// again) on raw sockets, so the deltas are the server's alone and the
// file limit is not shared. Two modes: parked in the poller (the default
// on Linux) and a goroutine per idle connection (the fallback).
//
//	HTTP1_MEMTEST=10000 go test -run IdleConnMemory -v ./runtime/proxy/http1/
func TestIdleConnMemory(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("HTTP1_MEMTEST"))
	if n <= 0 {
		t.Skip("set HTTP1_MEMTEST=<connections> to measure")
	}
	if addr := os.Getenv("HTTP1_MEMCLIENT"); addr != "" {
		memClient(t, addr, n)
		return
	}
	raiseFileLimit(t, uint64(n+1024))
	for _, mode := range []string{"parked", "goroutine"} {
		t.Run(mode, func(t *testing.T) {
			perConn := measureIdle(t, n, mode == "goroutine")
			// The fallback (no poller: other platforms, conns that are no
			// syscall.Conn) is reported, not held to the target.
			if mode == "parked" && perConn > 4096 && !raceEnabled {
				t.Errorf("%.0f bytes per idle connection, target <= 4096", perConn)
			}
		})
	}
}

func measureIdle(t *testing.T, n int, noPoller bool) float64 {
	s := &Server{IdleTimeout: time.Hour}
	s.noPoller = noPoller
	ts := start(t, s, http.HandlerFunc(helloHandler))
	// Warm up the pools and the runtime with one round trip.
	ts.rawExchange(t, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 5*time.Second)
	heap0, stack0, rss0 := memNow()

	cmd := exec.Command(os.Args[0], "-test.run=^TestIdleConnMemory$", "-test.v")
	cmd.Env = append(os.Environ(), "HTTP1_MEMCLIENT="+ts.addr)
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	out := bufio.NewScanner(stdout)
	expect := func(word string) {
		for out.Scan() {
			if out.Text() == word {
				return
			}
		}
		t.Fatalf("client did not say %q", word)
	}
	expect("ready")
	// Idle long enough to leave the busy period: buffers returned, and
	// with the poller, goroutines gone.
	if noPoller {
		waitFor(t, "all connections open", 30*time.Second, func() bool { return ts.Stats().Conns == n })
		time.Sleep(2 * time.Second)
	} else {
		waitFor(t, "all connections parked", 30*time.Second, func() bool { return ts.Stats().Parked == n })
	}
	heap1, stack1, rss1 := memNow()
	if path := os.Getenv("HTTP1_MEMPROF"); path != "" {
		// go test -memprofilerate 1 for an exact profile.
		if f, err := os.Create(path + "." + strconv.FormatBool(noPoller)); err == nil {
			pprof.WriteHeapProfile(f)
			f.Close()
		}
	}
	st := ts.Stats()
	heapPer := float64(int64(heap1+stack1)-int64(heap0+stack0)) / float64(n)
	rssPer := float64(int64(rss1)-int64(rss0)) / float64(n)
	t.Logf("%d idle connections (%d parked, %d goroutines): heap+stack %.0f B/conn (heap %.0f, stack %.0f), RSS %.0f B/conn",
		n, st.Parked, runtime.NumGoroutine(), heapPer,
		float64(int64(heap1)-int64(heap0))/float64(n), float64(int64(stack1)-int64(stack0))/float64(n), rssPer)
	// They still work.
	io.WriteString(stdin, "check\n")
	expect("ok")
	return max(heapPer, rssPer)
}

// memClient is the child: n connections, a request each, then idle until
// told to check a sample of them or to exit.
func memClient(t *testing.T, addr string, n int) {
	raiseFileLimit(t, uint64(n+64))
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	sa := &syscall.SockaddrInet4{Port: p}
	copy(sa.Addr[:], net.ParseIP(host).To4())
	req := []byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	buf := make([]byte, 512)
	fds := make([]int, 0, n)
	for i := 0; i < n; i++ {
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatalf("socket %d: %v", i, err)
		}
		fds = append(fds, fd)
		if err := syscall.Connect(fd, sa); err != nil {
			t.Fatalf("connect %d: %v", i, err)
		}
		if err := roundTrip(fd, req, buf); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		for i := 0; i < n; i += max(1, n/100) {
			if err := roundTrip(fds[i], req, buf); err != nil {
				t.Fatalf("idle connection %d: %v", i, err)
			}
		}
		fmt.Println("ok")
	}
	for _, fd := range fds {
		syscall.Close(fd)
	}
}

// roundTrip sends req on a blocking socket and reads one 13-byte-body
// response.
func roundTrip(fd int, req, buf []byte) error {
	if _, err := syscall.Write(fd, req); err != nil {
		return err
	}
	got := 0
	for {
		m, err := syscall.Read(fd, buf[got:])
		if err != nil {
			return err
		}
		if m == 0 {
			return syscall.ECONNRESET
		}
		got += m
		if i := bytes.Index(buf[:got], []byte("\r\n\r\n")); i >= 0 && got >= i+4+13 {
			return nil
		}
	}
}

// memNow returns heap and stack in use after a full GC, and the RSS.
func memNow() (heap, stack, rss uint64) {
	runtime.GC()
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b, _ := os.ReadFile("/proc/self/statm")
	if f := strings.Fields(string(b)); len(f) > 1 {
		pages, _ := strconv.ParseUint(f[1], 10, 64)
		rss = pages * uint64(os.Getpagesize())
	}
	return ms.HeapInuse, ms.StackInuse, rss
}
