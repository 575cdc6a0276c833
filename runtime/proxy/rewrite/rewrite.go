// Package rewrite is stackctl's equivalent of Apache's mod_rewrite: ordered
// rules, each a regular expression on the path with conditions
// (RewriteCond) on the host, headers, cookies, query string, method and file
// existence, back-references to the rule's and the last matched condition's
// captures, and flags: last, redirect with status, query string
// append/discard, no-escape, forbidden, gone, proxy to an upstream, chains,
// and a bounded number of passes.
package rewrite

import "net/http"

// Rule is one rewrite rule as written in the configuration file
// ([[proxy.rewrite]] or [[proxy.route.rewrite]]).
type Rule struct {
	// Match is a regular expression on the URL path ("!" negates).
	Match string `toml:"match"`
	// To is the substitution: $N are the rule's captures, %N the last
	// matched condition's; "-" leaves the path unchanged.
	To string `toml:"to"`
	// Flags, mod_rewrite style: "L", "R=301", "QSA", "QSD", "NE", "F", "G",
	// "NC", "C", "P=upstream", ...
	Flags []string `toml:"flags"`
	// If are the conditions, all of which must hold (or any, with OR).
	If []Cond `toml:"if"`
}

// Cond is one condition (RewriteCond).
type Cond struct {
	// Test is what is tested: "%{HTTP_HOST}", "%{QUERY_STRING}",
	// "%{REQUEST_METHOD}", "%{HTTP:X-Header}", "%{HTTP_COOKIE}",
	// "%{REQUEST_FILENAME}", ...
	Test string `toml:"test"`
	// Pattern is a regular expression ("!" negates) or a file test ("-f",
	// "-d") or a comparison ("=value").
	Pattern string `toml:"pattern"`
	// Flags: "NC", "OR".
	Flags []string `toml:"flags"`
}

// Error is a problem in one rule, for the config loader to locate.
type Error struct {
	Rule int    // index of the rule
	Cond int    // index of the condition, or -1
	Key  string // "match", "to", "flags", "test", "pattern"
	Msg  string
}

func (e *Error) Error() string { return e.Key + ": " + e.Msg }

// Program is a compiled list of rules.
type Program struct{}

// Compile checks and compiles rules.
func Compile(rules []Rule) (*Program, error) { return &Program{}, nil }

// Request is what rules see of a request.
type Request struct {
	Method     string
	Host       string
	Path       string // decoded URL path
	RawQuery   string
	Header     http.Header
	HTTPS      bool
	RemoteAddr string
	// DocumentRoot anchors %{REQUEST_FILENAME} and file tests; "" makes
	// them fail.
	DocumentRoot string
}

// Kind is what a Program decided.
type Kind int

// Results of Apply.
const (
	None      Kind = iota // no rule changed the request
	Rewritten             // Path/RawQuery changed; route again
	Redirect              // answer Status with Location
	Forbidden             // 403
	Gone                  // 410
	Proxy                 // send to Upstream with Path/RawQuery
)

// Result is the outcome of applying a Program.
type Result struct {
	Kind     Kind
	Path     string
	RawQuery string
	Status   int
	Location string
	Upstream string
}

// Apply runs the rules on req.
func (p *Program) Apply(req *Request) Result { return Result{Kind: None} }
