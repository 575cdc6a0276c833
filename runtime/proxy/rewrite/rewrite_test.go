package rewrite

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"
)

// applyCase is one table entry: rules, a request, the expected result.
type applyCase struct {
	name  string
	rules []Rule
	req   Request // Method, Host and Header get defaults
	want  Result  // compared field by field; noEscape is ignored
}

func runCases(t *testing.T, cases []applyCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			prog, err := Compile(tc.rules)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			req := tc.req
			if req.Method == "" {
				req.Method = "GET"
			}
			if req.Host == "" && req.ServerName == "" {
				req.Host = "example.com"
			}
			if req.Header == nil {
				req.Header = http.Header{}
			}
			got := prog.Apply(&req)
			got.noEscape = false
			if got != tc.want {
				t.Errorf("Apply(%s ?%s)\n got %+v\nwant %+v", req.Path, req.RawQuery, got, tc.want)
			}
		})
	}
}

func rules(match, to string, flags ...string) []Rule {
	return []Rule{{Match: match, To: to, Flags: flags}}
}

func path(p string) Request { return Request{Path: p} }

func pathQ(p, q string) Request { return Request{Path: p, RawQuery: q} }

func rewritten(p, q string) Result { return Result{Kind: Rewritten, Path: p, RawQuery: q} }

func redirect(status int, loc, p, q string) Result {
	return Result{Kind: Redirect, Status: status, Location: loc, Path: p, RawQuery: q}
}

var (
	none      = Result{Kind: None}
	forbidden = Result{Kind: Forbidden, Status: 403}
)

func TestSubstitution(t *testing.T) {
	runCases(t, []applyCase{
		{"captures", rules(`^/old/(.*)/(.*)$`, "/new/$2/$1"), path("/old/a/b"), rewritten("/new/b/a", "")},
		{"whole match $0", rules(`^/x/.*$`, "/y$0"), path("/x/1"), rewritten("/y/x/1", "")},
		{"no match", rules(`^/old/`, "/new"), path("/other"), none},
		{"dash keeps the path", rules(`^/old/`, "-"), pathQ("/old/x", "a=1"), none},
		{"relative substitution gets a slash", rules(`^/a/(.*)$`, "b/$1"), path("/a/c"), rewritten("/b/c", "")},
		{"leading slashes merged", rules(`^/a/(.*)$`, "/$1"), path("/a//b"), rewritten("/b", "")},
		{"literal double slash kept", rules(`^/a/(.*)$`, "//$1"), path("/a/b"), rewritten("//b", "")},
		{"escaped $ and %", rules(`^/a$`, `/\$1\%1`), path("/a"), rewritten("/$1%1", "")},
		{"unmatched group is empty", rules(`^/a(x)?(.*)$`, "/[$1]$2"), path("/ab"), rewritten("/[]b", "")},
		{"$10 is $1 then 0", rules(`^/(a)$`, "/$10"), path("/a"), rewritten("/a0", "")},
		{"query in substitution replaces", rules(`^/a$`, "/b?x=1"), pathQ("/a", "q=2"), rewritten("/b", "x=1")},
		{"query kept without ?", rules(`^/a$`, "/b"), pathQ("/a", "q=2"), rewritten("/b", "q=2")},
		{"trailing ? drops query", rules(`^/a$`, "/b?"), pathQ("/a", "q=2"), rewritten("/b", "")},
		{"negated match", rules(`!^/keep`, "/other"), path("/x"), rewritten("/other", "")},
		{"negated match not applying", rules(`!^/keep`, "/other"), path("/keep/1"), none},
		{"path must start with slash", rules(`.*`, "/x"), path("*"), none},
		{"variable in substitution", rules(`^/a$`, "/h/%{HTTP_HOST}"), path("/a"), rewritten("/h/example.com", "")},
		{"absolute URL redirects without R", rules(`^/a$`, "http://other.example/b"), pathQ("/a", "q=1"),
			redirect(302, "http://other.example/b?q=1", "http://other.example/b", "q=1")},
		{"news: has no query", rules(`^/a$`, "news:comp.lang.go"), pathQ("/a", "q=1"),
			redirect(302, "news:comp.lang.go", "news:comp.lang.go", "")},
		{"mailto: has one", rules(`^/a$`, "mailto:x@example.com?subject=hi"), pathQ("/a", "q=1"),
			redirect(302, "mailto:x@example.com?subject=hi", "mailto:x@example.com", "subject=hi")},
		{"? from an expansion is refused", rules(`^/a/(.*)$`, "/b/$1"), path("/a/x?y"), forbidden},
		{"raw space in new query is refused", rules(`^/a/(.*)$`, "/b?q=$1"), path("/a/x y"), forbidden},
		{"rules run in order on the new path", []Rule{{Match: "^/a$", To: "/b"}, {Match: "^/b$", To: "/c"}}, path("/a"), rewritten("/c", "")},
	})
}

func TestFlagL(t *testing.T) {
	rs := []Rule{{Match: "^/a$", To: "/b", Flags: []string{"L"}}, {Match: "^/b$", To: "/c"}}
	runCases(t, []applyCase{
		{"L stops", rs, path("/a"), rewritten("/b", "")},
		{"long name", []Rule{{Match: "^/a$", To: "/b", Flags: []string{"last"}}, {Match: "^/b$", To: "/c"}}, path("/a"), rewritten("/b", "")},
		{"later rules still run without a match", rs, path("/b"), rewritten("/c", "")},
	})
}

func TestFlagEND(t *testing.T) {
	rs := []Rule{{Match: "^/a$", To: "/b", Flags: []string{"END"}}, {Match: "^/b$", To: "/c"}}
	runCases(t, []applyCase{
		{"END stops and says so", rs, path("/a"), Result{Kind: Rewritten, Path: "/b", End: true}},
		{"END with dash", rules("^/a$", "-", "END"), path("/a"), Result{Kind: None, End: true}},
		{"no END", rs, path("/b"), rewritten("/c", "")},
	})
}

