// Package http1 is the proxy's HTTP/1.1 server engine: a replacement for
// net/http's server that serves any http.Handler, built for many
// connections on few cores.
//
// What it does differently from net/http, and why:
//
//   - An idle keep-alive connection holds no buffers and, on Linux TCP and
//     unix connections, no goroutine: after a busy period of a second it is
//     parked in an epoll set of the server's own and woken when bytes
//     arrive. 10,000 idle connections cost ~1.5 KiB each (heap and stacks;
//     ~2.5 KiB of RSS), against ~16 KiB with net/http. Elsewhere an idle
//     connection waits in a fresh, small goroutine (~3 KiB).
//   - Timeouts are enforced by one sweeper goroutine per server that scans
//     per-connection deadline words a few times per timeout period, instead
//     of resetting a runtime timer several times per request.
//   - No goroutine per request. A handler that asks for r.Context().Done()
//     gets client hang-up detection from the same epoll set (EPOLLRDHUP),
//     not from a background read per request.
//   - Three allocations per simple GET: the head string, the request state
//     and the *http.Request; the head and a small body leave in one write.
//   - Parsing is strict (RFC 9112): obs-fold, whitespace before a colon,
//     bare CR, NUL and other controls, conflicting or duplicate framing are
//     rejected, so the proxy cannot be used to smuggle requests past an
//     upstream that parses differently. Bare LF line ends are accepted in
//     the head (RFC 9112 2.2) but not in chunked framing.
//
// The contract with handlers is net/http's, made strict in one respect: a
// handler must not use the *http.Request (including its Header and URL), the
// http.ResponseWriter or its Header map after ServeHTTP returns, from any
// goroutine. Both maps and the value storage behind r.Header are reused by
// the next request on the connection. r.Context() stays valid (and
// cancelled) forever. A handler that hijacks the connection owns r and the
// connection from then on.
package http1

