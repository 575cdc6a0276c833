package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/stackctl/stackctl/runtime/proxy/http1"
)

// engine is the HTTP/1.x server loop serving one listener. net/http's
// *http.Server is one; the project's own http1 engine will be another.
type engine interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
	Close() error
}

// limits are the client-facing protection settings an engine applies.
type limits struct {
	readHeaderTimeout time.Duration
	keepaliveTimeout  time.Duration
	bodyTimeout       time.Duration // between two reads of a request body
	sendTimeout       time.Duration // between two writes of a response
	maxHeaderBytes    int
	maxHeaders        int
}

// useNetHTTP selects net/http's server instead of the http1 engine (for
// comparison in tests).
var useNetHTTP = false

// newEngine returns the engine for one listener: the project's http1
// engine (an idle keep-alive connection costs no goroutine and no buffer;
// strict parsing rejects smuggling attempts), or net/http's server.
func newEngine(h http.Handler, lim limits, logf func(string, ...any)) engine {
	if useNetHTTP {
		return &http.Server{
			Handler:           h,
			ReadHeaderTimeout: lim.readHeaderTimeout,
			IdleTimeout:       lim.keepaliveTimeout,
			// net/http allows 4 KiB beyond MaxHeaderBytes.
			MaxHeaderBytes: max(lim.maxHeaderBytes-4096, 1024),
			ErrorLog:       log.New(io.Discard, "", 0),
			// No TLS, so no HTTP/2: an empty map keeps net/http from trying.
			TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		}
	}
	return &http1.Server{
		Handler:           h,
		ReadHeaderTimeout: lim.readHeaderTimeout,
		IdleTimeout:       lim.keepaliveTimeout,
		WriteTimeout:      lim.sendTimeout,
		ReadTimeout:       lim.bodyTimeout,
		MaxHeaderBytes:    lim.maxHeaderBytes,
		MaxHeaders:        lim.maxHeaders,
		ErrorLog:          logf,
		// MaxConns stays 0: the acceptor enforces max_connections by not
		// accepting (nginx's behaviour) rather than answering 503.
	}
}

// engineTimeouts reports whether the engine applies body_timeout and
// send_timeout itself (http1 does, per read and write step; for net/http
// the handler sets deadlines).
func engineTimeouts() bool { return !useNetHTTP }

// listener is one listening socket. Its acceptor goroutine hands
// connections to the current engine through a channel, so an engine can be
// replaced (new limits on reload) without closing the socket: the new one
// takes the next connection while the old one finishes its own.
type listener struct {
	addr  string
	ln    net.Listener
	lim   limits
	conns chan net.Conn

	mu  sync.Mutex
	cur *engineSlot

	stop     chan struct{} // closed by shutdown
	stopOnce sync.Once
	done     chan struct{} // the acceptor stopped
}

// engineSlot is one engine serving a listener.
type engineSlot struct {
	eng    engine
	cl     *chanListener
	served chan struct{} // Serve returned
}

// listen binds addr ("HOST:PORT" or "unix:/path").
func listen(addr string) (net.Listener, error) {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		// A stale socket file from a crashed run would make bind fail.
		if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
			if c, err := net.DialTimeout("unix", path, 100*time.Millisecond); err == nil {
				c.Close()
				return nil, fmt.Errorf("listen %s: address in use", addr)
			}
			os.Remove(path)
		}
		l, err := net.Listen("unix", path)
		if err != nil {
			return nil, fmt.Errorf("listen %s: %w", addr, err)
		}
		return l, nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	return l, nil
}

func newListener(addr string, ln net.Listener) *listener {
	return &listener{addr: addr, ln: ln, conns: make(chan net.Conn), stop: make(chan struct{}), done: make(chan struct{})}
}

// start runs the acceptor and a first engine.
func (l *listener) start(p *Proxy, h http.Handler, lim limits) {
	l.lim = lim
	l.swap(p, h, lim)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		l.accept(p)
	}()
}

// swap starts a new engine on the listener and returns the previous one
// (nil at first), which the caller shuts down.
func (l *listener) swap(p *Proxy, h http.Handler, lim limits) *engineSlot {
	s := &engineSlot{eng: newEngine(h, lim, p.errorLogf), cl: &chanListener{conns: l.conns, addr: l.ln.Addr(), closed: make(chan struct{})}, served: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer close(s.served)
		s.eng.Serve(s.cl)
	}()
	l.mu.Lock()
	old := l.cur
	l.cur = s
	l.lim = lim
	l.mu.Unlock()
	return old
}