func TestFlagR(t *testing.T) {
	runCases(t, []applyCase{
		{"default 302", rules(`^/a/(.*)$`, "/b/$1", "R"), path("/a/x"), redirect(302, "http://example.com/b/x", "http://example.com/b/x", "")},
		{"301", rules(`^/a$`, "/b", "R=301"), path("/a"), redirect(301, "http://example.com/b", "http://example.com/b", "")},
		{"303", rules(`^/a$`, "/b", "R=303"), path("/a"), redirect(303, "http://example.com/b", "http://example.com/b", "")},
		{"307", rules(`^/a$`, "/b", "R=307"), path("/a"), redirect(307, "http://example.com/b", "http://example.com/b", "")},
		{"308", rules(`^/a$`, "/b", "R=308"), path("/a"), redirect(308, "http://example.com/b", "http://example.com/b", "")},
		{"permanent", rules(`^/a$`, "/b", "redirect=permanent"), path("/a"), redirect(301, "http://example.com/b", "http://example.com/b", "")},
		{"seeother", rules(`^/a$`, "/b", "R=seeother"), path("/a"), redirect(303, "http://example.com/b", "http://example.com/b", "")},
		{"relative target", rules(`^/a$`, "b", "R"), path("/a"), redirect(302, "http://example.com/b", "http://example.com/b", "")},
		{"https and port", rules(`^/a$`, "/b", "R"), Request{Path: "/a", HTTPS: true, Host: "Example.com:8443"},
			redirect(302, "https://example.com:8443/b", "https://example.com:8443/b", "")},
		{"default port dropped", rules(`^/a$`, "/b", "R"), Request{Path: "/a", HTTPS: true, Host: "example.com:443"},
			redirect(302, "https://example.com/b", "https://example.com/b", "")},
		{"IPv6 host", rules(`^/a$`, "/b", "R"), Request{Path: "/a", Host: "[::1]:8080"},
			redirect(302, "http://[::1]:8080/b", "http://[::1]:8080/b", "")},
		{"no Host uses ServerName", rules(`^/a$`, "/b", "R"), Request{Path: "/a", Host: "", ServerName: "srv"},
			redirect(302, "http://srv/b", "http://srv/b", "")},
		{"query kept unescaped", rules(`^/a$`, "/b", "R"), pathQ("/a", "x=%20"),
			redirect(302, "http://example.com/b?x=%20", "http://example.com/b", "x=%20")},
		{"R without L continues", []Rule{{Match: "^/a$", To: "/b", Flags: []string{"R=301"}}, {Match: "^http://example.com/b$", To: "http://example.com/c"}},
			path("/a"), redirect(302, "http://example.com/c", "http://example.com/c", "")},
		{"R=404 answers the status", rules(`^/a$`, "-", "R=404"), path("/a"), Result{Kind: Status, Status: 404}},
		{"R=403 is Forbidden", rules(`^/a$`, "/x", "R=403"), path("/a"), forbidden},
	})
}

func TestFlagNE(t *testing.T) {
	runCases(t, []applyCase{
		{"escaped without NE", rules(`^/a/(.*)$`, "/t#$1", "R"), path("/a/x y%"), redirect(302, "http://example.com/t%23x%20y%25", "http://example.com/t#x y%", "")},
		{"raw with NE", rules(`^/a/(.*)$`, "/t#$1", "R", "NE"), path("/a/x"), redirect(302, "http://example.com/t#x", "http://example.com/t#x", "")},
		{"new query escaped without NE", rules(`^/a/(.*)$`, "/t?q=$1", "R"), path("/a/x y"), redirect(302, "http://example.com/t?q=x%20y", "http://example.com/t", "q=x y")},
		{"new query raw with NE", rules(`^/a/(.*)$`, `/t?q=\%25$1`, "R", "noescape"), path("/a/x"), redirect(302, "http://example.com/t?q=%25x", "http://example.com/t", "q=%25x")},
		{"QSA re-escapes the request's escapes", rules(`^/a$`, "/t?v=1", "R", "QSA"), pathQ("/a", "x=%20"),
			redirect(302, "http://example.com/t?v=1&x=%2520", "http://example.com/t", "v=1&x=%20")},
		{"host part never escaped", rules(`^/a$`, "http://ex ample/", "R"), path("/a"), redirect(302, "http://ex ample/", "http://ex ample/", "")},
	})
}

func TestFlagF(t *testing.T) {
	runCases(t, []applyCase{
		{"F", rules(`^/admin`, "-", "F"), path("/admin/x"), forbidden},
		{"forbidden ignores substitution", rules(`^/admin`, "/x", "forbidden"), path("/admin"), forbidden},
		{"F stops", []Rule{{Match: "^/a", To: "-", Flags: []string{"F"}}, {Match: "^/a", To: "/b"}}, path("/a"), forbidden},
	})
}

func TestFlagG(t *testing.T) {
	runCases(t, []applyCase{
		{"G", rules(`^/old`, "-", "G"), path("/old"), Result{Kind: Gone, Status: 410}},
		{"gone", rules(`^/old`, "-", "gone"), path("/new"), none},
	})
}

func TestFlagNC(t *testing.T) {
	runCases(t, []applyCase{
		{"NC", rules(`^/abc/(.*)$`, "/x/$1", "NC"), path("/ABC/Def"), rewritten("/x/Def", "")},
		{"without NC", rules(`^/abc/(.*)$`, "/x/$1"), path("/ABC/Def"), none},
		{"nocase", rules(`^/abc$`, "/x", "nocase"), path("/aBc"), rewritten("/x", "")},
	})
}

