package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stackctl/stackctl/runtime/proxy/rewrite"
	"github.com/stackctl/stackctl/runtime/proxy/static"
	"github.com/stackctl/stackctl/runtime/uwsgi"
)

// listenerHandler serves the requests of one listener; it knows the
// listener's address for SERVER_NAME/SERVER_PORT.
type listenerHandler struct {
	p    *Proxy
	host string
	port string
}

// reqState is everything one request needs on its way through the proxy.
// It is pooled: the request path allocates little beyond what net/http
// does.
type reqState struct {
	p   *Proxy
	tab *table
	lh  *listenerHandler
	w   respWriter
	r   *http.Request
	out *http.Request // r as passed upstream (a copy with the rewritten URL when rewritten)

	start      time.Time
	method     string
	isHead     bool
	path       string // decoded path, after rewrites
	rawQuery   string
	rewritten  bool
	rulesEnded bool // a rule with [END] ran: no more rewrite rules for this request
	requeued   int  // times the request was moved off a lane where it waited
	stripped   bool
	upPath     string // path passed upstream when rewritten or stripped
	scriptName string
	clientIP   string
	clientPort string
	route      *route
	active     *route // the route counted active

	body       reqBody
	enc        uwsgi.Encoder // the vars for stock uwsgi servers
	headOK     bool
	laneEnc    uwsgi.Encoder // the vars for our own workers' lanes
	laneHeadOK bool
	info       uwsgi.RequestInfo
	outCopy    http.Request
	outURL     url.URL
	dctx       deadlineCtx
	fwd        [2]string  // X-Forwarded-For and -Host values
	resp       upResponse // the response head, for transports that build one
	laneBody   laneBody
	connBody   connBody
	wbuf       []byte // a one-shot request's head and body, for one write

	tries        []upstreamTry
	line         []byte
	abort        bool
	wantsUpgrade bool // the client asked for a protocol upgrade
}

// maxPasses bounds internal redirections (rewrites, fallbacks) per
// request, as nginx's limit of 10.
const maxPasses = 10

func (h *listenerHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := h.p
	rs := p.states.Get().(*reqState)
	rs.init(h, w, r)
	p.stats.begin()
	finished := false
	defer func() {
		if !finished {
			rs.finish() // a panic below: still count and log the request
		}
	}()
	rs.serve()
	rs.finish()
	finished = true
	abort := rs.abort
	rs.reset()
	p.states.Put(rs)
	if abort {
		// The upstream failed mid-response: the client must see the
		// response cut short, not a clean end.
		panic(http.ErrAbortHandler)
	}
}

func (rs *reqState) init(h *listenerHandler, w http.ResponseWriter, r *http.Request) {
	rs.p, rs.lh, rs.r, rs.out = h.p, h, r, r
	rs.tab = h.p.tab.Load()
	rs.w = respWriter{w: w}
	rs.start = time.Now()
	rs.method = r.Method
	rs.isHead = r.Method == http.MethodHead
	rs.path, rs.rawQuery = r.URL.Path, r.URL.RawQuery
	rs.clientIP, rs.clientPort = splitAddr(r.RemoteAddr)
}

func (rs *reqState) reset() {
	rs.body.release()
	tries, line, wbuf := rs.tries[:0], rs.line[:0], rs.wbuf[:0]
	if cap(wbuf) > 64<<10+4096 {
		wbuf = nil
	}
	enc, laneEnc := rs.enc, rs.laneEnc
	*rs = reqState{tries: tries, line: line, enc: enc, laneEnc: laneEnc, wbuf: wbuf}
}

// splitAddr splits "ip:port" without allocating.
func splitAddr(a string) (ip, port string) {
	i := strings.LastIndexByte(a, ':')
	if i < 0 {
		return a, ""
	}
	ip, port = a[:i], a[i+1:]
	if len(ip) > 1 && ip[0] == '[' && ip[len(ip)-1] == ']' {
		ip = ip[1 : len(ip)-1]
	}
	return ip, port
}

