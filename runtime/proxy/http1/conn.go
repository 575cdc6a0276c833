package http1

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// conn is one client connection. Its goroutine owns everything but the
// atomics, kmu and the fields marked as the poller's.
type conn struct {
	srv *Server
	rwc net.Conn
	id  uint64
	idx int // position in srv.conns, guarded by srv.mu

	rstate, wstate atomic.Uint64 // see the phase constants
	rlast, wlast   uint64        // the words this goroutine last stored
	kmu            sync.Mutex    // held by whoever flags a word and pokes the deadline

	rc         syscall.RawConn // nil when rwc is no syscall.Conn
	rcChecked  bool
	remoteAddr string

	// Guarded by the poller's mutex.
	pmode uint8
	// cur is the context of the request in flight: cancelled when the peer
	// hangs up or the server closes the connection.
	cur        atomic.Pointer[reqCtx]
	peerGone   atomic.Bool
	armed      atomic.Bool // watched by the poller for hang-up events
	registered atomic.Bool // in the poller's set at all

	wmu sync.Mutex // serializes writes: a body read may send a 100 Continue

	// Busy state: nil while the connection is cold.
	rbuf  []byte
	r, w  int
	wbuf  []byte  // output pending; cap is the buffer
	wbufp *[]byte // wbuf's pool pointer, kept so giving it back is free
	sc    *scratch

	idleStart  int64
	skipped    int  // empty lines skipped before a request line
	closeAfter bool // the current request is the connection's last
	hijacked   bool
	closed     bool
	wTimedOut  bool
	one        [1]byte
}

// await results.
const (
	awaitData = iota
	awaitParked
	awaitClosed
)

// serve runs the connection, from accept or from a poller wake-up, until it
// is closed, hijacked or parked.
func (c *conn) serve() {
	defer func() {
		if v := recover(); v != nil {
			// A bug here, not in a handler (serveRequest recovers those):
			// drop the connection, never the process.
			buf := make([]byte, 16<<10)
			buf = buf[:runtime.Stack(buf, false)]
			c.srv.logf("http1: internal error serving %s: %v\n%s", c.remote(), v, buf)
			c.close()
		}
	}()
	c.busy()
	c.rawConn() // now, before any handler goroutine may look at c.rc
	for {
		if c.r == c.w {
			switch c.await() {
			case awaitParked, awaitClosed:
				return
			}
		}
		if !c.serveRequest() {
			return
		}
	}
}

// busy gives the connection its read buffer and scratch state. The write
// buffer is taken per response (response.init) and given back after it.
func (c *conn) busy() {
	if c.rbuf == nil {
		c.rbuf = getBuf(readBufSize)
	}
	if c.sc == nil {
		c.sc = scratchPool.Get().(*scratch)
	}
}

func (c *conn) getWbuf() {
	if c.wbufp == nil {
		c.wbufp = getBufPtr(writeBufSize)
		c.wbuf = (*c.wbufp)[:0]
	}
}

func (c *conn) putWbuf() {
	if c.wbufp != nil {
		putBufPtr(c.wbufp)
		c.wbufp, c.wbuf = nil, nil
	}
}

// release returns the buffers; the connection holds nothing while idle.
func (c *conn) release() {
	if c.rbuf != nil {
		putBuf(c.rbuf)
		c.rbuf = nil
	}
	c.r, c.w = 0, 0
	c.putWbuf()
	if c.sc != nil {
		if !c.hijacked { // a hijacker may still read r.Header
			c.sc.reset()
			scratchPool.Put(c.sc)
		}
		c.sc = nil
	}
}

func (c *conn) remote() string {
	if c.remoteAddr == "" {
		if a := c.rwc.RemoteAddr(); a != nil {
			c.remoteAddr = a.String()
		}
	}
	return c.remoteAddr
}

// rawConn returns the connection's syscall.RawConn, or nil.
func (c *conn) rawConn() syscall.RawConn {
	if !c.rcChecked {
		c.rcChecked = true
		if sc, ok := c.rwc.(syscall.Conn); ok {
			if rc, err := sc.SyscallConn(); err == nil {
				c.rc = rc
			}
		}
	}
	return c.rc
}

