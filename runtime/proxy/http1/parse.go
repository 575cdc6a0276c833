package http1

import (
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
)

// httpError is a request the engine answers itself: a status code and a
// short reason written as the body. The values are package-level so that
// rejecting a request allocates nothing.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

var (
	errBadRequestLine   = &httpError{400, "malformed request line"}
	errBadMethod        = &httpError{400, "invalid method"}
	errBadTarget        = &httpError{400, "invalid request target"}
	errBadVersion       = &httpError{400, "malformed HTTP version"}
	errVersion          = &httpError{505, "HTTP version not supported"}
	errBadField         = &httpError{400, "malformed header field"}
	errObsFold          = &httpError{400, "obsolete line folding in header"}
	errBareCR           = &httpError{400, "bare CR in request head"}
	errFieldValue       = &httpError{400, "invalid character in header field value"}
	errNoHost           = &httpError{400, "missing required Host header"}
	errManyHosts        = &httpError{400, "too many Host headers"}
	errBadHost          = &httpError{400, "malformed Host header"}
	errBadCL            = &httpError{400, "invalid Content-Length"}
	errManyCL           = &httpError{400, "conflicting Content-Length headers"}
	errCLAndTE          = &httpError{400, "both Content-Length and Transfer-Encoding"}
	errBadTE            = &httpError{400, "malformed Transfer-Encoding"}
	errTE10             = &httpError{400, "Transfer-Encoding in an HTTP/1.0 request"}
	errUnsupportedTE    = &httpError{501, "unsupported transfer coding"}
	errHeadTooLarge     = &httpError{431, "request header fields too large"}
	errTooManyHeaders   = &httpError{431, "too many header fields"}
	errURITooLong       = &httpError{414, "request target too long"}
	errBodyTooLarge     = &httpError{413, "request body too large"}
	errMalformedChunked = &httpError{400, "malformed chunked request body"}
)

// Character classes, one table lookup per byte.
const (
	cToken  = 1 << iota // tchar (RFC 9110 5.6.2)
	cValue              // field-vchar, SP or HTAB, obs-text (RFC 9110 5.5)
	cTarget             // bytes allowed in a request-target as received
	cHost               // bytes allowed in a Host value (as net/http's httpguts)
	cSafe               // path bytes that url.URL would not re-escape
)

var class [256]uint8

func init() {
	for c := 0; c < 256; c++ {
		var m uint8
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
			m |= cToken | cHost | cSafe
		case strings.IndexByte("!#$%&'*+-.^_`|~", byte(c)) >= 0:
			m |= cToken
		}
		if c == '\t' || (c >= 0x20 && c != 0x7f) {
			m |= cValue
		}
		if c > 0x20 && c != 0x7f {
			m |= cTarget
		}
		if strings.IndexByte("!$%&'()*+,-.:;=[]_~", byte(c)) >= 0 {
			m |= cHost
		}
		if strings.IndexByte("-_.~$&+,/:;=@", byte(c)) >= 0 {
			m |= cSafe
		}
		class[c] = m
	}
}

// reqHead is a parsed request head. Every string points into the one string
// the head was converted to, so parsing allocates nothing per field.
type reqHead struct {
	method, target, proto string
	major, minor          int

	host          string
	hosts         int
	contentLength int64 // -1 when absent
	chunked       bool
	connClose     bool // "close" among the Connection options
	connKeepAlive bool // "keep-alive" among the Connection options
	expect        string
	pragmaNoCache bool
	cacheControl  bool
}

// parseHead parses block, a complete request head (request line and field
// lines, each ending in CRLF or a bare LF, then the empty line), adding the
// fields to hdr (which must be empty; Host and Transfer-Encoding are kept out
// of it, like net/http). vals is reused backing storage for the field
// values. It returns the status to answer with when the head is malformed.
func parseHead(block string, h *reqHead, hdr http.Header, vals *[]string, maxHeaders int) *httpError {
	*h = reqHead{contentLength: -1}
	line, rest, ok := nextLine(block)
	if !ok {
		return errBadRequestLine
	}
	if e := parseRequestLine(line, h); e != nil {
		return e
	}
	var te teState
	n := 0
	for {
		line, rest, ok = nextLine(rest)
		if !ok {
			return errBareCR
		}
		if line == "" {
			break
		}
		if n++; n > maxHeaders {
			return errTooManyHeaders
		}
		if line[0] == ' ' || line[0] == '\t' {
			// RFC 9112 5.2: obs-fold; a server may reject it with 400, which
			// closes a door smuggling has used (proxies disagreeing on folding).
			return errObsFold
		}
		colon := strings.IndexByte(line, ':')
		if colon <= 0 {
			return errBadField
		}
		name := line[:colon]
		for i := 0; i < len(name); i++ {
			if class[name[i]]&cToken == 0 {
				// Includes whitespace before the colon (RFC 9112 5.1: MUST reject).
				return errBadField
			}
		}
		value := trimOWS(line[colon+1:])
		for i := 0; i < len(value); i++ {
			if class[value[i]]&cValue == 0 {
				return errFieldValue
			}
		}
		key := canonicalKey(name)
		switch key {
		case "Host":
			h.hosts++
			h.host = value
			continue // net/http keeps Host out of the header map
		case "Content-Length":
			cl, ok := parseContentLength(value)
			if !ok {
				return errBadCL
			}
			if h.contentLength >= 0 {
				if cl != h.contentLength {
					return errManyCL
				}
				continue // identical duplicates collapse to one, as net/http
			}
			h.contentLength = cl
		case "Transfer-Encoding":
			if e := te.add(value); e != nil {
				return e
			}
			continue
		case "Connection":
			scanConnection(value, h)
		case "Expect":
			h.expect = value
		case "Pragma":
			if value == "no-cache" && hdr["Pragma"] == nil {
				h.pragmaNoCache = true
			}
		case "Cache-Control":
			h.cacheControl = true
		}
		addValue(hdr, vals, key, value)
	}
	if te.seen {
		if e := te.done(); e != nil {
			return e
		}
		h.chunked = true
	}
	return h.check()
}

