package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"
)

// reqBody is a request body read whole before any upstream sees it (nginx's
// proxy_request_buffering): a slow client never holds a worker, the length
// is known (the uwsgi protocol needs it), and a retry can send it again.
// Bodies up to body_buffer stay in memory; larger ones are spooled to an
// unlinked temporary file.
type reqBody struct {
	size   int64
	mem    []byte
	pooled *[]byte
	file   *os.File
	rd     bytes.Reader
	sr     io.SectionReader
}

// reader returns a reader of the whole body from its start; each call
// starts over (for a retry). nil when there is no body.
func (b *reqBody) reader() io.Reader {
	switch {
	case b.size == 0:
		return nil
	case b.file != nil:
		b.sr = *io.NewSectionReader(b.file, 0, b.size)
		return &b.sr
	default:
		b.rd.Reset(b.mem)
		return &b.rd
	}
}

func (b *reqBody) release() {
	if b.pooled != nil {
		bodyBufPool.Put(b.pooled)
	}
	if b.file != nil {
		b.file.Close()
	}
	b.size, b.mem, b.pooled, b.file = 0, nil, nil, nil
	b.rd.Reset(nil)
}

// Small bodies come from a pool of buffers this large.
const pooledBody = 64 << 10

var bodyBufPool = sync.Pool{New: func() any { b := make([]byte, pooledBody); return &b }}

// Body errors.
var (
	errBodyTooLarge = errors.New("request body too large")
	errBodyTimeout  = errors.New("timed out reading the request body")
)

// readBody reads the client's body into rs.body. It returns the status to
// answer when that fails: 413 over max, 408 on a body_timeout, 400 for a
// malformed or cut body (0 when it worked).
func (rs *reqState) readBody(max int64) (int, error) {
	r := rs.r
	cl := r.ContentLength
	if r.Body == nil || r.Body == http.NoBody || cl == 0 {
		return 0, nil
	}
	if cl > max {
		return http.StatusRequestEntityTooLarge, fmt.Errorf("%w: Content-Length %d over %d", errBodyTooLarge, cl, max)
	}
	tab := rs.tab
	src := &timeoutReader{r: r.Body, timeout: tab.bodyTimeout}
	if !engineTimeouts() {
		src.dl, _ = rs.w.w.(interface{ SetReadDeadline(time.Time) error })
	}
	defer src.clear()
	b := &rs.body
	if cl > 0 && cl <= tab.bodyBuffer {
		var buf []byte
		if cl <= pooledBody {
			b.pooled = bodyBufPool.Get().(*[]byte)
			buf = (*b.pooled)[:cl]
		} else {
			buf = make([]byte, cl)
		}
		if _, err := io.ReadFull(src, buf); err != nil {
			return bodyErrStatus(err)
		}
		b.mem, b.size = buf, cl
		return 0, nil
	}
	// Unknown length (chunked) or over body_buffer: memory first, then a
	// temporary file.
	b.pooled = bodyBufPool.Get().(*[]byte)
	mem := (*b.pooled)[:0]
	for {
		if len(mem) == cap(mem) {
			if int64(cap(mem)) >= tab.bodyBuffer || (cl > 0 && cl > tab.bodyBuffer) {
				break // spill
			}
			grown := make([]byte, len(mem), min(tab.bodyBuffer, 4*int64(cap(mem))))
			copy(grown, mem)
			mem = grown
			bodyBufPool.Put(b.pooled)
			b.pooled = nil
		}
		m, err := src.Read(mem[len(mem):cap(mem)])
		mem = mem[:len(mem)+m]
		if int64(len(mem)) > max {
			return http.StatusRequestEntityTooLarge, fmt.Errorf("%w: over %d", errBodyTooLarge, max)
		}
		if err == io.EOF {
			b.mem, b.size = mem, int64(len(mem))
			return 0, nil
		}
		if err != nil {
			return bodyErrStatus(err)
		}
	}
	f, err := os.CreateTemp(tab.tempDir, "body-")
	if err != nil {
		return http.StatusInternalServerError, fmt.Errorf("spool request body: %w", err)
	}
	os.Remove(f.Name()) // unlinked: gone with the last close, even after a crash
	b.file = f
	if _, err := f.Write(mem); err != nil {
		return http.StatusInternalServerError, fmt.Errorf("spool request body: %w", err)
	}
	if b.pooled != nil {
		bodyBufPool.Put(b.pooled)
		b.pooled = nil
	}
	n, err := io.CopyBuffer(onlyWriter{f}, io.LimitReader(src, max+1-int64(len(mem))), mem[:cap(mem)])
	total := int64(len(mem)) + n
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, errBodyTimeout) {
			return http.StatusRequestTimeout, errBodyTimeout
		}
		var pe *os.PathError
		if errors.As(err, &pe) {
			return http.StatusInternalServerError, fmt.Errorf("spool request body: %w", err)
		}
		return bodyErrStatus(err)
	}
	if total > max {
		return http.StatusRequestEntityTooLarge, fmt.Errorf("%w: over %d", errBodyTooLarge, max)
	}
	if cl > 0 && total != cl {
		return http.StatusBadRequest, fmt.Errorf("read request body: got %d of %d bytes", total, cl)
	}
	b.size = total
	return 0, nil
}

func bodyErrStatus(err error) (int, error) {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return http.StatusRequestTimeout, errBodyTimeout
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge, err
	}
	return http.StatusBadRequest, fmt.Errorf("read request body: %w", err)
}

// onlyWriter hides a file's ReadFrom so io.CopyBuffer uses the buffer
// given (and the timeoutReader's deadlines) instead of a splice attempt.
type onlyWriter struct{ w io.Writer }

func (o onlyWriter) Write(p []byte) (int, error) { return o.w.Write(p) }

// timeoutReader applies body_timeout between two reads of the client's
// body, as nginx's client_body_timeout.
type timeoutReader struct {
	r       io.Reader
	dl      interface{ SetReadDeadline(time.Time) error }
	timeout time.Duration
	lastSet time.Time
}

func (t *timeoutReader) Read(p []byte) (int, error) {
	if t.dl != nil && t.timeout > 0 {
		if now := time.Now(); now.Sub(t.lastSet) > t.timeout/8 {
			t.dl.SetReadDeadline(now.Add(t.timeout))
			t.lastSet = now
		}
	}
	return t.r.Read(p)
}

func (t *timeoutReader) clear() {
	if t.dl != nil && !t.lastSet.IsZero() {
		t.dl.SetReadDeadline(time.Time{})
	}
}
