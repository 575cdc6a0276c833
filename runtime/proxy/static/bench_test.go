package static

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// discardWriter is a ResponseWriter that keeps nothing, reusing its header
// map as a server does, so that the benchmarks count the handler's own
// allocations. ReadFrom stands in for sendfile: it drains the file through
// io.Discard, so a disk-served body still costs its reads.
type discardWriter struct {
	h    http.Header
	code int
	n    int64
}

func (w *discardWriter) Header() http.Header  { return w.h }
func (w *discardWriter) WriteHeader(code int) { w.code = code }
func (w *discardWriter) Write(b []byte) (int, error) {
	w.n += int64(len(b))
	return len(b), nil
}
func (w *discardWriter) ReadFrom(r io.Reader) (int64, error) {
	n, err := io.Copy(io.Discard, r)
	w.n += n
	return n, err
}

func benchServe(b *testing.B, path string, header map[string]string) {
	fx := newFixture(b)
	h := newTestHandler(b, Options{Root: fx.root})
	r := httptest.NewRequest("GET", path, nil)
	for k, v := range header {
		r.Header.Set(k, v)
	}
	w := &discardWriter{h: make(http.Header)}
	h.Serve(w, r, path) // warm the cache
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		clear(w.h)
		w.n = 0
		if !h.Serve(w, r, path) || w.code >= 400 {
			b.Fatalf("status %d", w.code)
		}
	}
	b.SetBytes(w.n)
}

func BenchmarkServe13B(b *testing.B)   { benchServe(b, "/hello.txt", nil) }
func BenchmarkServe64KiB(b *testing.B) { benchServe(b, "/64k.bin", nil) }
func BenchmarkServe1MiB(b *testing.B)  { benchServe(b, "/1m.bin", nil) }

// BenchmarkServe13BConditional is a browser revalidating: 304.
func BenchmarkServe13BConditional(b *testing.B) {
	benchServe(b, "/hello.txt", map[string]string{"If-None-Match": `"6b05fd60-d"`})
}

// BenchmarkServeGzip is a precompressed sibling chosen from a typical
// browser Accept-Encoding.
func BenchmarkServeGzip(b *testing.B) {
	benchServe(b, "/app.css", map[string]string{"Accept-Encoding": "gzip, deflate, br, zstd"})
}

// BenchmarkServe64KiBDisk is the 64 KiB file with contents not kept in
// memory: what the in-memory cache saves.
func BenchmarkServe64KiBDisk(b *testing.B) {
	fx := newFixture(b)
	h := newTestHandler(b, Options{Root: fx.root, CacheBytes: -1})
	r := httptest.NewRequest("GET", "/64k.bin", nil)
	w := &discardWriter{h: make(http.Header)}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.Serve(w, r, "/64k.bin")
	}
}

// BenchmarkServeParallel13B is the cached path under contention.
func BenchmarkServeParallel13B(b *testing.B) {
	fx := newFixture(b)
	h := newTestHandler(b, Options{Root: fx.root})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		r := httptest.NewRequest("GET", "/hello.txt", nil)
		w := &discardWriter{h: make(http.Header)}
		for pb.Next() {
			clear(w.h)
			h.Serve(w, r, "/hello.txt")
		}
	})
}
