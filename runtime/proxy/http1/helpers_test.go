package http1

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// testServer is a Server on a loopback port for one test.
type testServer struct {
	*Server
	addr string
	errc chan error
	logs *logBuf
}

type logBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuf) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(&l.b, format+"\n", args...)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// start serves h with s's settings (s may be nil) and shuts the server
// down when the test ends.
func start(t testing.TB, s *Server, h http.Handler) *testServer {
	t.Helper()
	if s == nil {
		s = &Server{}
	}
	s.Handler = h
	logs := &logBuf{}
	if s.ErrorLog == nil {
		s.ErrorLog = logs.logf
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: s, addr: l.Addr().String(), errc: make(chan error, 1), logs: logs}
	go func() { ts.errc <- s.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		if err := <-ts.errc; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
	})
	return ts
}

func (ts *testServer) url(path string) string { return "http://" + ts.addr + path }

func (ts *testServer) dial(t testing.TB) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// rawExchange writes req on a new connection and returns everything the
// server sends until it closes (or the timeout).
func (ts *testServer) rawExchange(t testing.TB, req string, timeout time.Duration) string {
	t.Helper()
	c := ts.dial(t)
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(c)
	return string(b)
}

// readResponse reads one response from br for a request with method.
func readResponse(t testing.TB, br *bufio.Reader, method string) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	resp.Body.Close()
	return resp, string(b)
}

// parseRaw parses the first response in raw.
func parseRaw(t testing.TB, raw, method string) (*http.Response, string) {
	t.Helper()
	if raw == "" {
		t.Fatalf("no response")
	}
	return readResponse(t, bufio.NewReader(strings.NewReader(raw)), method)
}

// checkNoLeak waits for the goroutine count to come back to base.
func checkNoLeak(t testing.TB, base int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= base {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines left, want <= %d:\n%s", n, base, buf)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// echoHandler reports what it saw; the body is read fully.
func echoHandler(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return // the engine answers 413
		}
		http.Error(w, "body: "+err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	fmt.Fprintf(w, "%s %s %s host=%s cl=%d te=%v close=%v uri=%s body=%q", r.Method, r.URL.String(), r.Proto,
		r.Host, r.ContentLength, r.TransferEncoding, r.Close, r.RequestURI, body)
}

func helloHandler(w http.ResponseWriter, r *http.Request) {
	w.Write([]byte("Hello, World!"))
}

var _ = bytes.MinRead

func newReader(r io.Reader) *bufio.Reader { return bufio.NewReader(r) }

// writeAndHalfClose sends req and shuts the write side, so a server
// waiting for more sees EOF.
func writeAndHalfClose(c net.Conn, req string) {
	io.WriteString(c, req)
	c.(*net.TCPConn).CloseWrite()
}
