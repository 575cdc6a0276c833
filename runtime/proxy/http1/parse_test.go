package http1

import (
	"math/rand"
	"net/http"
	"net/textproto"
	"net/url"
	"reflect"
	"testing"
)

func TestParseHead(t *testing.T) {
	hdr := http.Header{}
	var vals []string
	var h reqHead
	block := "POST /p?q HTTP/1.1\r\nhost: example.com\r\nX-Dup: 1\r\nx-dup: 2\r\nContent-Length: 3\r\n" +
		"Connection: Keep-Alive, Upgrade\r\nEXPECT: 100-continue\r\nX-Empty:\r\nX-Pad: \t v \t\r\n\r\n"
	if e := parseHead(block, &h, hdr, &vals, 100); e != nil {
		t.Fatal(e)
	}
	if h.method != "POST" || h.target != "/p?q" || h.proto != "HTTP/1.1" || h.minor != 1 || h.host != "example.com" ||
		h.contentLength != 3 || !h.connKeepAlive || h.connClose || h.expect != "100-continue" {
		t.Fatalf("%+v", h)
	}
	want := http.Header{
		"X-Dup": {"1", "2"}, "Content-Length": {"3"}, "Connection": {"Keep-Alive, Upgrade"},
		"Expect": {"100-continue"}, "X-Empty": {""}, "X-Pad": {"v"},
	}
	if !reflect.DeepEqual(hdr, want) {
		t.Fatalf("header %v, want %v", hdr, want)
	}
	// A value slice handed out is capped: appending to it cannot clobber
	// its neighbour in the shared storage.
	x := append(hdr["Content-Length"], "evil")
	if hdr["Connection"][0] != "Keep-Alive, Upgrade" || len(x) != 2 {
		t.Fatal("value storage shared")
	}
}

func TestCanonicalKey(t *testing.T) {
	for _, k := range []string{"host", "HOST", "Host", "x-forwarded-for", "X-FORWARDED-FOR", "content-length",
		"a", "A-b-C", "x--y", "-x", "x-", "sec-websocket-key", "X-Very-Long-Header-Name-That-Goes-On-And-On-Beyond-Sixty-Four-Bytes"} {
		if got, want := canonicalKey(k), textproto.CanonicalMIMEHeaderKey(k); got != want {
			t.Errorf("canonicalKey(%q) = %q, want %q", k, got, want)
		}
	}
}

func TestParseChunkSize(t *testing.T) {
	for _, tc := range []struct {
		line string
		n    int64
		ok   bool
	}{
		{"0", 0, true}, {"a", 10, true}, {"FF", 255, true}, {"1;ext", 1, true}, {"1 ;ext=v", 1, true},
		{"7fffffffffffffff", 0, false}, {"fffffffffffffff", 1<<60 - 1, true}, {"", 0, false}, {" 1", 0, false},
		{"1x", 0, false}, {"-1", 0, false}, {"+1", 0, false}, {"1;\x00", 0, false}, {"0x10", 0, false},
	} {
		n, ok := parseChunkSize([]byte(tc.line))
		if n != tc.n || ok != tc.ok {
			t.Errorf("parseChunkSize(%q) = %d, %v; want %d, %v", tc.line, n, ok, tc.n, tc.ok)
		}
	}
}

func TestParseContentLength(t *testing.T) {
	for _, tc := range []struct {
		s  string
		n  int64
		ok bool
	}{
		{"0", 0, true}, {"123", 123, true}, {"999999999999999999", 999999999999999999, true},
		{"9999999999999999999", 0, false}, {"", 0, false}, {"-1", 0, false}, {"1 ", 0, false}, {"0x1", 0, false},
	} {
		n, ok := parseContentLength(tc.s)
		if n != tc.n || ok != tc.ok {
			t.Errorf("parseContentLength(%q) = %d, %v", tc.s, n, ok)
		}
	}
}

// The origin-form fast path must give exactly what url.ParseRequestURI
// gives (net/http's parse) for every target it accepts.
func TestParseURLMatchesNetURL(t *testing.T) {
	alphabet := "/?=&+%;:@$,-_.~!*'()[]aZ09 #"
	rng := rand.New(rand.NewSource(1))
	targets := []string{"/", "/?", "//", "/a?", "/a?b?c", "/%41", "/a%2Fb", "/!", "/a b", "/~x"}
	for i := 0; i < 20000; i++ {
		b := []byte{'/'}
		for j := rng.Intn(12); j > 0; j-- {
			b = append(b, alphabet[rng.Intn(len(alphabet))])
		}
		targets = append(targets, string(b))
	}
	for _, target := range targets {
		var got url.URL
		err := parseURL("GET", target, &got)
		want, werr := url.ParseRequestURI(target)
		if (err == nil) != (werr == nil) {
			t.Fatalf("%q: error %v, net/url %v", target, err, werr)
		}
		if err == nil && !reflect.DeepEqual(&got, want) {
			t.Fatalf("%q: got %#v, want %#v", target, got, *want)
		}
	}
}

func BenchmarkParseHead(b *testing.B) {
	block := "GET /index.html?x=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n" +
		"Accept: text/html,application/xhtml+xml\r\nAccept-Encoding: gzip, deflate, br\r\nAccept-Language: en-US,en;q=0.9\r\n" +
		"Connection: keep-alive\r\nCookie: session=abcdef0123456789\r\n\r\n"
	hdr := make(http.Header, 8)
	vals := make([]string, 0, 16)
	var h reqHead
	var u url.URL
	b.ReportAllocs()
	b.SetBytes(int64(len(block)))
	for i := 0; i < b.N; i++ {
		clear(hdr)
		vals = vals[:0]
		if e := parseHead(block, &h, hdr, &vals, 100); e != nil {
			b.Fatal(e)
		}
		parseURL(h.method, h.target, &u)
	}
}