// setR moves the read side to a phase. It fails when the sweeper or
// Shutdown flagged the current phase; c.rstate then holds the flag.
func (c *conn) setR(phase uint64, deadline int64) bool {
	w := word(phase, deadline)
	if c.rstate.CompareAndSwap(c.rlast, w) {
		c.rlast = w
		return true
	}
	return false
}

func (c *conn) setW(phase uint64, deadline int64) bool {
	w := word(phase, deadline)
	if c.wstate.CompareAndSwap(c.wlast, w) {
		c.wlast = w
		return true
	}
	return false
}

// poke flags the state word w (if it is still current) and wakes the
// goroutine blocked on it with a past deadline. kmu makes a goroutine that
// sees the flag wait until the deadline has been set (see unpoke).
func (c *conn) poke(w, flag uint64, read bool) {
	c.kmu.Lock()
	if read {
		if c.rstate.CompareAndSwap(w, w|flag) {
			c.rwc.SetReadDeadline(aLongTimeAgo)
		}
	} else if c.wstate.CompareAndSwap(w, w|flag) {
		c.rwc.SetWriteDeadline(aLongTimeAgo)
	}
	c.kmu.Unlock()
}

// unpoke clears the past read deadline a poke set, once it is surely set.
func (c *conn) unpoke() {
	c.kmu.Lock()
	c.kmu.Unlock() //nolint:staticcheck // an empty critical section orders us after poke
	c.rwc.SetReadDeadline(time.Time{})
	c.rlast = c.rstate.Load()
}

// await waits for the first bytes of the next request.
func (c *conn) await() int {
	s := c.srv
	c.r, c.w = 0, 0
	from := phaseOf(c.rlast)
	switch from {
	case phaseNew:
	case phaseResumed:
		if !c.setR(phaseHeader, s.now()+s.ms(s.cfg.readHeaderTimeout)) {
			c.close()
			return awaitClosed
		}
	default:
		if s.inShutdown.Load() {
			c.close()
			return awaitClosed
		}
		if cap(c.rbuf) > readBufSize {
			putBuf(c.rbuf)
			c.rbuf = getBuf(readBufSize)
		}
		c.idleStart = s.now()
		if !c.setR(phaseIdle, c.idleStart+s.ms(s.cfg.hot)) {
			c.close()
			return awaitClosed
		}
		if s.ConnState != nil {
			s.ConnState(c.rwc, http.StateIdle)
		}
		// Shutdown may have swept before we turned idle.
		if s.inShutdown.Load() {
			c.close()
			return awaitClosed
		}
	}
	for {
		n, err := c.rwc.Read(c.rbuf)
		if n > 0 {
			c.w = n
			return c.firstBytes(from)
		}
		if err == nil {
			continue
		}
		cur := c.rstate.Load()
		if cur&flagExpired != 0 && phaseOf(cur) == phaseIdle {
			c.unpoke()
			return c.goCold()
		}
		if cur&flagExpired != 0 && phaseOf(cur) != phaseIdle {
			s.stats.timeouts.Add(1)
		}
		c.close()
		return awaitClosed
	}
}

// firstBytes starts the head's clock when a request's first bytes arrive.
func (c *conn) firstBytes(from uint64) int {
	s := c.srv
	deadline := s.now() + s.ms(s.cfg.readHeaderTimeout)
	if from == phaseNew || from == phaseResumed {
		// The head's clock started at accept (or wake-up).
		deadline = deadlineOf(c.rlast)
	}
	if !c.setR(phaseHeader, deadline) {
		cur := c.rstate.Load()
		if cur&flagShutdown != 0 || phaseOf(cur) != phaseIdle {
			c.close()
			return awaitClosed
		}
		// Kicked toward cold just as data arrived: undo and carry on.
		c.unpoke()
		if !c.setR(phaseHeader, deadline) {
			c.close()
			return awaitClosed
		}
	}
	return awaitData
}