func TestFlagQSA(t *testing.T) {
	runCases(t, []applyCase{
		{"appends", rules(`^/a$`, "/b?x=1", "QSA"), pathQ("/a", "y=2"), rewritten("/b", "x=1&y=2")},
		{"no request query", rules(`^/a$`, "/b?x=1", "QSA"), path("/a"), rewritten("/b", "x=1")},
		{"no new query", rules(`^/a$`, "/b", "QSA"), pathQ("/a", "y=2"), rewritten("/b", "y=2")},
		{"trailing & trimmed", rules(`^/a$`, "/b?x=1", "QSA"), pathQ("/a", "y=2&"), rewritten("/b", "x=1&y=2")},
		{"trailing ? keeps the query with QSA", rules(`^/a$`, "/b?", "QSA"), pathQ("/a", "y=2"), rewritten("/b", "y=2")},
	})
}

func TestFlagQSD(t *testing.T) {
	runCases(t, []applyCase{
		{"discards", rules(`^/a$`, "/b", "QSD"), pathQ("/a", "y=2"), rewritten("/b", "")},
		{"keeps the new query", rules(`^/a$`, "/b?x=1", "QSD"), pathQ("/a", "y=2"), rewritten("/b", "x=1")},
		{"with QSA", rules(`^/a$`, "/b?x=1", "QSD", "QSA"), pathQ("/a", "y=2"), rewritten("/b", "x=1")},
	})
}

func TestFlagQSL(t *testing.T) {
	runCases(t, []applyCase{
		{"splits at the last ?", rules(`^/a$`, "/b?c?d=1", "QSL"), path("/a"), rewritten("/b?c", "d=1")},
		{"first ? without", rules(`^/a$`, "/b?c?d=1"), path("/a"), rewritten("/b", "c?d=1")},
	})
}

func TestFlagC(t *testing.T) {
	rs := []Rule{
		{Match: "^/a/(.*)$", To: "/b/$1", Flags: []string{"C"}},
		{Match: "^/b/(x.*)$", To: "/c/$1", Flags: []string{"chain"}},
		{Match: "^/c/(.*)$", To: "/d/$1"},
		{Match: "^/(.*)$", To: "/e/$1", Flags: []string{"L"}},
	}
	runCases(t, []applyCase{
		{"whole chain", rs, path("/a/x"), rewritten("/e/d/x", "")},
		{"second link fails: skips the rest of the chain", rs, path("/a/y"), rewritten("/e/b/y", "")},
		{"first link fails: skips the chain", rs, path("/c/1"), rewritten("/e/c/1", "")},
	})
}

func TestFlagS(t *testing.T) {
	rs := []Rule{
		{If: []Cond{{Test: "%{HTTP_HOST}", Pattern: "^skip"}}, Match: "^/", To: "-", Flags: []string{"S=2"}},
		{Match: "^/(.*)$", To: "/one/$1", Flags: []string{"L"}},
		{Match: "^/(.*)$", To: "/two/$1", Flags: []string{"L"}},
		{Match: "^/(.*)$", To: "/three/$1", Flags: []string{"L"}},
	}
	runCases(t, []applyCase{
		{"skips", rs, Request{Path: "/x", Host: "skip.example"}, rewritten("/three/x", "")},
		{"not skipping", rs, path("/x"), rewritten("/one/x", "")},
		{"skip past the end", []Rule{{Match: "^/", To: "/y", Flags: []string{"skip=5"}}, {Match: "^/y", To: "/z"}}, path("/x"), rewritten("/y", "")},
	})
}

func TestFlagN(t *testing.T) {
	dashes := Rule{Match: `^/(.*)-(.*)$`, To: "/$1_$2", Flags: []string{"N"}}
	runCases(t, []applyCase{
		{"loops", []Rule{dashes}, path("/a-b-c"), rewritten("/a_b_c", "")},
		{"default bound: 8 restarts pass", []Rule{dashes}, path("/1-2-3-4-5-6-7-8-9"), rewritten("/1_2_3_4_5_6_7_8_9", "")},
		{"default bound: the 9th restart is 500", []Rule{dashes}, path("/1-2-3-4-5-6-7-8-9-10"), Result{Kind: Status, Status: 500}},
		{"N=3: 2 passes", rules(`^/(.*)-(.*)$`, "/$1_$2", "N=3"), path("/a-b"), rewritten("/a_b", "")},
		{"N=3: a 3rd pass is 500", rules(`^/(.*)-(.*)$`, "/$1_$2", "next=3"), path("/a-b-c"), Result{Kind: Status, Status: 500}},
		{"endless", rules(`^/`, "-", "N"), path("/x"), Result{Kind: Status, Status: 500}},
	})
}

func TestFlagP(t *testing.T) {
	runCases(t, []applyCase{
		{"proxies", rules(`^/api/(.*)$`, "/v1/$1", "P=api"), pathQ("/api/u", "id=1"), Result{Kind: Proxy, Upstream: "api", Path: "/v1/u", RawQuery: "id=1"}},
		{"stops", []Rule{{Match: "^/a$", To: "/b", Flags: []string{"proxy=up"}}, {Match: "^/b$", To: "/c"}}, path("/a"), Result{Kind: Proxy, Upstream: "up", Path: "/b"}},
		{"relative path", rules(`^/a/(.*)$`, "$1", "P=up"), path("/a/b"), Result{Kind: Proxy, Upstream: "up", Path: "/b"}},
		{"query replaced", rules(`^/a$`, "/b?x=1", "P=up"), pathQ("/a", "y=2"), Result{Kind: Proxy, Upstream: "up", Path: "/b", RawQuery: "x=1"}},
		{"QSA", rules(`^/a$`, "/b?x=1", "P=up", "QSA"), pathQ("/a", "y=2"), Result{Kind: Proxy, Upstream: "up", Path: "/b", RawQuery: "x=1&y=2"}},
		{"space in query refused", rules(`^/a/(.*)$`, "/b?q=$1", "P=up"), path("/a/x y"), forbidden},
		{"NE with a space in the path refused", rules(`^/a/(.*)$`, "/b/$1", "P=up", "NE"), path("/a/x y"), forbidden},
	})
	prog, err := Compile(rules(`^/a/(.*)$`, "/b/$1", "P=up"))
	if err != nil {
		t.Fatal(err)
	}
	res := prog.Apply(&Request{Path: "/a/x y%;~[]"})
	if got, want := res.EscapedPath(), "/b/x%20y%25;~%5B%5D"; got != want {
		t.Errorf("EscapedPath = %q, want %q", got, want)
	}
	prog, _ = Compile(rules(`^/a/(.*)$`, "/b/$1", "P=up", "NE"))
	res = prog.Apply(&Request{Path: "/a/x%"})
	if got, want := res.EscapedPath(), "/b/x%"; got != want {
		t.Errorf("EscapedPath with NE = %q, want %q", got, want)
	}
	if got := prog.Proxies(); len(got) != 1 || got[0] != (ProxyRef{Rule: 0, Upstream: "up"}) {
		t.Errorf("Proxies = %v", got)
	}
}