import (
	"context"
	"errors"
	"log"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// Server serves HTTP/1.x on listeners with an http.Handler. Fields must not
// be changed after the first call to Serve.
type Server struct {
	// Handler answers requests. Nil means http.NotFoundHandler.
	Handler http.Handler

	// ReadHeaderTimeout bounds reading a whole request head, from its first
	// byte (for a new connection: from accept). Default 10s.
	ReadHeaderTimeout time.Duration
	// IdleTimeout bounds the wait for the next request on a kept-alive
	// connection. Default 75s (nginx's keepalive_timeout).
	IdleTimeout time.Duration
	// WriteTimeout bounds each step of writing the response: the client
	// must accept some bytes within it (nginx's send_timeout). Default 60s.
	WriteTimeout time.Duration
	// ReadTimeout bounds each step of reading a request body: the client
	// must send some bytes within it (nginx's client_body_timeout).
	// Default 60s.
	ReadTimeout time.Duration

	// MaxHeaderBytes limits the request head (request line and fields).
	// Default 32 KiB. Over it: 431 (414 when the request line alone is).
	MaxHeaderBytes int
	// MaxHeaders limits the number of request field lines. Default 100.
	MaxHeaders int
	// MaxBodyBytes is the default request body limit; a handler changes it
	// per request with SetMaxBodyBytes. Zero means no limit. Reading past
	// it returns *http.MaxBytesError; a handler that then writes nothing
	// gets a 413, and the connection is closed.
	MaxBodyBytes int64
	// MaxConns limits open connections. Zero means no limit. A connection
	// over the limit is answered 503 and closed.
	MaxConns int

	// ErrorLog receives handler panics and protocol errors worth an
	// operator's attention. Nil means the standard logger.
	ErrorLog func(format string, args ...any)
	// ConnState, if set, is called on connection state changes like
	// net/http's Server.ConnState.
	ConnState func(net.Conn, http.ConnState)

	cfg      config
	initOnce sync.Once
	epoch    time.Time
	clock    atomic.Int64 // ms since epoch, refreshed by the sweeper

	inShutdown atomic.Bool
	mu         sync.Mutex
	listeners  map[*net.Listener]struct{}
	conns      []*conn // all tracked connections; conn.idx is the position
	serving    sync.WaitGroup
	bgStarted  bool
	bgStop     chan struct{}
	bgWG       sync.WaitGroup
	poller     *poller       // nil when unsupported
	noPoller   bool          // tests: idle connections keep their goroutine
	testHot    time.Duration // tests: a shorter busy period
	rejecting  atomic.Int32

	nextID atomic.Uint64
	stats  statCounters
}

// config is the Server's fields with defaults applied.
type config struct {
	readHeaderTimeout, idleTimeout, writeTimeout, readTimeout time.Duration
	hot                                                       time.Duration // busy period before an idle conn drops its buffers
	tick                                                      time.Duration
	maxHeaderBytes, maxHeaders, maxConns                      int
	maxBodyBytes                                              int64
}

func (s *Server) init() {
	s.initOnce.Do(func() {
		c := config{
			readHeaderTimeout: orDuration(s.ReadHeaderTimeout, 10*time.Second),
			idleTimeout:       orDuration(s.IdleTimeout, 75*time.Second),
			writeTimeout:      orDuration(s.WriteTimeout, 60*time.Second),
			readTimeout:       orDuration(s.ReadTimeout, 60*time.Second),
			maxHeaderBytes:    s.MaxHeaderBytes,
			maxHeaders:        s.MaxHeaders,
			maxConns:          s.MaxConns,
			maxBodyBytes:      s.MaxBodyBytes,
		}
		if c.maxHeaderBytes <= 0 {
			c.maxHeaderBytes = 32 << 10
		}
		if c.maxHeaders <= 0 {
			c.maxHeaders = 100
		}
		c.hot = min(time.Second, c.idleTimeout)
		if s.testHot > 0 {
			c.hot = s.testHot
		}
		// The sweeper's period sets timeout precision: a fifth of the
		// shortest timeout, between 5 ms and 200 ms.
		m := min(c.readHeaderTimeout, c.idleTimeout, c.writeTimeout, c.readTimeout, c.hot)
		c.tick = min(max(m/5, 5*time.Millisecond), 200*time.Millisecond)
		s.cfg = c
		s.epoch = time.Now()
		s.listeners = make(map[*net.Listener]struct{})
	})
}

func orDuration(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// now is the coarse server clock in ms; it lags real time by at most one
// sweeper tick, which is the precision of every timeout anyway.
func (s *Server) now() int64 { return s.clock.Load() }

func (s *Server) ms(d time.Duration) int64 { return int64(d / time.Millisecond) }

func (s *Server) logf(format string, args ...any) {
	if s.ErrorLog != nil {
		s.ErrorLog(format, args...)
		return
	}
	log.Printf(format, args...)
}

// Stats is a snapshot of a Server's counters.
type Stats struct {
	Conns       int    // open connections (including idle ones)
	Active      int    // connections with a request in progress
	Parked      int    // idle connections parked in the poller (no goroutine)
	Accepted    uint64 // connections accepted
	Rejected    uint64 // connections refused over MaxConns
	Requests    uint64 // requests handed to the handler
	BadRequests uint64 // requests the engine answered with 4xx/5xx itself
	Timeouts    uint64 // connections closed by a timeout
	Panics      uint64 // handler panics recovered
}

type statCounters struct {
	active, parked                                              atomic.Int64
	accepted, rejected, requests, badRequests, timeouts, panics atomic.Uint64
}

// Stats returns the server's counters. Cheap enough to call every second.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	n := len(s.conns)
	s.mu.Unlock()
	return Stats{
		Conns:       n,
		Active:      int(s.stats.active.Load()),
		Parked:      int(s.stats.parked.Load()),
		Accepted:    s.stats.accepted.Load(),
		Rejected:    s.stats.rejected.Load(),
		Requests:    s.stats.requests.Load(),
		BadRequests: s.stats.badRequests.Load(),
		Timeouts:    s.stats.timeouts.Load(),
		Panics:      s.stats.panics.Load(),
	}
}

// Serve accepts connections on l and serves them until l fails or the
// server is shut down, when it returns http.ErrServerClosed. Serve closes l.
func (s *Server) Serve(l net.Listener) error {
	s.init()
	s.mu.Lock()
	if s.inShutdown.Load() {
		s.mu.Unlock()
		l.Close()
		return http.ErrServerClosed
	}
	s.listeners[&l] = struct{}{}
	s.serving.Add(1)
	s.startBackgroundLocked()
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, &l)
		s.mu.Unlock()
		l.Close()
		s.serving.Done()
	}()

	var delay time.Duration
	for {
		rw, err := l.Accept()
		if err != nil {
			if s.inShutdown.Load() {
				return http.ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				// EMFILE and friends: back off like net/http rather than spin.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.logf("http1: accept error: %v; retrying in %v", err, delay)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		s.accept(rw)
	}
}

func isTemporary(err error) bool {
	t, ok := err.(interface{ Temporary() bool })
	return ok && t.Temporary()
}

func (s *Server) accept(rw net.Conn) {
	s.stats.accepted.Add(1)
	c := &conn{srv: s, rwc: rw, id: s.nextID.Add(1)}
	s.mu.Lock()
	if s.inShutdown.Load() {
		s.mu.Unlock()
		rw.Close()
		return
	}
	if s.cfg.maxConns > 0 && len(s.conns) >= s.cfg.maxConns {
		s.mu.Unlock()
		s.stats.rejected.Add(1)
		s.reject(rw)
		return
	}
	c.idx = len(s.conns)
	s.conns = append(s.conns, c)
	// A new connection gets ReadHeaderTimeout for its first request, not
	// IdleTimeout: a client that connects and sends nothing is a slowloris.
	c.rlast = word(phaseNew, s.now()+s.ms(s.cfg.readHeaderTimeout))
	c.rstate.Store(c.rlast)
	s.mu.Unlock()
	if s.ConnState != nil {
		s.ConnState(rw, http.StateNew)
	}
	go c.serve()
}

// untrack removes c from the registry (closed or hijacked).
func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	if i := c.idx; i >= 0 && i < len(s.conns) && s.conns[i] == c {
		last := len(s.conns) - 1
		s.conns[i] = s.conns[last]
		s.conns[i].idx = i
		s.conns[last] = nil
		s.conns = s.conns[:last]
		c.idx = -1
	}
	empty := len(s.conns) == 0
	s.mu.Unlock()
	if empty && s.inShutdown.Load() {
		s.stopBackground(false)
	}
}

