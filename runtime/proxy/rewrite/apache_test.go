package rewrite

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/peertest"
)

// The differential test: every rule set below runs in a real Apache 2.4
// (translated by apacheRules, in server context) and in Program.Apply, and
// every request of its corpus must come out the same: status, Location, and
// the path and query that reached the upstream.
//
// How outcomes are made observable in Apache:
//   - [P] to upstream NAME becomes Apache's [P] to an echo backend at
//     /_up/NAME + path; the backend answers with the raw request-target it
//     received (X-Echo-URI).
//   - A request the server rules leave on a local path (our None and
//     Rewritten) reaches the document root, whose <Directory> section
//     proxies everything to the echo backend at /_local + path. That
//     per-directory rule plays the part of a route's rules, so [END]
//     (which Apache honours by skipping per-directory rules) serves the
//     file instead, as our Result.End tells the proxy.
//   - Redirects and statuses are answered by Apache itself.

// diffCase is one request of the corpus, sent raw so nothing normalizes it.
type diffCase struct {
	method string // GET when empty
	target string // request-target as sent
	host   string // example.com when empty
	header []string
}

type ruleSet struct {
	name  string
	rules []Rule
	cases []diffCase
}

func c(target string, header ...string) diffCase { return diffCase{target: target, header: header} }

func ch(host, target string, header ...string) diffCase {
	return diffCase{host: host, target: target, header: header}
}

func cm(method, target string, header ...string) diffCase {
	return diffCase{method: method, target: target, header: header}
}

func f(s ...string) []string { return s }

