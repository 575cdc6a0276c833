// Package static serves files from a directory the way nginx does: correct
// Content-Type, ETag and Last-Modified with 304s, Range requests, HEAD,
// precompressed .br/.gz siblings, directory redirects, optional listings,
// sendfile for large files, and never a byte from outside the root.
//
// # Configuration
//
// A route serves a directory with alias semantics: the route's prefix is
// cut off and the rest of the path is looked up below the directory, so
// with
//
//	[[proxy.route]]
//	path = "/static/"
//	static = "./public"        # Options.Root
//	index = ["index.html"]     # Options.Index (the default)
//	listing = false            # Options.Listing (the default)
//	precompressed = true       # !Options.NoPrecompressed (the default)
//
// /static/css/a.css is ./public/css/a.css.
//
// # What a request gets
//
//   - GET and HEAD of a regular file: 200 with Content-Type from the file
//     extension (nginx's mime.types, no charset), Content-Length,
//     Last-Modified, ETag "<mtime hex>-<size hex>" (nginx's format) and
//     Accept-Ranges: bytes; HEAD sends the same headers and no body.
//   - If-None-Match (weak comparison, "*") and If-Modified-Since (equal to
//     Last-Modified, nginx's `if_modified_since exact`) give 304 with ETag
//     and Last-Modified; If-Match (strong) and If-Unmodified-Since give 412.
//   - Range: one range gives 206 with Content-Range; several give
//     multipart/byteranges, or the whole file when they add up to more than
//     it or number more than 64; none satisfiable gives 416 with
//     "Content-Range: bytes */SIZE"; a Range not starting "bytes=" is
//     ignored; If-Range (an exact ETag or date) falls back to 200.
//   - A client accepting br or gzip (HTTP/1.1, q > 0) gets NAME.br or NAME.gz
//     when that sibling is a regular file, br first, with Content-Encoding,
//     the original's Content-Type, the sibling's own ETag and Length, and no
//     ranges (Range is ignored for them, as nginx's gzip_static does).
//     Every response for a file with a sibling carries Vary: Accept-Encoding.
//   - A directory without the trailing slash: 301 to the same path with the
//     slash and the query string, as a relative Location (nginx's
//     `absolute_redirect off`; behind a proxy or a port mapping the Host
//     header names the wrong place). With the slash: the first Index file
//     that exists, else a listing when Listing is on, else 403.
//   - Other methods on anything that exists: 405 with Allow: GET, HEAD.
//   - Paths are normalised as nginx does ("//", "/./", "/a/../"); a ".."
//     above the root or a NUL byte (also percent-encoded) gives 400, a
//     backslash 404. Symlinks are followed while they stay inside the root;
//     one that leads outside gives 403. Dotfiles are served like any file.
//   - Nothing there (no such file, not a regular file, "file/"): Serve
//     returns false having written nothing, for the route's fallback.
//
// Small files (up to 64 KiB) are kept in memory, bounded by
// Options.CacheBytes in total; larger ones are opened per request and sent
// with io.Copy from the *os.File, which a ResponseWriter implementing
// io.ReaderFrom turns into sendfile(2). Like nginx's open_file_cache,
// what is known about a path is re-checked against the disk at most once a
// second, so a changed file is served within a second of the change.
package static

