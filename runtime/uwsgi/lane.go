package uwsgi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// A Lane is a private, kept-alive connection to one worker thread of
// stackctl's own app server. Requests are uwsgi packets written back to back
// (pipelined); the worker answers them in order, each response framed by
// Content-Length or chunked encoding so the connection survives it.
//
// Because answers come in order, when a lane breaks only the oldest
// unanswered request can have started in the worker: Do reports that one with
// ErrMaybeStarted and every other with ErrNotStarted, which the caller may
// resend anywhere whatever its method.
//
// A Lane is safe for concurrent use.
type Lane struct {
	conn net.Conn
	br   *bufio.Reader

	wmu sync.Mutex // serialises writes; taken before mu
	mu  sync.Mutex // guards queue and err
	// queue holds the calls whose requests were written, oldest first. The
	// head owns the read side of the connection.
	queue    []*call
	err      error
	draining bool
	idle     chan struct{} // made by Drain, closed when the queue empties

	done    chan struct{} // closed when the lane fails or is closed
	failed  atomic.Bool   // set just before done is closed
	pending atomic.Int32
	// oldest is the sentAt of queue[0] as nanoseconds since epoch, 0 when
	// the queue is empty: OldestAge reads it without the lock, since
	// dispatch asks every lane of a group for it per request.
	oldest atomic.Int64

	// Tag identifies the lane to its owner (for example the worker and
	// thread it leads to); the Lane never reads it.
	Tag any
}

// Lane errors. A broken lane is not reusable; see Lane for which error a
// call gets.
var (
	ErrNotStarted   = errors.New("uwsgi lane: request not started (safe to resend)")
	ErrMaybeStarted = errors.New("uwsgi lane: connection lost; the request may have started")
	ErrLaneClosed   = errors.New("uwsgi lane: closed")
	errAbandoned    = errors.New("uwsgi lane: response abandoned")
)

type call struct {
	turn      chan struct{} // closed when this call owns the read side, or the lane failed
	head      bool          // HEAD request: the response has no body
	abandoned atomic.Bool   // the caller gave up; whoever reads next discards this response
	sentAt    time.Time
}

// epoch is the base of Lane.oldest (a monotonic reading: now.Sub(epoch)
// never jumps with the wall clock).
var epoch = time.Now()

// NewLane wraps conn. The lane owns it from now on.
func NewLane(conn net.Conn) *Lane {
	return &Lane{conn: conn, br: bufio.NewReaderSize(conn, 32<<10), done: make(chan struct{})}
}

// Pending is the number of requests written and not yet fully answered.
func (l *Lane) Pending() int { return int(l.pending.Load()) }

// Done is closed when the lane can take no more requests.
func (l *Lane) Done() <-chan struct{} { return l.done }

// Failed reports whether Done is closed, without a channel operation.
func (l *Lane) Failed() bool { return l.failed.Load() }

// Err returns why the lane stopped, or nil while it works.
func (l *Lane) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// OldestAge is how long the oldest unanswered request has been waiting for
// its answer (0 when there is none). Dispatch uses it to avoid queueing
// behind a slow request.
func (l *Lane) OldestAge(now time.Time) time.Duration {
	t := l.oldest.Load()
	if t == 0 {
		return 0
	}
	return now.Sub(epoch) - time.Duration(t)
}

// setOldest records the head of the queue for OldestAge; l.mu is held.
func (l *Lane) setOldest() {
	if len(l.queue) == 0 {
		l.oldest.Store(0)
		return
	}
	// +1: a request sent in the very nanosecond of epoch is not "none".
	l.oldest.Store(int64(l.queue[0].sentAt.Sub(epoch)) + 1)
}

// Drain stops the lane taking requests (Do fails with ErrNotStarted, so a
// dispatcher racing the drain resends elsewhere) and waits until every
// request already written has been answered, the lane fails, or ctx ends.
func (l *Lane) Drain(ctx context.Context) error {
	l.mu.Lock()
	l.draining = true
	if len(l.queue) == 0 || l.err != nil {
		l.mu.Unlock()
		return nil
	}
	if l.idle == nil {
		l.idle = make(chan struct{})
	}
	idle := l.idle
	l.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-l.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Draining reports whether Drain was called.
func (l *Lane) Draining() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.draining
}

// Close closes the connection. Requests still waiting fail with
// ErrMaybeStarted (the worker may read what was already written), so callers
// should drain a lane (wait for Pending to reach 0) before closing it.
func (l *Lane) Close() error {
	l.fail(ErrLaneClosed, ErrMaybeStarted)
	return nil
}

