package http1

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"testing"
	"time"
)

// serveRaw starts s on a loopback listener without test cleanup, for tests
// that stop the server themselves.
func serveRaw(t *testing.T, s *Server) (string, chan error) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(l) }()
	return l.Addr().String(), errc
}

func dialRaw(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

func TestShutdownWaitsForInFlight(t *testing.T) {
	base := runtime.NumGoroutine()
	entered := make(chan struct{})
	release := make(chan struct{})
	s := &Server{IdleTimeout: time.Minute, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(entered)
			<-release
		}
		io.WriteString(w, "done")
	})}
	addr, errc := serveRaw(t, s)

	// An idle kept-alive connection, a parked one, a fresh one that has sent
	// nothing, and one in flight.
	idle := dialRaw(t, addr)
	defer idle.Close()
	io.WriteString(idle, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	idleR := bufio.NewReader(idle)
	readResponse(t, idleR, "GET")
	parked := dialRaw(t, addr)
	defer parked.Close()
	io.WriteString(parked, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	parkedR := bufio.NewReader(parked)
	readResponse(t, parkedR, "GET")
	if s.poller != nil {
		waitFor(t, "a parked connection", 5*time.Second, func() bool { return s.Stats().Parked == 2 })
		// Make one of them busy-idle again.
		io.WriteString(idle, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
		readResponse(t, idleR, "GET")
	}
	fresh := dialRaw(t, addr)
	defer fresh.Close()
	busy := dialRaw(t, addr)
	defer busy.Close()
	io.WriteString(busy, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
	<-entered

	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	for name, c := range map[string]net.Conn{"idle": idle, "parked": parked, "fresh": fresh} {
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		var err error
		if name == "idle" {
			_, err = idleR.ReadByte()
		} else if name == "parked" {
			_, err = parkedR.ReadByte()
		} else {
			_, err = c.Read(make([]byte, 1))
		}
		if err != io.EOF {
			t.Errorf("%s connection: %v, want EOF from Shutdown", name, err)
		}
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Error("still accepting after Shutdown")
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a request in flight", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	resp, body := readResponse(t, bufio.NewReader(busy), "GET")
	if body != "done" || !resp.Close {
		t.Errorf("in-flight response: %q close=%v", body, resp.Close)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		t.Fatalf("Serve: %v", err)
	}
	idle.Close()
	parked.Close()
	fresh.Close()
	busy.Close()
	checkNoLeak(t, base)
}

func TestShutdownDeadlineThenClose(t *testing.T) {
	base := runtime.NumGoroutine()
	entered := make(chan struct{})
	release := make(chan struct{})
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
	})}
	addr, errc := serveRaw(t, s)
	c := dialRaw(t, addr)
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); err != context.DeadlineExceeded {
		t.Fatalf("Shutdown: %v, want deadline exceeded", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(c); err != nil {
		t.Fatalf("Close left the connection open: %v", err)
	}
	close(release)
	<-errc
	c.Close()
	checkNoLeak(t, base)
}

// Close from every state a connection can be in leaves nothing behind.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	base := runtime.NumGoroutine()
	release := make(chan struct{})
	s := &Server{IdleTimeout: time.Minute, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/block" {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		if r.URL.Path == "/watch" {
			<-r.Context().Done() // armed in the poller
			return
		}
		io.WriteString(w, "ok")
	})}
	addr, errc := serveRaw(t, s)
	var conns []net.Conn
	dial := func(req string, wantResp bool) {
		c := dialRaw(t, addr)
		conns = append(conns, c)
		io.WriteString(c, req)
		if wantResp {
			readResponse(t, bufio.NewReader(c), "GET")
		}
	}
	for i := 0; i < 5; i++ {
		dial("GET / HTTP/1.1\r\nHost: a\r\n\r\n", true)    // idle
		dial("", false)                                    // fresh
		dial("GET / HTTP/1.1\r\nHost: a\r\nX-Part", false) // mid-head
		dial("GET /block HTTP/1.1\r\nHost: a\r\n\r\n", false)
		dial("GET /watch HTTP/1.1\r\nHost: a\r\n\r\n", false)
		dial("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nab", false) // mid-body
	}
	if s.poller != nil {
		waitFor(t, "parked connections", 5*time.Second, func() bool { return s.Stats().Parked == 5 })
	}
	// /block, /watch, and the POSTs whose unread body the engine waits for.
	waitFor(t, "active requests", 5*time.Second, func() bool { return s.Stats().Active == 15 })
	s.Close()
	close(release)
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		t.Fatalf("Serve: %v", err)
	}
	for _, c := range conns {
		c.Close()
	}
	checkNoLeak(t, base)
	if st := s.Stats(); st.Conns != 0 || st.Parked != 0 || st.Active != 0 {
		t.Errorf("stats after Close: %+v", st)
	}
}

func TestServeAfterShutdown(t *testing.T) {
	s := &Server{}
	s.Shutdown(context.Background())
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
	if _, err := net.Dial("tcp", l.Addr().String()); err == nil {
		t.Fatal("listener left open")
	}
}