import (
	"errors"
	"fmt"
	"html"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Options configure a Handler.
type Options struct {
	// Root is the directory served. Required; must exist.
	Root string
	// Index names the files served for a directory (default index.html).
	// Plain file names: no slashes.
	Index []string
	// Listing enables directory listings when no index file exists.
	Listing bool
	// NoPrecompressed disables serving NAME.br / NAME.gz siblings to
	// clients that accept them (on by default).
	NoPrecompressed bool
	// CacheBytes bounds the memory holding small files' contents and what
	// is known about paths (default 32 MiB). Negative: no file contents in
	// memory, every body comes from the disk.
	CacheBytes int64
}

const (
	// defaultCacheBytes holds the assets of a typical site several times.
	defaultCacheBytes = 32 << 20
	// maxInMemory is the largest file kept in memory. From memory a body
	// costs one write of the head and the prepared buffer, which copies it
	// into the socket; larger files are kept open and go by sendfile from
	// the page cache after the head (bench/proxy.sh, 64 KiB files: 0.78-0.83x
	// nginx's rate from memory, 0.86-0.95x by sendfile from a kept file;
	// 13 B files from memory 1.3-1.46x).
	maxInMemory = 16 << 10
	// maxOpenFiles bounds the files a handler keeps open for sendfile
	// (nginx's open_file_cache max); beyond it they are opened per request.
	maxOpenFiles = 1000
	// revalidate is how long what is known about a path is trusted before
	// the disk is asked again (nginx's open_file_cache_valid, 1 s here).
	revalidate = time.Second
	// maxRanges is how many ranges one request may ask for before it gets
	// the whole file instead (nginx's max_ranges, unlimited by default;
	// a bound stops a 1-byte-ranges request from multiplying the response).
	maxRanges = 64
)

// Handler serves one root directory. It is safe for concurrent use.
type Handler struct {
	opts        Options
	tree        atomic.Pointer[tree]
	cache       cache
	maxInMemory int64
	ttl         int64 // revalidate, in clock units; a variable for tests
	epoch       time.Time
	rootChecked atomic.Int64
	openFiles   atomic.Int64 // files kept open by the cache's entries
	maxOpen     int64        // maxOpenFiles; a variable for tests
	closed      atomic.Bool
}

// New checks opts and returns a Handler. It opens the root directory; the
// descriptor is released when the Handler is garbage.
func New(opts Options) (*Handler, error) {
	return newHandler(opts, false)
}

// newHandler is New with a switch for tests: noOpenat2 makes the handler
// use os.Root as it does where openat2 is unavailable.
func newHandler(opts Options, noOpenat2 bool) (*Handler, error) {
	if opts.Root == "" {
		return nil, errors.New("static: root is required")
	}
	if len(opts.Index) == 0 {
		opts.Index = []string{"index.html"}
	}
	for _, name := range opts.Index {
		if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\\x00") {
			return nil, fmt.Errorf("static: index %q: must be a file name", name)
		}
	}
	t, err := openTree(opts.Root, noOpenat2)
	if err != nil {
		return nil, err
	}
	h := &Handler{opts: opts, ttl: int64(revalidate), epoch: time.Now(), maxInMemory: maxInMemory, maxOpen: maxOpenFiles}
	h.cache.max = opts.CacheBytes
	switch {
	case opts.CacheBytes == 0:
		h.cache.max = defaultCacheBytes
	case opts.CacheBytes < 0:
		h.cache.max = defaultCacheBytes
		h.maxInMemory = -1
	}
	h.tree.Store(t)
	return h, nil
}

// Close lets go of the files the handler keeps open; requests in flight
// finish, and later ones open their files themselves. The root directory
// is released when the Handler is garbage.
func (h *Handler) Close() {
	h.closed.Store(true)
	h.cache.clear()
}

// clock is monotonic time since the handler was made, in nanoseconds.
func (h *Handler) clock() int64 { return int64(time.Since(h.epoch)) }

// Serve serves urlPath (the request path below the route's prefix, still
// percent-decoded as in r.URL.Path, starting with "/") for r. It returns
// false, having written nothing, when no such file or directory exists, so
// the caller can fall back (try_files); otherwise it has written the whole
// response (200, 206, 301, 304, 400, 403 for a directory without index or
// a symlink leading outside the root, 405, 412, 416...).
//
// The redirect of a directory to its trailing-slash form keeps the part of
// r.URL.Path before urlPath (the route's prefix); when r.URL.Path does not
// end with urlPath (a rewritten request), it redirects to r.URL.Path + "/".
func (h *Handler) Serve(w http.ResponseWriter, r *http.Request, urlPath string) bool {
	return h.serve(w, r, urlPath, true)
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, urlPath string, retry bool) bool {
	rel, dir, status := cleanPath(urlPath)
	if status != 0 {
		writeError(w, r, status)
		return true
	}
	if dir {
		return h.serveDir(w, r, urlPath, rel, retry)
	}
	e, err := h.lookup(rel)
	if err != nil {
		return failed(w, r, err)
	}
	if e.dir {
		if !getOrHead(r) {
			notAllowed(w, r)
			return true
		}
		redirectToDir(w, r, urlPath, rel)
		return true
	}
	return h.serveFile(w, r, urlPath, e, retry)
}

