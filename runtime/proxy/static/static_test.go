package static

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestCleanPath(t *testing.T) {
	tests := []struct {
		in     string
		rel    string
		dir    bool
		status int
	}{
		{"/", "", true, 0},
		{"", "", false, 0},
		{"/a.txt", "a.txt", false, 0},
		{"/a/b.txt", "a/b.txt", false, 0},
		{"/a/", "a", true, 0},
		{"/.hidden", ".hidden", false, 0},
		{"/a/.b/c", "a/.b/c", false, 0},
		{"/...", "...", false, 0},
		{"/a..b", "a..b", false, 0},
		{"/..a", "..a", false, 0},
		{"//a.txt", "a.txt", false, 0},
		{"/a//b/", "a/b", true, 0},
		{"/./a.txt", "a.txt", false, 0},
		{"/a/.", "a", true, 0},
		{"/a/./", "a", true, 0},
		{"/a/../b.txt", "b.txt", false, 0},
		{"/a/..", "", true, 0},
		{"/a/b/../../c", "c", false, 0},
		{".", "", true, 0},
		{"/..", "", false, 400},
		{"/../a", "", false, 400},
		{"/a/../../b", "", false, 400},
		{"..", "", false, 400},
		{"/a\x00.txt", "", false, 400},
		{"/a/../\x00", "", false, 400},
		{`/..\..\etc\passwd`, "", false, 404},
		{`/a\b.txt`, "", false, 404},
	}
	for _, tt := range tests {
		rel, dir, status := cleanPath(tt.in)
		if rel != tt.rel || dir != tt.dir || status != tt.status {
			t.Errorf("cleanPath(%q) = %q, %v, %d; want %q, %v, %d", tt.in, rel, dir, status, tt.rel, tt.dir, tt.status)
		}
	}
}

func TestParseRanges(t *testing.T) {
	type r = byteRange
	tests := []struct {
		in   string
		size int64
		want []byteRange
		res  int
	}{
		{"bytes=0-4", 13, []r{{0, 5}}, rangesOK},
		{"bytes=-5", 13, []r{{8, 13}}, rangesOK},
		{"bytes=5-", 13, []r{{5, 13}}, rangesOK},
		{"bytes=0-100", 13, []r{{0, 13}}, rangesOK},
		{"bytes=-100", 13, []r{{0, 13}}, rangesOK},
		{"BYTES=0-0", 13, []r{{0, 1}}, rangesOK},
		{"bytes= 0 - 1 , 3-4", 13, []r{{0, 2}, {3, 5}}, rangesOK},
		{"bytes=0-1,20-30", 13, []r{{0, 2}}, rangesOK},
		{"bytes=5-2,0-1", 13, []r{{0, 2}}, rangesOK},
		{"bytes=-2,0-1", 13, []r{{11, 13}, {0, 2}}, rangesOK},
		{"bytes=13-", 13, nil, rangesUnsatisfiable},
		{"bytes=5-2", 13, nil, rangesUnsatisfiable},
		{"bytes=-0", 13, nil, rangesUnsatisfiable},
		{"bytes=abc", 13, nil, rangesUnsatisfiable},
		{"bytes=0-1,", 13, nil, rangesUnsatisfiable},
		{"bytes=0-1,x", 13, nil, rangesUnsatisfiable},
		{"bytes=0-1x", 13, nil, rangesUnsatisfiable},
		{"bytes=- 1", 13, nil, rangesUnsatisfiable},
		{"bytes= ", 13, nil, rangesUnsatisfiable},
		{"bytes=99999999999999999999-", 13, nil, rangesUnsatisfiable},
		{"bytes=0-99999999999999999999", 13, nil, rangesUnsatisfiable},
		{"bytes=1-5", 0, nil, rangesUnsatisfiable},
		{"bytes=", 13, nil, rangesIgnore},
		{"items=0-1", 13, nil, rangesIgnore},
		{"bytes = 0-1", 13, nil, rangesIgnore},
		{"bytes=0-10,5-12", 13, nil, rangesIgnore},
		{"bytes=0-", 0, nil, rangesIgnore},
		{"bytes=-5", 0, nil, rangesIgnore},
		{"bytes=" + strings.Repeat("0-0,", maxRanges) + "1-1", 1000, nil, rangesIgnore},
	}
	for _, tt := range tests {
		got, res := parseRanges(tt.in, tt.size)
		if res != tt.res || fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("parseRanges(%q, %d) = %v, %d; want %v, %d", tt.in, tt.size, got, res, tt.want, tt.res)
		}
	}
}

