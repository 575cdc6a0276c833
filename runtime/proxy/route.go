package proxy

import (
	"regexp"
	"sort"
	"strings"

	"github.com/stackctl/stackctl/runtime/config"
	"github.com/stackctl/stackctl/runtime/proxy/rewrite"
	"github.com/stackctl/stackctl/runtime/proxy/static"
)

// matchKind is how a route selects paths, in nginx's terms.
type matchKind uint8

const (
	matchPrefix matchKind = iota // location /prefix
	matchExact                   // location = /path
	matchRegex                   // location ~ regex
)

func (k matchKind) String() string {
	switch k {
	case matchExact:
		return "exact"
	case matchRegex:
		return "regex"
	}
	return "path"
}

// route is one compiled [[proxy.route]].
type route struct {
	index   int
	name    string
	key     string // identity for stats across reloads
	host    string // as configured ("" = any host)
	kind    matchKind
	pattern string // the prefix, exact path or regex source
	re      *regexp.Regexp
	noRegex bool

	static   *static.Handler
	fallback string

	upstream    *pool
	stripPrefix bool

	redirect string
	status   int

	maxBody int64
	rewrite *rewrite.Program
	stats   *counters
}

// rest returns the part of path below the route's prefix, starting with
// "/", for static files (nginx alias) and strip_prefix.
func (rt *route) rest(path string) string {
	if rt.kind != matchPrefix {
		return path
	}
	rest := strings.TrimPrefix(path, rt.pattern)
	if rest == "" || rest[0] != '/' {
		rest = "/" + rest
	}
	return rest
}

// routeKey names a route across reloads: by its name, else by what it
// matches.
func routeKey(rc *config.Route) string {
	if rc.Name != "" {
		return "@" + rc.Name
	}
	var m string
	switch {
	case rc.Exact != "":
		m = "= " + rc.Exact
	case rc.Regex != "":
		m = "~ " + rc.Regex
	default:
		m = rc.Path
	}
	if rc.Host != "" {
		return rc.Host + " " + m
	}
	return m
}

// locations are the routes of one host group, indexed the way nginx
// searches its locations: exact, then the longest prefix (final if it has
// no_regex), then regexes in file order, then that longest prefix.
type locations struct {
	exact    map[string]*route
	prefixes []*route // longest first; file order among equal lengths
	regexes  []*route // file order
}

func (ls *locations) add(rt *route) {
	switch rt.kind {
	case matchExact:
		if ls.exact == nil {
			ls.exact = map[string]*route{}
		}
		if _, dup := ls.exact[rt.pattern]; !dup {
			ls.exact[rt.pattern] = rt
		}
	case matchRegex:
		ls.regexes = append(ls.regexes, rt)
	default:
		ls.prefixes = append(ls.prefixes, rt)
	}
}

func (ls *locations) sort() {
	sort.SliceStable(ls.prefixes, func(i, j int) bool { return len(ls.prefixes[i].pattern) > len(ls.prefixes[j].pattern) })
}

func (ls *locations) match(path string) *route {
	if rt, ok := ls.exact[path]; ok {
		return rt
	}
	var best *route
	for _, rt := range ls.prefixes {
		if strings.HasPrefix(path, rt.pattern) {
			best = rt
			break
		}
	}
	if best != nil && best.noRegex {
		return best
	}
	for _, rt := range ls.regexes {
		if rt.re.MatchString(path) {
			return rt
		}
	}
	return best
}

// router picks a route for a host and path. Routes are grouped by host
// pattern; the groups are searched from the most specific that matches the
// request's host (an exact name, then the longest "*.suffix", then the
// longest "prefix.*") down to the routes without a host, and the first group
// with a matching route wins. Unlike nginx's server blocks, a request whose
// host group has no matching location falls through to the host-less
// routes, so host routes can override a few paths of a shared site.
type router struct {
	exact   map[string]*locations
	leading []hostGroup // "*.example.com": suffix ".example.com", longest first
	trailin []hostGroup // "www.example.*": prefix "www.example.", longest first
	any     *locations
	byName  map[string]*route
	all     []*route
}

type hostGroup struct {
	affix string
	locs  *locations
}

func newRouter(routes []*route) *router {
	rt := &router{exact: map[string]*locations{}, any: &locations{}, byName: map[string]*route{}, all: routes}
	groups := map[string]*locations{}
	for _, r := range routes {
		if r.name != "" {
			rt.byName[r.name] = r
		}
		h := strings.ToLower(r.host)
		if h == "" {
			rt.any.add(r)
			continue
		}
		ls := groups[h]
		if ls == nil {
			ls = &locations{}
			groups[h] = ls
			switch {
			case strings.HasPrefix(h, "*."):
				rt.leading = append(rt.leading, hostGroup{affix: h[1:], locs: ls})
			case strings.HasSuffix(h, ".*"):
				rt.trailin = append(rt.trailin, hostGroup{affix: h[:len(h)-1], locs: ls})
			default:
				rt.exact[h] = ls
			}
		}
		ls.add(r)
	}
	for _, ls := range groups {
		ls.sort()
	}
	rt.any.sort()
	sort.SliceStable(rt.leading, func(i, j int) bool { return len(rt.leading[i].affix) > len(rt.leading[j].affix) })
	sort.SliceStable(rt.trailin, func(i, j int) bool { return len(rt.trailin[i].affix) > len(rt.trailin[j].affix) })
	return rt
}

// match returns the route for host (as sent, possibly with a port) and
// path, or nil.
func (rt *router) match(host, path string) *route {
	if len(rt.exact) == 0 && len(rt.leading) == 0 && len(rt.trailin) == 0 {
		return rt.any.match(path) // the common case: no host routes at all
	}
	h := normalizeHost(host)
	if ls, ok := rt.exact[h]; ok {
		if r := ls.match(path); r != nil {
			return r
		}
	}
	for _, g := range rt.leading {
		if strings.HasSuffix(h, g.affix) && len(h) > len(g.affix) {
			if r := g.locs.match(path); r != nil {
				return r
			}
		}
	}
	for _, g := range rt.trailin {
		if strings.HasPrefix(h, g.affix) && len(h) > len(g.affix) {
			if r := g.locs.match(path); r != nil {
				return r
			}
		}
	}
	return rt.any.match(path)
}

// normalizeHost lower-cases a Host header and drops its port and a
// trailing dot.
func normalizeHost(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.HasSuffix(h, "]") {
		h = h[:i]
	}
	h = strings.TrimSuffix(h, ".")
	for i := 0; i < len(h); i++ {
		if c := h[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(h)
		}
	}
	return h
}
