package rewrite

import (
	"fmt"
	"net/http"
	"testing"
)

// benchRules is a realistic rule set of 20 rules: prefixes, a condition on
// the host, a cookie, file tests, an unanchored extension rule.
func benchRules() []Rule {
	var rules []Rule
	for i := 0; i < 14; i++ {
		rules = append(rules, Rule{Match: fmt.Sprintf("^/old%d/(.*)$", i), To: fmt.Sprintf("/new%d/$1", i), Flags: []string{"R=301", "L"}})
	}
	rules = append(rules,
		Rule{If: []Cond{{Test: "%{HTTP_HOST}", Pattern: `^www\.(.+)$`, Flags: []string{"NC"}}}, Match: "^/legacy/(.*)$", To: "http://%1/$1", Flags: []string{"R=301", "L"}},
		Rule{If: []Cond{{Test: "%{HTTP_COOKIE}", Pattern: `(^|;\s*)lang=([a-z]+)`}}, Match: "^/page/(.*)$", To: "/%2/page/$1", Flags: []string{"L"}},
		Rule{Match: `\.(bak|orig|swp)$`, To: "-", Flags: []string{"F", "NC"}},
		Rule{Match: "^/api/v1/(.*)$", To: "/$1", Flags: []string{"P=api", "QSA"}},
		Rule{If: []Cond{{Test: "%{REQUEST_METHOD}", Pattern: "^(PUT|DELETE)$"}}, Match: "^/readonly/", To: "-", Flags: []string{"F"}},
		Rule{Match: "^/shop/item/([0-9]+)$", To: "/shop/item.php?id=$1", Flags: []string{"QSA", "L"}},
	)
	return rules
}

func benchRequest(path string) *Request {
	return &Request{
		Method: "GET", Host: "www.example.com", Path: path, RawQuery: "a=1&b=2",
		Header:     http.Header{"User-Agent": {"bench"}, "Cookie": {"sid=1; lang=de"}},
		RemoteAddr: "127.0.0.1:4000",
	}
}

func BenchmarkApply(b *testing.B) {
	prog, err := Compile(benchRules())
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name string
		path string
		want Kind
	}{
		{"none-matching", "/static/css/site.css", None},
		{"one-matching-redirect", "/old13/a/b", Redirect},
		{"one-matching-rewrite", "/shop/item/12345", Rewritten},
		{"one-matching-proxy", "/api/v1/users", Proxy},
	}
	for _, bc := range cases {
		req := benchRequest(bc.path)
		if got := prog.Apply(req).Kind; got != bc.want {
			b.Fatalf("%s: got %v, want %v", bc.name, got, bc.want)
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				prog.Apply(req)
			}
		})
	}
}