var resp503 = []byte("HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 20\r\nConnection: close\r\n\r\ntoo many connections")

// reject answers a connection over MaxConns. It writes and lingers in a
// goroutine of its own, a bounded number at a time: past that, a flood is
// simply closed.
func (s *Server) reject(rw net.Conn) {
	if s.rejecting.Add(1) > 64 {
		s.rejecting.Add(-1)
		rw.Close()
		return
	}
	s.bgWG.Add(1)
	go func() {
		defer s.bgWG.Done()
		defer s.rejecting.Add(-1)
		rw.SetWriteDeadline(time.Now().Add(time.Second))
		rw.Write(resp503)
		lingerClose(rw, nil)
	}()
}

// lingerClose closes rw after the client has had a moment to read what was
// written: closing a socket with unread input sends a RST, which can destroy
// the response in flight (RFC 9112 9.6). buf, if any, is scratch space.
func lingerClose(rw net.Conn, buf []byte) {
	if cw, ok := rw.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
		if len(buf) < 512 {
			buf = make([]byte, 512)
		}
		rw.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		for total := 0; total < 256<<10; {
			n, err := rw.Read(buf)
			total += n
			if err != nil {
				break
			}
		}
	}
	rw.Close()
}

func (s *Server) startBackgroundLocked() {
	if s.bgStarted {
		return
	}
	s.bgStarted = true
	s.bgStop = make(chan struct{})
	s.clock.Store(s.ms(time.Since(s.epoch)))
	if s.noPoller {
		// No poller: idle connections wait in a goroutine each.
	} else if p, err := newPoller(s); err == nil {
		s.poller = p
		s.bgWG.Add(1)
		go func() {
			defer s.bgWG.Done()
			p.run()
		}()
	} else if !errors.Is(err, errNoPoller) {
		s.logf("http1: no poller, idle connections keep a goroutine: %v", err)
	}
	s.bgWG.Add(1)
	go s.sweeper(s.bgStop)
}

