package static

import (
	"bytes"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func isFile(v any) bool { _, ok := v.(*os.File); return ok }

// sectionFile serves path and returns the body, the response and the file
// the body was sent from (nil when not from a section of a file).
func sectionFile(t *testing.T, h *Handler, path string) ([]byte, *httptest.ResponseRecorder, *os.File) {
	t.Helper()
	w := &readerFromRecorder{ResponseRecorder: httptest.NewRecorder()}
	if !h.Serve(w, httptest.NewRequest("GET", path, nil), path) {
		t.Fatalf("%s: not found", path)
	}
	var f *os.File
	if sr, ok := w.src.(*io.SectionReader); ok {
		ra, _, _ := sr.Outer()
		f, _ = ra.(*os.File)
	}
	return w.Body.Bytes(), w.ResponseRecorder, f
}

// Files too large for memory stay open between requests (nginx's
// open_file_cache): requests share one descriptor, a file rewritten in
// place is noticed at once, and Close lets go of every descriptor while a
// request still sending from one finishes.
func TestOpenFileCache(t *testing.T) {
	fx := newFixture(t)
	h := newTestHandler(t, Options{Root: fx.root})
	h.ttl = int64(time.Hour) // nothing revalidated by the clock here

	var first *os.File
	for i := range 2 {
		body, _, f := sectionFile(t, h, "/1m.bin")
		if !bytes.Equal(body, fx.files["1m.bin"]) {
			t.Fatalf("request %d: wrong body", i)
		}
		if f == nil {
			t.Fatalf("request %d: not sent from a file", i)
		}
		if i == 0 {
			first = f
		} else if f != first {
			t.Fatal("the second request opened the file again")
		}
	}
	sectionFile(t, h, "/64k1.bin")
	if n := h.openFiles.Load(); n != 2 {
		t.Fatalf("%d files open, want 2", n)
	}

	// Rewritten in place (same inode, other size): the kept descriptor
	// would show the new bytes under the old head; the request sees the
	// change and serves what is there now.
	fresh := bytes.Repeat([]byte("new "), 5000)
	if err := os.WriteFile(filepath.Join(fx.root, "1m.bin"), fresh, 0o644); err != nil {
		t.Fatal(err)
	}
	body, resp, _ := sectionFile(t, h, "/1m.bin")
	if !bytes.Equal(body, fresh) || resp.Header().Get("Content-Length") != "20000" {
		t.Fatalf("after a rewrite in place: %d bytes, Content-Length %s", len(body), resp.Header().Get("Content-Length"))
	}

	// Replaced by a rename, or deleted: the kept descriptor still reads the
	// old file, which has no name any more; the request looks again.
	sectionFile(t, h, "/big.js")
	next := bytes.Repeat([]byte("v2 "), 9000)
	tmp := filepath.Join(fx.root, "big.js.tmp")
	if err := os.WriteFile(tmp, next, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(fx.root, "big.js")); err != nil {
		t.Fatal(err)
	}
	if body, _, _ := sectionFile(t, h, "/big.js"); !bytes.Equal(body, next) {
		t.Fatalf("after a replacement by rename: %d bytes, want the new %d", len(body), len(next))
	}
	sectionFile(t, h, "/big.js") // kept open again
	if err := os.Remove(filepath.Join(fx.root, "big.js")); err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	if h.Serve(w, httptest.NewRequest("GET", "/big.js", nil), "/big.js") {
		t.Fatalf("a deleted file was served: %d, %d bytes", w.Code, w.Body.Len())
	}

	// A request in flight holds its own reference across Close.
	e := h.cache.get("64k1.bin")
	if e == nil || e.file.of == nil || !e.file.of.acquire() {
		t.Fatal("64k1.bin is not kept open")
	}
	h.Close()
	if _, err := e.file.of.f.Stat(); err != nil {
		t.Fatalf("closed under a request in flight: %v", err)
	}
	e.file.of.release()
	if _, err := e.file.of.f.Stat(); err == nil {
		t.Fatal("still open after the last request let go")
	}
	if n := h.openFiles.Load(); n != 0 {
		t.Fatalf("%d files open after Close", n)
	}
	if _, err := first.Stat(); err == nil {
		t.Fatal("1m.bin's first descriptor is still open")
	}
	// After Close requests still work, opening their files themselves.
	if body, _, _ := sectionFile(t, h, "/64k1.bin"); !bytes.Equal(body, fx.files["64k1.bin"]) {
		t.Fatal("wrong body after Close")
	}
	if n := h.openFiles.Load(); n != 0 {
		t.Fatalf("%d files open after Close and a request", n)
	}
}

// The number of files kept open is bounded; past the bound files are
// opened per request, and files whose entries leave the cache are closed.
func TestOpenFileBounds(t *testing.T) {
	fx := newFixture(t)
	h := newTestHandler(t, Options{Root: fx.root})
	h.ttl = int64(time.Hour)
	h.maxOpen = 1
	for _, p := range []string{"1m.bin", "64k1.bin", "big.js"} {
		body, _, _ := sectionFile(t, h, "/"+p)
		if !bytes.Equal(body, fx.files[p]) {
			t.Fatalf("%s: wrong body", p)
		}
	}
	if n := h.openFiles.Load(); n != 1 {
		t.Fatalf("%d files open, want the bound, 1", n)
	}

	// A cache of two entries' worth: entries come and go, and the open
	// files are those of the entries present.
	h2 := newTestHandler(t, Options{Root: fx.root, CacheBytes: 2 * entryOverhead})
	defer h2.Close()
	for range 3 {
		for _, p := range []string{"1m.bin", "64k1.bin", "64k.bin", "big.js"} {
			if body, _, _ := sectionFile(t, h2, "/"+p); !bytes.Equal(body, fx.files[p]) {
				t.Fatalf("%s: wrong body", p)
			}
		}
	}
	var kept int64
	h2.cache.m.Range(func(_, v any) bool {
		for _, r := range []*rep{v.(*entry).file, v.(*entry).gz, v.(*entry).br} {
			if r != nil && r.of != nil {
				kept++
			}
		}
		return true
	})
	if n := h2.openFiles.Load(); n != kept || n > 3 {
		t.Fatalf("%d files open, %d kept by the cache's entries", n, kept)
	}
}
