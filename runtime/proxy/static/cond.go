package static

import (
	"net/http"
	"strings"
)

// preconditions evaluates the conditional request headers against rp and
// returns 0 to go on, 304 or 412, in RFC 9110's order (section 13.2.2):
//
//  1. If-Match (strong comparison; "*" matches): 412 when none matches.
//  2. Else If-Unmodified-Since: 412 when the file is newer. An invalid date
//     is ignored, as the RFC requires; nginx answers 412 for it.
//  3. If-None-Match (weak comparison; "*" matches): 304 when one matches,
//     and If-Modified-Since is then ignored, as the RFC requires. nginx
//     demands that both hold: a matching ETag with an older
//     If-Modified-Since gets 200 from nginx, 304 here.
//  4. Else If-Modified-Since: 304 when it equals the Last-Modified time,
//     nginx's default `if_modified_since exact`: a later date does not
//     count, because a file restored with an older mtime (rsync -t, a
//     rollback) must not look unchanged to clients that saw the newer one.
func preconditions(r *http.Request, rp *rep) int {
	hdr := r.Header
	if v := hdr["If-Match"]; len(v) > 0 {
		if !etagMatch(v, rp.etag, false) {
			return http.StatusPreconditionFailed
		}
	} else if v := hdr["If-Unmodified-Since"]; len(v) > 0 {
		if t, err := http.ParseTime(v[0]); err == nil && rp.mtime > t.Unix() {
			return http.StatusPreconditionFailed
		}
	}
	if v := hdr["If-None-Match"]; len(v) > 0 {
		if etagMatch(v, rp.etag, true) {
			return http.StatusNotModified
		}
		return 0
	}
	if v := hdr["If-Modified-Since"]; len(v) > 0 {
		if v[0] == rp.hLastMod[0] { // what browsers send back: no parsing
			return http.StatusNotModified
		}
		if t, err := http.ParseTime(v[0]); err == nil && t.Unix() == rp.mtime {
			return http.StatusNotModified
		}
	}
	return 0
}

// etagMatch reports whether the entity-tag lists in vals name etag (a
// strong, quoted tag) or are "*". With weak set, W/"x" matches "x" (weak
// comparison, for If-None-Match); without, a weak tag matches nothing
// (strong comparison, for If-Match). Malformed members are skipped.
func etagMatch(vals []string, etag string, weak bool) bool {
	for _, v := range vals {
		for {
			v = strings.TrimLeft(v, " \t,")
			if v == "" {
				break
			}
			if v[0] == '*' {
				return true
			}
			isWeak := strings.HasPrefix(v, "W/")
			if isWeak {
				v = v[2:]
			}
			if v == "" || v[0] != '"' {
				i := strings.IndexByte(v, ',')
				if i < 0 {
					break
				}
				v = v[i:]
				continue
			}
			end := strings.IndexByte(v[1:], '"')
			if end < 0 {
				break
			}
			tag := v[:end+2]
			v = v[end+2:]
			if tag == etag && (weak || !isWeak) {
				return true
			}
		}
	}
	return false
}

// ifRange reports whether a Range request may be answered with ranges: no
// If-Range, or one naming exactly the current ETag or Last-Modified time,
// as nginx compares (a weak ETag never matches).
func ifRange(r *http.Request, rp *rep) bool {
	v := r.Header["If-Range"]
	if len(v) == 0 {
		return true
	}
	s := v[0]
	if len(s) >= 2 && s[len(s)-1] == '"' {
		return s == rp.etag
	}
	t, err := http.ParseTime(s)
	return err == nil && t.Unix() == rp.mtime
}

// acceptEncodings reports whether the Accept-Encoding values accept br and
// gzip: the coding named, in any case, with a q-value other than 0. Like
// nginx, "*" and "x-gzip" do not count as gzip. It scans bytes rather than
// splitting strings: every request for a file with a sibling parses it.
func acceptEncodings(vals []string) (br, gzip bool) {
	for _, v := range vals {
		for i := 0; i < len(v); {
			// One member: token [; params] up to a comma.
			for i < len(v) && (v[i] == ' ' || v[i] == '\t' || v[i] == ',') {
				i++
			}
			start := i
			for i < len(v) && v[i] != ',' && v[i] != ';' && v[i] != ' ' && v[i] != '\t' {
				i++
			}
			name := v[start:i]
			end := i
			for end < len(v) && v[end] != ',' {
				end++
			}
			params := v[i:end]
			i = end
			isBr := len(name) == 2 && strings.EqualFold(name, "br")
			isGzip := len(name) == 4 && strings.EqualFold(name, "gzip")
			if !isBr && !isGzip || params != "" && qZero(params) {
				continue
			}
			if isBr {
				br = true
			} else {
				gzip = true
			}
		}
	}
	return br, gzip
}

// qZero reports whether the parameters of an Accept-Encoding member
// (";q=0" and the like) set q=0 (or 0.0, 0.00, 0.000): "not acceptable".
func qZero(params string) bool {
	for p := range strings.SplitSeq(params, ";") {
		k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "q") {
			continue
		}
		val = strings.TrimSpace(val)
		if val == "" || val[0] != '0' {
			return false
		}
		return strings.Trim(val[1:], ".0") == "" && strings.Count(val, ".") <= 1
	}
	return false
}