// serveDir answers a path ending in a slash: its index file, a listing, or
// 403, as nginx's index and autoindex modules do.
func (h *Handler) serveDir(w http.ResponseWriter, r *http.Request, urlPath, rel string, retry bool) bool {
	for _, name := range h.opts.Index {
		p := name
		if rel != "" {
			p = rel + "/" + name
		}
		e, err := h.lookup(p)
		switch {
		case err == nil && !e.dir:
			return h.serveFile(w, r, urlPath, e, retry)
		case err != nil && !notFound(err):
			return failed(w, r, err)
		}
	}
	e, err := h.lookup(rel)
	if err != nil {
		return failed(w, r, err)
	}
	if !e.dir {
		return false // "file.txt/": nothing by that name
	}
	if !getOrHead(r) {
		notAllowed(w, r)
		return true
	}
	if h.opts.Listing {
		return h.list(w, r, rel)
	}
	writeError(w, r, http.StatusForbidden)
	return true
}

// Header values shared by all responses; never written into (see rep).
var (
	hBytes     = []string{"bytes"}
	hVary      = []string{"Accept-Encoding"}
	hGzip      = []string{"gzip"}
	hBr        = []string{"br"}
	hAllow     = []string{"GET, HEAD"}
	hTextPlain = []string{"text/plain; charset=utf-8"}
	hTextHTML  = []string{"text/html; charset=utf-8"}
	hNoSniff   = []string{"nosniff"}
)

// serveFile answers GET or HEAD for a regular file.
func (h *Handler) serveFile(w http.ResponseWriter, r *http.Request, urlPath string, e *entry, retry bool) bool {
	if !getOrHead(r) {
		notAllowed(w, r)
		return true
	}

	rp, enc, vary := e.file, []string(nil), false
	if e.br != nil || e.gz != nil {
		vary = true
		// nginx's gzip_http_version 1.1: HTTP/1.0 caches may ignore Vary.
		if ae := r.Header["Accept-Encoding"]; len(ae) > 0 && r.ProtoAtLeast(1, 1) {
			br, gz := acceptEncodings(ae)
			switch {
			case br && e.br != nil:
				rp, enc = e.br, hBr
			case gz && e.gz != nil:
				rp, enc = e.gz, hGzip
			}
		}
	}

	var f *os.File
	if rp.body == nil && rp.of != nil && rp.of.acquire() {
		// Kept open: check it still is what rp describes (a rewrite in
		// place changes size or mtime), so the head describes the bytes,
		// and that it still has a name: a file deleted or replaced by a
		// rename is looked up again at once, as an open per request would.
		defer rp.of.release()
		if fi, err := rp.of.f.Stat(); err != nil || statOf(fi).id != rp.id || unlinked(fi) {
			e.stale()
		} else {
			f = rp.of.f
		}
	}
	if rp.body == nil && f == nil {
		// On the disk: open it now, before any header is decided, and take
		// the headers from what was opened, so that they describe the bytes
		// sent even if the file changed since it was cached.
		var st stat
		var err error
		f, st, _, err = h.tree.Load().open(rp.path)
		if err == nil && st.mode != 0 {
			f.Close()
			err = os.ErrNotExist
		}
		if err != nil {
			e.stale()
			if retry && notFound(err) {
				return h.serve(w, r, urlPath, false) // it moved: look again
			}
			return failed(w, r, err)
		}
		defer f.Close()
		if st.id != rp.id {
			e.stale()
			rp = newRep(rp.path, st, nil)
		}
	}

	hdr := w.Header()
	if vary {
		if v, ok := hdr["Vary"]; ok {
			hdr["Vary"] = append(v[:len(v):len(v)], "Accept-Encoding")
		} else {
			hdr["Vary"] = hVary
		}
	}
	switch preconditions(r, rp) {
	case http.StatusPreconditionFailed:
		writeError(w, r, http.StatusPreconditionFailed)
		return true
	case http.StatusNotModified:
		hdr["Etag"] = rp.hETag
		hdr["Last-Modified"] = rp.hLastMod
		w.WriteHeader(http.StatusNotModified)
		return true
	}
	if enc == nil {
		// Ranges of the identity only: nginx's gzip_static allows none, and
		// a slice of a compressed stream is of no use to most clients.
		if rh := r.Header["Range"]; len(rh) > 0 && ifRange(r, rp) {
			ranges, res := parseRanges(rh[0], rp.size())
			switch res {
			case rangesOK:
				hdr["Etag"] = rp.hETag
				hdr["Last-Modified"] = rp.hLastMod
				sendRanges(w, r, e.ctype[0], rp, f, ranges)
				return true
			case rangesUnsatisfiable:
				hdr["Content-Range"] = []string{fmt.Sprintf("bytes */%d", rp.size())}
				writeError(w, r, http.StatusRequestedRangeNotSatisfiable)
				return true
			}
		}
		hdr["Accept-Ranges"] = hBytes
	} else {
		hdr["Content-Encoding"] = enc
	}
	hdr["Content-Type"] = e.ctype
	hdr["Etag"] = rp.hETag
	hdr["Last-Modified"] = rp.hLastMod
	hdr["Content-Length"] = rp.hLength
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return true
	}
	if rp.body != nil {
		w.Write(rp.body)
	} else {
		// A section of the file is what the http1 engine sends from a
		// shared file by sendfile at its own offset; like a LimitedReader
		// (which net/http recognises) it stops at the Content-Length
		// promised should the file grow.
		io.Copy(w, io.NewSectionReader(f, 0, rp.size()))
	}
	return true
}