// accept takes connections from the socket, within max_connections, and
// hands them to the engine in force.
func (l *listener) accept(p *Proxy) {
	defer close(l.done)
	var delay time.Duration
	for {
		if !p.limiter.acquire(l.stop) {
			return
		}
		c, err := l.ln.Accept()
		if err != nil {
			p.limiter.release()
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// EMFILE and friends: back off as net/http does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			time.Sleep(delay)
			continue
		}
		delay = 0
		p.conns.Add(1)
		tc := &trackedConn{Conn: c, p: p}
		select {
		case l.conns <- tc:
		case <-l.stop:
			tc.Close()
			return
		}
	}
}

// shutdown closes the socket and lets the engine finish its requests until
// ctx ends; then it closes what is left.
func (l *listener) shutdown(ctx context.Context) error {
	l.stopOnce.Do(func() { close(l.stop) })
	l.ln.Close()
	l.mu.Lock()
	s := l.cur
	l.mu.Unlock()
	var err error
	if s != nil {
		err = s.shutdown(ctx)
	}
	<-l.done
	return err
}

func (s *engineSlot) shutdown(ctx context.Context) error {
	s.cl.Close()
	err := s.eng.Shutdown(ctx)
	if err != nil {
		s.eng.Close()
	}
	<-s.served
	return err
}

// chanListener is what an engine serves: connections the acceptor hands
// over. Closing it stops the engine accepting, not the socket.
type chanListener struct {
	conns  chan net.Conn
	addr   net.Addr
	once   sync.Once
	closed chan struct{}
}

func (c *chanListener) Accept() (net.Conn, error) {
	select {
	case <-c.closed:
		return nil, net.ErrClosed
	default:
	}
	select {
	case conn := <-c.conns:
		return conn, nil
	case <-c.closed:
		return nil, net.ErrClosed
	}
}

func (c *chanListener) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

func (c *chanListener) Addr() net.Addr { return c.addr }

// trackedConn counts open connections and releases its max_connections
// slot when closed. It keeps the socket's ReadFrom so that net/http can
// still sendfile static files through it.
type trackedConn struct {
	net.Conn
	p      *Proxy
	closed atomic.Bool
}

func (c *trackedConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.p.conns.Add(-1)
		c.p.limiter.release()
	}
	return c.Conn.Close()
}

// SyscallConn exposes the socket, for the http1 engine's epoll parking
// and sendfile.
func (c *trackedConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.New("not a socket")
}

func (c *trackedConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(c.Conn, r)
}

// connLimiter bounds open connections across all listeners (nginx's
// worker_connections): at the limit, listeners stop accepting and new
// connections wait in the kernel's backlog.
type connLimiter struct {
	limit atomic.Int64
	n     atomic.Int64
	mu    sync.Mutex
	freed chan struct{}
}

func newConnLimiter(limit int) *connLimiter {
	l := &connLimiter{}
	l.limit.Store(int64(limit))
	return l
}

func (l *connLimiter) setLimit(n int) {
	l.limit.Store(int64(n))
	l.wake()
}

// acquire takes a slot, waiting while none is free; false when stop closes.
func (l *connLimiter) acquire(stop <-chan struct{}) bool {
	for {
		n := l.n.Load()
		if n < l.limit.Load() {
			if l.n.CompareAndSwap(n, n+1) {
				return true
			}
			continue
		}
		l.mu.Lock()
		if l.freed == nil {
			l.freed = make(chan struct{})
		}
		ch := l.freed
		l.mu.Unlock()
		if l.n.Load() < l.limit.Load() {
			continue
		}
		select {
		case <-ch:
		case <-stop:
			return false
		}
	}
}

func (l *connLimiter) release() {
	if l.n.Add(-1) < l.limit.Load() {
		l.wake()
	}
}

func (l *connLimiter) wake() {
	l.mu.Lock()
	if l.freed != nil {
		close(l.freed)
		l.freed = nil
	}
	l.mu.Unlock()
}