// stopBackground stops the sweeper and the poller once: on Close, or when
// a shutting-down server has no connection left. wait makes it wait for them.
func (s *Server) stopBackground(wait bool) {
	s.mu.Lock()
	if s.bgStarted && s.bgStop != nil {
		close(s.bgStop)
		s.bgStop = nil
		if s.poller != nil {
			s.poller.close()
		}
	}
	s.mu.Unlock()
	if wait {
		s.bgWG.Wait()
	}
}

func (s *Server) sweeper(stop chan struct{}) {
	defer s.bgWG.Done()
	t := time.NewTicker(s.cfg.tick)
	defer t.Stop()
	var parked []parkedExpiry
	// Two collections: sync.Pool keeps what it held through the first
	// (its victim cache) and frees it in the second, which FreeOSMemory
	// runs before returning the pages.
	idle := idleRelease{free: func() { runtime.GC(); debug.FreeOSMemory() }}
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		now := s.ms(time.Since(s.epoch))
		s.clock.Store(now)
		idle.check(time.Now(), s.stats.requests.Load()+s.stats.accepted.Load())
		parked = s.sweep(now, parked[:0])
		for _, pe := range parked {
			s.poller.expire(pe.c, pe.w, errTimeoutKind)
		}
		clear(parked)
	}
}

// idleRelease returns memory to the OS once a server goes quiet after a
// burst. Parked connections hold no buffers and no goroutine, but what the
// burst allocated stays resident until a garbage collection — which an idle
// process does not run for minutes — so 10,000 idle keep-alive connections
// would look like 11 KiB each instead of 1.5 KiB.
type idleRelease struct {
	lastCount   uint64    // requests + accepts at the last change
	lastChange  time.Time // when the count last moved
	sinceFree   uint64    // activity since the last release
	lastRelease time.Time
	free        func() // collect and return the memory to the OS
}

const (
	idleQuiet      = 2 * time.Second  // no request for this long: the burst is over
	idleBurst      = 1000             // ... and it was at least this big
	idleMinBetween = 10 * time.Second // a full collection at most this often
)

func (r *idleRelease) check(now time.Time, count uint64) {
	if count != r.lastCount {
		r.sinceFree += count - r.lastCount
		r.lastCount, r.lastChange = count, now
		return
	}
	if r.sinceFree >= idleBurst && now.Sub(r.lastChange) >= idleQuiet && now.Sub(r.lastRelease) >= idleMinBetween {
		r.sinceFree, r.lastRelease = 0, now
		r.free()
	}
}

type parkedExpiry struct {
	c *conn
	w uint64
}

// sweep flags every connection whose read or write deadline has passed
// and wakes its goroutine with a deadline in the past. Parked connections
// have no goroutine; they are returned for the caller to close.
func (s *Server) sweep(now int64, parked []parkedExpiry) []parkedExpiry {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		if w := c.rstate.Load(); due(w, now) {
			if phaseOf(w) == phaseParked {
				parked = append(parked, parkedExpiry{c, w})
			} else {
				c.poke(w, flagExpired, true)
			}
		}
		if w := c.wstate.Load(); due(w, now) {
			c.poke(w, flagExpired, false)
		}
	}
	return parked
}

