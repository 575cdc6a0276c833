//go:build linux

package http1

import (
	"errors"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// poller is an epoll set of the server's own, beside the Go runtime's. It
// holds idle connections whose goroutine has exited (parked: woken on
// input) and connections whose request context wants to know when the
// client hangs up (watched: EPOLLRDHUP). Waiting for it costs no thread:
// the epoll descriptor is itself registered with the runtime's netpoller,
// and run waits on it like on a socket.
type poller struct {
	s      *Server
	f      *os.File // the epoll descriptor, for waiting
	epfd   int      // the same, for epoll_ctl (f.Fd would make it blocking)
	mu     sync.Mutex
	conns  map[uint64]*conn // registered connections by id
	closed bool
}

// Registration modes of a connection (conn.pmode, guarded by poller.mu).
const (
	pmodeNone   = iota // not in the set
	pmodeIdle          // in the set, no events enabled (one-shot fired)
	pmodeWatch         // hang-up events, edge-triggered
	pmodeParked        // input or hang-up, one-shot
)

// park results.
const (
	parkOK      = iota
	parkFlagged // the sweeper or Shutdown got there first
	parkFailed  // use a goroutine instead
)

var errNoPoller = errors.New("http1: no poller on this platform")

func newPoller(s *Server) (*poller, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "http1-epoll")
	// Only a descriptor the netpoller accepted supports deadlines.
	if err := f.SetReadDeadline(time.Time{}); err != nil {
		f.Close()
		return nil, err
	}
	return &poller{s: s, f: f, epfd: fd, conns: make(map[uint64]*conn)}, nil
}

func (p *poller) run() {
	rc, err := p.f.SyscallConn()
	if err != nil {
		return
	}
	events := make([]unix.EpollEvent, 128)
	var wake []*conn
	var cancels []*reqCtx
	for {
		err := rc.Read(func(fd uintptr) bool {
			for {
				n, err := unix.EpollWait(int(fd), events, 0)
				if err == unix.EINTR {
					continue
				}
				if err != nil || n <= 0 {
					return false // drained: wait for the set to turn readable
				}
				wake, cancels = p.dispatch(events[:n], wake[:0], cancels[:0])
				for _, c := range wake {
					c.resume()
				}
				for _, x := range cancels {
					x.cancel()
				}
				clear(wake)
				clear(cancels)
			}
		})
		if err != nil {
			return // closed
		}
	}
}

func (p *poller) dispatch(evs []unix.EpollEvent, wake []*conn, cancels []*reqCtx) ([]*conn, []*reqCtx) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range evs {
		ev := &evs[i]
		c := p.conns[uint64(uint32(ev.Fd))|uint64(uint32(ev.Pad))<<32]
		if c == nil {
			continue
		}
		switch c.pmode {
		case pmodeParked:
			w := c.rstate.Load()
			if phaseOf(w) != phaseParked || w&flagMask != 0 {
				continue
			}
			rw := word(phaseResumed, 0)
			if !c.rstate.CompareAndSwap(w, rw) {
				continue
			}
			// The goroutine that parked c is gone; the one resume starts
			// inherits c.rlast through the go statement.
			c.rlast = rw
			c.pmode = pmodeIdle
			p.s.stats.parked.Add(-1)
			wake = append(wake, c)
		case pmodeWatch:
			if ev.Events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
				c.peerGone.Store(true)
				if x := c.cur.Load(); x != nil {
					cancels = append(cancels, x)
				}
			}
		}
	}
	return wake, cancels
}

func (p *poller) ctl(c *conn, op int, events uint32) error {
	ev := unix.EpollEvent{Events: events, Fd: int32(uint32(c.id)), Pad: int32(uint32(c.id >> 32))}
	var err error
	cerr := c.rc.Control(func(fd uintptr) {
		err = unix.EpollCtl(p.epfd, op, int(fd), &ev)
	})
	if cerr != nil {
		return cerr
	}
	return err
}

func (p *poller) opFor(c *conn) int {
	if c.pmode == pmodeNone {
		return unix.EPOLL_CTL_ADD
	}
	return unix.EPOLL_CTL_MOD
}

// park hands an idle connection to the poller; on parkOK its goroutine
// must return without touching it.
func (p *poller) park(c *conn, idleEnd int64) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return parkFailed
	}
	w := word(phaseParked, idleEnd)
	if !c.rstate.CompareAndSwap(c.rlast, w) {
		return parkFlagged
	}
	if err := p.ctl(c, p.opFor(c), unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLONESHOT); err != nil {
		// Nobody else changes a parked word without p.mu.
		c.rstate.Store(c.rlast)
		return parkFailed
	}
	c.rlast = w
	c.pmode = pmodeParked
	c.armed.Store(false)
	c.registered.Store(true)
	p.conns[c.id] = c
	p.s.stats.parked.Add(1)
	return parkOK
}

// arm watches c for a hang-up on behalf of x, unless x is already over.
func (p *poller) arm(c *conn, x *reqCtx) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || c.armed.Load() || c.pmode == pmodeParked || x.Err() != nil {
		return
	}
	if p.ctl(c, p.opFor(c), unix.EPOLLRDHUP|unix.EPOLLET) != nil {
		return
	}
	c.pmode = pmodeWatch
	c.armed.Store(true)
	c.registered.Store(true)
	p.conns[c.id] = c
}

// forget removes c from the set before it is closed or hijacked.
func (p *poller) forget(c *conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.forgetLocked(c)
}

func (p *poller) forgetLocked(c *conn) {
	if c.pmode == pmodeNone {
		return
	}
	if !p.closed {
		p.ctl(c, unix.EPOLL_CTL_DEL, 0)
	}
	if c.pmode == pmodeParked {
		p.s.stats.parked.Add(-1)
	}
	delete(p.conns, c.id)
	c.pmode = pmodeNone
	c.armed.Store(false)
	c.registered.Store(false)
}

// expire closes a parked connection whose state word is still w: idle
// timeout (the sweeper) or shutdown.
func (p *poller) expire(c *conn, w uint64, kind int) {
	flag := uint64(flagExpired)
	if kind == errShutdownKind {
		flag = flagShutdown
	}
	p.mu.Lock()
	if c.pmode != pmodeParked || !c.rstate.CompareAndSwap(w, w|flag) {
		p.mu.Unlock()
		return
	}
	p.forgetLocked(c)
	p.mu.Unlock()
	c.close() // c has no goroutine: whoever wins the CAS owns it
}

func (p *poller) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.f.Close()
}
