package static

import (
	"net/http"
	"strings"
)

// cleanPath maps the decoded request path below the route to a path below
// the root the way nginx normalises a URI before it maps it to a file:
// "//" is one slash, "." segments vanish and ".." removes the segment before
// it, so "/a/../b" is "b" and "/sub/." is the directory "sub".
//
// It returns the path without leading or trailing slash ("" is the root
// itself), whether it names a directory (it ended in "/", "/." or "/.."),
// and, when the path is refused, the status to answer with:
//   - 400 for a ".." that climbs above the root and for a NUL byte, as nginx
//     answers both (it refuses them while parsing the request line);
//   - 404 for a backslash: an ordinary character in a Linux file name, but a
//     separator on Windows and in some clients and proxies, so a path with
//     one is never looked up. nginx looks such a name up literally and
//     answers 404 unless a file is named so.
//
// Since the path is already percent-decoded, "%2e%2e", "%2E%2E" and "%00"
// arrive here as "..", ".." and NUL and are refused like the raw forms.
func cleanPath(p string) (rel string, dir bool, status int) {
	// Fast path: nothing to normalise, which is every well-formed request;
	// no allocation.
	clean := true
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case 0:
			return "", false, http.StatusBadRequest
		case '\\':
			return "", false, http.StatusNotFound
		case '/':
			if i+1 < len(p) && (p[i+1] == '/' || p[i+1] == '.' && isDotSegment(p[i+1:])) {
				clean = false
			}
		case '.':
			if i == 0 && isDotSegment(p) {
				clean = false
			}
		}
	}
	if clean {
		rel = strings.TrimPrefix(p, "/")
		if strings.HasSuffix(rel, "/") {
			return rel[:len(rel)-1], true, 0
		}
		return rel, p == "/", 0
	}

	n, ok := Normalize(p)
	if !ok {
		return "", false, http.StatusBadRequest
	}
	rel = strings.Trim(n, "/")
	return rel, strings.HasSuffix(n, "/"), 0
}

// Normalize normalises a decoded URL path the way nginx does before it
// picks a location: repeated slashes merge, "." segments go, ".." removes
// the segment before it, and a trailing slash (or a final "." or "..")
// stays a trailing slash. The result starts with "/"; ok is false when
// ".." climbs above the root. The proxy routes by it, so that a route
// cannot be bypassed by spelling its path differently ("//admin/",
// "/x/../admin/"); cleanPath maps it to a file.
func Normalize(p string) (clean string, ok bool) {
	if p == "" {
		return "/", true
	}
	if !strings.Contains(p, "//") && !strings.Contains(p, "/.") && p[0] == '/' {
		return p, true // the common case: nothing to do, no allocation
	}
	segs := make([]string, 0, strings.Count(p, "/")+1)
	trailing := false
	for seg := range strings.SplitSeq(p, "/") {
		switch seg {
		case "", ".":
			trailing = true
			continue
		case "..":
			if len(segs) == 0 {
				return "", false
			}
			segs = segs[:len(segs)-1]
			trailing = true
			continue
		}
		segs = append(segs, seg)
		trailing = false
	}
	out := "/" + strings.Join(segs, "/")
	if trailing && len(segs) > 0 {
		out += "/"
	}
	return out, true
}

// isDotSegment reports whether s begins with a "." or ".." path segment.
func isDotSegment(s string) bool {
	n := 1
	if len(s) > 1 && s[1] == '.' {
		n = 2
	}
	return len(s) == n || s[n] == '/'
}
