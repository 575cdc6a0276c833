package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/stackctl/stackctl/runtime/config"
)

// FuzzRouteMatch builds a route table from fuzzed route specs, through the
// configuration loader and the proxy's own table builder, and matches
// fuzzed (host, path) pairs against it.
//
// specs is one route per line (at most 8): "[HOST ]MATCH", where MATCH is
// "=/exact", "~regex", "^/prefix" (a prefix with no_regex) or "/prefix"
// (empty: the default "/"). Specs the loader rejects are skipped: the
// router's contract covers what validates. host is skipped unless every
// byte is one the HTTP parser lets into a Host header. Each run also tries
// paths made of the routes' patterns and hosts made of their host patterns.
//
// Properties:
//   - a configuration that validates builds;
//   - matching never panics, and the route chosen really matches: an exact
//     route's path equals the request's, a prefix route's is a prefix of it,
//     a regex route's regex matches it, a host route's host pattern matches
//     the request's host;
//   - the choice is the one a simple reference implementation of the
//     documented rules makes (docs/proxy.md: exact, then the longest prefix
//     — final with no_regex — then regexes in file order, then that prefix;
//     host groups from the most specific down to the routes without a host),
//     which implies that no longer matching prefix route of the group exists;
//   - the host is case-insensitive, a port is ignored, so is a trailing dot.
func FuzzRouteMatch(f *testing.F) {
	// More seeds in testdata/fuzz/FuzzRouteMatch.
	f.Add("/\n/static/\n=/login\n~\\.php$\n^/assets/", "localhost:8080", "/assets/index.php")
	f.Add("example.com /admin/\n*.example.com /\nwww.example.* /x/\n/", "Www.Example.com.:443", "/x/1")
	dir := f.TempDir()
	var (
		lastSpecs  string
		lastRouter *router
		lastRoutes []config.Route
	)
	f.Fuzz(func(t *testing.T, specs, host, path string) {
		if !fzValidHost(host) {
			return
		}
		if lastRouter == nil || specs != lastSpecs {
			cfg, ok := fzRouteConfig(t, dir, specs)
			if !ok {
				return
			}
			p := &Proxy{routeStats: map[string]*counters{}}
			b, err := p.build(cfg)
			if err != nil {
				t.Fatalf("the configuration validates, yet the proxy does not build it: %v\n%s", err, cfg.Source)
			}
			lastSpecs, lastRouter, lastRoutes = specs, b.tab.router, cfg.Proxy.Routes
		}
		rt, routes := lastRouter, lastRoutes

		// Besides the fuzzed pair: paths made of the routes' own patterns,
		// and hosts made of the routes' host patterns (the wildcard
		// replaced by nothing, a label, the fuzzed host).
		paths := []string{path, path + "/", strings.TrimSuffix(path, "/")}
		for _, rc := range routes {
			for _, s := range []string{rc.Path, rc.Exact} {
				if s != "" {
					paths = append(paths, s, s+path, s+"x")
				}
			}
		}
		hosts := []string{host}
		for _, rc := range routes {
			if rc.Host != "" {
				for _, h := range []string{strings.ReplaceAll(rc.Host, "*", ""), strings.ReplaceAll(rc.Host, "*", "x"),
					strings.ReplaceAll(rc.Host, "*", host), "a" + rc.Host, rc.Host[1:]} {
					if fzValidHost(h) {
						hosts = append(hosts, h)
					}
				}
			}
		}
		for i, h := range hosts {
			ps := paths
			if i > 0 && len(ps) > 8 {
				ps = ps[:8]
			}
			for _, p := range ps {
				got := rt.match(h, p)
				gotIdx := -1
				if got != nil {
					gotIdx = got.index
					fzCheckMatches(t, got, routes, h, p)
				}
				if want := fzRefMatch(routes, h, p); gotIdx != want {
					t.Fatalf("match(%q, %q) = %s, the reference says %s\nroutes:\n%s",
						h, p, fzRouteName(routes, gotIdx), fzRouteName(routes, want), fzDescribe(routes))
				}
			}
		}

		// Host variants that must route the same.
		if !strings.Contains(host, ":") {
			same := []string{strings.ToUpper(host), host + ":8080"}
			if host != "" && !strings.HasSuffix(host, ".") {
				same = append(same, host+".", strings.ToUpper(host)+".:1")
			}
			base := rt.match(host, path)
			for _, h := range same {
				if got := rt.match(h, path); got != base {
					t.Fatalf("match(%q, %q) = %v but match(%q, %q) = %v", host, path, fzName(base), h, path, fzName(got))
				}
			}
		}
	})
}