// check applies the rules that need the whole head.
func (h *reqHead) check() *httpError {
	if h.hosts > 1 {
		return errManyHosts
	}
	if h.minor >= 1 && h.hosts == 0 {
		return errNoHost // RFC 9112 3.2: MUST respond 400
	}
	if h.hosts == 1 && !validHost(h.host) {
		return errBadHost
	}
	if h.chunked {
		if h.minor == 0 {
			// RFC 9112 6.1: framing of a 1.0 message with Transfer-Encoding is
			// faulty; reject rather than guess.
			return errTE10
		}
		if h.contentLength >= 0 {
			return errCLAndTE // RFC 9112 6.3: a smuggling signature
		}
	}
	return nil
}

// nextLine splits the first line off s. The line ends at LF, with a CR
// before it removed (RFC 9112 2.2 lets a recipient accept a bare LF). A CR
// anywhere else makes ok false.
func nextLine(s string) (line, rest string, ok bool) {
	i := strings.IndexByte(s, '\n')
	if i < 0 {
		line, rest = s, ""
	} else {
		line, rest = s[:i], s[i+1:]
	}
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if strings.IndexByte(line, '\r') >= 0 {
		return "", "", false
	}
	return line, rest, true
}

func parseRequestLine(line string, h *reqHead) *httpError {
	sp1 := strings.IndexByte(line, ' ')
	if sp1 <= 0 {
		return errBadRequestLine
	}
	sp2 := strings.IndexByte(line[sp1+1:], ' ')
	if sp2 < 0 {
		return errBadRequestLine
	}
	sp2 += sp1 + 1
	h.method, h.target, h.proto = line[:sp1], line[sp1+1:sp2], line[sp2+1:]
	for i := 0; i < len(h.method); i++ {
		if class[h.method[i]]&cToken == 0 {
			return errBadMethod
		}
	}
	if h.target == "" {
		return errBadRequestLine // two spaces in a row
	}
	for i := 0; i < len(h.target); i++ {
		if class[h.target[i]]&cTarget == 0 {
			return errBadTarget
		}
	}
	switch h.proto {
	case "HTTP/1.1":
		h.major, h.minor = 1, 1
	case "HTTP/1.0":
		h.major, h.minor = 1, 0
	default:
		p := h.proto
		if len(p) != 8 || p[:5] != "HTTP/" || p[6] != '.' || !isDigit(p[5]) || !isDigit(p[7]) {
			return errBadVersion // also catches a third space
		}
		// A higher 1.x minor is served as 1.1 (RFC 9110 6.2).
		h.major, h.minor = int(p[5]-'0'), int(p[7]-'0')
		if h.major != 1 {
			return errVersion // HTTP/2.0 (the h2 preface), 0.9, 3.0...
		}
	}
	switch c := h.target[0]; {
	case c == '/':
	case h.target == "*":
		if h.method != "OPTIONS" {
			return errBadTarget
		}
	case h.method == "CONNECT":
		// authority-form; url parsing below validates it.
	case strings.Contains(h.target, "://"):
		// absolute-form.
	default:
		return errBadTarget
	}
	return nil
}