func TestEtagMatch(t *testing.T) {
	const et = `"6b05fd60-d"`
	tests := []struct {
		vals        []string
		weak, match bool
	}{
		{[]string{et}, false, true},
		{[]string{et}, true, true},
		{[]string{"W/" + et}, true, true},
		{[]string{"W/" + et}, false, false},
		{[]string{`"a", ` + et}, false, true},
		{[]string{`"a",` + et + `,"b"`}, true, true},
		{[]string{`"a"`, et}, true, true},
		{[]string{"*"}, false, true},
		{[]string{`"6b05fd60-D"`}, true, false},
		{[]string{"6b05fd60-d"}, true, false},
		{[]string{`junk, ` + et}, true, true},
		{[]string{`"unterminated`}, true, false},
		{[]string{""}, true, false},
	}
	for _, tt := range tests {
		if got := etagMatch(tt.vals, et, tt.weak); got != tt.match {
			t.Errorf("etagMatch(%q, weak=%v) = %v, want %v", tt.vals, tt.weak, got, tt.match)
		}
	}
}

func TestAcceptEncodings(t *testing.T) {
	tests := []struct {
		in       string
		br, gzip bool
	}{
		{"gzip", false, true},
		{"gzip, deflate, br", true, true},
		{"GZIP", false, true},
		{"Br;q=1.0", true, false},
		{"gzip;q=0", false, false},
		{"gzip; q=0.000, br ;q=0.", false, false},
		{"gzip;q=0.001", false, true},
		{"br;q=0, gzip;q=0.5", false, true},
		{"x-gzip", false, false},
		{"*", false, false},
		{"identity", false, false},
		{"", false, false},
	}
	for _, tt := range tests {
		br, gz := acceptEncodings([]string{tt.in})
		if br != tt.br || gz != tt.gzip {
			t.Errorf("acceptEncodings(%q) = br %v gzip %v; want %v %v", tt.in, br, gz, tt.br, tt.gzip)
		}
	}
}

func TestContentType(t *testing.T) {
	tests := map[string]string{
		"a.html": "text/html", "a.css": "text/css", "a.js": "application/javascript",
		"a.mjs": "application/javascript", "a.json": "application/json", "a.png": "image/png",
		"a.svg": "image/svg+xml", "a.woff2": "font/woff2", "a.txt": "text/plain", "a.wasm": "application/wasm",
		"A.CSS": "text/css", "a.Html": "text/html", "dir.css/file": defaultType, ".hidden": defaultType,
		"noext": defaultType, "file.": defaultType, "a.unknown": defaultType, "a.tar.gz": defaultType,
	}
	for name, want := range tests {
		if got := contentType(name); got != want {
			t.Errorf("contentType(%q) = %q, want %q", name, got, want)
		}
	}
}

// do serves one request through Serve with urlPath = the request path
// (minus prefix) and reports whether Serve wrote.
func do(h *Handler, method, target, prefix string, header map[string]string) (*httptest.ResponseRecorder, bool) {
	r := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	served := h.Serve(w, r, strings.TrimPrefix(r.URL.Path, prefix))
	return w, served
}