// fzRouteConfig turns specs into a configuration file and loads it; false
// when the loader rejects it.
func fzRouteConfig(t *testing.T, dir, specs string) (*config.Config, bool) {
	var b strings.Builder
	b.WriteString("[proxy]\nlisten = [\"127.0.0.1:0\"]\naccess_log = \"off\"\n")
	lines := strings.Split(specs, "\n")
	if len(lines) > 8 {
		lines = lines[:8]
	}
	for i, line := range lines {
		host, m, ok := strings.Cut(line, " ")
		if !ok {
			host, m = "", line
		}
		fmt.Fprintf(&b, "\n[[proxy.route]]\nname = \"r%d\"\nredirect = \"/\"\n", i)
		if host != "" {
			fmt.Fprintf(&b, "host = %s\n", fzTOMLString(host))
		}
		switch {
		case strings.HasPrefix(m, "="):
			fmt.Fprintf(&b, "exact = %s\n", fzTOMLString(m[1:]))
		case strings.HasPrefix(m, "~"):
			fmt.Fprintf(&b, "regex = %s\n", fzTOMLString(m[1:]))
		case strings.HasPrefix(m, "^"):
			fmt.Fprintf(&b, "path = %s\nno_regex = true\n", fzTOMLString(m[1:]))
		case m != "":
			fmt.Fprintf(&b, "path = %s\n", fzTOMLString(m))
		}
	}
	cfg, err := config.Parse(filepath.Join(dir, "stackctl.toml"), []byte(b.String()))
	if err != nil {
		return nil, false
	}
	return cfg, true
}

// fzTOMLString quotes s as a TOML basic string (JSON's escapes are TOML's,
// but for DEL, which TOML wants escaped).
func fzTOMLString(s string) string {
	q, _ := json.Marshal(s)
	return strings.ReplaceAll(string(q), "\x7f", `\u007f`)
}

// fzValidHost reports whether the HTTP parser lets h through as a Host
// value (httpguts' set of bytes).
func fzValidHost(h string) bool {
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!$%&'()*+,-.:;=[]_~", c) >= 0) {
			return false
		}
	}
	return true
}