// serve routes the request and answers it.
func (rs *reqState) serve() {
	tab := rs.tab
	if n := headerCount(rs.r.Header); n > tab.maxHeaders {
		rs.fail(http.StatusRequestHeaderFieldsTooLarge, fmt.Errorf("%d header fields, more than max_headers %d", n, tab.maxHeaders))
		return
	}
	// Route (and rewrite, and pass upstream) the normalised path, as nginx
	// does: "/x/../admin/" and "//admin/" are "/admin/", so a route cannot
	// be bypassed by spelling its path differently.
	clean, ok := static.Normalize(rs.path)
	if !ok {
		rs.fail(http.StatusBadRequest, fmt.Errorf("path %q climbs above the root", rs.path))
		return
	}
	if clean != rs.path {
		rs.setPath(clean, rs.rawQuery)
	}
	if tab.rewrite != nil {
		if rs.applyRewrite(tab.rewrite) {
			return
		}
	}
	var rt, skipRules *route
	for pass := 0; ; pass++ {
		if pass == maxPasses {
			rs.fail(http.StatusInternalServerError, errors.New("rewrite or internal redirection cycle"))
			return
		}
		if rt == nil {
			rt = tab.router.match(rs.r.Host, rs.path)
			if rt == nil {
				rs.fail(http.StatusNotFound, nil)
				return
			}
		}
		rs.route = rt
		if rt.rewrite != nil && rt != skipRules && !rs.rulesEnded {
			before := rs.path
			if rs.applyRewrite(rt.rewrite) {
				return
			}
			if rs.rewritten && rs.path != before {
				// Routed again; if that lands on the same route its rules
				// do not run a second time (nginx's "break").
				skipRules = rt
				rt = nil
				continue
			}
		}
		if rs.r.ContentLength > rt.maxBody {
			rs.fail(http.StatusRequestEntityTooLarge, fmt.Errorf("Content-Length %d over max_body %d", rs.r.ContentLength, rt.maxBody))
			return
		}
		rs.enter(rt)
		switch {
		case rt.static != nil:
			next, done := rs.serveStatic(rt)
			if done {
				return
			}
			rt = next
			continue
		case rt.upstream != nil:
			rs.proxy(rt.upstream, rt)
		case rt.redirect != "":
			rs.redirect(rt.status, rs.expand(rt.redirect))
		default:
			rs.fail(http.StatusNotFound, nil)
		}
		return
	}
}

// enter counts the request active on rt (and no longer on a route it
// was handed over from).
func (rs *reqState) enter(rt *route) {
	if rs.active == rt {
		return
	}
	if rs.active != nil {
		rs.active.stats.active.Add(-1)
	}
	rt.stats.active.Add(1)
	rs.active = rt
}

// applyRewrite runs a rewrite program. It returns true when the request
// has been answered (redirect, forbidden, gone, proxied).
func (rs *reqState) applyRewrite(prog *rewrite.Program) bool {
	res := prog.Apply(&rewrite.Request{
		Method: rs.method, Host: rs.r.Host, Path: rs.path, RawQuery: rs.rawQuery, Header: rs.r.Header,
		RemoteAddr: rs.clientIP, DocumentRoot: rs.documentRoot(),
	})
	if res.End {
		rs.rulesEnded = true // [END]: no further rules, at any level
	}
	switch res.Kind {
	case rewrite.Rewritten:
		rs.setPath(res.Path, res.RawQuery)
	case rewrite.Redirect:
		status := res.Status
		if status == 0 {
			status = http.StatusFound
		}
		rs.redirect(status, res.Location)
		return true
	case rewrite.Forbidden:
		rs.fail(http.StatusForbidden, nil)
		return true
	case rewrite.Status:
		// R=4xx/5xx, or the 500 of a rule set that looped past its passes.
		rs.fail(res.Status, nil)
		return true
	case rewrite.Gone:
		rs.fail(http.StatusGone, nil)
		return true
	case rewrite.Proxy:
		rs.setPath(res.Path, res.RawQuery)
		// [P] sends the upstream a new request line (as Apache's proxy
		// does), escaped as mod_rewrite escapes it, not as Go would.
		// Internal rewrites keep the client's REQUEST_URI, as nginx does.
		rs.outURL.RawPath = res.EscapedPath()
		rs.outCopy.RequestURI = rs.outURL.RequestURI()
		pl := rs.tab.pools[res.Upstream]
		if pl == nil {
			rs.fail(http.StatusBadGateway, fmt.Errorf("rewrite proxies to unknown upstream %q", res.Upstream))
			return true
		}
		rs.proxy(pl, rs.route)
		return true
	}
	return false
}

