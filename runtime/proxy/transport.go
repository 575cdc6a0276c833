package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/stackctl/stackctl/runtime/config"
)

// uwsgiTransport speaks the uwsgi protocol to a server nginx's uwsgi_pass
// could use (uWSGI, gunicorn --protocol uwsgi, another stackctl's app
// socket): one request per connection, as the protocol has it. The response
// is plain HTTP/1.x ending at its Content-Length, its last chunk, or the
// close.
type uwsgiTransport struct {
	network, addr string
	key           string
	unixAddr      *syscall.SockaddrUnix // for the fast unix dial
}

func newUwsgiTransport(spec config.ServerSpec) *uwsgiTransport {
	t := &uwsgiTransport{network: spec.Network, addr: spec.Address, key: spec.Key}
	if spec.Network == "unix" {
		t.unixAddr = &syscall.SockaddrUnix{Name: spec.Address}
	}
	return t
}

func (t *uwsgiTransport) closeIdle() {}

// upConn is the connection of one request to a uwsgi server.
type upConn interface {
	io.ReadWriteCloser
	SetReadDeadline(time.Time) error
	SetWriteDeadline(time.Time) error
}

// dial connects to the server. A unix socket is connected with two plain
// syscalls: connect on a unix socket completes at once (or fails at once
// with EAGAIN when the server's backlog is full, and then net.Dialer waits
// for room); net.Dialer would add getsockname, getpeername, a deadline
// context and a dozen allocations to every request.
func (t *uwsgiTransport) dial(ctx context.Context, timeout time.Duration) (upConn, error) {
	if t.unixAddr != nil {
		fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			return nil, &net.OpError{Op: "dial", Net: "unix", Addr: &net.UnixAddr{Name: t.addr, Net: "unix"}, Err: os.NewSyscallError("socket", err)}
		}
		err = syscall.Connect(fd, t.unixAddr)
		if err == nil {
			return os.NewFile(uintptr(fd), t.addr), nil
		}
		syscall.Close(fd)
		if err != syscall.EAGAIN {
			return nil, &net.OpError{Op: "dial", Net: "unix", Addr: &net.UnixAddr{Name: t.addr, Net: "unix"}, Err: os.NewSyscallError("connect", err)}
		}
	}
	// The client's context is not watched while connecting (that costs
	// the engine a syscall); connect_timeout bounds the wait.
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(context.Background(), t.network, t.addr)
	if err != nil {
		return nil, err
	}
	return c.(upConn), nil
}

func (t *uwsgiTransport) roundTrip(ctx context.Context, rs *reqState, pl *pool) (*upResponse, error) {
	head, err := rs.uwsgiHead(false)
	if err != nil {
		return nil, &upError{err: err}
	}
	conn, err := t.dial(ctx, pl.cfg.ConnectTimeout.D())
	if err != nil {
		return nil, classify(err, false)
	}
	now := time.Now()
	conn.SetWriteDeadline(now.Add(pl.cfg.SendTimeout.D()))
	switch {
	case rs.body.size == 0:
		_, err = conn.Write(head)
	case rs.body.mem != nil && len(head)+len(rs.body.mem) <= 64<<10:
		// One write for head and body: one wake-up of the server.
		rs.wbuf = append(append(rs.wbuf[:0], head...), rs.body.mem...)
		_, err = conn.Write(rs.wbuf)
	default:
		_, err = conn.Write(head)
		if err == nil {
			_, err = io.Copy(conn, rs.body.reader())
		}
	}
	if err != nil {
		conn.Close()
		return nil, classify(fmt.Errorf("send request: %w", err), true)
	}
	rt := pl.cfg.ReadTimeout.D()
	conn.SetReadDeadline(now.Add(rt))
	br := bufioReaderPool.Get().(*bufio.Reader)
	br.Reset(conn)
	b := &rs.connBody
	*b = connBody{conn: conn, br: br, readTimeout: rt, lastSet: now}
	rs.resp = upResponse{addr: t.key, body: b}
	if err := readResponseHead(br, &rs.resp, rs.isHead, b); err != nil {
		b.Close()
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			err = fmt.Errorf("server closed the connection before a response: %w", err)
		}
		return nil, classify(fmt.Errorf("read response head: %w", err), true)
	}
	return &rs.resp, nil
}

var bufioReaderPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 16<<10) }}