// TestServe covers what the nginx comparison cannot: brotli, options,
// the "nothing written" contract, and header details.
func TestServe(t *testing.T) {
	fx := newFixture(t)
	h := newTestHandler(t, Options{Root: fx.root})
	noPre := newTestHandler(t, Options{Root: fx.root, NoPrecompressed: true})
	twoIdx := newTestHandler(t, Options{Root: fx.root, Index: []string{"missing.html", "page.json"}})
	et := func(name string) string { return fmt.Sprintf(`"%x-%x"`, mtime.Unix(), len(fx.files[name])) }

	tests := []struct {
		name     string
		h        *Handler
		method   string
		target   string
		prefix   string
		header   map[string]string
		unserved bool
		status   int
		want     map[string]string // headers; "" = must be absent
		body     string            // compared when not ""
		bodyOf   string            // fixture file the body must equal
	}{
		{name: "file", target: "/hello.txt", status: 200, body: "Hello, World!", want: map[string]string{
			"Content-Type": "text/plain", "Content-Length": "13", "Etag": et("hello.txt"),
			"Last-Modified": mtime.Format(http.TimeFormat), "Accept-Ranges": "bytes", "Vary": ""}},
		{name: "br preferred", target: "/app.css", header: map[string]string{"Accept-Encoding": "gzip, br"}, status: 200,
			bodyOf: "app.css.br", want: map[string]string{"Content-Encoding": "br", "Content-Type": "text/css",
				"Vary": "Accept-Encoding", "Etag": et("app.css.br"), "Accept-Ranges": "",
				"Content-Length": fmt.Sprint(len(fx.files["app.css.br"]))}},
		{name: "gzip when br refused", target: "/app.css", header: map[string]string{"Accept-Encoding": "br;q=0, gzip"},
			status: 200, bodyOf: "app.css.gz", want: map[string]string{"Content-Encoding": "gzip", "Etag": et("app.css.gz")}},
		{name: "br only without br sibling", target: "/big.js", header: map[string]string{"Accept-Encoding": "br"},
			status: 200, bodyOf: "big.js", want: map[string]string{"Content-Encoding": "", "Vary": "Accept-Encoding"}},
		{name: "br 304", target: "/app.css", header: map[string]string{"Accept-Encoding": "br", "If-None-Match": et("app.css.br")},
			status: 304, body: "-", want: map[string]string{"Etag": et("app.css.br"), "Vary": "Accept-Encoding", "Content-Encoding": "", "Content-Length": ""}},
		{name: "br HEAD", method: "HEAD", target: "/app.css", header: map[string]string{"Accept-Encoding": "br"},
			status: 200, body: "-", want: map[string]string{"Content-Length": fmt.Sprint(len(fx.files["app.css.br"]))}},
		{name: "precompressed off", h: noPre, target: "/app.css", header: map[string]string{"Accept-Encoding": "gzip, br"},
			status: 200, bodyOf: "app.css", want: map[string]string{"Content-Encoding": "", "Vary": ""}},
		{name: "Vary appended", target: "/app.css", header: map[string]string{"Accept-Encoding": "gzip"}, status: 200},
		{name: "missing: nothing written", target: "/missing.txt", unserved: true},
		{name: "missing dir: nothing written", target: "/missing/", unserved: true},
		{name: "file/ : nothing written", target: "/hello.txt/", unserved: true},
		{name: "POST missing: nothing written", method: "POST", target: "/missing", unserved: true},
		{name: "dangling symlink: nothing written", target: "/dangling", unserved: true},
		{name: "405 has Allow", method: "POST", target: "/hello.txt", status: 405, want: map[string]string{"Allow": "GET, HEAD"}},
		{name: "405 for a directory", method: "DELETE", target: "/sub", status: 405, want: map[string]string{"Allow": "GET, HEAD"}},
		{name: "redirect below prefix", target: "/static/sub?x=1", prefix: "/static", status: 301,
			want: map[string]string{"Location": "/static/sub/?x=1"}},
		{name: "redirect of the mount point", target: "/static", prefix: "/static", status: 301,
			want: map[string]string{"Location": "/static/"}},
		{name: "redirect cleans the path", target: "/static/x/../sub", prefix: "/static", status: 301,
			want: map[string]string{"Location": "/static/sub/"}},
		{name: "redirect escapes", target: "/dir%20%C3%A9", status: 301, want: map[string]string{"Location": "/dir%20%C3%A9/"}},
		{name: "redirect never to another host", target: "//sub", status: 301, want: map[string]string{"Location": "/sub/"}},
		{name: "redirect HEAD has no body", method: "HEAD", target: "/sub", status: 301, body: "-"},
		{name: "second index name", h: twoIdx, target: "/sub/", status: 200, bodyOf: "sub/page.json",
			want: map[string]string{"Content-Type": "application/json"}},
		{name: "no index, no listing", target: "/noindex/", status: 403},
		{name: "NUL", target: "/a%00b", status: 400},
		{name: "dotdot", target: "/%2e%2e/x", status: 400},
		{name: "backslash", target: "/a%5cb.txt", status: 404},
		{name: "outside", target: "/link-out.txt", status: 403},
		{name: "416 Content-Range", target: "/hello.txt", header: map[string]string{"Range": "bytes=20-"}, status: 416,
			want: map[string]string{"Content-Range": "bytes */13", "Etag": ""}},
		{name: "range of a file on disk", target: "/1m.bin", header: map[string]string{"Range": "bytes=1048575-"}, status: 206,
			body: string(fx.files["1m.bin"][1<<20-1:]), want: map[string]string{"Content-Range": "bytes 1048575-1048575/1048576"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hh := tt.h
			if hh == nil {
				hh = h
			}
			method := tt.method
			if method == "" {
				method = "GET"
			}
			r := httptest.NewRequest(method, tt.target, nil)
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			if tt.name == "Vary appended" {
				w.Header().Set("Vary", "Origin")
				tt.want = map[string]string{}
				defer func() {
					if got := w.Header().Values("Vary"); strings.Join(got, ",") != "Origin,Accept-Encoding" {
						t.Errorf("Vary = %q, want Origin then Accept-Encoding", got)
					}
				}()
			}
			served := hh.Serve(w, r, strings.TrimPrefix(r.URL.Path, tt.prefix))
			if tt.unserved {
				if served || len(w.Header()) != 0 || w.Body.Len() != 0 || w.Code != 200 {
					t.Fatalf("want nothing written: served %v, code %d, header %v, body %q", served, w.Code, w.Header(), w.Body)
				}
				return
			}
			if !served {
				t.Fatal("Serve returned false")
			}
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d (body %q)", w.Code, tt.status, w.Body)
			}
			for k, v := range tt.want {
				if got := w.Header().Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			switch {
			case tt.bodyOf != "":
				if !bytes.Equal(w.Body.Bytes(), fx.files[tt.bodyOf]) {
					t.Errorf("body is not %s", tt.bodyOf)
				}
			case tt.body == "-":
				if w.Body.Len() != 0 {
					t.Errorf("body %q, want none", w.Body)
				}
			case tt.body != "":
				if w.Body.String() != tt.body {
					t.Errorf("body %q, want %q", w.Body, tt.body)
				}
			}
		})
	}
}