// diffSets is the corpus: rule sets with the requests that exercise them.
var diffSets = []ruleSet{
	{
		name: "redirects",
		rules: []Rule{
			{Match: `^/old/(.*)$`, To: "/new/$1", Flags: f("R=301", "L")},
			{Match: `^/temp$`, To: "/target", Flags: f("R")},
			{Match: `^/see/(.*)$`, To: "/other/$1", Flags: f("R=303", "L")},
			{Match: `^/t7/(.*)$`, To: "/x/$1", Flags: f("R=307", "L")},
			{Match: `^/t8/(.*)$`, To: "x/$1", Flags: f("R=308", "L")},
			{Match: `^/ext/(.*)$`, To: "https://example.org/$1", Flags: f("R=301", "L")},
			{Match: `^/implicit/(.*)$`, To: "http://other.example/$1"},
			{Match: `^/perm$`, To: "/p", Flags: f("redirect=permanent", "last")},
		},
		cases: []diffCase{
			c("/old/a/b?x=1"), c("/old/a%20b"), c("/temp"), c("/temp?k=v"), c("/see/q?k=v"),
			c("/t7/z"), c("/t8/z"), c("/ext/p/q?x=1"), c("/implicit/w?y=2"), c("/none"), c("/perm"),
			ch("Example.COM:8080", "/old/x"), ch("example.com:80", "/old/x"), ch("example.com.", "/old/x"),
			ch("[::1]:8443", "/old/v6"),
		},
	},
	{
		name: "query",
		rules: []Rule{
			{Match: `^/qsa/(.*)$`, To: "/app/$1?added=1", Flags: f("QSA", "L")},
			{Match: `^/replace/(.*)$`, To: "/app/$1?only=1", Flags: f("L")},
			{Match: `^/qsd/(.*)$`, To: "/app/$1", Flags: f("QSD", "L")},
			{Match: `^/strip/(.*)$`, To: "/app/$1?", Flags: f("L")},
			{Match: `^/rqsa/(.*)$`, To: "/app/$1?via=r", Flags: f("R", "QSA", "L")},
			{Match: `^/keep/(.*)$`, To: "/app/$1", Flags: f("R", "L")},
			{Match: `^/qsl/(.*)$`, To: "/app/$1?", Flags: f("QSA", "L")},
			{Match: `^/qs/(.*)$`, To: "/app?q=%{QUERY_STRING}&p=$1", Flags: f("L")},
			{Match: `^/rqsd/(.*)$`, To: "/app/$1", Flags: f("R=302", "QSD", "L")},
		},
		cases: []diffCase{
			c("/qsa/x?a=1"), c("/qsa/x"), c("/qsa/x?a=1&"), c("/replace/x?a=1"), c("/qsd/x?a=1"), c("/strip/x?a=1"),
			c("/rqsa/x?a=%20b"), c("/keep/x?a=%20b"), c("/qsl/x?a=1"), c("/qs/y?k=v"), c("/rqsd/y?k=v"),
		},
	},
	{
		name: "host",
		rules: []Rule{
			{If: []Cond{{Test: "%{HTTP_HOST}", Pattern: `^www\.(.+)$`, Flags: f("NC")}},
				Match: `^/(.*)$`, To: "http://%1/$1", Flags: f("R=301", "L")},
			{If: []Cond{{Test: "%{HTTP_HOST}", Pattern: `!^example\.com$`, Flags: f("NC")}, {Test: "%{HTTP_HOST}", Pattern: `!^$`}},
				Match: `^/canon/(.*)$`, To: "http://example.com/canon/$1", Flags: f("R=301", "L")},
			{If: []Cond{{Test: "%{SERVER_NAME}", Pattern: "=api.example.com"}},
				Match: `^/(.*)$`, To: "/api/$1", Flags: f("L")},
		},
		cases: []diffCase{
			ch("www.example.com", "/a/b?x=1"), ch("WWW.Example.com", "/"), ch("other.org", "/canon/z"),
			ch("example.com", "/canon/z"), ch("EXAMPLE.COM", "/canon/z"), ch("api.example.com", "/users"),
			ch("API.Example.com:8080", "/users"),
		},
	},
	{
		name: "headers",
		rules: []Rule{
			{If: []Cond{{Test: "%{HTTP_USER_AGENT}", Pattern: "(iphone|android)", Flags: f("NC")}},
				Match: `^/$`, To: "/mobile/", Flags: f("L")},
			{If: []Cond{{Test: "%{HTTP:X-Forwarded-Proto}", Pattern: "!=https"}},
				Match: `^/secure/(.*)$`, To: "https://%{HTTP_HOST}/secure/$1", Flags: f("R=301", "L")},
			{If: []Cond{{Test: "%{HTTP:Accept-Language}", Pattern: `^(de|fr)`}},
				Match: `^/start$`, To: "/start/%1", Flags: f("L")},
			{If: []Cond{{Test: "%{HTTP_REFERER}", Pattern: `^https?://evil\.`}},
				Match: `\.(png|jpg)$`, To: "-", Flags: f("F")},
		},
		cases: []diffCase{
			c("/", "User-Agent: Mozilla/5.0 (iPhone; CPU iPhone OS 17_0)"), c("/", "User-Agent: curl/8.0"),
			c("/secure/x"), c("/secure/x", "X-Forwarded-Proto: https"),
			c("/start", "Accept-Language: fr-CH, fr;q=0.9"), c("/start", "Accept-Language: en-US"),
			c("/img/a.png", "Referer: http://evil.example/page"), c("/img/a.png", "Referer: https://good.example/"),
		},
	},
	{
		name: "cookies",
		rules: []Rule{
			{If: []Cond{{Test: "%{HTTP_COOKIE}", Pattern: `(^|;\s*)lang=([a-z]+)`}},
				Match: `^/page/(.*)$`, To: "/%2/page/$1", Flags: f("L")},
			{If: []Cond{{Test: "%{HTTP_COOKIE}", Pattern: `!(^|;\s*)session=`}},
				Match: `^/account`, To: "/login?next=%{REQUEST_URI}", Flags: f("R", "L")},
		},
		cases: []diffCase{
			c("/page/x", "Cookie: a=1; lang=de"), c("/page/x", "Cookie: lang=fr"), c("/page/x"),
			c("/page/x", "Cookie: xlang=it"), c("/account/set%20tings"), c("/account", "Cookie: session=abc"),
		},
	},
	{
		name: "methods-or-negation",
		rules: []Rule{
			{If: []Cond{{Test: "%{REQUEST_METHOD}", Pattern: "^(PUT|DELETE)$", Flags: f("OR")}, {Test: "%{HTTP:X-Readonly}", Pattern: "=yes"}},
				Match: `^/api/`, To: "-", Flags: f("F")},
			{If: []Cond{{Test: "%{REQUEST_METHOD}", Pattern: "!=GET"}, {Test: "%{REQUEST_METHOD}", Pattern: "!=HEAD"}},
				Match: `^/static/`, To: "-", Flags: f("R=405")},
			{If: []Cond{{Test: "%{REQUEST_METHOD}", Pattern: "=post", Flags: f("NC")}},
				Match: `^/form$`, To: "/form/submit", Flags: f("L")},
			{If: []Cond{{Test: "%{HTTP:X-Neg}", Pattern: "=1"}},
				Match: `!^/neg-ok`, To: "/negated", Flags: f("L")},
		},
		cases: []diffCase{
			cm("PUT", "/api/x"), cm("DELETE", "/api/x"), cm("GET", "/api/x"), cm("GET", "/api/x", "X-Readonly: yes"),
			cm("POST", "/static/app.css"), cm("GET", "/static/app.css"), cm("POST", "/form"), cm("GET", "/form"),
			c("/neg-ok/1", "X-Neg: 1"), c("/other", "X-Neg: 1"),
		},
	},
	{
		name: "files",
		rules: []Rule{
			{If: []Cond{{Test: "%{REQUEST_FILENAME}", Pattern: "-s"}}, Match: `^/static/`, To: "-", Flags: f("L")},
			{If: []Cond{{Test: "%{REQUEST_FILENAME}", Pattern: "-f"}}, Match: `^/static/`, To: "/empty-file", Flags: f("L")},
			{If: []Cond{{Test: "%{DOCUMENT_ROOT}/docs/$1.html", Pattern: "-f"}}, Match: `^/guide/(.*)$`, To: "/docs/$1.html", Flags: f("L")},
			{If: []Cond{{Test: "%{REQUEST_FILENAME}", Pattern: "!-f"}, {Test: "%{REQUEST_FILENAME}", Pattern: "!-d"}},
				Match: `^/(.*)$`, To: "/index.php?route=$1", Flags: f("QSA", "L")},
		},
		cases: []diffCase{
			c("/static/app.css"), c("/static/empty.txt"), c("/docs"), c("/docs/guide.html"), c("/robots.txt"),
			c("/blog/post-1?page=2"), c("/missing.css"), c("/guide/guide"), c("/guide/nope"),
		},
	},
	{
		name: "status",
		rules: []Rule{
			{Match: `^/admin`, To: "-", Flags: f("F")},
			{Match: `^/removed/`, To: "-", Flags: f("G")},
			{Match: `\.(bak|orig)$`, To: "-", Flags: f("F", "NC")},
			{Match: `^/missing$`, To: "-", Flags: f("R=404")},
			{Match: `^/busy$`, To: "/x", Flags: f("R=503")},
		},
		cases: []diffCase{
			c("/admin"), c("/admin/users?x=1"), c("/removed/x"), c("/file.BAK"), c("/ok.txt"), c("/missing"), c("/busy"),
		},
	},
	{
		name: "chain-skip",
		rules: []Rule{
			{Match: `^/c/(.*)$`, To: "/chained/$1", Flags: f("C")},
			{Match: `^/chained/(a.*)$`, To: "/final/$1", Flags: f("L")},
			{Match: `^/chained/(.*)$`, To: "/other/$1", Flags: f("L")},
			{If: []Cond{{Test: "%{HTTP_HOST}", Pattern: `^skip\.`}}, Match: `^/s/`, To: "-", Flags: f("S=2")},
			{Match: `^/s/(.*)$`, To: "/skipped-one/$1", Flags: f("L")},
			{Match: `^/s/(.*)$`, To: "/skipped-two/$1", Flags: f("L")},
			{Match: `^/s/(.*)$`, To: "/after-skip/$1", Flags: f("L")},
			{Match: `^/x/(.*)$`, To: "/y/$1", Flags: f("C")},
			{Match: `^/y/(z.*)$`, To: "/yz/$1"},
			{Match: `^/y/(.*)$`, To: "/yy/$1", Flags: f("L")},
		},
		cases: []diffCase{
			c("/c/abc"), c("/c/bcd"), c("/chained/bx"), ch("skip.example.com", "/s/q"), c("/s/q"), c("/x/zz"), c("/x/ab"),
		},
	},
	{
		name: "next",
		rules: []Rule{
			{Match: `^/(.*)-(.*)$`, To: "/$1_$2", Flags: f("N=10")},
			{Match: `^/u/(.*)\.(.*)$`, To: "/u/$1_$2", Flags: f("N")},
			{Match: `^/(.*)$`, To: "/done/$1", Flags: f("L")},
		},
		cases: []diffCase{
			c("/a-b-c-d"), c("/nodash"), c("/a-b-c-d-e-f-g-h-i"), c("/a-b-c-d-e-f-g-h-i-j"),
			c("/1-2-3-4-5-6-7-8-9-10-11-12"), c("/u/a.b.c"), c("/u/a.b.c.d.e.f.g.h.i.j.k"),
		},
	},
	{
		name: "proxy",
		rules: []Rule{
			{Match: `^/api/(.*)$`, To: "/v1/$1", Flags: f("P=api")},
			{Match: `^/svc/(.*)$`, To: "/$1?svc=1", Flags: f("P=svc", "QSA")},
			{Match: `^/raw/(.*)$`, To: "/$1?x=1", Flags: f("P=raw")},
			{If: []Cond{{Test: "%{HTTP:X-Canary}", Pattern: "=1"}}, Match: `^/app/(.*)$`, To: "/$1", Flags: f("P=canary")},
		},
		cases: []diffCase{
			c("/api/users?id=7"), c("/api/a%20b"), c("/api/a%3Bb"), c("/api/x%25y"), c("/api/%7Etilde%5B%5D"),
			c("/svc/s?a=1"), c("/svc/s"), c("/raw/t?orig=1"), c("/app/q", "X-Canary: 1"), c("/app/q"), cm("POST", "/api/items"),
		},
	},
	{
		name: "escaping",
		rules: []Rule{
			{Match: `^/hash/(.*)$`, To: "/target#$1", Flags: f("NE", "R")},
			{Match: `^/hash2/(.*)$`, To: "/target#$1", Flags: f("R")},
			{Match: `^/pct/(.*)$`, To: "/t/$1", Flags: f("R")},
			{Match: `^/sp/(.*)$`, To: "/t/$1?q=$1", Flags: f("R")},
			{Match: `^/b/(.*)$`, To: "/search?q=$1", Flags: f("B", "L")},
			{Match: `^/bnp/(.*)$`, To: "/search?q=$1", Flags: f("B", "BNP", "L")},
			{Match: `^/bsel/(.*)$`, To: "/search?q=$1", Flags: f("B=&/", "L")},
			{Match: `^/unsafe/(.*)$`, To: "/x/$1", Flags: f("L")},
			{Match: `^/allow/(.*)$`, To: "/x/$1", Flags: f("UnsafeAllow3F", "L")},
			{Match: `^/sq/(.*)$`, To: "/x?q=$1", Flags: f("L")},
			{Match: `^/ne/(.*)$`, To: "/t/$1", Flags: f("NE", "R")},
			{Match: `^/lit/(.*)$`, To: `/t/\$1/$1`, Flags: f("R")},
		},
		cases: []diffCase{
			c("/hash/frag"), c("/hash2/frag"), c("/pct/100%25"), c("/sp/a%20b"), c("/b/a%26b%20c/d"), c("/bnp/a%20c"),
			c("/bsel/a%26b%20c/d"), c("/unsafe/a%3Fb"), c("/allow/a%3Fb"), c("/sq/a%20b"), c("/sq/ab"), c("/ne/a%7Bb"),
			c("/lit/x"), c("/pct/%C3%A9t%C3%A9"),
		},
	},
	{
		name: "compare",
		rules: []Rule{
			{If: []Cond{{Test: "%{HTTP:X-Version}", Pattern: "-ge 2"}}, Match: `^/v$`, To: "/v2", Flags: f("L")},
			{If: []Cond{{Test: "%{HTTP:X-Version}", Pattern: "-lt2"}}, Match: `^/v$`, To: "/v1", Flags: f("L")},
			{If: []Cond{{Test: "%{HTTP:X-Tier}", Pattern: ">m"}}, Match: `^/tier$`, To: "/tier/high", Flags: f("L")},
			{If: []Cond{{Test: "%{HTTP:X-Tier}", Pattern: "<=m", Flags: f("NC")}}, Match: `^/tier$`, To: "/tier/low", Flags: f("L")},
			{If: []Cond{{Test: "%{QUERY_STRING}", Pattern: `(^|&)id=([0-9]+)`}}, Match: `^/item$`, To: "/items/%2?", Flags: f("R=301", "L")},
			{If: []Cond{{Test: "%{HTTP:X-Count}", Pattern: "-ne 0"}}, Match: `^/count$`, To: "/nonzero", Flags: f("L")},
			{If: []Cond{{Test: "%{HTTP:X-Empty}", Pattern: `=""`}}, Match: `^/empty$`, To: "/was-empty", Flags: f("L")},
		},
		cases: []diffCase{
			c("/v", "X-Version: 3"), c("/v", "X-Version: 1"), c("/v", "X-Version: 10"),
			c("/tier", "X-Tier: z"), c("/tier", "X-Tier: aa"), c("/tier", "X-Tier: A"),
			c("/item?id=42"), c("/item?x=1&id=7&y"), c("/count", "X-Count: 5"), c("/count", "X-Count: 0"), c("/count"),
			c("/empty"), c("/empty", "X-Empty: no"),
		},
	},
	{
		name: "end-last",
		rules: []Rule{
			{Match: `^/e/(.*)$`, To: "/index.html", Flags: f("END")},
			{Match: `^/l/(.*)$`, To: "/index.html", Flags: f("L")},
			{Match: `^/e2/(.*)$`, To: "/nope.html", Flags: f("END")},
			{Match: `^/pt/(.*)$`, To: "/passed/$1", Flags: f("PT")},
			{Match: `^/passed/(.*)$`, To: "/not-reached/$1"},
		},
		cases: []diffCase{c("/e/x"), c("/l/x"), c("/e2/y"), c("/pt/q?z=1")},
	},
	{
		name: "variables",
		rules: []Rule{
			{If: []Cond{{Test: "%{REMOTE_ADDR}", Pattern: `^127\.0\.0\.1$`}}, Match: `^/local$`, To: "/yes", Flags: f("L")},
			{Match: `^/a/(.*)$`, To: "/b/$1"},
			{If: []Cond{{Test: "%{REQUEST_URI}", Pattern: "^/a/"}}, Match: `^/b/(.*)$`, To: "/c/$1?from=%{REQUEST_URI}"},
			{If: []Cond{{Test: "%{HTTPS}", Pattern: "=off"}, {Test: "%{REQUEST_SCHEME}", Pattern: "=http"}},
				Match: `^/scheme$`, To: "/plain", Flags: f("L")},
			{Match: `^/CaseY/(.*)$`, To: "/c/$1", Flags: f("NC", "L")},
			{If: []Cond{{Test: "$1", Pattern: "^(x+)$"}}, Match: `^/back/(.*)$`, To: "/xs/%1$0", Flags: f("L")},
		},
		cases: []diffCase{
			c("/local"), c("/a/x"), c("/b/x"), c("/scheme"), c("/casey/Q"), c("/CASEY/q"), c("/back/xxx"), c("/back/xy"),
		},
	},
}

