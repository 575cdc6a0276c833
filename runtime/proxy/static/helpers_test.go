package static

import (
	"bytes"
	"compress/gzip"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fixture is a directory tree to serve: root, and a directory beside it
// that symlinks point into.
type fixture struct {
	root    string
	outside string
	files   map[string][]byte // path below root → content, for checks
}

// mtime is the fixed modification time of every fixture file, so that
// ETags and Last-Modified are known in advance.
var mtime = time.Date(2026, 11, 24, 21, 10, 56, 0, time.UTC)

// newFixture builds the tree both the unit tests and the nginx comparison
// serve:
//
//	hello.txt (13 B)  empty.txt (0 B)  64k.bin (64 KiB)  64k1.bin (64 KiB + 1)
//	1m.bin (1 MiB)  index.html in sub/, none in noindex/ or the root
//	app.css + app.css.gz + app.css.br    big.js (100 KiB) + big.js.gz
//	.hidden, UP/A.CSS, noext, several types, "sp ace/", "dir é/"
//	link-in.txt → hello.txt, link-abs-in.txt → ROOT/hello.txt,
//	dirlink-in → sub, link-out.txt → ../outside/secret.txt,
//	link-abs-out.txt → OUTSIDE/secret.txt, dirlink-out → OUTSIDE,
//	dangling → nowhere
func newFixture(t testing.TB) *fixture {
	t.Helper()
	base := t.TempDir()
	fx := &fixture{
		root:    filepath.Join(base, "root"),
		outside: filepath.Join(base, "outside"),
		files:   map[string][]byte{},
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rnd.Uint32())
		}
		return b
	}
	css := bytes.Repeat([]byte("body { color: #333; }\n"), 20)
	bigJS := bytes.Repeat([]byte("console.log('static');\n"), 100<<10/23+1)[:100<<10]
	files := map[string][]byte{
		"hello.txt":      []byte("Hello, World!"),
		"empty.txt":      {},
		"64k.bin":        random(64 << 10),
		"64k1.bin":       random(64<<10 + 1),
		"1m.bin":         random(1 << 20),
		"sub/index.html": []byte("<h1>sub</h1>\n"),
		"sub/page.json":  []byte(`{"a":1}`),
		"noindex/a.txt":  []byte("a"),
		"app.css":        css,
		"app.css.gz":     gz(css),
		"app.css.br":     []byte("not really brotli, but who checks"),
		"big.js":         bigJS,
		"big.js.gz":      gz(bigJS),
		".hidden":        []byte("dot"),
		"UP/A.CSS":       []byte("p{}"),
		"noext":          []byte("x"),
		"img.png":        random(100),
		"logo.svg":       []byte("<svg/>"),
		"font.woff2":     random(10),
		"data.json":      []byte("{}"),
		"app.js":         []byte("1"),
		"page.html":      []byte("<p>"),
		"sp ace/x.txt":   []byte("space"),
		"dir é/y.txt":    []byte("accent"),
		"weird.unknown":  []byte("?"),
		"emptydir/.keep": {},
		"a&b<c>.txt":     []byte("amp"),
		`a\b.txt`:        []byte("backslash"),
	}
	for name, data := range files {
		p := filepath.Join(fx.root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		fx.files[name] = data
	}
	if err := os.MkdirAll(fx.outside, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(fx.outside, "secret.txt"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	links := map[string]string{
		"link-in.txt":      "hello.txt",
		"link-abs-in.txt":  filepath.Join(fx.root, "hello.txt"),
		"dirlink-in":       "sub",
		"link-out.txt":     "../outside/secret.txt",
		"link-abs-out.txt": filepath.Join(fx.outside, "secret.txt"),
		"dirlink-out":      fx.outside,
		"dangling":         "nowhere",
		"sub/up.txt":       "../hello.txt",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(fx.root, name)); err != nil {
			t.Fatal(err)
		}
	}
	// Fixed times for everything, links' targets included.
	filepath.Walk(base, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode()&os.ModeSymlink == 0 {
			os.Chtimes(p, mtime, mtime)
		}
		return nil
	})
	return fx
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// routed is how the proxy mounts handlers, in small: "/static/" serves the
// root with alias semantics, and so does "/"; Serve returning false is a
// plain 404.
type routed struct{ h *Handler }

func (rt routed) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if rest, ok := strings.CutPrefix(p, "/static/"); ok {
		p = "/" + rest
	}
	if !rt.h.Serve(w, r, p) {
		http.NotFound(w, r)
	}
}

func newTestHandler(t testing.TB, opts Options) *Handler {
	t.Helper()
	h, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
