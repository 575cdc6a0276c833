package rewrite

import (
	"bytes"
	"errors"
	"net"
	"net/textproto"
	"strings"
)

// A template is a substitution or a condition's test string, parsed once at
// Compile: literal text, %{VARIABLE}s, $N (the rule's captures) and %N (the
// last matched condition's captures), as in mod_rewrite's do_expand.
type template struct {
	segs []segment
}

type segKind uint8

const (
	segLiteral segKind = iota
	segEscaped         // a "\x" escape: literal, but invisible to the "?" safety check
	segVar
	segRuleRef
	segCondRef
)

type segment struct {
	kind segKind
	text string // literal text, or the canonical header name for varHeader
	n    int    // capture number, or the variable
}

// Variables. Values come from the Request and from the rewriting state.
const (
	varHeader = iota // %{HTTP:Name} and the HTTP_* shorthands
	varHost
	varQueryString
	varRequestMethod
	varRequestURI
	varRequestScheme
	varHTTPS
	varRemoteAddr
	varRemotePort
	varRequestFilename
	varDocumentRoot
	varServerName
)

// namedVars maps upper-cased variable names to variables (or, for HTTP_*
// shorthands, to the header they read).
var namedVars = map[string]segment{
	"HTTP_HOST":             {kind: segVar, n: varHost},
	"HTTP_USER_AGENT":       {kind: segVar, n: varHeader, text: "User-Agent"},
	"HTTP_REFERER":          {kind: segVar, n: varHeader, text: "Referer"},
	"HTTP_COOKIE":           {kind: segVar, n: varHeader, text: "Cookie"},
	"HTTP_FORWARDED":        {kind: segVar, n: varHeader, text: "Forwarded"},
	"HTTP_ACCEPT":           {kind: segVar, n: varHeader, text: "Accept"},
	"HTTP_PROXY_CONNECTION": {kind: segVar, n: varHeader, text: "Proxy-Connection"},
	"QUERY_STRING":          {kind: segVar, n: varQueryString},
	"REQUEST_METHOD":        {kind: segVar, n: varRequestMethod},
	"REQUEST_URI":           {kind: segVar, n: varRequestURI},
	"REQUEST_SCHEME":        {kind: segVar, n: varRequestScheme},
	"HTTPS":                 {kind: segVar, n: varHTTPS},
	"REMOTE_ADDR":           {kind: segVar, n: varRemoteAddr},
	"REMOTE_PORT":           {kind: segVar, n: varRemotePort},
	"REQUEST_FILENAME":      {kind: segVar, n: varRequestFilename},
	"SCRIPT_FILENAME":       {kind: segVar, n: varRequestFilename},
	"DOCUMENT_ROOT":         {kind: segVar, n: varDocumentRoot},
	"SERVER_NAME":           {kind: segVar, n: varServerName},
}

// unsupportedVars explain why a known mod_rewrite variable is refused.
var unsupportedVars = map[string]string{
	"THE_REQUEST":           "the raw request line is not kept",
	"SERVER_PROTOCOL":       "not available to rewrite rules",
	"SERVER_PORT":           "not available to rewrite rules",
	"SERVER_ADDR":           "not available to rewrite rules",
	"REMOTE_HOST":           "no reverse DNS lookups",
	"REMOTE_USER":           "no authentication before rewriting",
	"REMOTE_IDENT":          "no ident lookups",
	"AUTH_TYPE":             "no authentication before rewriting",
	"PATH_INFO":             "always empty in server context",
	"SCRIPT_URL":            "use %{REQUEST_URI}",
	"SCRIPT_URI":            "use %{REQUEST_SCHEME}://%{HTTP_HOST}%{REQUEST_URI}",
	"API_VERSION":           "Apache-specific",
	"SERVER_ADMIN":          "Apache-specific",
	"SERVER_SOFTWARE":       "Apache-specific",
	"IS_SUBREQ":             "there are no subrequests",
	"IPV6":                  "not available to rewrite rules",
	"CONN_REMOTE_ADDR":      "use %{REMOTE_ADDR}",
	"CONTEXT_PREFIX":        "Apache-specific",
	"CONTEXT_DOCUMENT_ROOT": "use %{DOCUMENT_ROOT}",
	"TIME":                  "time variables would make rewriting time-dependent",
	"TIME_YEAR":             "time variables would make rewriting time-dependent",
	"TIME_MON":              "time variables would make rewriting time-dependent",
	"TIME_DAY":              "time variables would make rewriting time-dependent",
	"TIME_HOUR":             "time variables would make rewriting time-dependent",
	"TIME_MIN":              "time variables would make rewriting time-dependent",
	"TIME_SEC":              "time variables would make rewriting time-dependent",
	"TIME_WDAY":             "time variables would make rewriting time-dependent",
}