func TestFlagPT(t *testing.T) {
	runCases(t, []applyCase{
		{"PT stops like L", []Rule{{Match: "^/a$", To: "/b", Flags: []string{"PT"}}, {Match: "^/b$", To: "/c"}}, path("/a"), rewritten("/b", "")},
		{"PT with dash still routes again", rules("^/a$", "-", "passthrough"), path("/a"), rewritten("/a", "")},
	})
}

func TestFlagB(t *testing.T) {
	runCases(t, []applyCase{
		{"B escapes all but alnum and _", rules(`^/s/(.*)$`, "/q?x=$1", "B"), path("/s/a&b c/d_e"), rewritten("/q", "x=a%26b+c%2fd_e")},
		{"BNP", rules(`^/s/(.*)$`, "/q?x=$1", "B", "BNP"), path("/s/a c"), rewritten("/q", "x=a%20c")},
		{"B=list", rules(`^/s/(.*)$`, "/q?x=$1", "B=&+"), path("/s/a&b+c/d"), rewritten("/q", "x=a%26b%2bc/d")},
		{"BNE", rules(`^/s/(.*)$`, "/q?x=$1", "B", "BNE=/"), path("/s/a/b.c"), rewritten("/q", "x=a/b%2ec")},
		{"BCTLS", rules(`^/s/(.*)$`, "/q?x=$1", "BCTLS"), path("/s/a b&c"), rewritten("/q", "x=a+b&c")},
		{"B applies to %N", []Rule{{If: []Cond{{Test: "%{HTTP:X}", Pattern: "(.*)"}}, Match: "^/s$", To: "/q?x=%1", Flags: []string{"B"}}},
			Request{Path: "/s", Header: http.Header{"X": {"a b"}}}, rewritten("/q", "x=a+b")},
		{"B not on variables", rules(`^/s$`, "/q?x=%{HTTP:X}", "B"), Request{Path: "/s", Header: http.Header{"X": {"a&b"}}}, rewritten("/q", "x=a&b")},
	})
}

func TestFlagUnsafeAllow3F(t *testing.T) {
	runCases(t, []applyCase{
		{"allowed", rules(`^/a/(.*)$`, "/b/$1", "UnsafeAllow3F"), path("/a/x?y"), rewritten("/b/x", "y")},
		{"literal ? first is safe", rules(`^/a/(.*)$`, "/b?q=$1"), path("/a/x?y"), rewritten("/b", "q=x?y")},
		{"QSL looks at the last ?", rules(`^/a/(.*)$`, "/b?q=$1", "QSL"), path("/a/x?y"), forbidden},
		{"NS is accepted", rules(`^/a$`, "/b", "NS"), path("/a"), rewritten("/b", "")},
	})
}

func TestConditionsRegex(t *testing.T) {
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Add(kv[i], kv[i+1])
		}
		return h
	}
	www := []Rule{{If: []Cond{{Test: "%{HTTP_HOST}", Pattern: `^www\.(.+)$`, Flags: []string{"NC"}}}, Match: "^/(.*)$", To: "http://%1/$1", Flags: []string{"R=301"}}}
	lang := []Rule{{If: []Cond{{Test: "%{HTTP_COOKIE}", Pattern: `(^|;\s*)lang=([a-z]+)`}}, Match: "^/(.*)$", To: "/%2/$1"}}
	runCases(t, []applyCase{
		{"host with %1", www, Request{Path: "/p", Host: "WWW.example.org"}, redirect(301, "http://example.org/p", "http://example.org/p", "")},
		{"host not matching", www, Request{Path: "/p", Host: "example.org"}, none},
		{"cookie", lang, Request{Path: "/p", Header: hdr("Cookie", "a=1; lang=de")}, rewritten("/de/p", "")},
		{"cookie absent", lang, path("/p"), none},
		{"cookie name suffix", lang, Request{Path: "/p", Header: hdr("Cookie", "xlang=de")}, none},
		{"negated", []Rule{{If: []Cond{{Test: "%{HTTP:Accept}", Pattern: "!json"}}, Match: "^/", To: "/html"}},
			Request{Path: "/", Header: hdr("Accept", "text/html")}, rewritten("/html", "")},
		{"negated does not set %N", []Rule{{If: []Cond{{Test: "%{HTTP_HOST}", Pattern: "^(ex)"}, {Test: "%{HTTP_HOST}", Pattern: "!^(zz)"}}, Match: "^/", To: "/%1"}},
			path("/"), rewritten("/ex", "")},
		{"%N is from the last matched condition", []Rule{{If: []Cond{{Test: "%{HTTP_HOST}", Pattern: "^(ex)"}, {Test: "%{REQUEST_METHOD}", Pattern: "^(G)"}}, Match: "^/", To: "/%1"}},
			path("/"), rewritten("/G", "")},
		{"condition sees $N", []Rule{{If: []Cond{{Test: "$1", Pattern: "^[0-9]+$"}}, Match: "^/id/(.*)$", To: "/num/$1"}}, path("/id/42"), rewritten("/num/42", "")},
		{"condition sees earlier %N", []Rule{{If: []Cond{{Test: "%{HTTP_HOST}", Pattern: `^([a-z]+)\.`}, {Test: "%1", Pattern: "^example$"}}, Match: "^/", To: "/ok"}}, path("/"), rewritten("/ok", "")},
		{"repeated header joined", []Rule{{If: []Cond{{Test: "%{HTTP:X-A}", Pattern: "^1, 2$"}}, Match: "^/", To: "/joined"}},
			Request{Path: "/", Header: hdr("X-A", "1", "X-A", "2")}, rewritten("/joined", "")},
		{"user agent", []Rule{{If: []Cond{{Test: "%{HTTP_USER_AGENT}", Pattern: "iphone", Flags: []string{"NC"}}}, Match: "^/$", To: "/m/"}},
			Request{Path: "/", Header: hdr("User-Agent", "Mozilla (iPhone)")}, rewritten("/m/", "")},
		{"header name case", []Rule{{If: []Cond{{Test: "%{http:x-forwarded-proto}", Pattern: "=https"}}, Match: "^/$", To: "/s"}},
			Request{Path: "/", Header: hdr("X-Forwarded-Proto", "https")}, rewritten("/s", "")},
	})
}