// Shutdown stops accepting, closes idle connections, lets active ones
// finish their request (answered with Connection: close), and returns when
// all are closed or ctx is done. Hijacked connections are not tracked.
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	s.inShutdown.Store(true)
	s.closeListeners()
	s.serving.Wait()
	delay := time.Millisecond
	t := time.NewTimer(delay)
	defer t.Stop()
	for {
		if s.closeIdle() {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		delay = min(2*delay, 50*time.Millisecond)
		t.Reset(delay)
	}
	s.stopBackground(true)
	return nil
}

// Close closes the listeners and every connection at once, without waiting
// for requests in flight.
func (s *Server) Close() error {
	s.init()
	s.inShutdown.Store(true)
	s.closeListeners()
	s.serving.Wait()
	s.mu.Lock()
	conns := append([]*conn(nil), s.conns...)
	s.mu.Unlock()
	for _, c := range conns {
		if w := c.rstate.Load(); phaseOf(w) == phaseParked && s.poller != nil {
			s.poller.expire(c, w, errShutdownKind)
			continue
		}
		c.rwc.Close()
		if x := c.cur.Load(); x != nil {
			x.cancel() // as when the client goes away
		}
	}
	s.stopBackground(true)
	return nil
}

func (s *Server) closeListeners() {
	s.mu.Lock()
	for l := range s.listeners {
		(*l).Close()
	}
	s.mu.Unlock()
}

// closeIdle closes the connections that are between requests (or have not
// sent a byte yet) and reports whether none is left.
func (s *Server) closeIdle() bool {
	var parked []parkedExpiry
	s.mu.Lock()
	n := len(s.conns)
	for _, c := range s.conns {
		w := c.rstate.Load()
		if w&flagMask != 0 {
			continue
		}
		switch phaseOf(w) {
		case phaseParked:
			parked = append(parked, parkedExpiry{c, w})
		case phaseNew, phaseIdle, phaseCold:
			c.poke(w, flagShutdown, true)
		}
	}
	s.mu.Unlock()
	for _, pe := range parked {
		s.poller.expire(pe.c, pe.w, errShutdownKind)
	}
	if n == 0 {
		// Wake the sweeper's last duty: it stops when nothing is left.
		s.stopBackground(false)
	}
	return n == 0
}

// A connection's read and write state words pack a phase (low 4 bits),
// flags set by the sweeper or Shutdown (bits 4-5) and a deadline in server
// ms (bits 8 and up; 0 = none). The connection's goroutine changes its
// phase by CAS from the value it last stored, so a flag set concurrently
// makes that CAS fail and the goroutine learns of it; whoever sets a flag
// then pokes the conn with a past deadline to wake it.
const (
	phaseNone    = iota // the handler runs; no engine timeout
	phaseNew            // fresh connection, no byte yet
	phaseIdle           // between requests, buffers held, goroutine reading
	phaseCold           // between requests, no buffers, goroutine reading 1 byte
	phaseParked         // between requests, no goroutine: in the poller
	phaseHeader         // reading a request head
	phaseBody           // reading a request body (read side)
	phaseResumed        // woken by the poller, goroutine starting
	phaseWrite          // writing (write side)

	flagExpired  = 1 << 4
	flagShutdown = 1 << 5
	flagMask     = flagExpired | flagShutdown
)

func word(phase uint64, deadline int64) uint64 { return uint64(deadline)<<8 | phase }
func phaseOf(w uint64) uint64                  { return w & 0xf }
func deadlineOf(w uint64) int64                { return int64(w >> 8) }

func due(w uint64, now int64) bool {
	d := deadlineOf(w)
	return w&flagMask == 0 && d != 0 && d <= now
}

// aLongTimeAgo is a deadline that has passed: it wakes a blocked Read or
// Write at once.
var aLongTimeAgo = time.Unix(1, 0)

// errTimeoutKind and errShutdownKind tell poller.expire why it closes.
const (
	errTimeoutKind = iota
	errShutdownKind
)
