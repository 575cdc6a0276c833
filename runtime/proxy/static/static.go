// Package static serves files from a directory the way nginx does: correct
// Content-Type, ETag and Last-Modified with 304s, single Range requests,
// HEAD, precompressed .gz/.br siblings, directory redirects, optional
// listings, sendfile for large files, and never a byte from outside the
// root.
package static

import (
	"errors"
	"net/http"
)

// Options configure a Handler.
type Options struct {
	// Root is the directory served. Required; must exist.
	Root string
	// Index names the files served for a directory (default index.html).
	Index []string
	// Listing enables directory listings when no index file exists.
	Listing bool
	// NoPrecompressed disables serving NAME.br / NAME.gz siblings to
	// clients that accept them (on by default).
	NoPrecompressed bool
}

// Handler serves one root directory.
type Handler struct {
	opts Options
}

// New checks opts and returns a Handler.
func New(opts Options) (*Handler, error) {
	if opts.Root == "" {
		return nil, errors.New("static: root is required")
	}
	if len(opts.Index) == 0 {
		opts.Index = []string{"index.html"}
	}
	return &Handler{opts: opts}, nil
}

// Serve serves urlPath (the request path below the route's prefix, still
// percent-decoded as in r.URL.Path, starting with "/") for r. It returns
// false, having written nothing, when no such file or directory exists, so
// the caller can fall back (try_files); otherwise it has written the whole
// response (200, 206, 301, 304, 403, 404 for a directory without index,
// 405, 416...).
func (h *Handler) Serve(w http.ResponseWriter, r *http.Request, urlPath string) bool {
	return false
}