// goCold drops the buffers of a connection idle past the busy period and
// parks it in the poller, or failing that, waits on a 1-byte read.
func (c *conn) goCold() int {
	s := c.srv
	c.release()
	idleEnd := c.idleStart + s.ms(s.cfg.idleTimeout)
	if s.now() >= idleEnd {
		c.close()
		return awaitClosed
	}
	if s.poller != nil && c.rawConn() != nil {
		switch s.poller.park(c, idleEnd) {
		case parkOK:
			return awaitParked
		case parkFlagged:
			c.close()
			return awaitClosed
		}
	}
	if !c.setR(phaseCold, idleEnd) {
		c.close()
		return awaitClosed
	}
	// Wait in a fresh goroutine: this one's stack grew with the handler's
	// calls, a new one starts small and stays small.
	go c.coldWait()
	return awaitParked
}

// coldWait is the goroutine of a cold connection without a poller.
func (c *conn) coldWait() {
	if c.coldRead() == awaitData {
		c.serve()
	}
}

// coldRead waits for the next request without a buffer. It is a leaf
// with a small frame so the goroutine's stack shrinks while it waits.
//
//go:noinline
func (c *conn) coldRead() int {
	n, err := c.rwc.Read(c.one[:])
	if n == 1 {
		c.busy()
		c.rbuf[0] = c.one[0]
		c.r, c.w = 0, 1
		return c.firstBytes(phaseCold)
	}
	_ = err
	c.close()
	return awaitClosed
}

// resume is the poller's wake-up: the goroutine starts again.
func (c *conn) resume() {
	go c.serve()
}

// readHead reads until a complete head is buffered and returns it as one
// string, advancing c.r past it.
func (c *conn) readHead() (string, *httpError, bool) {
	s := c.srv
	limit := s.cfg.maxHeaderBytes
	scan, lineStart, lines := 0, 0, 0
	c.skipped = 0
	for {
		buf := c.rbuf[c.r:c.w]
		for scan < len(buf) {
			i := bytes.IndexByte(buf[scan:], '\n')
			if i < 0 {
				scan = len(buf)
				break
			}
			nl := scan + i
			scan = nl + 1
			if nl == lineStart || nl == lineStart+1 && buf[lineStart] == '\r' {
				if lines == 0 {
					// RFC 9112 2.2: ignore empty lines before a request line.
					c.skipped += scan
					if c.skipped > limit {
						return "", errBadRequestLine, false
					}
					c.r += scan
					buf = buf[scan:]
					scan, lineStart = 0, 0
					continue
				}
				if scan > limit {
					return "", errHeadTooLarge, false
				}
				head := string(buf[:scan])
				c.r += scan
				return head, nil, true
			}
			if lines++; lines > s.cfg.maxHeaders+1 {
				return "", errTooManyHeaders, false
			}
			if lines == 1 && nl > limit {
				return "", errURITooLong, false
			}
			lineStart = scan
		}
		if lines == 0 {
			// Reject what cannot become a request line (TLS, binary junk)
			// without waiting for a line end that may never come.
			for _, ch := range buf {
				if ch == ' ' {
					break
				}
				if class[ch]&cToken == 0 && ch != '\r' {
					return "", errBadMethod, false
				}
			}
		}
		if len(buf) > limit {
			if lines == 0 {
				return "", errURITooLong, false
			}
			return "", errHeadTooLarge, false
		}
		if c.w == len(c.rbuf) {
			if c.r > 0 {
				copy(c.rbuf, buf)
			} else {
				nb := getBuf(min(2*len(c.rbuf), limit+2))
				copy(nb, buf)
				putBuf(c.rbuf)
				c.rbuf = nb
			}
			c.r, c.w = 0, len(buf)
		}
		n, err := c.rwc.Read(c.rbuf[c.w:])
		c.w += n
		if err != nil && n == 0 {
			if c.rstate.Load()&flagExpired != 0 {
				s.stats.timeouts.Add(1)
			}
			return "", nil, false // timeout or peer gone: close without a word
		}
	}
}

