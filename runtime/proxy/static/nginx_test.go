package static

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/peertest"
)

// diffCase is one request sent, byte for byte, to nginx and to the handler.
type diffCase struct {
	name   string
	req    string // request line without the protocol: "GET /path"; a raw target, never normalised
	proto  string // default HTTP/1.1
	header string // extra header lines, "\n"-separated
	// differ, when set, is a deliberate difference: both statuses are
	// asserted, nothing else is compared.
	differ *difference
}

type difference struct {
	nginx, ours int
	why         string
}

// comparedHeaders are the headers that must be equal on 1xx-3xx answers
// (Location is compared for 3xx, where bodies and their types differ).
var comparedHeaders = []string{"Content-Type", "Content-Length", "Content-Range", "Etag", "Last-Modified",
	"Content-Encoding", "Vary", "Accept-Ranges", "Location"}

// TestAgainstNginx serves one tree with nginx 1.22 (root and alias
// locations, `absolute_redirect off`, `gzip_static on`, `gzip_vary on`) and
// with the handler behind net/http, sends both the same raw requests, and
// compares status, body and the headers that matter. Where the handler
// deliberately differs, the case says why and asserts both answers.
func TestAgainstNginx(t *testing.T) {
	fx := newFixture(t)
	ngx := peertest.StartNginx(t, fmt.Sprintf(`
    server {
        listen 127.0.0.1:{{PORT}};
        absolute_redirect off;
        gzip_static on;
        gzip_vary on;
        location / { root %[1]s; }
        location /static/ { alias %[1]s/; }
    }`, fx.root))

	lm := mtime.Format(http.TimeFormat)
	et := func(size int) string { return fmt.Sprintf(`"%x-%x"`, mtime.Unix(), size) }
	etHello := et(13)
	etCSSgz := et(len(fx.files["app.css.gz"]))
	before := mtime.Add(-time.Hour).Format(http.TimeFormat)
	after := mtime.Add(time.Hour).Format(http.TimeFormat)
	rfc850 := mtime.Format(time.RFC850)

	cases := []diffCase{
		// Normal files: types, sizes (memory and disk), names needing escapes.
		{name: "13B", req: "GET /hello.txt"},
		{name: "0B", req: "GET /empty.txt"},
		{name: "64KiB", req: "GET /64k.bin"},
		{name: "64KiB+1", req: "GET /64k1.bin"},
		{name: "1MiB", req: "GET /1m.bin"},
		{name: "json in subdir", req: "GET /sub/page.json"},
		{name: "dotfile", req: "GET /.hidden"},
		{name: "upper-case extension", req: "GET /UP/A.CSS"},
		{name: "no extension", req: "GET /noext"},
		{name: "png", req: "GET /img.png"},
		{name: "svg", req: "GET /logo.svg"},
		{name: "woff2", req: "GET /font.woff2"},
		{name: "json", req: "GET /data.json"},
		{name: "js", req: "GET /app.js"},
		{name: "html", req: "GET /page.html"},
		{name: "unknown extension", req: "GET /weird.unknown"},
		{name: "escaped name", req: "GET /a%26b%3Cc%3E.txt"},
		{name: "space in dir", req: "GET /sp%20ace/x.txt"},
		{name: "utf-8 dir", req: "GET /dir%20%C3%A9/y.txt"},
		{name: "query string", req: "GET /hello.txt?x=1&y=%2e%2e"},
		{name: "alias", req: "GET /static/hello.txt"},
		{name: "alias subdir", req: "GET /static/sub/page.json"},
		{name: "symlink inside", req: "GET /link-in.txt"},
		{name: "absolute symlink inside", req: "GET /link-abs-in.txt"},
		{name: "dir symlink inside", req: "GET /dirlink-in/page.json"},
		{name: "symlink up inside", req: "GET /sub/up.txt"},
		{name: "css identity with gz sibling", req: "GET /app.css"},
		{name: "big identity with gz sibling", req: "GET /big.js"},
		{name: "HTTP/1.0", req: "GET /hello.txt", proto: "HTTP/1.0"},

		// HEAD.
		{name: "HEAD 13B", req: "HEAD /hello.txt"},
		{name: "HEAD 0B", req: "HEAD /empty.txt"},
		{name: "HEAD 1MiB", req: "HEAD /1m.bin"},
		{name: "HEAD gz", req: "HEAD /app.css", header: "Accept-Encoding: gzip"},
		{name: "HEAD dir", req: "HEAD /sub"},
		{name: "HEAD range", req: "HEAD /hello.txt", header: "Range: bytes=0-4"},

		// Conditional requests.
		{name: "INM", req: "GET /hello.txt", header: "If-None-Match: " + etHello},
		{name: "INM weak", req: "GET /hello.txt", header: "If-None-Match: W/" + etHello},
		{name: "INM list", req: "GET /hello.txt", header: `If-None-Match: "x", ` + etHello},
		{name: "INM list no space", req: "GET /hello.txt", header: `If-None-Match: "x",` + etHello},
		{name: "INM star", req: "GET /hello.txt", header: "If-None-Match: *"},
		{name: "INM other", req: "GET /hello.txt", header: `If-None-Match: "6b05fd60-D"`},
		{name: "INM unquoted", req: "GET /hello.txt", header: "If-None-Match: " + strings.Trim(etHello, `"`)},
		{name: "INM 1MiB", req: "GET /1m.bin", header: "If-None-Match: " + et(1<<20)},
		{name: "INM HEAD", req: "HEAD /hello.txt", header: "If-None-Match: " + etHello},
		{name: "INM wins over Range", req: "GET /hello.txt", header: "If-None-Match: " + etHello + "\nRange: bytes=0-1"},
		{name: "IMS exact", req: "GET /hello.txt", header: "If-Modified-Since: " + lm},
		{name: "IMS RFC 850", req: "GET /hello.txt", header: "If-Modified-Since: " + rfc850},
		{name: "IMS later", req: "GET /hello.txt", header: "If-Modified-Since: " + after},
		{name: "IMS earlier", req: "GET /hello.txt", header: "If-Modified-Since: " + before},
		{name: "IMS garbage", req: "GET /hello.txt", header: "If-Modified-Since: yesterday"},
		{name: "IMS 1MiB", req: "GET /1m.bin", header: "If-Modified-Since: " + lm},
		{name: "INM other, IMS exact", req: "GET /hello.txt", header: `If-None-Match: "zz"` + "\nIf-Modified-Since: " + lm},
		{name: "If-Match other", req: "GET /hello.txt", header: `If-Match: "zz"`},
		{name: "If-Match", req: "GET /hello.txt", header: "If-Match: " + etHello},
		{name: "If-Match list", req: "GET /hello.txt", header: `If-Match: "x",` + etHello},
		{name: "If-Match weak", req: "GET /hello.txt", header: "If-Match: W/" + etHello},
		{name: "If-Match star", req: "GET /hello.txt", header: "If-Match: *"},
		{name: "If-Match other beats INM", req: "GET /hello.txt", header: `If-Match: "zz"` + "\nIf-None-Match: " + etHello},
		{name: "IUS earlier", req: "GET /hello.txt", header: "If-Unmodified-Since: " + before},
		{name: "IUS exact", req: "GET /hello.txt", header: "If-Unmodified-Since: " + lm},
		{name: "IUS later", req: "GET /hello.txt", header: "If-Unmodified-Since: " + after},

		// Range.
		{name: "range first bytes", req: "GET /hello.txt", header: "Range: bytes=0-4"},
		{name: "range suffix", req: "GET /hello.txt", header: "Range: bytes=-5"},
		{name: "range open-ended", req: "GET /hello.txt", header: "Range: bytes=5-"},
		{name: "range one byte", req: "GET /hello.txt", header: "Range: bytes=0-0"},
		{name: "range end clipped", req: "GET /hello.txt", header: "Range: bytes=0-100"},
		{name: "range suffix larger", req: "GET /hello.txt", header: "Range: bytes=-100"},
		{name: "range at end", req: "GET /hello.txt", header: "Range: bytes=13-"},
		{name: "range beyond", req: "GET /hello.txt", header: "Range: bytes=100-200"},
		{name: "range garbage", req: "GET /hello.txt", header: "Range: bytes=abc"},
		{name: "range reversed", req: "GET /hello.txt", header: "Range: bytes=5-2"},
		{name: "range suffix zero", req: "GET /hello.txt", header: "Range: bytes=-0"},
		{name: "range trailing comma", req: "GET /hello.txt", header: "Range: bytes=0-1,"},
		{name: "range bad second", req: "GET /hello.txt", header: "Range: bytes=0-1,x"},
		{name: "range overflow", req: "GET /hello.txt", header: "Range: bytes=99999999999999999999-"},
		{name: "range overflow end", req: "GET /hello.txt", header: "Range: bytes=0-99999999999999999999"},
		{name: "range other unit", req: "GET /hello.txt", header: "Range: items=0-1"},
		{name: "range unit case", req: "GET /hello.txt", header: "Range: BYTES=0-1"},
		{name: "range space before =", req: "GET /hello.txt", header: "Range: bytes = 0-1"},
		{name: "range spaces", req: "GET /hello.txt", header: "Range: bytes= 0 - 1 "},
		{name: "range empty", req: "GET /hello.txt", header: "Range: bytes="},
		{name: "ranges multipart", req: "GET /hello.txt", header: "Range: bytes=0-1,5-6"},
		{name: "ranges multipart suffix first", req: "GET /hello.txt", header: "Range: bytes=-2,0-1"},
		{name: "ranges one satisfiable", req: "GET /hello.txt", header: "Range: bytes=0-1,20-30"},
		{name: "ranges more than the file", req: "GET /hello.txt", header: "Range: bytes=0-10,5-12"},
		{name: "range empty file", req: "GET /empty.txt", header: "Range: bytes=0-"},
		{name: "range empty file suffix", req: "GET /empty.txt", header: "Range: bytes=-5"},
		{name: "range empty file beyond", req: "GET /empty.txt", header: "Range: bytes=1-5"},
		{name: "range 1MiB", req: "GET /1m.bin", header: "Range: bytes=1000-2000"},
		{name: "range 1MiB suffix", req: "GET /1m.bin", header: "Range: bytes=-100"},
		{name: "ranges 1MiB multipart", req: "GET /1m.bin", header: "Range: bytes=0-9,1048570-"},
		{name: "range 64KiB+1 tail", req: "GET /64k1.bin", header: "Range: bytes=65530-"},
		{name: "If-Range etag", req: "GET /hello.txt", header: "Range: bytes=0-4\nIf-Range: " + etHello},
		{name: "If-Range other etag", req: "GET /hello.txt", header: "Range: bytes=0-4\nIf-Range: \"zz\""},
		{name: "If-Range weak etag", req: "GET /hello.txt", header: "Range: bytes=0-4\nIf-Range: W/" + etHello},
		{name: "If-Range date", req: "GET /hello.txt", header: "Range: bytes=0-4\nIf-Range: " + lm},
		{name: "If-Range other date", req: "GET /hello.txt", header: "Range: bytes=0-4\nIf-Range: " + after},
		{name: "If-Range garbage", req: "GET /hello.txt", header: "Range: bytes=0-4\nIf-Range: garbage"},

		// Precompressed siblings (nginx has no brotli: br is tested on our side only).
		{name: "gzip", req: "GET /app.css", header: "Accept-Encoding: gzip, deflate"},
		{name: "gzip upper case", req: "GET /app.css", header: "Accept-Encoding: GZIP"},
		{name: "gzip q=0", req: "GET /app.css", header: "Accept-Encoding: gzip;q=0"},
		{name: "gzip q=0.5", req: "GET /app.css", header: "Accept-Encoding: deflate, gzip;q=0.5"},
		{name: "x-gzip", req: "GET /app.css", header: "Accept-Encoding: x-gzip"},
		{name: "star", req: "GET /app.css", header: "Accept-Encoding: *"},
		{name: "gzip HTTP/1.0", req: "GET /app.css", proto: "HTTP/1.0", header: "Accept-Encoding: gzip"},
		{name: "gzip ignores Range", req: "GET /app.css", header: "Accept-Encoding: gzip\nRange: bytes=0-1"},
		{name: "gzip 304", req: "GET /app.css", header: "Accept-Encoding: gzip\nIf-None-Match: " + etCSSgz},
		{name: "gzip big", req: "GET /big.js", header: "Accept-Encoding: gzip"},
		{name: "gz file itself", req: "GET /app.css.gz"},
		{name: "no sibling", req: "GET /hello.txt", header: "Accept-Encoding: gzip"},
		{name: "identity range with sibling", req: "GET /app.css", header: "Range: bytes=0-3"},

		// Missing.
		{name: "missing", req: "GET /missing"},
		{name: "missing dir", req: "GET /missing/"},
		{name: "missing in subdir", req: "GET /sub/missing.txt"},
		{name: "file with slash", req: "GET /hello.txt/"},
		{name: "file as dir", req: "GET /hello.txt/x"},
		{name: "index with slash", req: "GET /sub/index.html/"},
		{name: "dangling symlink", req: "GET /dangling"},
		{name: "three dots", req: "GET /sub/..."},
		{name: "alias missing", req: "GET /static/missing"},
		{name: "POST missing", req: "POST /missing", header: "Content-Length: 0"},

		// Directories.
		{name: "dir redirect", req: "GET /sub"},
		{name: "dir redirect query", req: "GET /sub?a=1&b=%20"},
		{name: "dir redirect space", req: "GET /sp%20ace"},
		{name: "dir redirect utf-8", req: "GET /dir%20%C3%A9"},
		{name: "dir redirect alias", req: "GET /static/sub"},
		{name: "dir redirect alias query", req: "GET /static/sub?q=%2F"},
		{name: "dir redirect symlink", req: "GET /dirlink-in"},
		{name: "dir redirect HTTP/1.0", req: "GET /noindex", proto: "HTTP/1.0"},
		{name: "dir index", req: "GET /sub/"},
		{name: "dir index alias", req: "GET /static/sub/"},
		{name: "dir index symlink", req: "GET /dirlink-in/"},
		{name: "dir index dot", req: "GET /sub/."},
		{name: "dir index dot slash", req: "GET /sub/./"},
		{name: "dir index encoded slash", req: "GET /sub%2f"},
		{name: "dir index 304", req: "GET /sub/", header: "If-None-Match: " + et(len(fx.files["sub/index.html"]))},
		{name: "dir without index", req: "GET /noindex/"},
		{name: "dir with only a dotfile", req: "GET /emptydir/"},
		{name: "root without index", req: "GET /"},
		{name: "up to root", req: "GET /sub/.."},
		{name: "alias root", req: "GET /static/"},

		// Methods.
		{name: "POST file", req: "POST /hello.txt", header: "Content-Length: 0"},
		{name: "DELETE file", req: "DELETE /hello.txt"},
		{name: "OPTIONS file", req: "OPTIONS /hello.txt"},
		{name: "PUT index", req: "PUT /sub/", header: "Content-Length: 0"},

		// Traversal: every spelling of "..", backslashes, NUL.
		{name: "dotdot", req: "GET /../etc/passwd"},
		{name: "dotdot twice", req: "GET /../../../../etc/passwd"},
		{name: "dotdot after dir", req: "GET /sub/../../etc/passwd"},
		{name: "dotdot encoded", req: "GET /%2e%2e/etc/passwd"},
		{name: "dotdot encoded upper", req: "GET /%2E%2E/%2E%2e/etc/passwd"},
		{name: "dotdot half encoded", req: "GET /sub/.%2e/.%2E/etc/passwd"},
		{name: "dotdot encoded slash", req: "GET /..%2fetc%2fpasswd"},
		{name: "dotdot all encoded", req: "GET %2f%2e%2e%2f%2e%2e%2fetc%2fpasswd"},
		{name: "dotdot alone", req: "GET /.."},
		{name: "dotdot inside", req: "GET /sub/../hello.txt"},
		{name: "dotdot encoded inside", req: "GET /sub/%2e%2e/hello.txt"},
		{name: "dot", req: "GET /./hello.txt"},
		{name: "double slash", req: "GET //hello.txt"},
		{name: "alias dotdot", req: "GET /static/../../etc/passwd"},
		{name: "alias dotdot encoded", req: "GET /static/%2e%2e/%2e%2e/etc/passwd"},
		{name: "alias dotdot inside", req: "GET /static/sub/../hello.txt"},
		{name: "backslash", req: `GET /..\..\etc\passwd`},
		{name: "backslash in dir", req: `GET /sub\..\..\etc\passwd`},
		{name: "backslash encoded", req: "GET /%5c..%5c..%5cetc%5cpasswd"},
		{name: "backslash encoded mixed", req: "GET /sub%5C..%5C..%5Chello.txt"},
		{name: "NUL encoded", req: "GET /hello.txt%00.css"},
		{name: "NUL encoded in dir", req: "GET /sub%00/index.html"},
		{name: "NUL raw", req: "GET /hello.txt\x00.css"},
		{name: "dotdot with NUL", req: "GET /%2e%2e%00/etc/passwd"},

		// Deliberate differences.
		{name: "symlink outside", req: "GET /link-out.txt", differ: &difference{200, 403,
			"nginx follows symlinks anywhere (disable_symlinks off); we refuse those leaving the root, with 403 as nginx's disable_symlinks does"}},
		{name: "absolute symlink outside", req: "GET /link-abs-out.txt", differ: &difference{200, 403, "as above"}},
		{name: "dir symlink outside", req: "GET /dirlink-out/secret.txt", differ: &difference{200, 403, "as above"}},
		{name: "dir symlink outside, no slash", req: "GET /dirlink-out", differ: &difference{301, 403, "as above: refused before it is known to be a directory"}},
		{name: "alias symlink outside", req: "GET /static/link-out.txt", differ: &difference{200, 403, "as above"}},
		{name: "INM with older IMS", req: "GET /hello.txt", header: "If-None-Match: " + etHello + "\nIf-Modified-Since: " + before,
			differ: &difference{200, 304, "RFC 9110 13.1.3: If-Modified-Since is ignored when If-None-Match is present; nginx requires both to hold"}},
		{name: "IUS garbage", req: "GET /hello.txt", header: "If-Unmodified-Since: garbage",
			differ: &difference{412, 200, "RFC 9110 13.1.4: an invalid If-Unmodified-Since date is ignored; nginx fails the precondition"}},
		{name: "backslash in a name", req: `GET /a\b.txt`, differ: &difference{200, 404,
			"a backslash is refused everywhere (a separator to Windows and to some clients and proxies); nginx on Linux serves the name literally"}},
		{name: "PUT missing", req: "PUT /missing", header: "Content-Length: 0",
			differ: &difference{405, 404, "nothing there: Serve returns false for every method so the route's fallback (an app) gets it"}},
		{name: "POST dir", req: "POST /sub", header: "Content-Length: 0",
			differ: &difference{301, 405, "one rule for methods: anything that exists answers 405 to what is not GET or HEAD"}},
		{name: "POST dir without index", req: "POST /noindex/", header: "Content-Length: 0",
			differ: &difference{403, 405, "as above"}},
	}

	for _, mode := range []struct {
		name      string
		noOpenat2 bool
	}{{"openat2", false}, {"os.Root", true}} {
		t.Run(mode.name, func(t *testing.T) {
			h, err := newHandler(Options{Root: fx.root}, mode.noOpenat2)
			if err != nil {
				t.Fatal(err)
			}
			ours := httptest.NewServer(routed{h})
			defer ours.Close()
			ourAddr := strings.TrimPrefix(ours.URL, "http://")
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					want := rawRequest(t, ngx.Addr, c)
					got := rawRequest(t, ourAddr, c)
					if bytes.Contains(got.body, []byte("secret")) {
						t.Fatalf("served a file from outside the root: %q", got.body)
					}
					if c.differ != nil {
						if want.status != c.differ.nginx || got.status != c.differ.ours {
							t.Fatalf("deliberate difference (%s): nginx %d (want %d), ours %d (want %d)",
								c.differ.why, want.status, c.differ.nginx, got.status, c.differ.ours)
						}
						return
					}
					compareResponses(t, want, got)
				})
			}
		})
	}
}