// TestSymlinks checks the root boundary in both resolution modes: the
// kernel's (openat2) and os.Root's.
func TestSymlinks(t *testing.T) {
	fx := newFixture(t)
	// A chain that leaves and comes back, and one that leaves through an
	// intermediate link inside.
	os.Symlink("link-out.txt", filepath.Join(fx.root, "chain-out.txt"))
	os.Symlink(filepath.Join(fx.root, "sub"), filepath.Join(fx.root, "dirlink-abs-in"))
	os.Symlink("../root/hello.txt", filepath.Join(fx.outside, "back.txt"))
	os.Symlink(filepath.Join(fx.outside, "back.txt"), filepath.Join(fx.root, "out-and-back.txt"))

	tests := []struct {
		path     string
		status   int // 0: Serve returns false
		contains string
	}{
		{"/link-in.txt", 200, "Hello"},
		{"/link-abs-in.txt", 200, "Hello"},
		{"/sub/up.txt", 200, "Hello"},
		{"/dirlink-in/", 200, "<h1>sub</h1>"},
		{"/dirlink-in", 301, ""},
		{"/dirlink-abs-in/page.json", 200, `{"a":1}`},
		{"/link-out.txt", 403, ""},
		{"/link-abs-out.txt", 403, ""},
		{"/chain-out.txt", 403, ""},
		{"/dirlink-out/secret.txt", 403, ""},
		{"/dirlink-out/", 403, ""},
		{"/dirlink-out", 403, ""},
		// Through the outside and back in: the real path is inside, so
		// it is served (and nginx would too).
		{"/out-and-back.txt", 200, "Hello"},
		{"/dangling", 0, ""},
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
			if mode.noOpenat2 != (h.tree.Load().root != nil) {
				t.Fatal("wrong resolution mode")
			}
			for _, tt := range tests {
				for range 2 { // uncached, then cached
					w, served := do(h, "GET", tt.path, "", nil)
					if tt.status == 0 {
						if served {
							t.Errorf("%s: served %d, want nothing", tt.path, w.Code)
						}
						continue
					}
					if !served || w.Code != tt.status || !strings.Contains(w.Body.String(), tt.contains) {
						t.Errorf("%s: served %v %d %q, want %d with %q", tt.path, served, w.Code, w.Body, tt.status, tt.contains)
					}
					if strings.Contains(w.Body.String(), "secret") {
						t.Fatalf("%s: served a file from outside the root", tt.path)
					}
				}
			}
		})
	}
}