func getOrHead(r *http.Request) bool {
	return r.Method == http.MethodGet || r.Method == http.MethodHead
}

// notFound reports whether err means there is nothing at the path: the
// errors nginx answers 404 for.
func notFound(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.ENAMETOOLONG)
}

// failed answers a lookup error; false (nothing written) when there is
// nothing at the path.
func failed(w http.ResponseWriter, r *http.Request, err error) bool {
	switch {
	case notFound(err):
		return false
	case errors.Is(err, errOutside),
		errors.Is(err, fs.ErrPermission), // EACCES, EPERM
		errors.Is(err, syscall.ELOOP),
		errors.Is(err, syscall.EMLINK):
		writeError(w, r, http.StatusForbidden)
	default:
		writeError(w, r, http.StatusInternalServerError)
	}
	return true
}

func notAllowed(w http.ResponseWriter, r *http.Request) {
	w.Header()["Allow"] = hAllow
	writeError(w, r, http.StatusMethodNotAllowed)
}

// writeError writes a short plain-text error response.
func writeError(w http.ResponseWriter, r *http.Request, code int) {
	body := fmt.Sprintf("%d %s\n", code, http.StatusText(code))
	hdr := w.Header()
	hdr["Content-Type"] = hTextPlain
	hdr["X-Content-Type-Options"] = hNoSniff
	hdr["Content-Length"] = []string{fmt.Sprint(len(body))}
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		io.WriteString(w, body)
	}
}

// redirectToDir sends a 301 to the directory's path with a trailing slash,
// keeping the query string.
func redirectToDir(w http.ResponseWriter, r *http.Request, urlPath, rel string) {
	p := r.URL.Path
	if prefix, ok := strings.CutSuffix(p, urlPath); ok {
		p = prefix
		if rel != "" {
			p = strings.TrimSuffix(prefix, "/") + "/" + rel
		}
	}
	// One leading slash only: "//host/" in a Location is another site.
	p = "/" + strings.TrimLeft(p, "/")
	if p != "/" {
		p += "/"
	}
	loc := (&url.URL{Path: p}).EscapedPath()
	if r.URL.RawQuery != "" {
		loc += "?" + r.URL.RawQuery
	}
	hdr := w.Header()
	hdr["Location"] = []string{loc}
	body := "<a href=\"" + html.EscapeString(loc) + "\">Moved Permanently</a>.\n"
	hdr["Content-Type"] = hTextHTML
	hdr["Content-Length"] = []string{fmt.Sprint(len(body))}
	w.WriteHeader(http.StatusMovedPermanently)
	if r.Method != http.MethodHead {
		io.WriteString(w, body)
	}
}