// readResponseHead parses an HTTP/1.x status line and headers from br into
// resp and sets up b to read the body: to Content-Length, to the last chunk
// (Transfer-Encoding: chunked), or to the close. A CGI-style "Status:"
// header is dropped, as nginx does. It allocates the header map and its
// strings, nothing else.
func readResponseHead(br *bufio.Reader, resp *upResponse, isHead bool, b *connBody) error {
	line, err := readLine(br)
	if err != nil {
		return err
	}
	proto, rest, ok := strings.Cut(line, " ")
	if !ok || !strings.HasPrefix(proto, "HTTP/1.") || len(rest) < 3 {
		return fmt.Errorf("malformed status line %q", line)
	}
	code, err := strconv.Atoi(rest[:3])
	if err != nil || code < 100 || code > 999 {
		return fmt.Errorf("malformed status line %q", line)
	}
	h := make(http.Header, 8)
	chunked := false
	cl := int64(-1)
	for {
		line, err := readLine(br)
		if err != nil {
			return err
		}
		if line == "" {
			break
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return fmt.Errorf("malformed header line %q", line)
		}
		k = textproto.CanonicalMIMEHeaderKey(k)
		v = strings.TrimSpace(v)
		switch k {
		case "Transfer-Encoding":
			if strings.EqualFold(v, "chunked") {
				chunked = true
				continue
			}
			return fmt.Errorf("unsupported Transfer-Encoding %q", v)
		case "Content-Length":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 || (cl >= 0 && n != cl) {
				return fmt.Errorf("bad Content-Length %q", v)
			}
			cl = n
		case "Status":
			continue
		}
		h[k] = append(h[k], v)
	}
	resp.status, resp.header = code, h
	resp.contentLength = -1
	switch {
	case isHead || code < 200 || code == 204 || code == 304:
		// No body, whatever the head declares (a HEAD's Content-Length
		// stays in the header for the client).
		b.lr = io.LimitedReader{R: br, N: 0}
		b.body = &b.lr
	case chunked:
		delete(h, "Content-Length")
		b.body = httputil.NewChunkedReader(br)
	case cl >= 0:
		resp.contentLength = cl
		b.lr = io.LimitedReader{R: br, N: cl}
		b.body = &b.lr
	default:
		b.body = br // to the close
	}
	return nil
}

// readLine reads one CRLF- (or LF-) terminated line of at most 64 KiB.
func readLine(br *bufio.Reader) (string, error) {
	line, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		return "", errors.New("header line too long")
	}
	if err != nil {
		return "", err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return string(line), nil
}

// connBody is a one-shot response body: it extends the read deadline as
// data arrives (read_timeout is between two reads, as nginx's) and closes
// the connection at the end.
type connBody struct {
	body        io.Reader
	lr          io.LimitedReader
	conn        upConn
	br          *bufio.Reader
	readTimeout time.Duration
	lastSet     time.Time
	err         error // met by readAhead, for the next Read
}

func (b *connBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.readTimeout > 0 {
		// Re-arming the deadline costs a timer update: do it only when a
		// good part of it has passed.
		if now := time.Now(); now.Sub(b.lastSet) > b.readTimeout/4 {
			b.conn.SetReadDeadline(now.Add(b.readTimeout))
			b.lastSet = now
		}
	}
	return b.body.Read(p)
}

// readAhead fills p with what has already arrived of a body that ends at
// the close (uWSGI's, when the app sets no Content-Length), without
// waiting. whole reports that the close was seen: p[:n] is the body, and
// the client can have it with a Content-Length in one write instead of
// chunks flushed as they come. Otherwise the rest follows by Read.
func (b *connBody) readAhead(p []byte) (n int, whole bool) {
	if b.body != io.Reader(b.br) || b.err != nil {
		return 0, false // framed by length or chunks, or failed
	}
	sc, ok := b.conn.(syscall.Conn)
	if !ok {
		return 0, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, false
	}
	n, _ = b.br.Read(p[:min(len(p), b.br.Buffered())])
	for n < len(p) {
		var m int
		var rerr error
		if err := rc.Read(func(fd uintptr) bool {
			m, rerr = syscall.Read(int(fd), p[n:])
			return true // one try: never wait
		}); err != nil {
			return n, false
		}
		switch {
		case rerr == syscall.EINTR:
			continue
		case rerr == syscall.EAGAIN:
			return n, false
		case rerr != nil:
			b.err = rerr
			return n, false
		case m == 0:
			return n, true
		}
		n += m
	}
	return n, false
}

func (b *connBody) Close() error {
	if b.conn == nil {
		return nil
	}
	err := b.conn.Close()
	b.br.Reset(nil)
	bufioReaderPool.Put(b.br)
	b.conn, b.br, b.body = nil, nil, nil
	return err
}

// httpTransport passes requests to an HTTP/1.1 server over pooled
// keep-alive connections. A WebSocket (or any) Upgrade passes through.
type httpTransport struct {
	t        *http.Transport
	host     string // URL host: the address, or "localhost" for a unix socket
	key      string
	timeouts atomic.Pointer[ioTimeouts]
}

type ioTimeouts struct{ connect, send, read time.Duration }