// TestSymlinkRetargeted: a symlink switched to point outside is refused as
// soon as the entry is revalidated.
func TestSymlinkRetargeted(t *testing.T) {
	fx := newFixture(t)
	for _, big := range []bool{false, true} {
		h := newTestHandler(t, Options{Root: fx.root})
		h.ttl = 0
		target, name := "hello.txt", "/link-in.txt"
		if big {
			target, name = "1m.bin", "/link-big"
			os.Symlink(target, filepath.Join(fx.root, "link-big"))
		}
		if w, _ := do(h, "GET", name, "", nil); w.Code != 200 {
			t.Fatalf("%s: %d", name, w.Code)
		}
		link := filepath.Join(fx.root, strings.TrimPrefix(name, "/"))
		os.Remove(link)
		os.Symlink(filepath.Join(fx.outside, "secret.txt"), link)
		if w, _ := do(h, "GET", name, "", nil); w.Code != 403 {
			t.Fatalf("%s retargeted outside: %d %q", name, w.Code, w.Body)
		}
	}
}

// TestRevalidation: what is cached is trusted for ttl, then checked.
func TestRevalidation(t *testing.T) {
	fx := newFixture(t)
	h := newTestHandler(t, Options{Root: fx.root})
	h.ttl = int64(time.Hour)
	p := filepath.Join(fx.root, "hello.txt")
	get := func(path string, hdr map[string]string) *httptest.ResponseRecorder {
		w, _ := do(h, "GET", path, "", hdr)
		return w
	}
	if b := get("/hello.txt", nil).Body.String(); b != "Hello, World!" {
		t.Fatal(b)
	}
	// Same size, new content and time.
	os.WriteFile(p, []byte("Hello, Gophs!"), 0o644)
	later := mtime.Add(time.Minute)
	os.Chtimes(p, later, later)
	if b := get("/hello.txt", nil).Body.String(); b != "Hello, World!" {
		t.Fatalf("within the revalidation interval the cached copy is served, got %q", b)
	}
	h.ttl = 0
	w := get("/hello.txt", nil)
	if w.Body.String() != "Hello, Gophs!" || w.Header().Get("Etag") != fmt.Sprintf(`"%x-d"`, later.Unix()) {
		t.Fatalf("after revalidation: %q %q", w.Body, w.Header().Get("Etag"))
	}

	// A sibling that appears is used; one that goes away is not.
	os.WriteFile(filepath.Join(fx.root, "hello.txt.gz"), gz([]byte("Hello, Gophs!")), 0o644)
	ae := map[string]string{"Accept-Encoding": "gzip"}
	if w := get("/hello.txt", ae); w.Header().Get("Content-Encoding") != "gzip" {
		t.Fatal("new .gz sibling not served")
	}
	os.Remove(filepath.Join(fx.root, "hello.txt.gz"))
	if w := get("/hello.txt", ae); w.Header().Get("Content-Encoding") != "" || w.Body.String() != "Hello, Gophs!" {
		t.Fatalf("removed .gz sibling still served: %v", w.Header())
	}

	// Removed: nothing there.
	os.Remove(p)
	if _, served := do(h, "GET", "/hello.txt", "", nil); served {
		t.Fatal("removed file still served")
	}

	// A file on the disk is re-stated on every request: a change shows at
	// once, whatever the interval.
	h.ttl = int64(time.Hour)
	big := filepath.Join(fx.root, "1m.bin")
	if w := get("/1m.bin", nil); w.Body.Len() != 1<<20 {
		t.Fatal(w.Body.Len())
	}
	os.WriteFile(big, []byte("now small"), 0o644)
	w = get("/1m.bin", nil)
	if w.Body.String() != "now small" || w.Header().Get("Content-Length") != "9" {
		t.Fatalf("changed large file: %q %v", w.Body.String(), w.Header())
	}
	// And one removed gives the fallback, even inside the interval.
	os.Remove(big)
	if _, served := do(h, "GET", "/1m.bin", "", nil); served {
		t.Fatal("removed large file still served")
	}
}

// TestRootMoved: a root given as a symlink (a deploy's "current") that is
// switched to another release is followed.
func TestRootMoved(t *testing.T) {
	base := t.TempDir()
	for _, rel := range []string{"v1", "v2"} {
		os.MkdirAll(filepath.Join(base, rel), 0o755)
		os.WriteFile(filepath.Join(base, rel, "version.txt"), []byte(rel), 0o644)
	}
	current := filepath.Join(base, "current")
	os.Symlink("v1", current)
	h := newTestHandler(t, Options{Root: current})
	h.ttl = 0
	if w, _ := do(h, "GET", "/version.txt", "", nil); w.Body.String() != "v1" {
		t.Fatal(w.Body)
	}
	os.Remove(current)
	os.Symlink("v2", current)
	if w, _ := do(h, "GET", "/version.txt", "", nil); w.Body.String() != "v2" {
		t.Fatalf("after the flip: %q", w.Body)
	}
}

