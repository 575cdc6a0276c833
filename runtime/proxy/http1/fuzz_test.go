package http1

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

var fuzzSeeds = []string{
	"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET /a?b HTTP/1.0\r\n\r\n",
	"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
	"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n",
	"POST /p HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx",
	"GET http://h:1/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
	"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n",
	"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
	"HEAD /big HTTP/1.1\r\nHost: a\r\n\r\nGET /flush HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET /hijack HTTP/1.1\r\nHost: a\r\n\r\nleftover",
	"GET / HTTP/1.1\nHost: a\n\n",
	"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\n x\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
}

// FuzzParseHead: the head parser never panics, and what it accepts
// satisfies the invariants the rest of the engine relies on.
func FuzzParseHead(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		hdr := http.Header{}
		var vals []string
		var h reqHead
		if e := parseHead(string(data), &h, hdr, &vals, 100); e != nil {
			if e.code < 400 || e.code > 599 {
				t.Fatalf("status %d", e.code)
			}
			return
		}
		if h.method == "" || h.target == "" || h.major != 1 {
			t.Fatalf("accepted %+v", h)
		}
		if h.chunked && h.contentLength >= 0 {
			t.Fatal("accepted both framings")
		}
		if h.minor >= 1 && h.hosts != 1 {
			t.Fatal("accepted HTTP/1.1 without exactly one Host")
		}
		for k, vv := range hdr {
			if k != http.CanonicalHeaderKey(k) {
				t.Fatalf("key %q not canonical", k)
			}
			for _, v := range vv {
				if strings.ContainsAny(v, "\r\n\x00") || v != strings.Trim(v, " \t") {
					t.Fatalf("value %q", v)
				}
			}
		}
		var u url.URL
		parseURL(h.method, h.target, &u)
	})
}

// FuzzServeConn runs whole connections — head scanning, parsing, bodies,
// responses, pipelining, hijacking — over an in-memory conn. The engine
// must never panic, and must close the connection.
func FuzzServeConn(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	s, closed := newMemServer()
	f.Fuzz(func(t *testing.T, data []byte) {
		serveMem(t, s, closed, data)
	})
}

// newMemServer is the server FuzzServeConn drives; closed receives when a
// connection ends.
func newMemServer() (*Server, chan struct{}) {
	closed := make(chan struct{}, 1)
	s := &Server{
		MaxHeaderBytes: 2048,
		MaxHeaders:     20,
		MaxBodyBytes:   4096,
		ErrorLog:       func(string, ...any) {},
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateClosed || st == http.StateHijacked {
				closed <- struct{}{}
			}
		},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			switch {
			case strings.Contains(r.URL.Path, "big"):
				w.Write(make([]byte, 20000))
			case strings.Contains(r.URL.Path, "flush"):
				io.WriteString(w, "a")
				w.(http.Flusher).Flush()
				io.WriteString(w, "b")
			case strings.Contains(r.URL.Path, "hijack"):
				c, brw, err := w.(http.Hijacker).Hijack()
				if err == nil {
					io.Copy(io.Discard, brw)
					c.Close()
				}
			case strings.Contains(r.URL.Path, "panic"):
				panic("fuzz")
			default:
				io.WriteString(w, r.URL.String())
			}
		}),
	}
	s.init()
	return s, closed
}

func serveMem(t testing.TB, s *Server, closed chan struct{}, data []byte) {
	mc := &memConn{r: bytes.NewReader(data)}
	s.accept(mc)
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatalf("connection not closed for input %q", data)
	}
}

// memConn is a net.Conn whose input is fixed and whose output is dropped.
type memConn struct {
	r *bytes.Reader
	n int
}

func (c *memConn) Read(p []byte) (int, error)         { return c.r.Read(p) }
func (c *memConn) Write(p []byte) (int, error)        { c.n += len(p); return len(p), nil }
func (c *memConn) Close() error                       { return nil }
func (c *memConn) LocalAddr() net.Addr                { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80} }
func (c *memConn) RemoteAddr() net.Addr               { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1234} }
func (c *memConn) SetDeadline(t time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(t time.Time) error { return nil }