// fzRefHost is the request host as routing sees it, by the documented
// rules: lower case, without a port (after the last ':' unless the host is
// a bracketed IPv6 literal) and without a trailing dot.
func fzRefHost(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.HasSuffix(h, "]") {
		h = h[:i]
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

// fzHostMatches reports whether a route host pattern (lower-cased) matches
// the request host h (normalised): the name itself, "*.suffix" any name
// ending in ".suffix" (with something before it), "prefix.*" any name
// starting with "prefix." (with something after it).
func fzHostMatches(pattern, h string) bool {
	switch {
	case pattern == "":
		return true
	case strings.HasPrefix(pattern, "*."):
		return len(h) > len(pattern)-1 && strings.HasSuffix(h, pattern[1:])
	case strings.HasSuffix(pattern, ".*"):
		return len(h) > len(pattern)-1 && strings.HasPrefix(h, pattern[:len(pattern)-1])
	}
	return pattern == h
}

// fzRefMatch is the reference router: the index of the route for host and
// path, or -1.
func fzRefMatch(routes []config.Route, host, path string) int {
	h := fzRefHost(host)
	// The host groups, most specific first.
	type group struct {
		pattern string
		rank    int // 0 exact, 1 "*.x", 2 "x.*", 3 no host
		first   int // the group's first route, for a stable order
	}
	seen := map[string]bool{}
	var groups []group
	for i, rc := range routes {
		p := strings.ToLower(rc.Host)
		if seen[p] || !fzHostMatches(p, h) {
			continue
		}
		seen[p] = true
		rank := 0
		switch {
		case p == "":
			rank = 3
		case strings.HasPrefix(p, "*."):
			rank = 1
		case strings.HasSuffix(p, ".*"):
			rank = 2
		}
		groups = append(groups, group{p, rank, i})
	}
	sort.SliceStable(groups, func(i, j int) bool {
		if groups[i].rank != groups[j].rank {
			return groups[i].rank < groups[j].rank
		}
		return len(groups[i].pattern) > len(groups[j].pattern)
	})
	for _, g := range groups {
		var in []int
		for i, rc := range routes {
			if strings.ToLower(rc.Host) == g.pattern {
				in = append(in, i)
			}
		}
		if i := fzRefLocation(routes, in, path); i >= 0 {
			return i
		}
	}
	return -1
}

// fzRefLocation searches one host group's routes (indexes in file order).
func fzRefLocation(routes []config.Route, in []int, path string) int {
	for _, i := range in {
		if routes[i].Exact != "" && routes[i].Exact == path {
			return i
		}
	}
	best := -1
	for _, i := range in {
		rc := routes[i]
		if rc.Path != "" && strings.HasPrefix(path, rc.Path) && (best < 0 || len(rc.Path) > len(routes[best].Path)) {
			best = i
		}
	}
	if best >= 0 && routes[best].NoRegex {
		return best
	}
	for _, i := range in {
		if routes[i].Regex != "" && fzRegexp(routes[i].Regex).MatchString(path) {
			return i
		}
	}
	return best
}

// fzCheckMatches checks that the route chosen for host and path matches
// them, and that no longer prefix of its host group does.
func fzCheckMatches(t *testing.T, got *route, routes []config.Route, host, path string) {
	t.Helper()
	rc := routes[got.index]
	if !fzHostMatches(strings.ToLower(rc.Host), fzRefHost(host)) {
		t.Fatalf("match(%q, %q) chose route %d, whose host %q does not match", host, path, got.index, rc.Host)
	}
	switch {
	case rc.Exact != "":
		if path != rc.Exact {
			t.Fatalf("match(%q, %q) chose exact route %d for %q", host, path, got.index, rc.Exact)
		}
	case rc.Regex != "":
		if !fzRegexp(rc.Regex).MatchString(path) {
			t.Fatalf("match(%q, %q) chose regex route %d, %q, which does not match", host, path, got.index, rc.Regex)
		}
	default:
		if !strings.HasPrefix(path, rc.Path) {
			t.Fatalf("match(%q, %q) chose prefix route %d, %q, not a prefix", host, path, got.index, rc.Path)
		}
		for i, o := range routes {
			if strings.EqualFold(o.Host, rc.Host) && o.Path != "" && len(o.Path) > len(rc.Path) && strings.HasPrefix(path, o.Path) {
				t.Fatalf("match(%q, %q) chose prefix route %d, %q, over the longer route %d, %q", host, path, got.index, rc.Path, i, o.Path)
			}
		}
	}
}

var fzRegexps sync.Map // source -> *regexp.Regexp

func fzRegexp(src string) *regexp.Regexp {
	if re, ok := fzRegexps.Load(src); ok {
		return re.(*regexp.Regexp)
	}
	re := regexp.MustCompile(src)
	fzRegexps.Store(src, re)
	return re
}

func fzRouteName(routes []config.Route, i int) string {
	if i < 0 {
		return "no route"
	}
	return fmt.Sprintf("route %d (%s)", i, fzDescribeOne(routes[i]))
}

func fzName(rt *route) string {
	if rt == nil {
		return "<nil>"
	}
	return rt.name
}

func fzDescribeOne(rc config.Route) string {
	var m string
	switch {
	case rc.Exact != "":
		m = fmt.Sprintf("exact %q", rc.Exact)
	case rc.Regex != "":
		m = fmt.Sprintf("regex %q", rc.Regex)
	default:
		m = fmt.Sprintf("path %q", rc.Path)
		if rc.NoRegex {
			m += " no_regex"
		}
	}
	if rc.Host != "" {
		m = fmt.Sprintf("host %q ", rc.Host) + m
	}
	return m
}

func fzDescribe(routes []config.Route) string {
	var b strings.Builder
	for i, rc := range routes {
		fmt.Fprintf(&b, "  %d: %s\n", i, fzDescribeOne(rc))
	}
	return b.String()
}

// FuzzStaticPath fuzzes what happens to a request path on a static route:
// the part below the route's prefix (route.rest) and the static handler's
// normalisation of it (nginx's: "//", "/./", "/a/../"). The proxy applies
// no normalisation before routing; this is the one that decides which file
// is read.
//
// The root holds files, directories and symlinks (inside the root and out
// of it); next to it lies secret.txt. The routes are "/files/" and "/f"
// (no trailing slash), both serving the root, then "/" (a redirect).
//
// Properties:
//   - rest starts with "/" and is the path below the prefix;
//   - nothing panics, no response is a 5xx, no byte of secret.txt is ever
//     sent, and when Serve reports nothing there it has written nothing;
//   - the outcome is what a reference derives from the path and the file
//     system: a NUL or backslash gives 400 or 404, a ".." above the root
//     400; otherwise the path, cleaned, names a file (200 with its
//     content), a directory (301 without the trailing slash; with it, its
//     index.html or 403), something outside the root (403) or nothing.
func FuzzStaticPath(f *testing.F) {
	// More seeds in testdata/fuzz/FuzzStaticPath.
	f.Add("/files/a/../b.txt")
	f.Add("/files/../secret.txt")
	base := f.TempDir()
	root := filepath.Join(base, "root")
	for name, text := range map[string]string{
		"index.html": "ROOT-INDEX", "a/b.txt": "A-B", "a/index.html": "A-INDEX", "dot/.hidden": "HIDDEN",
		"weird name%20.txt": "WEIRD", "sub/.keep": "",
	} {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			f.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			f.Fatal(err)
		}
	}
	const secret = "SECRET-7f3a9c"
	if err := os.WriteFile(filepath.Join(base, "secret.txt"), []byte(secret), 0o644); err != nil {
		f.Fatal(err)
	}
	for name, target := range map[string]string{
		"link-out": "../secret.txt", "link-outdir": "..", "link-in": "a/b.txt", "link-dir": "a", "a/link-up": "../index.html",
	} {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			f.Fatal(err)
		}
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		f.Fatal(err)
	}
	cfg, err := config.Parse(filepath.Join(base, "stackctl.toml"), []byte(fmt.Sprintf(`
[proxy]
listen = ["127.0.0.1:0"]
access_log = "off"
[[proxy.route]]
path = "/files/"
static = %[1]s
[[proxy.route]]
path = "/f"
static = %[1]s
[[proxy.route]]
path = "/"
redirect = "/"
`, fzTOMLString(root))))
	if err != nil {
		f.Fatal(err)
	}
	p := &Proxy{routeStats: map[string]*counters{}}
	b, err := p.build(cfg)
	if err != nil {
		f.Fatal(err)
	}
	router := b.tab.router

	f.Fuzz(func(t *testing.T, path string) {
		rt := router.match("localhost", path)
		if rt == nil || rt.static == nil {
			return
		}
		rest := rt.rest(path)
		if !strings.HasPrefix(rest, "/") || strings.TrimLeft(rest, "/") != strings.TrimLeft(path[len(rt.pattern):], "/") {
			t.Fatalf("rest(%q) below %q = %q", path, rt.pattern, rest)
		}
		r := &http.Request{Method: "GET", URL: &url.URL{Path: path}, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{}, Host: "localhost"}
		w := &fzWriter{h: http.Header{}}
		served := rt.static.Serve(w, r, rest)
		if bytes.Contains(w.body.Bytes(), []byte(secret)) {
			t.Fatalf("Serve(%q) sent the secret outside the root: %d %q", rest, w.code, w.body.Bytes())
		}
		if !served {
			if w.code != 0 || w.body.Len() > 0 {
				t.Fatalf("Serve(%q) returned false having written %d %q", rest, w.code, w.body.Bytes())
			}
			w.code = 0 // nothing there
		} else if w.code == 0 {
			w.code = http.StatusOK
		}
		if w.code >= 500 {
			t.Fatalf("Serve(%q) = %d %q", rest, w.code, w.body.Bytes())
		}
		if loc := w.h.Get("Location"); w.code == http.StatusMovedPermanently &&
			(!strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") || strings.HasPrefix(loc, "/\\")) {
			t.Fatalf("Serve(%q) (request %q) redirects to %q: not a path on this site", rest, path, loc)
		}
		wantCode, wantBody, known := fzRefStatic(realRoot, rest)
		if !known {
			return
		}
		if w.code != wantCode || wantCode == http.StatusOK && w.body.String() != wantBody {
			t.Fatalf("Serve(%q) (request %q) = %d %.60q, the reference says %d %.60q (0: nothing there)",
				rest, path, w.code, w.body.Bytes(), wantCode, wantBody)
		}
	})
}