// parseURL fills u from the request target: a fast path for the common
// origin-form with nothing to unescape, url.ParseRequestURI otherwise, with
// net/http's special case for CONNECT.
func parseURL(method, target string, u *url.URL) error {
	if target[0] == '/' {
		path, query := target, ""
		force := false
		safe := true
		for i := 0; i < len(target); i++ {
			c := target[i]
			if c == '?' {
				path, query = target[:i], target[i+1:]
				// url.Parse: a single trailing '?' sets ForceQuery.
				force = query == "" && i == len(target)-1
				break
			}
			if class[c]&cSafe == 0 {
				safe = false
				break
			}
		}
		if safe {
			*u = url.URL{Path: path, RawQuery: query, ForceQuery: force}
			return nil
		}
	}
	raw := target
	authority := method == "CONNECT" && target[0] != '/'
	if authority {
		raw = "http://" + target
	}
	p, err := url.ParseRequestURI(raw)
	if err != nil {
		return err
	}
	*u = *p
	if authority {
		u.Scheme = ""
	}
	return nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// parseContentLength accepts 1*DIGIT only: no sign, no spaces, no lists.
func parseContentLength(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false // 18 digits cannot overflow int64
	}
	var n int64
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		n = n*10 + int64(s[i]-'0')
	}
	return n, true
}

// teState accumulates Transfer-Encoding field lines (RFC 9112 6.1: the
// codings are the list across all lines). Only a lone "chunked" is
// supported; any other coding is 501, a repeated or misplaced chunked 400.
type teState struct {
	seen    bool
	chunked int
	other   bool
}

func (t *teState) add(v string) *httpError {
	t.seen = true
	for v != "" {
		var el string
		if i := strings.IndexByte(v, ','); i >= 0 {
			el, v = v[:i], v[i+1:]
		} else {
			el, v = v, ""
		}
		el = trimOWS(el)
		if el == "" {
			continue
		}
		if strings.EqualFold(el, "chunked") {
			t.chunked++
		} else {
			if t.chunked > 0 {
				return errBadTE // chunked must be the final coding
			}
			t.other = true
		}
	}
	return nil
}

func (t *teState) done() *httpError {
	switch {
	case t.other:
		return errUnsupportedTE
	case t.chunked != 1:
		return errBadTE
	}
	return nil
}

func scanConnection(v string, h *reqHead) {
	for v != "" {
		var el string
		if i := strings.IndexByte(v, ','); i >= 0 {
			el, v = v[:i], v[i+1:]
		} else {
			el, v = v, ""
		}
		el = trimOWS(el)
		switch {
		case strings.EqualFold(el, "close"):
			h.connClose = true
		case strings.EqualFold(el, "keep-alive"):
			h.connKeepAlive = true
		}
	}
}

func validHost(h string) bool {
	for i := 0; i < len(h); i++ {
		if class[h[i]]&cHost == 0 {
			return false
		}
	}
	return true
}

// addValue appends value to hdr[key]. A key's first value is stored in
// *vals (reused across requests on the connection) and handed out as a
// slice with its capacity capped, so a later append by anyone copies
// instead of overwriting the neighbour.
func addValue(hdr http.Header, vals *[]string, key, value string) {
	if old := hdr[key]; old != nil {
		hdr[key] = append(old, value)
		return
	}
	v := append(*vals, value)
	*vals = v
	n := len(v)
	hdr[key] = v[n-1 : n : n]
}

// canonicalKey returns the canonical form of the field name (already
// validated as a token) without allocating when it is already canonical or
// is a common field name sent in another case.
func canonicalKey(name string) string {
	upper := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' {
			return canonicalSlow(name)
		}
		upper = c == '-'
	}
	return name
}

func canonicalSlow(name string) string {
	var buf [64]byte
	if len(name) > len(buf) {
		return textproto.CanonicalMIMEHeaderKey(name)
	}
	b := buf[:len(name)]
	upper := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		if upper && 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		} else if !upper && 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b[i] = c
		upper = c == '-'
	}
	if s, ok := commonKeys[string(b)]; ok {
		return s
	}
	return string(b)
}

var commonKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{
		"Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language", "Authorization",
		"Cache-Control", "Connection", "Content-Encoding", "Content-Length", "Content-Type",
		"Cookie", "Date", "Dnt", "Expect", "Forwarded", "From", "Host", "If-Match",
		"If-Modified-Since", "If-None-Match", "If-Range", "If-Unmodified-Since", "Keep-Alive",
		"Origin", "Pragma", "Priority", "Range", "Referer", "Sec-Ch-Ua", "Sec-Ch-Ua-Mobile",
		"Sec-Ch-Ua-Platform", "Sec-Fetch-Dest", "Sec-Fetch-Mode", "Sec-Fetch-Site",
		"Sec-Fetch-User", "Sec-Websocket-Extensions", "Sec-Websocket-Key",
		"Sec-Websocket-Protocol", "Sec-Websocket-Version", "Te", "Trailer",
		"Transfer-Encoding", "Upgrade", "Upgrade-Insecure-Requests", "User-Agent", "Via",
		"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-Ip",
		"X-Request-Id", "X-Requested-With",
	} {
		m[k] = k
	}
	return m
}()
