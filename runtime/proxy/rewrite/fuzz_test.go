package rewrite

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

// FuzzCompileApply feeds arbitrary rules and requests through Compile and
// Apply: neither may panic, and a Result must be coherent with its Kind.
func FuzzCompileApply(f *testing.F) {
	seeds := [][9]string{
		{`^/old/(.*)$`, "/new/$1", "R=301,L", "%{HTTP_HOST}", `^www\.(.+)$`, "NC", "/old/a b", "x=1", "www.example.com"},
		{`^/(.*)-(.*)$`, "/$1_$2", "N", "", "", "", "/a-b-c", "", "h"},
		{`^/api/(.*)$`, "/v1/$1?k=%1", "P=api,QSA,B", "%{HTTP_COOKIE}", `(^|;\s*)lang=([a-z]+)`, "", "/api/x?y", "q", "h:80"},
		{`!^/x`, "http://%{HTTP_HOST}/y?", "QSD,NE", "%{REQUEST_FILENAME}", "!-f", "OR", "/z", "", "[::1]:1"},
		{`^/`, "-", "C,S=1", "%{HTTP:X}", "-ge 3", "", "/", "", ""},
		{`.*`, `\$0$0%0%{QUERY_STRING}`, "QSL,UnsafeAllow3F,END", "$0", ">=abc", "NC", "/?a?b", "c?d", "x"},
		{`^/(a)(b)?(c)*`, "mailto:$1$2$3?x", "F", "", "", "", "/abcc", "", ""},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8])
	}
	root := f.TempDir()
	f.Fuzz(func(t *testing.T, match, to, flags, test, pattern, condFlags, path, query, host string) {
		r := Rule{Match: match, To: to, Flags: splitFlags(flags)}
		if test != "" || pattern != "" {
			r.If = []Cond{{Test: test, Pattern: pattern, Flags: splitFlags(condFlags)}}
		}
		// The rule twice, so chains, skips and restarts see a neighbour.
		prog, err := Compile([]Rule{r, r})
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Rule != 0 {
				t.Fatalf("Compile error %T does not lead with rule 0's *Error: %v", err, err)
			}
			return
		}
		req := &Request{Method: "GET", Host: host, Path: path, RawQuery: query, RemoteAddr: "127.0.0.1:1",
			Header: http.Header{"Cookie": {"lang=de"}, "X": {"4"}}, DocumentRoot: root}
		res := prog.Apply(req)
		switch res.Kind {
		case None:
		case Rewritten, Proxy:
			if !strings.HasPrefix(res.Path, "/") {
				t.Fatalf("%v path %q does not start with /", res.Kind, res.Path)
			}
			if res.Kind == Proxy && res.Upstream == "" {
				t.Fatal("Proxy without Upstream")
			}
			_ = res.EscapedPath()
		case Redirect:
			if res.Location == "" || res.Status < 300 || res.Status > 399 {
				t.Fatalf("bad redirect %+v", res)
			}
		case Forbidden, Gone, Status:
			if res.Status < 400 {
				t.Fatalf("bad status %+v", res)
			}
		default:
			t.Fatalf("unknown kind %v", res.Kind)
		}
	})
}

func splitFlags(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}
