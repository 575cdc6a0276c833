package http1

import (
	"math/bits"
	"net/http"
	"sync"
)

// Buffers come from size-class pools and are held by a connection only
// while it is busy: an idle connection holds none (see conn.goCold).
const (
	minBufShift = 12 // 4 KiB: the read buffer most requests need
	maxBufShift = 17 // 128 KiB: larger buffers are not pooled
	readBufSize = 1 << minBufShift
	// writeBufSize is the response buffer: room for the head plus a body
	// small enough to get an automatic Content-Length and go out in the
	// same write.
	writeBufSize = 8 << 10
)

var bufPools [maxBufShift - minBufShift + 1]sync.Pool

// getBuf returns a buffer of at least n bytes (len == cap == its class).
func getBuf(n int) []byte { return *getBufPtr(n) }

// putBuf returns b to its pool; b must not be used afterwards. It costs
// an allocation (the pool holds pointers); per-request buffers use the
// Ptr forms instead.
func putBuf(b []byte) { putBufPtr(&b) }

func getBufPtr(n int) *[]byte {
	shift := minBufShift
	if n > 1<<minBufShift {
		shift = bits.Len(uint(n - 1))
	}
	if shift > maxBufShift {
		b := make([]byte, n)
		return &b
	}
	if p, _ := bufPools[shift-minBufShift].Get().(*[]byte); p != nil {
		return p
	}
	b := make([]byte, 1<<shift)
	return &b
}

func putBufPtr(p *[]byte) {
	c := cap(*p)
	if c < 1<<minBufShift || c > 1<<maxBufShift || c&(c-1) != 0 {
		return
	}
	*p = (*p)[:c]
	bufPools[bits.Len(uint(c))-1-minBufShift].Put(p)
}

// scratch is the per-request state a busy connection reuses from one
// request to the next and gives back when it goes idle.
type scratch struct {
	reqHeader  http.Header
	respHeader http.Header
	vals       []string // backing storage for request field values
	keys       []string // response header keys, sorted
	head       []byte   // serialized response head
}

var scratchPool = sync.Pool{New: func() any {
	return &scratch{
		reqHeader:  make(http.Header, 8),
		respHeader: make(http.Header, 8),
		vals:       make([]string, 0, 16),
		keys:       make([]string, 0, 16),
		head:       make([]byte, 0, 512),
	}
}}

// reset drops what the last request left, replacing maps a request made
// large (clearing a big map costs its capacity on every request).
func (s *scratch) reset() {
	if len(s.reqHeader) > 32 {
		s.reqHeader = make(http.Header, 8)
	} else {
		clear(s.reqHeader)
	}
	if len(s.respHeader) > 32 {
		s.respHeader = make(http.Header, 8)
	} else {
		clear(s.respHeader)
	}
	clear(s.vals)
	s.vals = s.vals[:0]
	clear(s.keys)
	s.keys = s.keys[:0]
	if cap(s.head) > 16<<10 {
		s.head = make([]byte, 0, 512)
	}
}