// apacheRules translates rules into Apache server-context directives: the
// migration table, applied. backend is the echo server's base URL.
func apacheRules(rules []Rule, backend string) string {
	var b strings.Builder
	for _, r := range rules {
		for _, c := range r.If {
			test := strings.ReplaceAll(c.Test, "%{REQUEST_FILENAME}", "%{DOCUMENT_ROOT}%{REQUEST_FILENAME}")
			fmt.Fprintf(&b, "RewriteCond %s %s%s\n", apacheArg(test), apacheArg(c.Pattern), apacheFlags(c.Flags))
		}
		to := r.To
		var flags []string
		for _, fl := range r.Flags {
			key, val, _ := strings.Cut(fl, "=")
			switch strings.ToUpper(key) {
			case "P":
				to = backend + "/_up/" + val + to
				fl = "P"
			case "N":
				if val == "" {
					fl = fmt.Sprintf("N=%d", DefaultMaxPasses)
				}
			}
			flags = append(flags, fl)
		}
		fmt.Fprintf(&b, "RewriteRule %s %s%s\n", apacheArg(r.Match), apacheArg(to), apacheFlags(flags))
	}
	return b.String()
}

func apacheArg(s string) string {
	if strings.ContainsAny(s, " \t") {
		return `"` + s + `"`
	}
	return s
}