func newHTTPTransport(spec config.ServerSpec, u config.Upstream) *httpTransport {
	ht := &httpTransport{host: spec.Address, key: spec.Key}
	if spec.Network == "unix" {
		ht.host = "localhost"
	}
	ht.setTimeouts(u)
	network, addr := spec.Network, spec.Address
	ht.t = &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			d := net.Dialer{Timeout: ht.connectTimeout(), KeepAlive: 30 * time.Second}
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &deadlineConn{Conn: c, t: &ht.timeouts}, nil
		},
		MaxIdleConns:           0,
		MaxIdleConnsPerHost:    u.Keepalive,
		IdleConnTimeout:        60 * time.Second,
		DisableCompression:     true,
		ExpectContinueTimeout:  0,
		ForceAttemptHTTP2:      false,
		MaxResponseHeaderBytes: 64 << 10,
		WriteBufferSize:        16 << 10,
		ReadBufferSize:         16 << 10,
	}
	return ht
}

func (ht *httpTransport) connectTimeout() time.Duration {
	return ht.timeouts.Load().connect
}

func (ht *httpTransport) setTimeouts(u config.Upstream) {
	ht.timeouts.Store(&ioTimeouts{send: u.SendTimeout.D(), read: u.ReadTimeout.D(), connect: u.ConnectTimeout.D()})
}

func (ht *httpTransport) closeIdle() { ht.t.CloseIdleConnections() }

func (ht *httpTransport) roundTrip(ctx context.Context, rs *reqState, pl *pool) (*upResponse, error) {
	out := rs.httpRequest(ctx, ht.host)
	resp, err := ht.t.RoundTrip(out)
	if err != nil {
		return nil, classify(err, true)
	}
	ur := &upResponse{status: resp.StatusCode, header: resp.Header, contentLength: resp.ContentLength, body: resp.Body, addr: ht.key}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		rwc, ok := resp.Body.(io.ReadWriteCloser)
		if !ok {
			resp.Body.Close()
			return nil, classify(errors.New("101 Switching Protocols without a writable body"), true)
		}
		ur.upgraded = rwc
	}
	return ur, nil
}

// deadlineConn applies send_timeout to each write and read_timeout to each
// read of an upstream HTTP connection (between two successive operations,
// as nginx's proxy_send_timeout and proxy_read_timeout). An idle pooled
// connection whose background read times out is simply dropped by the
// transport.
type deadlineConn struct {
	net.Conn
	t *atomic.Pointer[ioTimeouts]
}

func (c *deadlineConn) Read(p []byte) (int, error) {
	if d := c.t.Load().read; d > 0 {
		c.Conn.SetReadDeadline(time.Now().Add(d))
	}
	return c.Conn.Read(p)
}

func (c *deadlineConn) Write(p []byte) (int, error) {
	if d := c.t.Load().send; d > 0 {
		c.Conn.SetWriteDeadline(time.Now().Add(d))
	}
	return c.Conn.Write(p)
}

// hopHeaders are the hop-by-hop headers (RFC 9110 §7.6.1) a proxy removes.
var hopHeaders = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// removeHopHeaders deletes the hop-by-hop headers from h, including those
// named in its Connection header.
func removeHopHeaders(h http.Header) {
	for _, f := range h["Connection"] {
		for _, name := range strings.Split(f, ",") {
			if name = strings.TrimSpace(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, k := range hopHeaders {
		delete(h, k)
	}
}

// isUpgrade reports whether h asks for a protocol upgrade (WebSocket).
func isUpgrade(h http.Header) bool {
	if len(h["Upgrade"]) == 0 {
		return false
	}
	for _, f := range h["Connection"] {
		for _, name := range strings.Split(f, ",") {
			if strings.EqualFold(strings.TrimSpace(name), "upgrade") {
				return true
			}
		}
	}
	return false
}

// httpRequest builds the request passed to an HTTP server: the client's,
// with its URI as rewritten, hop-by-hop headers removed (an Upgrade kept),
// the client's Host, and the X-Forwarded-* headers.
func (rs *reqState) httpRequest(ctx context.Context, host string) *http.Request {
	r := rs.r
	h := make(http.Header, len(r.Header)+2)
	for k, vs := range r.Header {
		h[k] = vs
	}
	removeHopHeaders(h)
	if rs.wantsUpgrade {
		h["Connection"] = []string{"Upgrade"}
		h["Upgrade"] = r.Header["Upgrade"]
	}
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = nil // keep Go's transport from adding its own
	}
	u := &url.URL{Scheme: "http", Host: host, RawQuery: rs.rawQuery}
	if rs.rewritten || rs.stripped {
		u.Path = rs.upPath
	} else {
		u.Path, u.RawPath = r.URL.Path, r.URL.RawPath
	}
	out := &http.Request{
		Method:     r.Method,
		URL:        u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     h,
		Host:       r.Host,
	}
	if rs.body.size > 0 {
		out.Body = io.NopCloser(rs.body.reader())
		out.ContentLength = rs.body.size
	}
	return out.WithContext(ctx)
}