func (rs *reqState) documentRoot() string {
	if rs.route != nil && rs.route.static != nil {
		return rs.tab.cfg.Proxy.Routes[rs.route.index].Static
	}
	return ""
}

// setPath records a rewritten path and query.
func (rs *reqState) setPath(path, rawQuery string) {
	if path == "" {
		path = rs.path
	}
	rs.path, rs.rawQuery, rs.rewritten = path, rawQuery, true
	rs.upPath = path
	rs.outURL = *rs.r.URL
	rs.outURL.Path, rs.outURL.RawPath, rs.outURL.RawQuery = path, "", rawQuery
	rs.outCopy = *rs.r
	rs.outCopy.URL = &rs.outURL
	rs.out = &rs.outCopy
}

// serveStatic serves a static route. When the file is missing it returns
// the route to try next (fallback), or done after answering.
func (rs *reqState) serveStatic(rt *route) (next *route, done bool) {
	urlPath := rt.rest(rs.path)
	if rt.static.Serve(&rs.w, rs.out, urlPath) {
		return nil, true
	}
	fb := rt.fallback
	switch {
	case fb == "":
		rs.fail(http.StatusNotFound, nil)
	case fb[0] == '@':
		if n := rs.tab.router.byName[fb[1:]]; n != nil {
			return n, false
		}
		rs.fail(http.StatusNotFound, nil)
	case fb[0] == '=':
		code, _ := strconv.Atoi(fb[1:])
		rs.fail(code, nil)
	default:
		rs.setPath(fb, rs.rawQuery)
		if n := rs.tab.router.match(rs.r.Host, rs.path); n != nil {
			return n, false
		}
		rs.fail(http.StatusNotFound, nil)
	}
	return nil, true
}

// expand replaces nginx-style variables in a redirect target.
func (rs *reqState) expand(s string) string {
	if strings.IndexByte(s, '$') < 0 {
		return s
	}
	uri := rs.r.RequestURI
	if uri == "" {
		uri = rs.r.URL.RequestURI()
	}
	return strings.NewReplacer(
		"$request_uri", uri,
		"$scheme", "http",
		"$host", normalizeHost(rs.r.Host),
		"$uri", rs.path,
		"$args", rs.rawQuery,
	).Replace(s)
}

func (rs *reqState) redirect(status int, location string) {
	h := rs.w.Header()
	h.Set("Location", location)
	h.Set("Content-Type", "text/html")
	rs.w.WriteHeader(status)
	if !rs.isHead {
		rs.w.Write(errorPage(status))
	}
}

// fail answers with an error status and a small page, as nginx does.
func (rs *reqState) fail(status int, err error) {
	if err != nil && status >= 500 {
		rs.p.log.Warn("request failed", "method", rs.method, "uri", rs.r.RequestURI, "status", status, "error", err)
	}
	if rs.w.wroteHeader {
		return
	}
	h := rs.w.Header()
	h.Set("Content-Type", "text/html")
	page := errorPage(status)
	h.Set("Content-Length", strconv.Itoa(len(page)))
	switch status {
	case http.StatusRequestEntityTooLarge, http.StatusBadRequest, http.StatusRequestTimeout, http.StatusRequestHeaderFieldsTooLarge:
		// An unread body makes the connection useless; a client this far
		// off is not worth keeping.
		h.Set("Connection", "close")
	}
	rs.w.WriteHeader(status)
	if !rs.isHead {
		rs.w.Write(page)
	}
}

