package http1

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"
)

// raiseFileLimit lifts RLIMIT_NOFILE to at least n (the hard limit too,
// when running as root).
func raiseFileLimit(t testing.TB, n uint64) {
	t.Helper()
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	if rl.Cur >= n {
		return
	}
	rl.Cur = n
	if rl.Max < n {
		rl.Max = n
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Skipf("cannot raise RLIMIT_NOFILE to %d: %v", n, err)
	}
}

// A thousand clients holding connections open — half dribbling a header a
// byte at a time, half silent — must not delay a normal client, and must
// be cut off after ReadHeaderTimeout.
func TestSlowloris(t *testing.T) {
	const slow = 1000
	const rht = time.Second
	raiseFileLimit(t, 4*slow+256)
	ts := start(t, &Server{ReadHeaderTimeout: rht}, http.HandlerFunc(helloHandler))

	conns := make([]net.Conn, 0, slow)
	for i := 0; i < slow; i++ {
		c, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	opened := time.Now()
	stop := make(chan struct{})
	dribbled := make(chan struct{})
	go func() {
		defer close(dribbled)
		head := []byte("GET / HTTP/1.1\r\nHost: a\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
		for i := 0; ; i++ {
			for j, c := range conns {
				if j%2 == 0 && i < len(head) {
					c.Write(head[i : i+1])
				}
			}
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()

	// The normal client: fresh connections and a kept-alive one.
	keep, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer keep.Close()
	br := bufio.NewReader(keep)
	var worst time.Duration
	for i := 0; time.Since(opened) < rht/2; i++ {
		t0 := time.Now()
		raw := ts.rawExchange(t, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 5*time.Second)
		if resp, body := parseRaw(t, raw, "GET"); resp.StatusCode != 200 || body != "Hello, World!" {
			t.Fatalf("normal request %d: %q", i, raw)
		}
		keep.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(keep, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
		if resp, _ := readResponse(t, br, "GET"); resp.StatusCode != 200 {
			t.Fatalf("kept-alive request %d: %d", i, resp.StatusCode)
		}
		worst = max(worst, time.Since(t0))
	}
	if worst > time.Second {
		t.Errorf("slowest normal request pair took %v with %d slow clients", worst, slow)
	}
	t.Logf("slowest normal request pair: %v", worst)

	// Every slow connection is closed by the server after the timeout.
	for i, c := range conns {
		c.SetReadDeadline(opened.Add(rht + 3*time.Second))
		if n, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
			t.Fatalf("slow connection %d not closed after ReadHeaderTimeout: n=%d err=%v", i, n, err)
		}
	}
	elapsed := time.Since(opened)
	close(stop)
	<-dribbled
	if elapsed < rht-200*time.Millisecond {
		t.Errorf("slow connections closed after %v, before ReadHeaderTimeout %v", elapsed, rht)
	}
	if st := ts.Stats(); st.Timeouts < slow {
		t.Errorf("stats %+v, want >= %d timeouts", st, slow)
	}
	// The kept-alive client was active all along and is still served.
	keep.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(keep, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	if resp, _ := readResponse(t, br, "GET"); resp.StatusCode != 200 {
		t.Fatalf("kept-alive request after the flood: %d", resp.StatusCode)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// A body sent a byte at a time is cut off by ReadTimeout (per read
// progress), and one that stops is cut off too.
func TestSlowBody(t *testing.T) {
	got := make(chan error, 1)
	ts := start(t, &Server{ReadTimeout: 300 * time.Millisecond}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		got <- err
	}))
	c := ts.dial(t)
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc")
	select {
	case err := <-got:
		if !isTimeout(err) {
			t.Fatalf("body read error %v, want a timeout", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("stalled body not cut off")
	}
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.ReadAll(c); err != nil {
		t.Fatalf("connection not closed: %v", err)
	}
}
