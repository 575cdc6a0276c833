package proxy

import (
	"regexp"
	"testing"

	"github.com/stackctl/stackctl/runtime/config"
)

func mkRoute(t *testing.T, rc config.Route) *route {
	t.Helper()
	rt := &route{name: rc.Name, host: rc.Host, noRegex: rc.NoRegex, key: routeKey(&rc)}
	switch {
	case rc.Exact != "":
		rt.kind, rt.pattern = matchExact, rc.Exact
	case rc.Regex != "":
		rt.kind, rt.pattern, rt.re = matchRegex, rc.Regex, regexp.MustCompile(rc.Regex)
	default:
		rt.kind, rt.pattern = matchPrefix, rc.Path
	}
	return rt
}

func TestRouterMatch(t *testing.T) {
	cfgs := []config.Route{
		{Name: "root", Path: "/"},
		{Name: "static", Path: "/static/"},
		{Name: "static-img", Path: "/static/img/"},
		{Name: "exact-login", Exact: "/login"},
		{Name: "php", Regex: `\.php$`},
		{Name: "images-ci", Regex: `(?i)\.(png|jpg)$`},
		{Name: "assets-final", Path: "/assets/", NoRegex: true},
		{Name: "api", Path: "/api"},
		{Name: "host-root", Host: "example.com", Path: "/"},
		{Name: "host-admin", Host: "example.com", Path: "/admin/"},
		{Name: "wild", Host: "*.example.com", Path: "/"},
		{Name: "wild-deep", Host: "*.eu.example.com", Path: "/"},
		{Name: "trail", Host: "www.example.*", Path: "/x/"},
		{Name: "other-host-only", Host: "other.test", Path: "/only/"},
	}
	var routes []*route
	for i, rc := range cfgs {
		r := mkRoute(t, rc)
		r.index = i
		routes = append(routes, r)
	}
	rt := newRouter(routes)
	cases := []struct {
		host, path, want string
	}{
		{"localhost", "/", "root"},
		{"localhost", "/anything", "root"},
		{"localhost", "/static/app.css", "static"},
		{"localhost", "/static", "root"},                 // a prefix is a string prefix, as in nginx
		{"localhost", "/static/img/a.gif", "static-img"}, // longest prefix wins
		{"localhost", "/login", "exact-login"},           // exact beats everything
		{"localhost", "/login/x", "root"},
		{"localhost", "/static/index.php", "php"},          // a regex beats the longest prefix...
		{"localhost", "/assets/index.php", "assets-final"}, // ...unless that prefix has no_regex (^~)
		{"localhost", "/static/img/A.PNG", "images-ci"},    // regexes in file order; (?i) is ~*
		{"localhost", "/apis", "api"},
		{"localhost:8080", "/", "root"},
		{"example.com", "/", "host-root"},
		{"EXAMPLE.com:80", "/admin/x", "host-admin"}, // host is case-insensitive, port ignored
		{"example.com.", "/admin/x", "host-admin"},   // trailing dot
		{"a.example.com", "/", "wild"},
		{"b.eu.example.com", "/", "wild-deep"}, // the longest wildcard wins
		{"www.example.org", "/x/1", "trail"},
		{"www.example.org", "/y", "root"}, // no route in the host group: falls through to host-less routes
		{"other.test", "/only/1", "other-host-only"},
		{"other.test", "/elsewhere", "root"},
		{"example.com", "/x.php", "host-root"}, // host group routes are searched alone first
	}
	for _, c := range cases {
		got := rt.match(c.host, c.path)
		name := "<nil>"
		if got != nil {
			name = got.name
		}
		if name != c.want {
			t.Errorf("match(%q, %q) = %s, want %s", c.host, c.path, name, c.want)
		}
	}
}

func TestRouterNoMatch(t *testing.T) {
	rt := newRouter([]*route{mkRoute(t, config.Route{Name: "a", Path: "/a/"})})
	if got := rt.match("h", "/b"); got != nil {
		t.Fatalf("match = %v, want nil", got.name)
	}
}

func TestRouteRest(t *testing.T) {
	cases := []struct {
		kind          matchKind
		pattern, path string
		want          string
	}{
		{matchPrefix, "/static/", "/static/a/b.css", "/a/b.css"},
		{matchPrefix, "/static", "/static/a.css", "/a.css"},
		{matchPrefix, "/static/", "/static/", "/"},
		{matchPrefix, "/", "/x", "/x"},
		{matchExact, "/favicon.ico", "/favicon.ico", "/favicon.ico"},
		{matchRegex, `\.css$`, "/a/b.css", "/a/b.css"},
	}
	for _, c := range cases {
		rt := &route{kind: c.kind, pattern: c.pattern}
		if got := rt.rest(c.path); got != c.want {
			t.Errorf("rest(%s %q, %q) = %q, want %q", c.kind, c.pattern, c.path, got, c.want)
		}
	}
}

func TestNormalizeHost(t *testing.T) {
	for in, want := range map[string]string{
		"Example.COM:8080": "example.com",
		"example.com.":     "example.com",
		"[::1]:80":         "[::1]",
		"[::1]":            "[::1]",
		"":                 "",
		"a.b":              "a.b",
	} {
		if got := normalizeHost(in); got != want {
			t.Errorf("normalizeHost(%q) = %q, want %q", in, got, want)
		}
	}
}