var errorPages sync.Map // int -> []byte

func errorPage(status int) []byte {
	if b, ok := errorPages.Load(status); ok {
		return b.([]byte)
	}
	text := fmt.Sprintf("%d %s", status, http.StatusText(status))
	b := []byte("<html>\r\n<head><title>" + text + "</title></head>\r\n<body>\r\n<center><h1>" + text +
		"</h1></center>\r\n<hr><center>stackctl</center>\r\n</body>\r\n</html>\r\n")
	errorPages.Store(status, b)
	return b
}

func headerCount(h http.Header) int {
	n := 0
	for _, vs := range h {
		n += len(vs)
	}
	return n
}

// proxy passes the request to an upstream, retrying on the next server
// where that is safe, and streams the response back.
func (rs *reqState) proxy(pl *pool, rt *route) {
	if rt != nil && rt.stripPrefix && rt.kind == matchPrefix {
		rs.stripped = true
		rs.scriptName = strings.TrimSuffix(rt.pattern, "/")
		rs.upPath = rt.rest(rs.path)
	}
	max := rs.tab.maxBody
	if rt != nil {
		max = rt.maxBody
	}
	if status, err := rs.readBody(max); status != 0 {
		rs.fail(status, err)
		return
	}
	rs.setForwarded()
	ctx := rs.r.Context()
	bl := pl.bal.Load()
	sel := selection{now: rs.start}
	if bl.kind == balanceHash || bl.kind == balanceIPHash {
		if key := rs.hashKeyValue(pl.hashKey); key != "" {
			sel.hash, sel.hasHash = hashString(key), true
		}
	}
	bud := budget{start: rs.start, maxTry: pl.maxTries, timeout: pl.cfg.TryTimeout.D()}
	var last *upError
	now := rs.start
	for bud.another(now) {
		sel.now = now
		i := bl.pick(&sel)
		if i < 0 {
			break
		}
		m := bl.members[i]
		sel.tried.set(i)
		bud.tries++
		be := m.b
		be.picked(sel.now, m.failTimeout)
		be.inflight.Add(1)
		be.stats.begin()
		t0 := now
		resp, err := be.tr.roundTrip(ctx, rs, pl)
		if err == nil {
			be.success(t0, m)
			rs.respond(be, resp, t0)
			be.inflight.Add(-1)
			return
		}
		now = time.Now()
		took := now.Sub(t0)
		ue := classify(err, true)
		rs.tries = append(rs.tries, upstreamTry{addr: be.spec.Key, took: took})
		status := failStatus(ue)
		be.stats.end(status, 0, 0, took)
		be.inflight.Add(-1)
		if ctx.Err() != nil {
			rs.fail(499, nil) // the client closed the connection (nginx's 499)
			return
		}
		if ue.health {
			be.failure(now, m, ue)
		}
		rs.p.log.Warn("upstream attempt failed", "upstream", pl.name, "server", be.spec.Key, "method", rs.method,
			"uri", rs.r.RequestURI, "error", ue.err, "try", bud.tries)
		last = ue
		if !retryable(rs.method, ue, pl.cfg.RetryNonIdempotent) {
			break
		}
	}
	if last == nil {
		rs.fail(http.StatusBadGateway, noServer(pl.name))
		return
	}
	rs.fail(failStatus(last), last)
}

// hashKeyValue extracts the request's key for balance = "hash"/"ip_hash".
func (rs *reqState) hashKeyValue(k hashKey) string {
	switch k.kind {
	case "header":
		return rs.r.Header.Get(k.name)
	case "cookie":
		if c, err := rs.r.Cookie(k.name); err == nil {
			return c.Value
		}
		return ""
	case "uri":
		return rs.r.RequestURI
	case "path":
		return rs.path
	case "ip":
		return ipHashKey(rs.clientIP)
	}
	return ""
}