// Response is the head of a worker's response. Body must be closed; closing
// it before the end discards the rest so the lane stays in step.
type Response struct {
	StatusCode    int
	Status        string // "200 OK"
	Header        http.Header
	ContentLength int64 // -1 when not declared
	Body          io.ReadCloser
}

// Do writes one request (head is an encoded packet head, body the request
// body of exactly the declared CONTENT_LENGTH) and waits for its response
// head. ctx bounds the wait; when it ends first the response is discarded
// when it arrives and the lane stays usable.
func (l *Lane) Do(ctx context.Context, head []byte, body io.Reader, isHead bool) (*Response, error) {
	c := &call{turn: make(chan struct{}), head: isHead}
	if err := l.send(c, head, body); err != nil {
		return nil, err
	}
	if done := ctx.Done(); done == nil {
		<-c.turn // a context that never ends: no select needed
	} else {
		select {
		case <-c.turn:
		case <-done:
			if l.abandon(c) {
				return nil, ctx.Err()
			}
			<-c.turn // the turn came at the same moment: take it and discard
			l.discardAndPass(c)
			return nil, ctx.Err()
		}
	}
	l.mu.Lock()
	failed := l.err
	owner := len(l.queue) > 0 && l.queue[0] == c
	l.mu.Unlock()
	if !owner {
		return nil, failedErr(failed)
	}
	if dl, ok := ctx.Deadline(); ok {
		l.conn.SetReadDeadline(dl)
	}
	resp, err := l.readHead(c)
	if err != nil {
		l.fail(fmt.Errorf("read response: %w", err), ErrNotStarted)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w: %w", ErrMaybeStarted, ctx.Err())
		}
		return nil, fmt.Errorf("%w: %v", ErrMaybeStarted, err)
	}
	return resp, nil
}

func failedErr(err error) error {
	if errors.Is(err, ErrMaybeStarted) || errors.Is(err, ErrNotStarted) {
		return err
	}
	return ErrNotStarted
}

// send enqueues c and writes its request. Queue order is write order.
func (l *Lane) send(c *call, head []byte, body io.Reader) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.mu.Lock()
	if l.err != nil || l.draining {
		l.mu.Unlock()
		return ErrNotStarted
	}
	c.sentAt = time.Now()
	l.queue = append(l.queue, c)
	first := len(l.queue) == 1
	if first {
		l.setOldest()
	}
	l.pending.Add(1)
	l.mu.Unlock()
	if first {
		close(c.turn)
	}
	_, err := l.conn.Write(head)
	if err == nil && body != nil {
		_, err = io.Copy(l.conn, body)
	}
	if err != nil {
		// The worker cannot have run a request it did not wholly receive,
		// except one it was already reading: fail everyone, the head with
		// ErrMaybeStarted.
		l.fail(fmt.Errorf("write request: %w", err), ErrNotStarted)
		return ErrNotStarted
	}
	return nil
}

// abandon marks c as given up. It returns false when c already owns the
// read side (then the caller must discard the response itself).
func (l *Lane) abandon(c *call) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.queue) > 0 && l.queue[0] == c {
		return false
	}
	c.abandoned.Store(true)
	return true
}

// fail breaks the lane: the owner of the read side gets ErrMaybeStarted,
// the rest others (ErrNotStarted unless the lane was closed deliberately).
func (l *Lane) fail(why error, others error) {
	l.mu.Lock()
	if l.err != nil {
		l.mu.Unlock()
		return
	}
	l.err = fmt.Errorf("%w (%v)", others, why)
	queue := l.queue
	l.queue = nil
	l.setOldest()
	l.pending.Store(0)
	l.failed.Store(true)
	close(l.done)
	l.mu.Unlock()
	l.conn.Close()
	for i, c := range queue {
		if i == 0 {
			continue // the head owns its turn already
		}
		close(c.turn)
	}
}

// pass ends c's turn and gives the read side to the next live call,
// discarding the responses of abandoned ones on the way.
func (l *Lane) pass(c *call) {
	l.mu.Lock()
	if len(l.queue) == 0 || l.queue[0] != c {
		l.mu.Unlock()
		return // the lane failed meanwhile
	}
	l.queue = l.queue[1:]
	l.setOldest()
	l.pending.Add(-1)
	var next *call
	if len(l.queue) > 0 {
		next = l.queue[0]
	} else if l.idle != nil {
		close(l.idle)
		l.idle = nil
	}
	l.mu.Unlock()
	if next == nil {
		return
	}
	if next.abandoned.Load() {
		l.discardAndPass(next)
		return
	}
	close(next.turn)
}