func TestConditionsOR(t *testing.T) {
	rs := []Rule{{If: []Cond{
		{Test: "%{REQUEST_METHOD}", Pattern: "=PUT", Flags: []string{"OR"}},
		{Test: "%{REQUEST_METHOD}", Pattern: "=DELETE", Flags: []string{"ornext"}},
		{Test: "%{HTTP:X-Write}", Pattern: "=1"},
		{Test: "%{HTTP_HOST}", Pattern: "^api\\."},
	}, Match: "^/", To: "-", Flags: []string{"F"}}}
	runCases(t, []applyCase{
		{"first of chain", rs, Request{Path: "/", Method: "PUT", Host: "api.x"}, forbidden},
		{"second of chain", rs, Request{Path: "/", Method: "DELETE", Host: "api.x"}, forbidden},
		{"last of chain", rs, Request{Path: "/", Host: "api.x", Header: http.Header{"X-Write": {"1"}}}, forbidden},
		{"none of chain", rs, Request{Path: "/", Host: "api.x"}, none},
		{"chain holds, and-ed condition fails", rs, Request{Path: "/", Method: "PUT", Host: "www.x"}, none},
	})
}

func TestConditionsFiles(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "dir"), 0o755)
	os.WriteFile(filepath.Join(root, "file.txt"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(root, "empty.txt"), nil, 0o644)
	os.WriteFile(filepath.Join(root, "run.sh"), []byte("#!/bin/sh\n"), 0o755)
	os.Symlink("file.txt", filepath.Join(root, "link"))
	test := func(pattern string) []Rule {
		return []Rule{{If: []Cond{{Test: "%{REQUEST_FILENAME}", Pattern: pattern}}, Match: "^/", To: "/yes"}}
	}
	in := func(p string) Request { return Request{Path: p, DocumentRoot: root} }
	yes := rewritten("/yes", "")
	runCases(t, []applyCase{
		{"-f file", test("-f"), in("/file.txt"), yes},
		{"-f dir", test("-f"), in("/dir"), none},
		{"-f missing", test("-f"), in("/nope"), none},
		{"!-f missing", test("!-f"), in("/nope"), yes},
		{"-d dir", test("-d"), in("/dir"), yes},
		{"-d file", test("-d"), in("/file.txt"), none},
		{"!-d", test("!-d"), in("/file.txt"), yes},
		{"-s non-empty", test("-s"), in("/file.txt"), yes},
		{"-s empty", test("-s"), in("/empty.txt"), none},
		{"-l link", test("-l"), in("/link"), yes},
		{"-L file", test("-L"), in("/file.txt"), none},
		{"-x", test("-x"), in("/run.sh"), yes},
		{"-x not executable", test("-x"), in("/file.txt"), none},
		{"-f follows links", test("-f"), in("/link"), yes},
		{"no document root: test fails", test("-f"), Request{Path: "/file.txt"}, none},
		{"no document root: negated test holds", test("!-f"), Request{Path: "/file.txt"}, yes},
		{"DOCUMENT_ROOT with $1", []Rule{{If: []Cond{{Test: "%{DOCUMENT_ROOT}/$1.txt", Pattern: "-f"}}, Match: "^/f/(.*)$", To: "/$1.txt"}},
			in("/f/file"), rewritten("/file.txt", "")},
		{"REQUEST_FILENAME follows rewriting", []Rule{{Match: "^/alias$", To: "/file.txt"}, {If: []Cond{{Test: "%{REQUEST_FILENAME}", Pattern: "-f"}}, Match: "^/", To: "/found"}},
			in("/alias"), rewritten("/found", "")},
	})
}