// setForwarded adds X-Forwarded-For (appending the client to what a proxy
// before us sent), X-Forwarded-Proto and X-Forwarded-Host, as nginx's
// $proxy_add_x_forwarded_for, $scheme and $host conventions do.
//
// It also removes the hop-by-hop headers a client named in its Connection
// header (RFC 9110 §7.6.1), for every kind of server; an Upgrade handshake
// keeps its Connection and Upgrade for an HTTP server to see.
func (rs *reqState) setForwarded() {
	h := rs.r.Header
	if len(h["Connection"]) > 0 {
		rs.wantsUpgrade = isUpgrade(h)
		for _, f := range h["Connection"] {
			for _, name := range strings.Split(f, ",") {
				name = textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(name))
				if name != "" && name != "Connection" && !(rs.wantsUpgrade && name == "Upgrade") {
					delete(h, name)
				}
			}
		}
	}
	// The values live in rs (pooled), not in new slices: the header map
	// is not used after the request.
	if prior := h["X-Forwarded-For"]; len(prior) > 0 {
		rs.fwd[0] = strings.Join(prior, ", ") + ", " + rs.clientIP
	} else {
		rs.fwd[0] = rs.clientIP
	}
	h["X-Forwarded-For"] = rs.fwd[0:1:1]
	h["X-Forwarded-Proto"] = forwardedHTTP
	if rs.r.Host != "" {
		rs.fwd[1] = rs.r.Host
		h["X-Forwarded-Host"] = rs.fwd[1:2:2]
	}
}

var forwardedHTTP = []string{"http"}

// uwsgiHead encodes the request's uwsgi vars once per encoding; every
// attempt reuses them. lane selects the encoding for our own workers' lanes
// (uwsgi.SplitVars); stock uwsgi servers get the standard one.
func (rs *reqState) uwsgiHead(lane bool) ([]byte, error) {
	enc, ok := &rs.enc, &rs.headOK
	if lane {
		enc, ok = &rs.laneEnc, &rs.laneHeadOK
	}
	if *ok {
		return enc.Bytes()
	}
	name := normalizeHost(rs.r.Host)
	if name == "" {
		name = rs.lh.host
	}
	rs.info = uwsgi.RequestInfo{
		RemoteAddr: rs.clientIP, RemotePort: rs.clientPort,
		ServerName: name, ServerPort: rs.lh.port,
		ContentLength: rs.body.size,
		SplitVars:     lane,
	}
	if rs.rewritten || rs.stripped {
		rs.info.PathInfo = rs.upPath
	}
	if rs.stripped {
		rs.info.ScriptName = rs.scriptName
	}
	if err := uwsgi.EncodeRequest(enc, rs.out, &rs.info); err != nil {
		return nil, fmt.Errorf("encode uwsgi request: %w", err)
	}
	*ok = true
	return enc.Bytes()
}

// respond streams a server's response to the client and accounts for it.
func (rs *reqState) respond(be *backend, resp *upResponse, t0 time.Time) {
	rs.stream(resp)
	took := time.Since(t0)
	rs.tries = append(rs.tries, upstreamTry{addr: resp.addr, took: took})
	be.stats.end(resp.status, rs.body.size, rs.w.bytes, took)
}