// readerFromRecorder records what io.Copy hands a sendfile-capable writer.
type readerFromRecorder struct {
	*httptest.ResponseRecorder
	src io.Reader
}

func (w *readerFromRecorder) ReadFrom(r io.Reader) (int64, error) {
	w.src = r
	return io.Copy(w.ResponseRecorder, r)
}

func TestSendfileReader(t *testing.T) {
	fx := newFixture(t)
	h := newTestHandler(t, Options{Root: fx.root})
	for _, tt := range []struct {
		path, rng string
		sendfile  bool
	}{
		{"/1m.bin", "", true},
		{"/64k1.bin", "", true},
		{"/1m.bin", "bytes=10-20", true},
		{"/64k.bin", "", true},
		{"/hello.txt", "", false},
	} {
		r := httptest.NewRequest("GET", tt.path, nil)
		if tt.rng != "" {
			r.Header.Set("Range", tt.rng)
		}
		w := &readerFromRecorder{ResponseRecorder: httptest.NewRecorder()}
		h.Serve(w, r, tt.path)
		if !tt.sendfile {
			if w.src != nil {
				t.Errorf("%s: a memory-cached file went through ReadFrom", tt.path)
			}
			continue
		}
		sr, ok := w.src.(*io.SectionReader)
		if !ok {
			t.Fatalf("%s: ReadFrom got %T, want *io.SectionReader", tt.path, w.src)
		}
		if ra, _, _ := sr.Outer(); !isFile(ra) {
			t.Errorf("%s: the section is of %T, want *os.File", tt.path, ra)
		}
	}
}

func TestNotRegularFiles(t *testing.T) {
	fx := newFixture(t)
	if err := syscall.Mkfifo(filepath.Join(fx.root, "fifo"), 0o644); err != nil {
		t.Skip("mkfifo:", err)
	}
	for _, noOpenat2 := range []bool{false, true} {
		h, err := newHandler(Options{Root: fx.root}, noOpenat2)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan bool)
		go func() {
			_, served := do(h, "GET", "/fifo", "", nil)
			done <- served
		}()
		select {
		case served := <-done:
			if served {
				t.Error("a FIFO was served")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("opening a FIFO blocked")
		}
	}
}

func TestMultipart(t *testing.T) {
	fx := newFixture(t)
	h := newTestHandler(t, Options{Root: fx.root})
	for _, name := range []string{"64k.bin", "1m.bin"} { // memory, disk
		w, _ := do(h, "GET", "/"+name, "", map[string]string{"Range": "bytes=0-9, 100-199,-5"})
		if w.Code != 206 {
			t.Fatalf("%s: %d", name, w.Code)
		}
		mt, params, err := mime.ParseMediaType(w.Header().Get("Content-Type"))
		if err != nil || mt != "multipart/byteranges" {
			t.Fatalf("%s: Content-Type %q", name, w.Header().Get("Content-Type"))
		}
		if w.Header().Get("Content-Length") != fmt.Sprint(w.Body.Len()) {
			t.Errorf("%s: Content-Length %s, body %d", name, w.Header().Get("Content-Length"), w.Body.Len())
		}
		data := fx.files[name]
		size := len(data)
		want := []struct {
			cr   string
			body []byte
		}{
			{"bytes 0-9/" + fmt.Sprint(size), data[0:10]},
			{"bytes 100-199/" + fmt.Sprint(size), data[100:200]},
			{fmt.Sprintf("bytes %d-%d/%d", size-5, size-1, size), data[size-5:]},
		}
		mr := multipart.NewReader(w.Body, params["boundary"])
		for i, wp := range want {
			p, err := mr.NextPart()
			if err != nil {
				t.Fatalf("%s part %d: %v", name, i, err)
			}
			got, _ := io.ReadAll(p)
			if p.Header.Get("Content-Range") != wp.cr || p.Header.Get("Content-Type") != defaultType || !bytes.Equal(got, wp.body) {
				t.Errorf("%s part %d: %v, %d bytes", name, i, p.Header, len(got))
			}
		}
		if _, err := mr.NextPart(); err != io.EOF {
			t.Errorf("%s: after the parts: %v", name, err)
		}
	}
}

