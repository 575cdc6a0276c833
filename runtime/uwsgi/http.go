package uwsgi

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
)

// RequestInfo is what a front end knows about a request beyond the request
// itself: the connection's addresses and how the request was routed.
type RequestInfo struct {
	RemoteAddr, RemotePort string
	ServerName, ServerPort string
	HTTPS                  bool
	// RequestURI overrides r.RequestURI (after a rewrite).
	RequestURI string
	// ScriptName is the mount prefix of the app; PathInfo the rest of the
	// path. Empty PathInfo means r.URL.Path.
	ScriptName, PathInfo string
	DocumentRoot         string
	// ContentLength is the body length to declare; -1 means r.ContentLength.
	ContentLength int64
	// SplitVars asks for the NUL-separated vars encoding (for a lane to our
	// own workers); a request that cannot use it is encoded normally.
	SplitVars bool
}

// EncodeRequest resets e and encodes the vars for r the way nginx's stock
// uwsgi_params do (QUERY_STRING, REQUEST_METHOD, CONTENT_TYPE, CONTENT_LENGTH,
// REQUEST_URI, PATH_INFO, DOCUMENT_ROOT, SERVER_PROTOCOL, REQUEST_SCHEME,
// HTTPS, REMOTE_ADDR, REMOTE_PORT, SERVER_PORT, SERVER_NAME), plus SCRIPT_NAME
// (which PEP 3333 requires and nginx omits) and every request header as
// HTTP_NAME. Repeated headers are joined with ", " ("; " for cookies) into one
// var, and headers whose names contain '_' are dropped, as nginx does by
// default, so "X_Real_IP" cannot pose as "X-Real-IP".
func EncodeRequest(e *Encoder, r *http.Request, info *RequestInfo) error {
	if info.SplitVars {
		if err := encodeRequest(e, r, info, SplitVars); !errors.Is(err, ErrNUL) {
			return err
		}
	}
	return encodeRequest(e, r, info, 0)
}

func encodeRequest(e *Encoder, r *http.Request, info *RequestInfo, modifier2 uint8) error {
	e.Reset(0, modifier2)
	e.Add("QUERY_STRING", r.URL.RawQuery)
	e.Add("REQUEST_METHOD", r.Method)
	e.Add("CONTENT_TYPE", r.Header.Get("Content-Type"))
	cl := info.ContentLength
	if cl < 0 {
		cl = r.ContentLength
	}
	if cl > 0 {
		e.Add("CONTENT_LENGTH", strconv.FormatInt(cl, 10))
	} else {
		e.Add("CONTENT_LENGTH", "")
	}
	uri := info.RequestURI
	if uri == "" {
		uri = r.RequestURI
	}
	if uri == "" {
		uri = r.URL.RequestURI()
	}
	e.Add("REQUEST_URI", uri)
	pathInfo := info.PathInfo
	if pathInfo == "" {
		pathInfo = r.URL.Path
	}
	e.Add("PATH_INFO", pathInfo)
	e.Add("SCRIPT_NAME", info.ScriptName)
	if info.DocumentRoot != "" {
		e.Add("DOCUMENT_ROOT", info.DocumentRoot)
	}
	e.Add("SERVER_PROTOCOL", r.Proto)
	if info.HTTPS {
		e.Add("REQUEST_SCHEME", "https")
		e.Add("HTTPS", "on")
	} else {
		e.Add("REQUEST_SCHEME", "http")
	}
	e.Add("REMOTE_ADDR", info.RemoteAddr)
	e.Add("REMOTE_PORT", info.RemotePort)
	e.Add("SERVER_PORT", info.ServerPort)
	e.Add("SERVER_NAME", info.ServerName)
	if r.Host != "" {
		e.Add("HTTP_HOST", r.Host)
	}
	var name [128]byte
	for k, vs := range r.Header {
		if len(vs) == 0 || strings.IndexByte(k, '_') >= 0 || len(k) > len(name)-5 {
			continue
		}
		switch k {
		case "Content-Type", "Content-Length", "Host", "Connection", "Keep-Alive", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "Proxy-Connection":
			continue
		}
		n := append(name[:0], "HTTP_"...)
		for i := 0; i < len(k); i++ {
			c := k[i]
			switch {
			case c == '-':
				c = '_'
			case 'a' <= c && c <= 'z':
				c -= 'a' - 'A'
			}
			n = append(n, c)
		}
		v := vs[0]
		if len(vs) > 1 {
			sep := ", "
			if k == "Cookie" {
				sep = "; "
			}
			v = strings.Join(vs, sep)
		}
		// Add copies the key at once: viewing the scratch name without a
		// copy saves an allocation per header on the proxy's hot path.
		e.Add(unsafeString(n), v)
	}
	_, err := e.Bytes()
	return err
}