func apacheFlags(fl []string) string {
	if len(fl) == 0 {
		return ""
	}
	return " [" + strings.Join(fl, ",") + "]"
}

// observed is what a client and the upstream saw of one request.
type observed struct {
	Status   int
	Location string
	Upstream string // request-target received by the echo backend, "" if none
}

// writeDocroot creates the document root the file tests look at.
func writeDocroot(t *testing.T) string {
	root := filepath.Join(peertest.Dir(t), "htdocs")
	files := map[string]string{
		"index.html":       "index",
		"robots.txt":       "robots",
		"static/app.css":   "body{}",
		"static/empty.txt": "",
		"docs/guide.html":  "guide",
	}
	for name, body := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestApacheDifferential(t *testing.T) {
	peertest.Require(t, "apache2", "apache2")
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Echo-URI", r.RequestURI)
	}))
	t.Cleanup(echo.Close) // after the parallel subtests
	docroot := writeDocroot(t)

	total := 0
	for _, set := range diffSets {
		total += len(set.cases)
	}
	if len(diffSets) < 10 || total < 40 {
		t.Fatalf("corpus too small: %d rule sets, %d requests", len(diffSets), total)
	}
	t.Logf("corpus: %d rule sets, %d requests", len(diffSets), total)

	for _, set := range diffSets {
		t.Run(set.name, func(t *testing.T) {
			t.Parallel()
			prog, err := Compile(set.rules)
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			conf := fmt.Sprintf(`DocumentRoot %[1]s
<Directory %[1]s>
    Options FollowSymLinks
    AllowOverride None
    Require all granted
    RewriteEngine On
    RewriteRule ^(.*)$ %[2]s/_local/$1 [P]
</Directory>
LogLevel warn rewrite:trace3
RewriteEngine On
%[3]s`, docroot, echo.URL, apacheRules(set.rules, echo.URL))
			ap := peertest.StartApache(t, conf, "mpm_event", "authz_core", "mime", "proxy", "proxy_http", "rewrite")
			diffs := 0
			for _, dc := range set.cases {
				got := apacheDo(t, ap.Addr, dc)
				req := ourRequest(t, dc, docroot)
				res := prog.Apply(req)
				want := ourObserved(res, req, docroot)
				if got != want {
					diffs++
					t.Errorf("%s %s (Host %s %q):\n apache: %+v\n    our: %+v (result %+v)", dc.methodOr(), dc.target, dc.hostOr(), dc.header, got, want, res)
				} else if testing.Verbose() {
					t.Logf("%-6s %-34s %-22s %v", dc.methodOr(), dc.target, dc.hostOr(), got)
				}
			}
			if diffs > 0 {
				t.Logf("apache config:\n%s", conf)
				b, _ := os.ReadFile(filepath.Join(ap.Dir, "error.log"))
				if len(b) > 20000 {
					b = b[len(b)-20000:]
				}
				t.Logf("apache error log:\n%s", b)
			}
		})
	}
}