// serveRequest reads, handles and answers one request. It reports whether
// the connection goes on.
func (c *conn) serveRequest() bool {
	s := c.srv
	if phaseOf(c.rlast) != phaseHeader {
		// A pipelined request already buffered: its head's clock starts now.
		if !c.setR(phaseHeader, s.now()+s.ms(s.cfg.readHeaderTimeout)) {
			c.close()
			return false
		}
	}
	head, herr, ok := c.readHead()
	if !ok {
		if herr != nil {
			c.fail(herr)
		} else {
			c.close()
		}
		return false
	}
	if !c.setR(phaseNone, 0) {
		c.close()
		return false
	}
	sc := c.sc
	x := new(exchange)
	var h reqHead
	if e := parseHead(head, &h, sc.reqHeader, &sc.vals, s.cfg.maxHeaders); e != nil {
		c.fail(e)
		return false
	}
	if err := parseURL(h.method, h.target, &x.url); err != nil {
		c.fail(errBadTarget)
		return false
	}
	c.closeAfter = h.connClose || h.minor == 0 && !h.connKeepAlive
	if h.pragmaNoCache && !h.cacheControl {
		sc.reqHeader["Cache-Control"] = []string{"no-cache"} // as net/http
	}
	req := c.newRequest(x, &h)
	handler := s.Handler
	if handler == nil {
		handler = http.NotFoundHandler()
	}
	if h.method == "OPTIONS" && h.target == "*" {
		handler = optionsStar{} // as net/http: the server answers it
	}
	if h.expect != "" && h.minor >= 1 && !asciiEqualFold(h.expect, "100-continue") {
		// RFC 9110 10.1.1; answered like net/http does, as a response.
		s.stats.badRequests.Add(1)
		handler = expectationFailed{}
	}

	s.stats.requests.Add(1)
	s.stats.active.Add(1)
	if s.ConnState != nil {
		s.ConnState(c.rwc, http.StateActive)
	}
	w := &x.resp
	c.cur.Store(&x.ctx)
	if c.peerGone.Load() {
		x.ctx.cancel()
	}
	c.callHandler(handler, w, req)
	c.cur.Store(nil)
	x.ctx.cancel()
	if !c.hijacked {
		w.finish()
	}
	w.done = true
	x.body.finish()
	s.stats.active.Add(-1)

	if c.hijacked {
		c.release()
		return false
	}
	if w.deadlineSet {
		c.rwc.SetDeadline(time.Time{})
	}
	switch {
	case w.err != nil:
		c.close() // the client is gone, or the handler aborted
		return false
	case c.closeAfter:
		// Unread input (a pipelined request, a body) would turn our close
		// into a reset that can destroy the response: linger then.
		if unread, _, _ := x.body.status(); unread || c.r < c.w {
			c.closeGracefully()
		} else {
			c.close()
		}
		return false
	}
	// Between requests only the read buffer is needed.
	c.putWbuf()
	sc.reset()
	return true
}

func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// callHandler runs the handler, recovering a panic like net/http: logged
// with its stack (unless it is http.ErrAbortHandler), the connection closed;
// a 500 goes out if nothing was sent yet.
func (c *conn) callHandler(h http.Handler, w *response, r *http.Request) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		c.closeAfter = true
		if v != http.ErrAbortHandler {
			c.srv.stats.panics.Add(1)
			buf := make([]byte, 64<<10)
			buf = buf[:runtime.Stack(buf, false)]
			c.srv.logf("http1: panic serving %s: %v\n%s", c.remote(), v, buf)
			if !w.committed && !c.hijacked {
				w.resetForError(http.StatusInternalServerError)
				return
			}
		}
		w.abort()
	}()
	h.ServeHTTP(w, r)
}

type expectationFailed struct{}

func (expectationFailed) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Connection", "close")
	w.WriteHeader(http.StatusExpectationFailed)
}