func TestListing(t *testing.T) {
	fx := newFixture(t)
	h := newTestHandler(t, Options{Root: fx.root, Listing: true})
	w, _ := do(h, "GET", "/", "", nil)
	if w.Code != 200 || w.Header().Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("%d %v", w.Code, w.Header())
	}
	body := w.Body.String()
	for _, want := range []string{
		`<a href="./a&amp;b%3Cc%3E.txt">a&amp;b&lt;c&gt;.txt</a>`,
		`<a href="./sp%20ace/">sp ace/</a>`,
		`<a href="./dirlink-in/">dirlink-in/</a>`,
		`<a href="./link-in.txt">link-in.txt</a>`,
		" 13\n", // hello.txt's size
	} {
		if !strings.Contains(body, want) {
			t.Errorf("listing lacks %q:\n%s", want, body)
		}
	}
	for _, absent := range []string{".hidden", "link-out", "dirlink-out", "dangling", "<script"} {
		if strings.Contains(body, absent) {
			t.Errorf("listing shows %q", absent)
		}
	}
	// Directories first, each group sorted.
	if i, j, k := strings.Index(body, "dirlink-in/"), strings.Index(body, "sub/"), strings.Index(body, "1m.bin"); !(i < j && j < k) {
		t.Errorf("order: dirlink-in/ %d, sub/ %d, 1m.bin %d", i, j, k)
	}
	// A directory with an index still serves the index.
	if w, _ := do(h, "GET", "/sub/", "", nil); w.Body.String() != "<h1>sub</h1>\n" {
		t.Errorf("index: %q", w.Body)
	}
	if w, _ := do(h, "HEAD", "/noindex/", "", nil); w.Code != 200 || w.Body.Len() != 0 || w.Header().Get("Content-Length") == "" {
		t.Errorf("HEAD listing: %d %q", w.Code, w.Body)
	}
}

func TestNewErrors(t *testing.T) {
	fx := newFixture(t)
	for _, opts := range []Options{
		{},
		{Root: filepath.Join(fx.root, "missing")},
		{Root: filepath.Join(fx.root, "hello.txt")},
		{Root: fx.root, Index: []string{"a/index.html"}},
		{Root: fx.root, Index: []string{".."}},
	} {
		if _, err := New(opts); err == nil {
			t.Errorf("New(%+v) succeeded", opts)
		}
	}
}

func TestCacheBound(t *testing.T) {
	fx := newFixture(t)
	for i := range 200 {
		os.WriteFile(filepath.Join(fx.root, fmt.Sprintf("f%03d.bin", i)), bytes.Repeat([]byte{'x'}, 4000), 0o644)
	}
	const bound = 100 << 10
	h := newTestHandler(t, Options{Root: fx.root, CacheBytes: bound})
	for i := range 200 {
		p := fmt.Sprintf("/f%03d.bin", i)
		if w, _ := do(h, "GET", p, "", nil); w.Code != 200 || w.Body.Len() != 4000 {
			t.Fatalf("%s: %d %d", p, w.Code, w.Body.Len())
		}
		if n := h.cache.bytes.Load(); n > bound+4000+entryOverhead {
			t.Fatalf("cache holds %d bytes, bound %d", n, bound)
		}
	}
	// Contents off: bodies come from the disk.
	h = newTestHandler(t, Options{Root: fx.root, CacheBytes: -1})
	w := &readerFromRecorder{ResponseRecorder: httptest.NewRecorder()}
	h.Serve(w, httptest.NewRequest("GET", "/hello.txt", nil), "/hello.txt")
	if w.Body.String() != "Hello, World!" || w.src == nil {
		t.Errorf("CacheBytes < 0: %q, from disk %v", w.Body, w.src != nil)
	}
}

