package rewrite

import "strings"

// The escaping below reproduces Apache 2.4 byte for byte (mod_rewrite's
// escape_absolute_uri and escape_backref, the core's ap_escape_uri,
// mod_proxy's ap_proxy_canonenc), because clients and caches see the
// result: a migrated rule must produce the same Location and upstream URL.

// absoluteSchemes are the schemes mod_rewrite recognizes as absolute URLs
// (is_absolute_uri), with whether the scheme carries a query string.
var absoluteSchemes = [...]struct {
	prefix string
	query  bool
}{
	{"ajp://", true}, {"balancer://", true}, {"ftp://", false}, {"fcgi://", true},
	{"gopher://", false}, {"http://", true}, {"https://", true}, {"h2://", true},
	{"h2c://", true}, {"ldap://", false}, {"mailto:", true}, {"news:", false},
	{"nntp://", false}, {"scgi://", true}, {"ws://", true}, {"wss://", true},
	{"unix://", true}, {"unix:", true},
}

// absoluteURI returns the length of s's scheme prefix ("http://" is 7) when
// s is an absolute URL, else 0, and whether that scheme has a query part.
func absoluteURI(s string) (n int, query bool) {
	if len(s) <= 5 || s[0] == '/' {
		return 0, false
	}
	for _, sc := range absoluteSchemes {
		if len(s) >= len(sc.prefix) && strings.EqualFold(s[:len(sc.prefix)], sc.prefix) {
			return len(sc.prefix), sc.query
		}
	}
	return 0, false
}

const hexLower = "0123456789abcdef"
const hexUpper = "0123456789ABCDEF"

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// uriSafe are the characters besides alphanumerics that ap_escape_uri
// (T_OS_ESCAPE_PATH) leaves alone.
const uriSafe = "$-_.+!*'(),:;@&=/~"

// escapeURI is Apache's ap_escape_uri: everything but alphanumerics and
// uriSafe becomes %xx with lowercase hex ("?" → "%3f", "%" → "%25").
func escapeURI(s string) string {
	i := 0
	for i < len(s) && (isAlnum(s[i]) || strings.IndexByte(uriSafe, s[i]) >= 0) {
		i++
	}
	if i == len(s) {
		return s
	}
	b := make([]byte, 0, len(s)+16)
	b = append(b, s[:i]...)
	for ; i < len(s); i++ {
		c := s[i]
		if isAlnum(c) || strings.IndexByte(uriSafe, c) >= 0 {
			b = append(b, c)
		} else {
			b = append(b, '%', hexLower[c>>4], hexLower[c&15])
		}
	}
	return string(b)
}

// escapeAbsoluteURI is mod_rewrite's escape_absolute_uri: the scheme and
// authority are kept, the rest after the first "/" goes through escapeURI.
func escapeAbsoluteURI(uri string, schemeLen int) string {
	cp := schemeLen
	if uri[cp-1] == '/' { // scheme with an authority part
		for cp < len(uri) && uri[cp] != '/' {
			cp++
		}
		if cp >= len(uri)-1 { // nothing (or only "/") after the host
			return uri
		}
		cp++
	}
	rest := escapeURI(uri[cp:])
	if len(rest) == len(uri)-cp { // nothing to escape
		return uri
	}
	return uri[:cp] + rest
}

// escapeBackref is mod_rewrite's escape_backref for the [B] flags: with no
// list every byte but alphanumerics and "_" is escaped (even "/"), a space
// becomes "+" unless BNP; with a list (B=chars) only those bytes are; BNE
// exempts bytes; BCTLS escapes controls and space. Hex is lowercase.
func escapeBackref(b []byte, s string, r *rule) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		var want bool
		if r.flags&flagBCTLS != 0 {
			want = c <= ' ' || c == 0x7f
		} else {
			want = r.escapes == ""
		}
		if r.escapes != "" && strings.IndexByte(r.escapes, c) >= 0 {
			want = true
		}
		if want && r.noescapes != "" && strings.IndexByte(r.noescapes, c) >= 0 {
			want = false
		}
		switch {
		case !want, isAlnum(c), c == '_':
			b = append(b, c)
		case c == ' ' && r.flags&flagBNP == 0:
			b = append(b, '+')
		default:
			b = append(b, '%', hexLower[c>>4], hexLower[c&15])
		}
	}
	return b
}

// proxyPathSafe are the characters besides alphanumerics and "/" that
// mod_proxy's ap_proxy_canonenc (enc_path) leaves alone.
const proxyPathSafe = "~$-_.+!*'(),;:@&="

// proxyEscapePath is the path mod_proxy_http sends upstream for a rewritten
// [P] URL: ap_proxy_canonenc in reverse-proxy mode, which never decodes and
// escapes with uppercase hex ("%" → "%25", " " → "%20").
func proxyEscapePath(s string) string {
	i := 0
	for i < len(s) && (isAlnum(s[i]) || s[i] == '/' || strings.IndexByte(proxyPathSafe, s[i]) >= 0) {
		i++
	}
	if i == len(s) {
		return s
	}
	b := make([]byte, 0, len(s)+16)
	b = append(b, s[:i]...)
	for ; i < len(s); i++ {
		c := s[i]
		if isAlnum(c) || c == '/' || strings.IndexByte(proxyPathSafe, c) >= 0 {
			b = append(b, c)
		} else {
			b = append(b, '%', hexUpper[c>>4], hexUpper[c&15])
		}
	}
	return string(b)
}

// hasCtlOrSpace reports a byte that may not appear raw in a request line
// (Apache's T_VCHAR_OBSTEXT test: controls, space and DEL).
func hasCtlOrSpace(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			return true
		}
	}
	return false
}
