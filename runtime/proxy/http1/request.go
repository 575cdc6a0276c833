package http1

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// exchange is one request's state, allocated once per request so that
// nothing a handler might retain (its context above all) is reused.
type exchange struct {
	resp response
	body body
	ctx  reqCtx
	url  url.URL
	te   [1]string
}

var chunkedTE = "chunked"

// newRequest builds the *http.Request net/http would build for h.
func (c *conn) newRequest(x *exchange, h *reqHead) *http.Request {
	s := c.srv
	x.ctx.c = c
	tmpl := http.Request{
		Method:        h.method,
		URL:           &x.url,
		Proto:         h.proto,
		ProtoMajor:    h.major,
		ProtoMinor:    h.minor,
		Header:        c.sc.reqHeader,
		Body:          http.NoBody,
		ContentLength: 0,
		Host:          x.url.Host,
		RemoteAddr:    c.remote(),
		RequestURI:    h.target,
		Close:         c.closeAfter,
	}
	if tmpl.Host == "" {
		tmpl.Host = h.host
	}
	b := &x.body
	b.c = c
	b.ctx = &x.ctx
	b.limit = s.cfg.maxBodyBytes
	switch {
	case h.chunked:
		x.te[0] = chunkedTE
		tmpl.TransferEncoding = x.te[:]
		tmpl.ContentLength = -1
		tmpl.Body = b
		b.chunked = true
		b.active = true
	case h.contentLength > 0:
		tmpl.ContentLength = h.contentLength
		tmpl.Body = b
		b.remain = h.contentLength
		b.active = true
	}
	if b.active && h.minor >= 1 && h.expect != "" {
		b.expect = true // only "100-continue" gets this far
	}
	x.resp.init(c, x, h)
	// WithContext copies tmpl into the one Request allocation.
	return tmpl.WithContext(&x.ctx)
}

// SetMaxBodyBytes sets the body limit of the request r being served by
// this package (the route's client_max_body_size); n <= 0 removes it. It
// must be called before the body is read and reports whether r is one of
// this package's requests. Past the limit, reads fail with
// *http.MaxBytesError and the connection is closed after the response (a
// 413 if the handler writes nothing).
func SetMaxBodyBytes(r *http.Request, n int64) bool {
	b, ok := r.Body.(*body)
	if !ok {
		return r.Body == http.NoBody
	}
	b.mu.Lock()
	b.limit = n
	b.mu.Unlock()
	return true
}

// ServerContextKey is the context key under which a request's context
// holds its *Server.
var ServerContextKey = &contextKey{"http1-server"}

type contextKey struct{ name string }

func (k *contextKey) String() string { return "http1 context value " + k.name }

// reqCtx is a request's context: cancelled when the handler returns, on a
// read or write error, and when the client hangs up — the last detected
// only once somebody asks for Done (lazily, since watching costs a
// syscall). It implements the AfterFunc method the context package looks
// for, so child contexts do not cost a goroutine each.
type reqCtx struct {
	c      *conn
	mu     sync.Mutex
	done   chan struct{}
	err    error
	afters []*afterFunc
}

type afterFunc struct{ f func() }

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (x *reqCtx) Deadline() (time.Time, bool) { return time.Time{}, false }

func (x *reqCtx) Done() <-chan struct{} {
	x.mu.Lock()
	if x.done != nil {
		d := x.done
		x.mu.Unlock()
		return d
	}
	if x.err != nil {
		x.done = closedChan
		x.mu.Unlock()
		return closedChan
	}
	x.done = make(chan struct{})
	d := x.done
	x.mu.Unlock()
	x.c.watchPeer(x)
	return d
}

func (x *reqCtx) Err() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.err
}

func (x *reqCtx) Value(key any) any {
	switch key {
	case http.LocalAddrContextKey:
		return x.c.rwc.LocalAddr()
	case ServerContextKey:
		return x.c.srv
	}
	return nil
}

func (x *reqCtx) String() string { return "http1.requestContext" }

// AfterFunc is the hook context.AfterFunc and child contexts use.
func (x *reqCtx) AfterFunc(f func()) (stop func() bool) {
	a := &afterFunc{f: f}
	x.mu.Lock()
	if x.err != nil {
		x.mu.Unlock()
		go f()
		return func() bool { return false }
	}
	x.afters = append(x.afters, a)
	x.mu.Unlock()
	return func() bool {
		x.mu.Lock()
		defer x.mu.Unlock()
		for i, b := range x.afters {
			if b == a {
				x.afters = append(x.afters[:i], x.afters[i+1:]...)
				return true
			}
		}
		return false
	}
}

// cancel cancels the context (idempotent).
func (x *reqCtx) cancel() {
	x.mu.Lock()
	if x.err != nil {
		x.mu.Unlock()
		return
	}
	x.err = context.Canceled
	if x.done == nil {
		x.done = closedChan
	} else {
		close(x.done)
	}
	afters := x.afters
	x.afters = nil
	x.mu.Unlock()
	// The functions are the context package's child cancellations (quick,
	// non-blocking) or context.AfterFunc's, which start a goroutine.
	for _, a := range afters {
		a.f()
	}
}

