package http1

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The corpus: each request is written raw on a fresh connection and must be
// answered with its status, Connection: close, and the connection closed;
// the server must go on serving.
var malformed = []struct {
	name string
	req  string
	code int
}{
	// Request line.
	{"double space", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"trailing space", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400},
	{"no version", "GET /\r\nHost: a\r\n\r\n", 400},
	{"lowercase version", "GET / http/1.1\r\nHost: a\r\n\r\n", 400},
	{"short version", "GET / HTTP/1\r\nHost: a\r\n\r\n", 400},
	{"long minor", "GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400},
	{"bad method char", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"DEL in target", "GET /a\x7fb HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"tab in target", "GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"relative target", "GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"asterisk not OPTIONS", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"bad absolute form", "GET http://[::1/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"bare CR in request line", "GET / HTTP/1.1\rHost: a\r\n\r\n", 400},
	{"HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
	{"HTTP/0.9", "GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505},
	{"HTTP/3.0", "GET / HTTP/3.0\r\nHost: a\r\n\r\n", 505},
	{"h2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505},
	{"TLS client hello", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage", 400},
	{"binary garbage", "\x00\x01\x02\x03\xff\xfe\r\n\r\n", 400},
	{"words", "hello world\n\n", 400},

	// Field syntax.
	{"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400},
	{"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", 400},
	{"leading whitespace line", "GET / HTTP/1.1\r\n X: a\r\nHost: a\r\n\r\n", 400},
	{"space in name", "GET / HTTP/1.1\r\nHost: a\r\nX A: b\r\n\r\n", 400},
	{"empty name", "GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", 400},
	{"no colon", "GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400},
	{"NUL in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n", 400},
	{"NUL in name", "GET / HTTP/1.1\r\nHost: a\r\nX\x00: b\r\n\r\n", 400},
	{"bare CR in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400},
	{"CTL in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n", 400},
	{"DEL in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n", 400},

	// Host.
	{"no Host in 1.1", "GET / HTTP/1.1\r\nX: a\r\n\r\n", 400},
	{"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
	{"Host with space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
	{"Host with slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400},
	{"two Hosts in 1.0", "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400},

	// Framing (request smuggling).
	{"CL and TE", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
	{"TE and CL", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400},
	{"differing CLs", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400},
	{"CL list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello", 400},
	{"negative CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400},
	{"signed CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello", 400},
	{"empty CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", 400},
	{"hex CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\nhello", 400},
	{"huge CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", 400},
	{"TE gzip", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
	{"TE gzip, chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501},
	{"TE identity", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", 501},
	{"TE chunkedx", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunkedx\r\n\r\n", 501},
	{"TE chunked not last", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400},
	{"TE chunked twice", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
	{"TE empty", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n", 400},
	{"TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},

	// Chunked bodies (the handler reads the body).
	{"chunk size not hex", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", 400},
	{"chunk size overflow", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff1\r\nhello\r\n0\r\n\r\n", 400},
	{"negative chunk size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n", 400},
	{"empty chunk size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\r\nhello\r\n0\r\n\r\n", 400},
	{"space before chunk size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n", 400},
	{"chunk data too long", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n0\r\n\r\n", 400},
	{"bare LF after chunk size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", 400},
	{"bare LF after chunk data", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n", 400},
	{"CTL in chunk ext", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\x01\r\nhello\r\n0\r\n\r\n", 400},
	{"junk after chunk size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5 x\r\nhello\r\n0\r\n\r\n", 400},
	{"bad trailer", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nBad Trailer\r\n\r\n", 400},
	{"chunked cut short", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", 400},
	{"CL body cut short", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nhel", 400},

	// Limits (MaxHeaderBytes 8 KiB, MaxHeaders 20, MaxBodyBytes 1000 here).
	{"header too large", "GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("a", 10<<10) + "\r\n\r\n", 431},
	{"unterminated head too large", "GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("a", 10<<10), 431},
	{"request line too long", "GET /" + strings.Repeat("a", 10<<10) + " HTTP/1.1\r\nHost: a\r\n\r\n", 414},
	{"too many headers", "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X: a\r\n", 21) + "\r\n", 431},
	{"body over limit (CL)", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2000\r\n\r\n" + strings.Repeat("a", 2000), 413},
	{"body over limit (chunked)", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n7d0\r\n" + strings.Repeat("a", 2000) + "\r\n0\r\n\r\n", 413},
	{"body over limit (100-continue)", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2000\r\nExpect: 100-continue\r\n\r\n", 413},

	// Expectations.
	{"unknown expectation", "GET / HTTP/1.1\r\nHost: a\r\nExpect: teapot\r\n\r\n", 417},
}

func TestMalformedRequests(t *testing.T) {
	s := &Server{MaxHeaderBytes: 8 << 10, MaxHeaders: 20, MaxBodyBytes: 1000, ReadHeaderTimeout: 2 * time.Second}
	ts := start(t, s, http.HandlerFunc(echoHandler))
	for _, tc := range malformed {
		t.Run(tc.name, func(t *testing.T) {
			c := ts.dial(t)
			c.SetDeadline(time.Now().Add(5 * time.Second))
			writeAndHalfClose(c, tc.req) // may fail once the server closes: fine
			raw, err := io.ReadAll(c)
			if err != nil {
				t.Fatalf("connection not closed by the server: %v (got %q)", err, raw)
			}
			resp, body := parseRaw(t, string(raw), "GET")
			if resp.StatusCode != tc.code {
				t.Fatalf("status %d, want %d; body %q", resp.StatusCode, tc.code, body)
			}
			if !resp.Close {
				t.Errorf("response without Connection: close: %q", raw)
			}
			// The server goes on serving, on a new connection.
			good := ts.rawExchange(t, "GET /ok HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 5*time.Second)
			if resp, _ := parseRaw(t, good, "GET"); resp.StatusCode != 200 {
				t.Fatalf("good request after %q: %q", tc.name, good)
			}
		})
	}
	if strings.Contains(ts.logs.String(), "panic") {
		t.Errorf("server log: %s", ts.logs)
	}
}

// The grammar RFC 9112 lets a server accept: bare LF line ends, leading
// empty lines, a higher HTTP/1.x minor, lowercase field names, identical
// duplicate Content-Lengths, chunk extensions and trailers.
func TestLenientButSafe(t *testing.T) {
	ts := start(t, nil, http.HandlerFunc(echoHandler))
	cases := []struct{ name, req, want string }{
		{"bare LF", "GET /a HTTP/1.1\nHost: x\n\n", "GET /a HTTP/1.1 host=x"},
		{"mixed line ends", "GET /a HTTP/1.1\r\nHost: x\n\r\n", "GET /a HTTP/1.1 host=x"},
		{"leading empty lines", "\r\n\r\nGET /a HTTP/1.1\r\nHost: x\r\n\r\n", "GET /a HTTP/1.1 host=x"},
		{"HTTP/1.2", "GET /a HTTP/1.2\r\nHost: x\r\n\r\n", "GET /a HTTP/1.2 host=x"},
		{"lowercase names", "GET /a HTTP/1.1\r\nhost: x\r\n\r\n", "GET /a HTTP/1.1 host=x"},
		{"duplicate equal CL", "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nhi", `cl=2 te=[] close=false uri=/a body="hi"`},
		{"chunk ext and trailer", "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n2;name=val\r\nhi\r\n1 ; x\r\n!\r\n0\r\nX-T: 1\r\n\r\n", `te=[chunked] close=false uri=/a body="hi!"`},
		{"HTTP/1.0 without Host", "GET /a HTTP/1.0\r\n\r\n", "GET /a HTTP/1.0 host= cl=0 te=[] close=true"},
		{"absolute form", "GET http://example.com/p?q=1 HTTP/1.1\r\nHost: other\r\n\r\n", "GET http://example.com/p?q=1 HTTP/1.1 host=example.com"},
		{"OPTIONS * (answered by the server, as net/http)", "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", ""},
		{"obs-text value", "GET /a HTTP/1.1\r\nHost: x\r\nX: caf\xe9\r\n\r\n", "GET /a HTTP/1.1 host=x"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := ts.dial(t)
			c.SetDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(c, tc.req)
			resp, body := readResponse(t, newReader(c), "GET")
			if resp.StatusCode != 200 || !strings.Contains(body, tc.want) {
				t.Fatalf("got %d %q, want 200 containing %q", resp.StatusCode, body, tc.want)
			}
		})
	}
}

func TestMalformedCorpusCoversStatuses(t *testing.T) {
	seen := map[int]bool{}
	for _, tc := range malformed {
		seen[tc.code] = true
	}
	for _, code := range []int{400, 413, 414, 417, 431, 501, 505} {
		if !seen[code] {
			t.Errorf("no corpus entry for %d", code)
		}
	}
	_ = fmt.Sprint
}