// fzRefStatic is the reference for a static GET of rest below root (a real
// path): the status (0 for nothing there) and, for 200, the body. known is
// false when the file system answers something the reference does not
// model.
func fzRefStatic(root, rest string) (code int, body string, known bool) {
	if i := strings.IndexAny(rest, "\x00\\"); i >= 0 {
		if rest[i] == 0 {
			return http.StatusBadRequest, "", true
		}
		return http.StatusNotFound, "", true
	}
	var segs []string
	parts := strings.Split(rest, "/")
	for _, s := range parts {
		switch s {
		case "", ".":
		case "..":
			if len(segs) == 0 {
				return http.StatusBadRequest, "", true
			}
			segs = segs[:len(segs)-1]
		default:
			segs = append(segs, s)
		}
	}
	last := parts[len(parts)-1]
	dir := last == "" || last == "." || last == ".."
	rel := strings.Join(segs, "/")

	// resolve follows rel on the disk: "missing", "outside", "dir", "file".
	resolve := func(rel string) (kind, content string, ok bool) {
		real, err := filepath.EvalSymlinks(filepath.Join(root, rel))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.ENAMETOOLONG) {
				return "missing", "", true
			}
			return "", "", false
		}
		if real != root && !strings.HasPrefix(real, root+"/") {
			return "outside", "", true
		}
		st, err := os.Stat(real)
		if err != nil {
			return "", "", false
		}
		if st.IsDir() {
			return "dir", "", true
		}
		b, err := os.ReadFile(real)
		return "file", string(b), err == nil
	}
	if dir {
		kind, content, ok := resolve(filepath.Join(rel, "index.html"))
		switch {
		case !ok:
			return 0, "", false
		case kind == "file":
			return http.StatusOK, content, true
		case kind == "outside":
			return http.StatusForbidden, "", true
		}
		kind, _, ok = resolve(rel)
		switch {
		case !ok:
			return 0, "", false
		case kind == "dir", kind == "outside":
			return http.StatusForbidden, "", true // no listing
		}
		return 0, "", true // missing, or "file/"
	}
	kind, content, ok := resolve(rel)
	switch {
	case !ok:
		return 0, "", false
	case kind == "file":
		return http.StatusOK, content, true
	case kind == "dir":
		return http.StatusMovedPermanently, "", true
	case kind == "outside":
		return http.StatusForbidden, "", true
	}
	return 0, "", true
}

// fzWriter records a response.
type fzWriter struct {
	h    http.Header
	code int
	body bytes.Buffer
}

func (w *fzWriter) Header() http.Header { return w.h }

func (w *fzWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *fzWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.body.Write(p)
}