// watchPeer asks the poller to cancel x when the client hangs up.
func (c *conn) watchPeer(x *reqCtx) {
	if c.peerGone.Load() {
		x.cancel()
		return
	}
	if !c.armed.Load() {
		if p := c.srv.poller; p != nil && c.rc != nil {
			p.arm(c, x)
		}
	}
	if c.peerGone.Load() {
		x.cancel()
	}
}

// body is a request body: Content-Length delimited or chunked.
type body struct {
	c       *conn
	ctx     *reqCtx
	mu      sync.Mutex
	active  bool  // the request has a body
	chunked bool  // chunked framing
	remain  int64 // identity: bytes left; chunked: bytes left in this chunk
	state   uint8 // chunked: where in the framing we are
	limit   int64 // <= 0: none
	n       int64 // bytes delivered
	err     error // sticky
	eof     bool
	closed  bool // Close called or handler returned
	done    bool // handler returned
	expect  bool // a 100-continue is owed before the first read
	sent100 bool
	tooBig  bool
}

const (
	chunkSize    = iota // expecting a chunk-size line
	chunkData           // in chunk data
	chunkCRLF           // expecting the CRLF after chunk data
	chunkTrailer        // in the trailer section
)

// Read implements io.Reader.
func (b *body) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	return b.readLocked(p)
}

// Close marks the body closed; what remains is discarded or the connection
// closed after the response, as net/http does.
func (b *body) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	return nil
}