// discardAndPass reads and drops c's response, then passes the turn on.
func (l *Lane) discardAndPass(c *call) {
	l.conn.SetReadDeadline(time.Time{})
	resp, err := l.readHead(c)
	if err != nil {
		l.fail(fmt.Errorf("read abandoned response: %w", err), ErrNotStarted)
		return
	}
	resp.Body.Close()
}

// readHead reads the status line and headers of c's response and sets up
// its body reader.
func (l *Lane) readHead(c *call) (*Response, error) {
	tp := textproto.NewReader(l.br)
	line, err := tp.ReadLine()
	if err != nil {
		return nil, err
	}
	proto, status, ok := strings.Cut(line, " ")
	if !ok || !strings.HasPrefix(proto, "HTTP/1.") || len(status) < 3 {
		return nil, fmt.Errorf("malformed status line %q", line)
	}
	code, err := strconv.Atoi(status[:3])
	if err != nil || code < 100 || code > 999 {
		return nil, fmt.Errorf("malformed status line %q", line)
	}
	mh, err := tp.ReadMIMEHeader()
	if err != nil {
		return nil, fmt.Errorf("response headers: %w", err)
	}
	h := http.Header(mh)
	l.conn.SetReadDeadline(time.Time{})
	resp := &Response{StatusCode: code, Status: status, Header: h, ContentLength: -1}
	if cl := h.Get("Content-Length"); cl != "" {
		n, err := strconv.ParseInt(cl, 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("bad Content-Length %q", cl)
		}
		resp.ContentLength = n
	}
	b := &body{l: l, c: c}
	switch {
	case c.head || code < 200 || code == 204 || code == 304:
		b.remaining = 0
	case h.Get("Transfer-Encoding") == "chunked":
		h.Del("Transfer-Encoding")
		b.chunked = true
	case resp.ContentLength >= 0:
		b.remaining = resp.ContentLength
	default:
		return nil, errors.New("response has neither Content-Length nor chunked framing")
	}
	resp.Body = b
	return resp, nil
}

// ErrAborted is returned by a response body whose worker failed after
// sending the head: the client must see the response cut short.
var ErrAborted = errors.New("uwsgi lane: the application failed mid-response")

// body reads one framed response body from the lane and, once closed, hands
// the read side to the next request.
type body struct {
	l         *Lane
	c         *call
	chunked   bool
	remaining int64 // bytes left in the current chunk, or of the whole body
	eof       bool
	err       error
	closed    bool
}

func (b *body) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.eof {
		return 0, io.EOF
	}
	if b.remaining == 0 {
		if !b.chunked {
			b.eof = true
			return 0, io.EOF
		}
		if err := b.nextChunk(); err != nil {
			b.err = err
			return 0, err
		}
		if b.eof {
			return 0, io.EOF
		}
	}
	if int64(len(p)) > b.remaining {
		p = p[:b.remaining]
	}
	n, err := b.l.br.Read(p)
	b.remaining -= int64(n)
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		b.err = err
		return n, err
	}
	if b.chunked && b.remaining == 0 {
		if err := b.crlf(); err != nil {
			b.err = err
			return n, err
		}
	}
	return n, nil
}

// nextChunk reads a chunk-size line. "0;stackctl-abort" ends an aborted body.
func (b *body) nextChunk() error {
	line, err := b.l.br.ReadSlice('\n')
	if err != nil {
		if err == io.EOF {
			return io.ErrUnexpectedEOF
		}
		return err
	}
	s := strings.TrimRight(string(line), "\r\n")
	size, ext, _ := strings.Cut(s, ";")
	n, err := strconv.ParseInt(strings.TrimSpace(size), 16, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("malformed chunk size %q", s)
	}
	if n == 0 {
		if err := b.crlf(); err != nil {
			return err
		}
		b.eof = true
		if strings.TrimSpace(ext) == "stackctl-abort" {
			return ErrAborted
		}
		return nil
	}
	b.remaining = n
	return nil
}

func (b *body) crlf() error {
	line, err := b.l.br.ReadSlice('\n')
	if err != nil {
		return err
	}
	if len(line) != 2 || line[0] != '\r' {
		return fmt.Errorf("malformed chunk terminator %q", line)
	}
	return nil
}

// Close discards what was not read and passes the read side on. A body that
// failed mid-way breaks the lane (it is out of step).
func (b *body) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	if b.err == nil && !b.eof {
		_, err := io.Copy(io.Discard, b)
		if err != nil && b.err == nil {
			b.err = err
		}
	}
	if b.err != nil && !errors.Is(b.err, ErrAborted) {
		b.l.fail(fmt.Errorf("read response body: %w", b.err), ErrNotStarted)
		return b.err
	}
	b.l.pass(b.c)
	return nil
}