// TestConcurrent serves while files change under the handler (for -race).
func TestConcurrent(t *testing.T) {
	fx := newFixture(t)
	h := newTestHandler(t, Options{Root: fx.root, CacheBytes: 200 << 10})
	h.ttl = int64(time.Millisecond)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			os.WriteFile(filepath.Join(fx.root, "hello.txt"), []byte(fmt.Sprintf("version %05d", i)), 0o644)
			time.Sleep(time.Millisecond)
		}
	})
	paths := []string{"/hello.txt", "/64k.bin", "/1m.bin", "/app.css", "/sub/", "/sub", "/missing"}
	for g := range 4 {
		wg.Go(func() {
			for i := range 300 {
				p := paths[(g+i)%len(paths)]
				w, served := do(h, "GET", p, "", map[string]string{"Accept-Encoding": "gzip"})
				if p == "/missing" {
					if served {
						t.Error("missing served")
					}
					continue
				}
				if w.Code >= 400 {
					t.Errorf("%s: %d", p, w.Code)
				}
				if cl := w.Header().Get("Content-Length"); w.Code == 200 && cl != fmt.Sprint(w.Body.Len()) {
					t.Errorf("%s: Content-Length %s, body %d", p, cl, w.Body.Len())
				}
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	close(stop)
	wg.Wait()
}

// TestPreconditions pins the conditional-request rules without nginx (the
// comparison covers them against nginx where it is installed).
func TestPreconditions(t *testing.T) {
	st := stat{id: fileID{size: 13}, mtime: mtime.Unix()}
	rp := newRep("hello.txt", st, nil)
	et, lm := rp.etag, rp.hLastMod[0]
	before := mtime.Add(-time.Hour).Format(http.TimeFormat)
	after := mtime.Add(time.Hour).Format(http.TimeFormat)
	tests := []struct {
		header map[string]string
		want   int
	}{
		{map[string]string{}, 0},
		{map[string]string{"If-None-Match": et}, 304},
		{map[string]string{"If-None-Match": "W/" + et}, 304},
		{map[string]string{"If-None-Match": `"x"`}, 0},
		{map[string]string{"If-None-Match": et, "If-Modified-Since": before}, 304}, // RFC: INM wins
		{map[string]string{"If-None-Match": `"x"`, "If-Modified-Since": lm}, 0},
		{map[string]string{"If-Modified-Since": lm}, 304},
		{map[string]string{"If-Modified-Since": mtime.Format(time.ANSIC)}, 304},
		{map[string]string{"If-Modified-Since": after}, 0}, // nginx: exact
		{map[string]string{"If-Modified-Since": before}, 0},
		{map[string]string{"If-Modified-Since": "garbage"}, 0},
		{map[string]string{"If-Match": et}, 0},
		{map[string]string{"If-Match": "*"}, 0},
		{map[string]string{"If-Match": `"x"`}, 412},
		{map[string]string{"If-Match": "W/" + et}, 412},
		{map[string]string{"If-Match": `"x"`, "If-None-Match": et}, 412},
		{map[string]string{"If-Unmodified-Since": before}, 412},
		{map[string]string{"If-Unmodified-Since": lm}, 0},
		{map[string]string{"If-Unmodified-Since": "garbage"}, 0}, // RFC: ignored
		{map[string]string{"If-Match": et, "If-Unmodified-Since": before}, 0},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/hello.txt", nil)
		for k, v := range tt.header {
			r.Header.Set(k, v)
		}
		if got := preconditions(r, rp); got != tt.want {
			t.Errorf("%v: %d, want %d", tt.header, got, tt.want)
		}
	}
	// If-Range: exact ETag or date, else the whole file.
	for v, want := range map[string]bool{et: true, lm: true, "W/" + et: false, `"x"`: false, after: false, "garbage": false} {
		r := httptest.NewRequest("GET", "/hello.txt", nil)
		r.Header.Set("If-Range", v)
		if got := ifRange(r, rp); got != want {
			t.Errorf("If-Range %q: %v, want %v", v, got, want)
		}
	}
}

func TestNormalize(t *testing.T) {
	for _, tt := range []struct {
		in, want string
		ok       bool
	}{
		{"/", "/", true},
		{"", "/", true},
		{"/a/b", "/a/b", true},
		{"/a/b/", "/a/b/", true},
		{"//admin/", "/admin/", true},
		{"/x/../admin/", "/admin/", true},
		{"/x/./y", "/x/y", true},
		{"/x/y/.", "/x/y/", true},
		{"/x/y/..", "/x/", true},
		{"/a//b///c", "/a/b/c", true},
		{"/..", "", false},
		{"/a/../../b", "", false},
		{"/.hidden/x", "/.hidden/x", true},
		{"/a/..b/c", "/a/..b/c", true},
		{"/..%2f", "/..%2f", true}, // already decoded by the engine: a literal name
	} {
		got, ok := Normalize(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("Normalize(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