func (rs *reqState) stream(resp *upResponse) {
	if resp.upgraded != nil {
		rs.upgrade(resp)
		return
	}
	h := rs.w.Header()
	for k, vs := range resp.header {
		h[k] = vs
	}
	removeHopHeaders(h)
	if resp.contentLength >= 0 {
		if _, ok := h["Content-Length"]; !ok && resp.status >= 200 && resp.status != 204 && resp.status != 304 {
			h["Content-Length"] = []string{strconv.FormatInt(resp.contentLength, 10)}
		}
	}
	var src io.Reader = resp.body
	if ra, ok := resp.body.(interface {
		readAhead([]byte) (int, bool)
	}); ok && resp.contentLength < 0 && !rs.isHead {
		// A body that ends at the close may be here whole already: then it
		// goes out with a Content-Length, head and body in one write.
		bp := copyBufPool.Get().(*[]byte)
		defer copyBufPool.Put(bp)
		n, whole := ra.readAhead(*bp)
		if whole {
			if resp.status >= 200 && resp.status != 204 && resp.status != 304 {
				h["Content-Length"] = []string{strconv.Itoa(n)}
			}
			rs.w.WriteHeader(resp.status)
			rs.w.Write((*bp)[:n])
			resp.body.Close()
			return
		}
		if n > 0 {
			src = io.MultiReader(bytes.NewReader((*bp)[:n]), resp.body)
		}
	}
	rs.w.WriteHeader(resp.status)
	if rs.isHead || resp.body == nil {
		if resp.body != nil {
			resp.body.Close()
		}
		return
	}
	err := rs.copyBody(src, resp.contentLength < 0)
	cerr := resp.body.Close()
	if err == nil && cerr != nil && resp.contentLength < 0 {
		err = &readErr{cerr}
	}
	var re *readErr
	if errors.As(err, &re) {
		rs.p.log.Warn("upstream failed mid-response", "server", resp.addr, "uri", rs.r.RequestURI, "error", re.err)
		rs.abort = true
	}
}

// readErr marks an error reading from the upstream (as opposed to writing
// to the client).
type readErr struct{ err error }

func (e *readErr) Error() string { return e.err.Error() }

var copyBufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// copyBody copies a response body to the client. A streamed body (no
// Content-Length) is flushed as it arrives, so server-sent events and
// long polls work; send_timeout bounds each write.
func (rs *reqState) copyBody(src io.Reader, stream bool) error {
	bp := copyBufPool.Get().(*[]byte)
	defer copyBufPool.Put(bp)
	buf := *bp
	var wd interface{ SetWriteDeadline(time.Time) error }
	if !engineTimeouts() {
		wd, _ = rs.w.w.(interface{ SetWriteDeadline(time.Time) error })
	}
	st := rs.tab.sendTimeout
	var lastSet time.Time
	defer func() {
		if !lastSet.IsZero() {
			wd.SetWriteDeadline(time.Time{})
		}
	}()
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			if wd != nil && st > 0 {
				if now := time.Now(); now.Sub(lastSet) > st/8 {
					wd.SetWriteDeadline(now.Add(st))
					lastSet = now
				}
			}
			if _, werr := rs.w.Write(buf[:n]); werr != nil {
				return werr
			}
			if stream {
				rs.w.Flush()
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return &readErr{rerr}
		}
	}
}

// finish records the request in the statistics and the access log.
func (rs *reqState) finish() {
	status := rs.w.status
	if status == 0 {
		status = http.StatusOK
		if rs.w.wroteHeader {
			status = rs.w.status
		}
	}
	took := time.Since(rs.start)
	var in int64
	if rs.body.size > 0 {
		in = rs.body.size
	}
	rs.p.stats.end(status, in, rs.w.bytes, took)
	if rs.active != nil {
		rs.active.stats.end(status, in, rs.w.bytes, took)
	}
	sink := rs.p.access.Load()
	if sink == nil || sink.buf == nil {
		return
	}
	r := rs.r
	uri := r.RequestURI
	if uri == "" {
		uri = r.URL.RequestURI()
	}
	e := accessEntry{
		remoteAddr: rs.clientIP, start: rs.start, method: r.Method, uri: uri, proto: r.Proto, status: status,
		bytes: rs.w.bytes, referer: r.Header.Get("Referer"), userAgent: r.Header.Get("User-Agent"), took: took,
		tries: rs.tries,
	}
	if a := r.Header.Get("Authorization"); strings.HasPrefix(a, "Basic ") {
		if u, _, ok := r.BasicAuth(); ok {
			e.user = u
		}
	}
	rs.line = appendAccess(rs.line[:0], &e)
	sink.buf.Append(0, "access", string(rs.line))
}