func (dc diffCase) methodOr() string {
	if dc.method == "" {
		return "GET"
	}
	return dc.method
}

func (dc diffCase) hostOr() string {
	if dc.host == "" {
		return "example.com"
	}
	return dc.host
}

// apacheDo sends dc to Apache as raw HTTP/1.1.
func apacheDo(t *testing.T, addr string, dc diffCase) observed {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", dc.methodOr(), dc.target, dc.hostOr())
	for _, h := range dc.header {
		b.WriteString(h + "\r\n")
	}
	if m := dc.methodOr(); m == "POST" || m == "PUT" {
		b.WriteString("Content-Length: 0\r\n")
	}
	b.WriteString("Connection: close\r\n\r\n")
	if _, err := conn.Write([]byte(b.String())); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: dc.methodOr()})
	if err != nil {
		t.Fatalf("%s: %v", dc.target, err)
	}
	resp.Body.Close()
	return observed{Status: resp.StatusCode, Location: resp.Header.Get("Location"), Upstream: resp.Header.Get("X-Echo-URI")}
}

// ourRequest is the Request stackctl's proxy would build for dc.
func ourRequest(t *testing.T, dc diffCase, docroot string) *Request {
	rawPath, rawQuery, _ := strings.Cut(dc.target, "?")
	path, err := url.PathUnescape(rawPath)
	if err != nil {
		t.Fatalf("%s: %v", dc.target, err)
	}
	h := http.Header{}
	for _, line := range dc.header {
		k, v, _ := strings.Cut(line, ":")
		h.Add(k, strings.TrimSpace(v))
	}
	return &Request{Method: dc.methodOr(), Host: dc.hostOr(), Path: path, RawQuery: rawQuery, Header: h,
		RemoteAddr: "127.0.0.1:50000", DocumentRoot: docroot}
}

// ourObserved is what the test harness's stackctl-shaped server would show
// for res: the same observation points as the Apache configuration.
func ourObserved(res Result, req *Request, docroot string) observed {
	withQuery := func(p, q string) string {
		if q != "" {
			return p + "?" + q
		}
		return p
	}
	local := func(path, query string) observed {
		if res.End {
			// No route rules: serve the file.
			if fi, err := os.Stat(filepath.Join(docroot, filepath.FromSlash(path))); err == nil && fi.Mode().IsRegular() {
				return observed{Status: 200}
			}
			return observed{Status: 404}
		}
		return observed{Status: 200, Upstream: withQuery("/_local"+proxyEscapePath(path), query)}
	}
	switch res.Kind {
	case None:
		return local(req.Path, req.RawQuery)
	case Rewritten:
		return local(res.Path, res.RawQuery)
	case Proxy:
		return observed{Status: 200, Upstream: withQuery("/_up/"+res.Upstream+res.EscapedPath(), res.RawQuery)}
	case Redirect:
		return observed{Status: res.Status, Location: res.Location}
	}
	return observed{Status: res.Status}
}