// response is what the comparison looks at.
type response struct {
	status int
	header http.Header
	body   []byte
}

// rawRequest sends c over a fresh TCP connection exactly as written, so no
// client library normalises the path, and reads one response.
func rawRequest(t *testing.T, addr string, c diffCase) response {
	t.Helper()
	proto := c.proto
	if proto == "" {
		proto = "HTTP/1.1"
	}
	var b strings.Builder
	b.WriteString(c.req + " " + proto + "\r\nHost: localhost\r\nConnection: close\r\n")
	if c.header != "" {
		for _, line := range strings.Split(c.header, "\n") {
			b.WriteString(line + "\r\n")
		}
	}
	b.WriteString("\r\n")
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	method, _, _ := strings.Cut(c.req, " ")
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%s: reading the response: %v", addr, err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s: reading the body: %v", addr, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: body}
}

// compareResponses compares what must be equal between nginx and us.
func compareResponses(t *testing.T, want, got response) {
	t.Helper()
	if want.status != got.status {
		t.Fatalf("status: nginx %d, ours %d\nnginx: %v\nours:  %v\nour body: %.200q", want.status, got.status, want.header, got.header, got.body)
	}
	switch {
	case want.status >= 400:
		// Error pages differ in wording; only Content-Range carries meaning.
		if w, g := want.header.Get("Content-Range"), got.header.Get("Content-Range"); w != g {
			t.Errorf("Content-Range: nginx %q, ours %q", w, g)
		}
		return
	case want.status >= 300 && want.status != http.StatusNotModified:
		if w, g := want.header.Get("Location"), got.header.Get("Location"); w != g {
			t.Errorf("Location: nginx %q, ours %q", w, g)
		}
		return
	}
	normalizeBoundary(&want)
	normalizeBoundary(&got)
	for _, k := range comparedHeaders {
		if w, g := want.header.Values(k), got.header.Values(k); strings.Join(w, ", ") != strings.Join(g, ", ") {
			t.Errorf("%s: nginx %q, ours %q", k, w, g)
		}
	}
	if !bytes.Equal(want.body, got.body) {
		t.Errorf("body differs: nginx %d bytes %.80q, ours %d bytes %.80q", len(want.body), want.body, len(got.body), got.body)
	}
}

// normalizeBoundary replaces a multipart boundary (nginx counts, we draw at
// random) by a fixed string in the header and the body.
func normalizeBoundary(r *response) {
	ct := r.header.Get("Content-Type")
	_, b, ok := strings.Cut(ct, "boundary=")
	if !ok {
		return
	}
	r.header.Set("Content-Type", strings.Replace(ct, b, "BOUNDARY", 1))
	r.body = bytes.ReplaceAll(r.body, []byte("--"+b), []byte("--BOUNDARY"))
}