// optionsStar answers "OPTIONS *" like net/http's server does.
type optionsStar struct{}

func (optionsStar) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Length", "0")
	if r.ContentLength != 0 {
		io.Copy(io.Discard, io.LimitReader(r.Body, 4<<10))
	}
}

// errorResponse is what the engine writes for a request it rejects.
func errorResponse(b []byte, e *httpError) []byte {
	b = append(b, "HTTP/1.1 "...)
	b = appendInt(b, int64(e.code))
	b = append(b, ' ')
	b = append(b, http.StatusText(e.code)...)
	b = append(b, "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: "...)
	body := http.StatusText(e.code) + ": " + e.msg
	b = appendInt(b, int64(len(body)))
	b = append(b, "\r\n\r\n"...)
	return append(b, body...)
}

// fail answers a request the engine rejects and closes the connection.
func (c *conn) fail(e *httpError) {
	s := c.srv
	s.stats.badRequests.Add(1)
	if c.sc != nil {
		c.sc.head = errorResponse(c.sc.head[:0], e)
		c.write(c.sc.head)
	}
	c.closeAfter = true
	c.closeGracefully()
}

// closeGracefully closes after the client has had a chance to read the
// response (see lingerClose).
func (c *conn) closeGracefully() {
	if c.closed {
		return
	}
	c.detach(http.StateClosed)
	lingerClose(c.rwc, c.rbuf)
	c.release()
}

// close closes the connection now.
func (c *conn) close() {
	if c.closed {
		return
	}
	c.detach(http.StateClosed)
	c.rwc.Close()
	c.release()
}

// detach takes the connection out of the server (closed or hijacked).
func (c *conn) detach(state http.ConnState) {
	c.closed = true
	s := c.srv
	if c.registered.Load() {
		s.poller.forget(c)
	}
	s.untrack(c)
	if s.ConnState != nil {
		s.ConnState(c.rwc, state)
	}
}

// write sends b, bounding each step by WriteTimeout. Large buffers go in
// pieces so a slow client that keeps reading is not cut off.
func (c *conn) write(b []byte) error {
	s := c.srv
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for len(b) > 0 {
		n := min(len(b), maxWriteStep)
		if !c.setW(phaseWrite, s.now()+s.ms(s.cfg.writeTimeout)) {
			return c.writeTimedOut()
		}
		m, err := c.rwc.Write(b[:n])
		b = b[m:]
		if !c.setW(phaseNone, 0) {
			return c.writeTimedOut()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// writev sends bufs with one writev where the connection supports it.
func (c *conn) writev(bufs ...[]byte) error {
	s := c.srv
	var total int
	for _, b := range bufs {
		total += len(b)
	}
	if total > maxWriteStep {
		for _, b := range bufs {
			if err := c.write(b); err != nil {
				return err
			}
		}
		return nil
	}
	nb := net.Buffers(bufs)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if !c.setW(phaseWrite, s.now()+s.ms(s.cfg.writeTimeout)) {
		return c.writeTimedOut()
	}
	_, err := nb.WriteTo(c.rwc)
	if !c.setW(phaseNone, 0) {
		return c.writeTimedOut()
	}
	return err
}

// maxWriteStep is the most one write call sends, so WriteTimeout measures
// progress, not the whole response.
const maxWriteStep = 512 << 10

var errWriteTimeout = &timeoutError{"http1: write timeout"}

// writeTimedOut counts a write timeout once per connection.
func (c *conn) writeTimedOut() error {
	if !c.wTimedOut {
		c.wTimedOut = true
		c.srv.stats.timeouts.Add(1)
	}
	return errWriteTimeout
}

// timeoutError is a net.Error that matches os.ErrDeadlineExceeded, as
// the error from a connection whose deadline passed would.
type timeoutError struct{ s string }

func (e *timeoutError) Error() string        { return e.s }
func (e *timeoutError) Timeout() bool        { return true }
func (e *timeoutError) Temporary() bool      { return true }
func (e *timeoutError) Is(target error) bool { return target == os.ErrDeadlineExceeded }