func TestConditionsCompare(t *testing.T) {
	cmp := func(pattern string, flags ...string) []Rule {
		return []Rule{{If: []Cond{{Test: "%{HTTP:X}", Pattern: pattern, Flags: flags}}, Match: "^/", To: "/yes"}}
	}
	x := func(v string) Request { return Request{Path: "/", Header: http.Header{"X": {v}}} }
	yes := rewritten("/yes", "")
	runCases(t, []applyCase{
		{"= equal", cmp("=abc"), x("abc"), yes},
		{"= differs", cmp("=abc"), x("abcd"), none},
		{"= NC", cmp("=ABC", "NC"), x("abc"), yes},
		{"!=", cmp("!=abc"), x("xyz"), yes},
		{`="" empty`, cmp(`=""`), Request{Path: "/"}, yes},
		{"< same length", cmp("<m"), x("a"), yes},
		{"< longer is greater", cmp("<m"), x("aa"), none},
		{"<=", cmp("<=m"), x("m"), yes},
		{"> ", cmp(">m"), x("z"), yes},
		{">=", cmp(">=10"), x("9"), none},
		{">= longer", cmp(">=10"), x("100"), yes},
		{"> NC is strcasecmp", cmp(">m", "NC"), x("AA"), none},
		{"-eq", cmp("-eq 5"), x("5"), yes},
		{"-eq leading garbage", cmp("-eq 0"), x("abc"), yes},
		{"-eq atoi prefix", cmp("-eq 12"), x("12abc"), yes},
		{"-ne", cmp("-ne 5"), x("6"), yes},
		{"!-ne", cmp("!-ne 5"), x("5"), yes},
		{"-lt", cmp("-lt 5"), x("-1"), yes},
		{"-le", cmp("-le5"), x("5"), yes},
		{"-gt", cmp("-gt 5"), x("6"), yes},
		{"-ge", cmp("-ge 5"), x("4"), none},
		{"a lone = is a regex", cmp("="), x("a=b"), yes},
		{"-z is a regex", cmp("-z"), x("a-zb"), yes},
	})
}

func TestVariables(t *testing.T) {
	v := func(name string) []Rule {
		return []Rule{{Match: "^/", To: "/v?" + name + "=" + "%{" + name + "}", Flags: []string{"QSD"}}}
	}
	req := Request{Path: "/p", RawQuery: "q=1", Method: "POST", Host: "Ex.Example.COM.:8080", HTTPS: true,
		RemoteAddr: "192.0.2.1:5555", DocumentRoot: "/srv/www/",
		Header: http.Header{"Referer": {"r"}, "Cookie": {"c=1"}, "User-Agent": {"ua"}, "Accept": {"a"}, "Forwarded": {"f"}}}
	runCases(t, []applyCase{
		{"HTTP_HOST", v("HTTP_HOST"), req, rewritten("/v", "HTTP_HOST=Ex.Example.COM.:8080")},
		{"HTTP:Host", v("HTTP:Host"), req, rewritten("/v", "HTTP:Host=Ex.Example.COM.:8080")},
		{"SERVER_NAME", v("SERVER_NAME"), req, rewritten("/v", "SERVER_NAME=ex.example.com")},
		{"HTTP_REFERER", v("HTTP_REFERER"), req, rewritten("/v", "HTTP_REFERER=r")},
		{"HTTP_COOKIE", v("HTTP_COOKIE"), req, rewritten("/v", "HTTP_COOKIE=c=1")},
		{"HTTP_USER_AGENT", v("HTTP_USER_AGENT"), req, rewritten("/v", "HTTP_USER_AGENT=ua")},
		{"HTTP_ACCEPT", v("HTTP_ACCEPT"), req, rewritten("/v", "HTTP_ACCEPT=a")},
		{"HTTP_FORWARDED", v("HTTP_FORWARDED"), req, rewritten("/v", "HTTP_FORWARDED=f")},
		{"missing header", v("HTTP:X-None"), req, rewritten("/v", "HTTP:X-None=")},
		{"QUERY_STRING", v("QUERY_STRING"), req, rewritten("/v", "QUERY_STRING=q=1")},
		{"REQUEST_METHOD", v("REQUEST_METHOD"), req, rewritten("/v", "REQUEST_METHOD=POST")},
		{"REQUEST_URI", v("REQUEST_URI"), req, rewritten("/v", "REQUEST_URI=/p")},
		{"REQUEST_SCHEME", v("REQUEST_SCHEME"), req, rewritten("/v", "REQUEST_SCHEME=https")},
		{"HTTPS", v("HTTPS"), req, rewritten("/v", "HTTPS=on")},
		{"REMOTE_ADDR", v("REMOTE_ADDR"), req, rewritten("/v", "REMOTE_ADDR=192.0.2.1")},
		{"REMOTE_PORT", v("REMOTE_PORT"), req, rewritten("/v", "REMOTE_PORT=5555")},
		{"REQUEST_FILENAME", v("REQUEST_FILENAME"), req, rewritten("/v", "REQUEST_FILENAME=/srv/www/p")},
		{"SCRIPT_FILENAME", v("script_filename"), req, rewritten("/v", "script_filename=/srv/www/p")},
		{"DOCUMENT_ROOT", v("DOCUMENT_ROOT"), req, rewritten("/v", "DOCUMENT_ROOT=/srv/www")},
		{"REMOTE_ADDR v6", v("REMOTE_ADDR"), Request{Path: "/", RemoteAddr: "[2001:db8::1]:80"}, rewritten("/v", "REMOTE_ADDR=2001:db8::1")},
		{"REMOTE_ADDR bare", v("REMOTE_ADDR"), Request{Path: "/", RemoteAddr: "10.0.0.1"}, rewritten("/v", "REMOTE_ADDR=10.0.0.1")},
		{"HTTPS off", v("HTTPS"), Request{Path: "/"}, rewritten("/v", "HTTPS=off")},
		{"REQUEST_URI stays the original", []Rule{{Match: "^/a$", To: "/b"}, {Match: "^/b$", To: "/c?u=%{REQUEST_URI}"}}, path("/a"), rewritten("/c", "u=/a")},
		{"QUERY_STRING follows rewriting", []Rule{{Match: "^/a$", To: "/b?x=1"}, {Match: "^/b$", To: "/c?u=%{QUERY_STRING}"}}, pathQ("/a", "y"), rewritten("/c", "u=x=1")},
	})
}