func (b *body) readLocked(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.eof || !b.active {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	c := b.c
	if b.limit > 0 && !b.chunked && b.n+b.remain > b.limit {
		// The declared length is over the limit: fail before a 100
		// Continue invites the client to send it.
		return 0, b.fail(&http.MaxBytesError{Limit: b.limit}, true)
	}
	if b.expect && !b.sent100 {
		b.sent100 = true
		if c.hijacked {
			return 0, http.ErrHijacked
		}
		if err := c.write(continue100); err != nil {
			return 0, b.fail(err, false)
		}
	}
	var n int
	var err error
	if b.chunked {
		n, err = b.readChunked(p)
	} else {
		n, err = c.readBody(p[:min(int64(len(p)), b.remain)])
		b.remain -= int64(n)
		if b.remain == 0 {
			b.eof = true
		} else if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
	}
	b.n += int64(n)
	if b.limit > 0 && b.n > b.limit {
		// Only chunked bodies get here: the overflow is not handed out.
		over := b.n - b.limit
		n -= int(over)
		b.n = b.limit
		return n, b.fail(&http.MaxBytesError{Limit: b.limit}, true)
	}
	if err != nil && err != io.EOF {
		return n, b.fail(err, false)
	}
	if b.eof {
		return n, io.EOF
	}
	return n, nil
}

// fail makes err sticky. The connection learns of it when the response
// is committed (see response.settleBody), under b.mu.
func (b *body) fail(err error, tooBig bool) error {
	b.err = err
	b.tooBig = tooBig
	if !tooBig {
		b.ctx.cancel()
	}
	return err
}

var continue100 = []byte("HTTP/1.1 100 Continue\r\n\r\n")

// readChunked decodes chunked framing (RFC 9112 7.1) strictly: CRLF line
// ends, hex sizes without overflow, extensions and trailers bounded and
// ignored.
func (b *body) readChunked(p []byte) (int, error) {
	c := b.c
	for {
		switch b.state {
		case chunkSize:
			line, err := c.readLine(maxChunkLine)
			if err != nil {
				return 0, err
			}
			size, ok := parseChunkSize(line)
			if !ok {
				return 0, errMalformedChunked
			}
			if size == 0 {
				b.state = chunkTrailer
				continue
			}
			b.remain = size
			b.state = chunkData
		case chunkData:
			n, err := c.readBody(p[:min(int64(len(p)), b.remain)])
			b.remain -= int64(n)
			if b.remain == 0 {
				b.state = chunkCRLF
			}
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return n, err
		case chunkCRLF:
			line, err := c.readLine(2)
			if err != nil {
				return 0, err
			}
			if len(line) != 0 {
				return 0, errMalformedChunked
			}
			b.state = chunkSize
		case chunkTrailer:
			if err := b.skipTrailers(); err != nil {
				return 0, err
			}
			b.eof = true
			return 0, io.EOF
		}
	}
}

const maxChunkLine = 4096

func (b *body) skipTrailers() error {
	c := b.c
	total, count := 0, 0
	for {
		line, err := c.readLine(maxChunkLine)
		if err != nil {
			return err
		}
		if len(line) == 0 {
			return nil
		}
		total += len(line) + 2
		count++
		if total > c.srv.cfg.maxHeaderBytes || count > c.srv.cfg.maxHeaders {
			return errMalformedChunked
		}
		// Trailers are ignored, but must still be field lines.
		colon := -1
		for i, ch := range line {
			if ch == ':' && colon < 0 {
				colon = i
				continue
			}
			if colon < 0 && class[ch]&cToken == 0 || colon >= 0 && class[ch]&cValue == 0 {
				return errMalformedChunked
			}
		}
		if colon <= 0 {
			return errMalformedChunked
		}
	}
}

// parseChunkSize parses chunk-size [ chunk-ext ] from a chunk line.
func parseChunkSize(line []byte) (int64, bool) {
	var n int64
	i := 0
	for ; i < len(line); i++ {
		d := line[i]
		switch {
		case '0' <= d && d <= '9':
			d -= '0'
		case 'a' <= d && d <= 'f':
			d -= 'a' - 10
		case 'A' <= d && d <= 'F':
			d -= 'A' - 10
		default:
			goto ext
		}
		if i >= 15 {
			return 0, false // 60 bits of size is plenty; no overflow games
		}
		n = n<<4 | int64(d)
	}
ext:
	if i == 0 {
		return 0, false
	}
	rest := line[i:]
	for len(rest) > 0 && (rest[0] == ' ' || rest[0] == '\t') {
		rest = rest[1:]
	}
	if len(rest) > 0 {
		if rest[0] != ';' {
			return 0, false
		}
		for _, ch := range rest {
			if class[ch]&cValue == 0 {
				return 0, false
			}
		}
	}
	return n, true
}

// finish is called when the handler has returned: later reads fail.
func (b *body) finish() {
	b.mu.Lock()
	b.closed = true
	b.done = true
	b.mu.Unlock()
}

// status reports, for the response: whether part of the body is still on
// the wire, and whether reading it failed on the limit or on bad framing.
func (b *body) status() (unread, tooBig, malformed bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.active && !b.eof, b.tooBig, b.err == errMalformedChunked
}

// discard reads and drops what is left of the body, up to max bytes, for
// keep-alive. It reports whether the body ended cleanly.
func (b *body) discard(max int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.active || b.eof {
		return true
	}
	if b.err != nil || b.expect && !b.sent100 {
		return false
	}
	if !b.chunked && b.remain > max {
		return false
	}
	limit := b.limit
	b.limit = 0 // dropping bytes is not delivering them
	defer func() { b.limit = limit }()
	buf := getBuf(readBufSize)
	defer putBuf(buf)
	var total int64
	for total <= max {
		n, err := b.readLocked(buf)
		total += int64(n)
		if err == io.EOF {
			return true
		}
		if err != nil {
			return false
		}
	}
	return false
}

// readBody reads body bytes: from the buffer first, then straight into p
// when p is large, else through the buffer.
func (c *conn) readBody(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if c.r < c.w {
		n := copy(p, c.rbuf[c.r:c.w])
		c.r += n
		return n, nil
	}
	c.r, c.w = 0, 0
	if len(p) >= len(c.rbuf) {
		return c.readConn(p)
	}
	n, err := c.readConn(c.rbuf)
	c.w = n
	m := copy(p, c.rbuf[:n])
	c.r = m
	if m > 0 {
		err = nil
	}
	return m, err
}

// readLine returns the next CRLF-terminated line (without the CRLF) from
// the buffer, reading more as needed. A bare LF or a line longer than max
// is malformed.
func (c *conn) readLine(max int) ([]byte, error) {
	scan := 0
	for {
		buf := c.rbuf[c.r:c.w]
		if i := indexByteFrom(buf, '\n', scan); i >= 0 {
			if i == 0 || buf[i-1] != '\r' {
				return nil, errMalformedChunked
			}
			c.r += i + 1
			return buf[:i-1], nil
		}
		scan = len(buf)
		if len(buf) > max {
			return nil, errMalformedChunked
		}
		if c.w == len(c.rbuf) {
			if c.r > 0 {
				copy(c.rbuf, buf)
			} else {
				nb := getBuf(2 * len(c.rbuf))
				copy(nb, buf)
				putBuf(c.rbuf)
				c.rbuf = nb
			}
			c.r, c.w = 0, len(buf)
		}
		n, err := c.readConn(c.rbuf[c.w:])
		c.w += n
		if n == 0 && err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
}

func indexByteFrom(b []byte, c byte, from int) int {
	for i := from; i < len(b); i++ {
		if b[i] == c {
			return i
		}
	}
	return -1
}

// readConn reads from the connection for a body, bounded by ReadTimeout.
func (c *conn) readConn(p []byte) (int, error) {
	s := c.srv
	if !c.setR(phaseBody, s.now()+s.ms(s.cfg.readTimeout)) {
		return 0, errReadTimeout
	}
	n, err := c.rwc.Read(p)
	if !c.setR(phaseNone, 0) {
		if n > 0 {
			return n, nil
		}
		s.stats.timeouts.Add(1)
		return 0, errReadTimeout
	}
	return n, err
}

var errReadTimeout = &timeoutError{"http1: body read timeout"}