// respWriter records what was written, for the log and statistics, and
// keeps the underlying writer's optional interfaces reachable (Flush,
// Hijack through Unwrap, ReadFrom for sendfile).
type respWriter struct {
	w           http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
}

func (w *respWriter) Header() http.Header { return w.w.Header() }

func (w *respWriter) WriteHeader(code int) {
	if !w.wroteHeader && code >= 200 {
		w.status, w.wroteHeader = code, true
	}
	w.w.WriteHeader(code)
}

func (w *respWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.status, w.wroteHeader = http.StatusOK, true
	}
	n, err := w.w.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *respWriter) Flush() {
	if f, ok := w.w.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *respWriter) Unwrap() http.ResponseWriter { return w.w }

// ReadFrom keeps net/http's sendfile path for static files.
func (w *respWriter) ReadFrom(src io.Reader) (int64, error) {
	if !w.wroteHeader {
		w.status, w.wroteHeader = http.StatusOK, true
	}
	if rf, ok := w.w.(io.ReaderFrom); ok {
		n, err := rf.ReadFrom(src)
		w.bytes += n
		return n, err
	}
	n, err := io.Copy(struct{ io.Writer }{w.w}, src)
	w.bytes += n
	return n, err
}

// upgrade completes a protocol switch (WebSocket): the client connection
// is taken over and joined to the server's, both ways, until either ends.
func (rs *reqState) upgrade(resp *upResponse) {
	up := resp.upgraded
	rc := http.NewResponseController(rs.w.w)
	conn, brw, err := rc.Hijack()
	if err != nil {
		up.Close()
		rs.fail(http.StatusInternalServerError, fmt.Errorf("hijack for upgrade: %w", err))
		return
	}
	rs.w.status, rs.w.wroteHeader = resp.status, true
	h := resp.header.Clone()
	// The handshake's Connection/Upgrade are the point of a 101: keep them.
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\n", resp.status, http.StatusText(resp.status))
	h.Write(&b)
	b.WriteString("\r\n")
	if _, err := brw.WriteString(b.String()); err != nil || brw.Flush() != nil {
		conn.Close()
		up.Close()
		return
	}
	u := &upgrade{client: conn, server: up}
	rs.p.upgrades.Store(u, struct{}{})
	defer rs.p.upgrades.Delete(u)
	// Join the two connections until either side ends, then close both
	// (as httputil.ReverseProxy does: a WebSocket has no use for half a
	// connection).
	done := make(chan struct{}, 2)
	go func() {
		// Bytes the client sent after the handshake are in brw.Reader.
		io.Copy(up, io.MultiReader(io.LimitReader(brw.Reader, int64(brw.Reader.Buffered())), conn))
		done <- struct{}{}
	}()
	var n int64
	go func() {
		n, _ = io.Copy(conn, up)
		done <- struct{}{}
	}()
	<-done
	conn.Close()
	up.Close()
	<-done
	rs.w.bytes += n
}

// upgrade is a hijacked connection pair.
type upgrade struct {
	client net.Conn
	server interface{ Close() error }
}

// closeUpgrades closes every upgraded connection (on Close), after
// letting them run until ctx ends.
func (p *Proxy) closeUpgrades(ctx context.Context) {
	for {
		n := 0
		p.upgrades.Range(func(k, _ any) bool { n++; return true })
		if n == 0 {
			return
		}
		select {
		case <-ctx.Done():
			p.upgrades.Range(func(k, _ any) bool {
				u := k.(*upgrade)
				u.client.Close()
				u.server.Close()
				return true
			})
			ctx = context.Background()
			time.Sleep(10 * time.Millisecond)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