func TestCompileErrors(t *testing.T) {
	cases := []struct {
		name  string
		rules []Rule
		want  Error // Msg is a substring
	}{
		{"bad regex", rules("^/(a", "/b"), Error{0, -1, "match", "missing closing )"}},
		{"empty match", rules("", "/b"), Error{0, -1, "match", "required"}},
		{"empty to", rules("^/a", ""), Error{0, -1, "to", "required"}},
		{"lookahead", rules("^/(?=a)", "/b"), Error{0, -1, "match", "lookahead (?=...) is a PCRE construct"}},
		{"negative lookbehind", rules("(?<!x)/a", "/b"), Error{0, -1, "match", "negative lookbehind"}},
		{"atomic group", rules("^/(?>a)", "/b"), Error{0, -1, "match", "atomic group"}},
		{"possessive", rules("^/a++", "/b"), Error{0, -1, "match", "possessive quantifier"}},
		{"backreference", rules(`^/(a)\1`, "/b"), Error{0, -1, "match", `backreference \1`}},
		{"unknown flag", rules("^/a", "/b", "L", "XYZ"), Error{0, -1, "flags", `unknown flag "XYZ"`}},
		{"flags written Apache style", rules("^/a", "/b", "R=301,L"), Error{0, -1, "flags", "one flag per element"}},
		{"bad status", rules("^/a", "/b", "R=200"), Error{0, -1, "flags", "bad status"}},
		{"bad status word", rules("^/a", "/b", "R=moved"), Error{0, -1, "flags", "bad status"}},
		{"unknown status", rules("^/a", "/b", "R=499"), Error{0, -1, "flags", "bad status"}},
		{"value on L", rules("^/a", "/b", "L=1"), Error{0, -1, "flags", "takes no value"}},
		{"P without upstream", rules("^/a", "/b", "P"), Error{0, -1, "flags", "P names the upstream"}},
		{"P to a URL", rules("^/a", "http://x/b", "P=up"), Error{0, -1, "to", "not a URL"}},
		{"R with dash", rules("^/a", "-", "R"), Error{0, -1, "to", "need a substitution"}},
		{"R and P", rules("^/a", "/b", "R", "P=x"), Error{0, -1, "flags", "exclude each other"}},
		{"bad skip", rules("^/a", "-", "S=x"), Error{0, -1, "flags", "S wants"}},
		{"bad next", rules("^/a", "-", "N=0"), Error{0, -1, "flags", "N wants"}},
		{"env flag", rules("^/a", "-", "E=x:1"), Error{0, -1, "flags", "not supported"}},
		{"$N beyond the groups", rules("^/(a)", "/$2"), Error{0, -1, "to", "$2 refers to a group"}},
		{"$N with negated match", rules("!^/(a)", "/$1"), Error{0, -1, "to", "always empty"}},
		{"unknown variable", rules("^/a", "/%{NOPE}"), Error{0, -1, "to", "unknown variable %{NOPE}"}},
		{"unsupported variable", rules("^/a", "/%{THE_REQUEST}"), Error{0, -1, "to", "not supported"}},
		{"map lookup", rules("^/a", "/${map:$1}"), Error{0, -1, "to", "RewriteMap"}},
		{"unclosed variable", rules("^/a", "/%{HTTP_HOST"), Error{0, -1, "to", "unclosed"}},
		{"env variable", rules("^/a", "/%{ENV:X}"), Error{0, -1, "to", "ENV lookups"}},
		{"second rule", []Rule{{Match: "^/a", To: "/b"}, {Match: "^/a", To: "/b", Flags: []string{"Q"}}}, Error{1, -1, "flags", "unknown flag"}},
		{"cond bad regex", []Rule{{Match: "^/", To: "-", If: []Cond{{Test: "%{HTTP_HOST}", Pattern: "^(x"}}}}, Error{0, 0, "pattern", "missing closing )"}},
		{"cond lookahead", []Rule{{Match: "^/", To: "-", If: []Cond{{Test: "%{HTTP_HOST}", Pattern: "x"}, {Test: "%{HTTP_HOST}", Pattern: "^(?!www)"}}}}, Error{0, 1, "pattern", "negative lookahead"}},
		{"cond unknown flag", []Rule{{Match: "^/", To: "-", If: []Cond{{Test: "%{HTTP_HOST}", Pattern: "x", Flags: []string{"NOPE"}}}}}, Error{0, 0, "flags", "unknown condition flag"}},
		{"cond empty test", []Rule{{Match: "^/", To: "-", If: []Cond{{Pattern: "x"}}}}, Error{0, 0, "test", "required"}},
		{"cond empty pattern", []Rule{{Match: "^/", To: "-", If: []Cond{{Test: "%{HTTP_HOST}"}}}}, Error{0, 0, "pattern", "required"}},
		{"cond unknown variable", []Rule{{Match: "^/", To: "-", If: []Cond{{Test: "%{HOST}", Pattern: "x"}}}}, Error{0, 0, "test", "unknown variable"}},
		{"cond OR last", []Rule{{Match: "^/", To: "-", If: []Cond{{Test: "%{HTTP_HOST}", Pattern: "x", Flags: []string{"OR"}}}}}, Error{0, 0, "flags", "OR on the last"}},
		{"cond NC on file test", []Rule{{Match: "^/", To: "-", If: []Cond{{Test: "%{REQUEST_FILENAME}", Pattern: "-f", Flags: []string{"NC"}}}}}, Error{0, 0, "flags", "NC has no effect"}},
		{"cond -U", []Rule{{Match: "^/", To: "-", If: []Cond{{Test: "%{REQUEST_URI}", Pattern: "-U"}}}}, Error{0, 0, "pattern", "subrequest"}},
		{"cond expr", []Rule{{Match: "^/", To: "-", If: []Cond{{Test: "expr", Pattern: "true"}}}}, Error{0, 0, "test", "ap_expr"}},
		{"cond -eq not integer", []Rule{{Match: "^/", To: "-", If: []Cond{{Test: "%{HTTP:X}", Pattern: "-eq abc"}}}}, Error{0, 0, "pattern", "needs an integer"}},
		{"cond doubled document root", []Rule{{Match: "^/", To: "-", If: []Cond{{Test: "%{DOCUMENT_ROOT}%{REQUEST_FILENAME}", Pattern: "-f"}}}}, Error{0, 0, "test", "already starts with the document root"}},
		{"cond $N beyond the groups", []Rule{{Match: "^/", To: "-", If: []Cond{{Test: "$1", Pattern: "x"}}}}, Error{0, 0, "test", "$1 refers to a group"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile(tc.rules)
			e, ok := err.(*Error)
			if !ok {
				t.Fatalf("Compile error = %v (%T), want *Error", err, err)
			}
			if e.Rule != tc.want.Rule || e.Cond != tc.want.Cond || e.Key != tc.want.Key || !strings.Contains(e.Msg, tc.want.Msg) {
				t.Errorf("got %+v\nwant %+v", *e, tc.want)
			}
			if !strings.HasPrefix(e.Error(), e.Key+": ") {
				t.Errorf("Error() = %q", e.Error())
			}
		})
	}
}