// parseTemplate parses s. ruleGroups is the number of capture groups $N may
// refer to (-1 when $N is always empty because the pattern is negated).
func parseTemplate(s string, ruleGroups int) (template, error) {
	var t template
	lit := 0 // start of the pending literal
	flush := func(i int) {
		if i > lit {
			t.segs = append(t.segs, segment{kind: segLiteral, text: s[lit:i]})
		}
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\':
			flush(i)
			if i+1 == len(s) { // a trailing backslash is itself
				t.segs = append(t.segs, segment{kind: segEscaped, text: `\`})
				i++
			} else {
				t.segs = append(t.segs, segment{kind: segEscaped, text: s[i+1 : i+2]})
				i += 2
			}
			lit = i
		case (c == '$' || c == '%') && i+1 < len(s) && s[i+1] == '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return t, errors.New("unclosed " + s[i:i+2] + " in " + quote(s))
			}
			name := s[i+2 : i+2+end]
			if c == '$' {
				return t, errors.New("${" + name + "}: RewriteMap lookups are not supported")
			}
			seg, err := lookupVar(name)
			if err != nil {
				return t, err
			}
			flush(i)
			t.segs = append(t.segs, seg)
			i += 3 + end
			lit = i
		case (c == '$' || c == '%') && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			n := int(s[i+1] - '0')
			kind := segCondRef
			if c == '$' {
				kind = segRuleRef
				if ruleGroups < 0 && n > 0 {
					return t, errors.New("$" + s[i+1:i+2] + " is always empty: the match is negated with \"!\"")
				}
				if n > ruleGroups && ruleGroups >= 0 {
					return t, errors.New("$" + s[i+1:i+2] + " refers to a group the match does not have")
				}
			}
			flush(i)
			t.segs = append(t.segs, segment{kind: kind, n: n})
			i += 2
			lit = i
		default:
			i++
		}
	}
	flush(len(s))
	return t, nil
}

func lookupVar(name string) (segment, error) {
	up := strings.ToUpper(name)
	if strings.HasPrefix(up, "HTTP:") && len(name) > 5 {
		h := textproto.CanonicalMIMEHeaderKey(name[5:])
		if h == "Host" {
			return segment{kind: segVar, n: varHost}, nil
		}
		return segment{kind: segVar, n: varHeader, text: h}, nil
	}
	if seg, ok := namedVars[up]; ok {
		return seg, nil
	}
	if why, ok := unsupportedVars[up]; ok {
		return segment{}, errors.New("%{" + name + "} is not supported: " + why)
	}
	for _, p := range []string{"ENV:", "SSL:", "LA-U:", "LA-F:"} {
		if strings.HasPrefix(up, p) {
			return segment{}, errors.New("%{" + name + "}: " + strings.TrimSuffix(p, ":") + " lookups are not supported")
		}
	}
	if strings.HasPrefix(up, "HTTP_") {
		h := strings.ReplaceAll(name[5:], "_", "-")
		return segment{}, errors.New("unknown variable %{" + name + "}: for a request header write %{HTTP:" + h + "}")
	}
	return segment{}, errors.New("unknown variable %{" + name + "}")
}

// usesRuleRefs reports whether t refers to the rule's captures.
func (t *template) usesRuleRefs() bool { return t.uses(segRuleRef) }

// usesCondRefs reports whether t refers to a condition's captures.
func (t *template) usesCondRefs() bool { return t.uses(segCondRef) }

func (t *template) uses(k segKind) bool {
	for _, s := range t.segs {
		if s.kind == k {
			return true
		}
	}
	return false
}

// Question-mark tracking for a substitution (do_expand's unsafe_qmark):
// Apache refuses (403) a substitution whose query separator came out of an
// expansion, e.g. $1 holding a decoded "%3F", unless [UnsafeAllow3F].
const (
	qmarkNone   = iota // no "?" seen
	qmarkSafe          // the deciding "?" was literal
	qmarkUnsafe        // the deciding "?" came from an expansion
)

// expand renders t for the current state. For a substitution (r != nil)
// back-references are escaped per the [B] flags and, when track is set, the
// origin of the deciding "?" (the first, or the last with [QSL]) is
// returned. A template that is one literal or one variable is returned
// without copying.
func (s *state) expand(t *template, r *rule, track bool) (string, int) {
	qm := qmarkNone
	tracking := track
	qsl := r != nil && r.flags&flagQSL != 0
	note := func(origin int) {
		qm = origin
		if !qsl {
			tracking = false
		}
	}
	if len(t.segs) == 1 && !track {
		switch sg := &t.segs[0]; sg.kind {
		case segLiteral, segEscaped:
			return sg.text, qm
		case segVar:
			return s.variable(sg), qm
		}
	}
	b := s.buf[:0]
	for i := range t.segs {
		sg := &t.segs[i]
		switch sg.kind {
		case segLiteral:
			if tracking && strings.IndexByte(sg.text, '?') >= 0 {
				note(qmarkSafe)
			}
			b = append(b, sg.text...)
		case segEscaped:
			b = append(b, sg.text...)
		case segVar:
			v := s.variable(sg)
			if tracking && strings.IndexByte(v, '?') >= 0 {
				note(qmarkUnsafe)
			}
			b = append(b, v...)
		case segRuleRef, segCondRef:
			src, caps := s.ruleSrc, s.ruleCaps
			if sg.kind == segCondRef {
				src, caps = s.condSrc, s.condCaps
			}
			// Like ap_pregsub: a group that did not take part, or matched
			// the empty string, expands to nothing.
			if 2*sg.n+1 >= len(caps) || caps[2*sg.n+1] <= caps[2*sg.n] {
				continue
			}
			v := src[caps[2*sg.n]:caps[2*sg.n+1]]
			start := len(b)
			if r != nil && r.flags&flagB != 0 {
				b = escapeBackref(b, v, r)
			} else {
				b = append(b, v...)
			}
			if tracking && bytes.IndexByte(b[start:], '?') >= 0 {
				note(qmarkUnsafe)
			}
		}
	}
	s.buf = b
	return string(b), qm
}

// variable returns the value of a %{VARIABLE} for the current state.
func (s *state) variable(sg *segment) string {
	req := s.req
	switch sg.n {
	case varHeader:
		return headerValue(req, sg.text)
	case varHost:
		return req.Host
	case varQueryString:
		return s.args
	case varRequestMethod:
		return req.Method
	case varRequestURI:
		return req.Path
	case varRequestScheme:
		if req.HTTPS {
			return "https"
		}
		return "http"
	case varHTTPS:
		if req.HTTPS {
			return "on"
		}
		return "off"
	case varRemoteAddr:
		host, _ := splitRemote(req.RemoteAddr)
		return host
	case varRemotePort:
		_, port := splitRemote(req.RemoteAddr)
		return port
	case varRequestFilename:
		if req.DocumentRoot == "" {
			return s.path
		}
		return strings.TrimSuffix(req.DocumentRoot, "/") + s.path
	case varDocumentRoot:
		return strings.TrimSuffix(req.DocumentRoot, "/")
	case varServerName:
		name, _ := serverName(req)
		return name
	}
	return ""
}

// headerValue returns a request header the way Apache sees it: repeated
// fields joined with ", ". name is in canonical form, so no allocation.
func headerValue(req *Request, name string) string {
	vs := req.Header[name]
	switch len(vs) {
	case 0:
		return ""
	case 1:
		return vs[0]
	}
	return strings.Join(vs, ", ")
}

// splitRemote splits "ip:port" (or a bare ip) without allocating.
func splitRemote(addr string) (host, port string) {
	if h, p, err := net.SplitHostPort(addr); err == nil {
		return h, p
	}
	return addr, ""
}

// serverName returns the host name Apache uses to build self-referential
// URLs (UseCanonicalName Off): the Host header's name, lower-cased, without
// a trailing dot, and the port the client gave ("" when none).
func serverName(req *Request) (name, port string) {
	h := req.Host
	if h == "" {
		if req.ServerName != "" {
			return req.ServerName, ""
		}
		return "localhost", ""
	}
	name = h
	if h[0] == '[' { // IPv6 literal
		if end := strings.IndexByte(h, ']'); end > 0 {
			name = h[1:end]
			if end+1 < len(h) && h[end+1] == ':' {
				port = h[end+2:]
			}
		}
	} else if i := strings.LastIndexByte(h, ':'); i >= 0 {
		name, port = h[:i], h[i+1:]
	}
	name = strings.TrimSuffix(name, ".")
	for i := 0; i < len(name); i++ {
		if c := name[i]; c >= 'A' && c <= 'Z' {
			name = strings.ToLower(name)
			break
		}
	}
	return name, port
}

func quote(s string) string { return "\"" + s + "\"" }