func TestCompileReportsEveryRule(t *testing.T) {
	_, err := Compile([]Rule{{Match: "^/(", To: "/"}, {Match: "^/ok", To: "/"}, {Match: "^/", To: "/", Flags: []string{"Z"}}})
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("error %T is not a joined error: %v", err, err)
	}
	var rules []int
	for _, e := range joined.Unwrap() {
		rules = append(rules, e.(*Error).Rule)
	}
	if len(rules) != 2 || rules[0] != 0 || rules[1] != 2 {
		t.Errorf("errors for rules %v, want [0 2]", rules)
	}
	var first *Error
	if !errors.As(err, &first) || first.Rule != 0 || first.Key != "match" {
		t.Errorf("errors.As: %+v", first)
	}
}

func TestDecodeTOML(t *testing.T) {
	const doc = `
[[rewrite]]
match = "^/old/(.*)$"
to = "/new/$1"
flags = ["R=301", "L"]
if = [{ test = "%{HTTP_HOST}", pattern = "^www\\.", flags = ["NC"] }]

[[rewrite]]
match = "^/api/(.*)$"
to = "/v1/$1"
flags = ["P=api", "QSA"]
`
	var cfg struct {
		Rewrite []Rule `toml:"rewrite"`
	}
	dec := toml.NewDecoder(strings.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	prog, err := Compile(cfg.Rewrite)
	if err != nil {
		t.Fatal(err)
	}
	res := prog.Apply(&Request{Path: "/old/x", Host: "WWW.example.com"})
	if res.Kind != Redirect || res.Status != 301 || res.Location != "http://www.example.com/new/x" {
		t.Errorf("got %+v", res)
	}
	res = prog.Apply(&Request{Path: "/api/u", RawQuery: "a=1"})
	if res.Kind != Proxy || res.Upstream != "api" || res.Path != "/v1/u" || res.RawQuery != "a=1" {
		t.Errorf("got %+v", res)
	}
}

func TestApplyNilAndEmpty(t *testing.T) {
	var p *Program
	if got := p.Apply(&Request{Path: "/"}); got.Kind != None {
		t.Errorf("nil program: %+v", got)
	}
	p, err := Compile(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Apply(&Request{Path: "/"}); got.Kind != None {
		t.Errorf("empty program: %+v", got)
	}
}

func TestApplyNoAllocsWhenNothingMatches(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	prog, err := Compile(benchRules())
	if err != nil {
		t.Fatal(err)
	}
	req := benchRequest("/static/css/site.css")
	if n := testing.AllocsPerRun(100, func() { prog.Apply(req) }); n != 0 {
		t.Errorf("Apply allocates %v times when no rule matches", n)
	}
}

func TestAnchoredPrefix(t *testing.T) {
	for pat, want := range map[string]string{
		`^/old/(.*)$`: "/old/",
		`^/a\.b`:      "/a.b",
		`/x`:          "",
		`^(/a|/b)`:    "",
		`^/é/`:        "/é/",
		`^/a*`:        "/",
		`^/(?i)ab`:    "/",
	} {
		if got := anchoredPrefix(pat); got != want {
			t.Errorf("anchoredPrefix(%q) = %q, want %q", pat, got, want)
		}
	}
}

func TestEscaping(t *testing.T) {
	if got, want := escapeURI("a b?#%&=/~é"), "a%20b%3f%23%25&=/~%c3%a9"; got != want {
		t.Errorf("escapeURI = %q, want %q", got, want)
	}
	if got, want := proxyEscapePath("/a b?#%&=~é"), "/a%20b%3F%23%25&=~%C3%A9"; got != want {
		t.Errorf("proxyEscapePath = %q, want %q", got, want)
	}
	for in, want := range map[string]string{
		"http://h":         "http://h",
		"http://h/":        "http://h/",
		"http://h/a b":     "http://h/a%20b",
		"mailto:a b@x":     "mailto:a%20b@x",
		"https://h:1/x#y":  "https://h:1/x%23y",
		"ftp://h/a b?c":    "ftp://h/a%20b%3fc",
		"unix:/s|http://h": "unix:/s%7chttp://h",
	} {
		n, _ := absoluteURI(in)
		if got := escapeAbsoluteURI(in, n); got != want {
			t.Errorf("escapeAbsoluteURI(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestKindString(t *testing.T) {
	if Proxy.String() != "Proxy" || Kind(42).String() != "Kind(42)" {
		t.Error(Proxy.String(), Kind(42).String())
	}
}
