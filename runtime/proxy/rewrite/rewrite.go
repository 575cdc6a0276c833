package rewrite

import (
	"errors"
	"net/http"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Rule is one rewrite rule as written in the configuration file
// ([[proxy.rewrite]] or [[proxy.route.rewrite]]), RewriteRule's three
// arguments plus the RewriteCond lines before it.
type Rule struct {
	// Match is a regular expression (RE2) on the URL path: %-decoded, with
	// its leading slash, without the query ("!" negates, then $N are
	// empty).
	Match string `toml:"match"`
	// To is the substitution: $N are the rule's captures, %N the last
	// matched condition's, %{VAR} variables, "\" escapes the next
	// character; "-" leaves the path unchanged. A "?" starts a new query
	// string (which replaces the request's unless QSA); a trailing "?"
	// drops the query. An absolute URL redirects.
	To string `toml:"to"`
	// Flags, mod_rewrite style, one per element, case-insensitive: "L",
	// "END", "R", "R=301", "F", "G", "NC", "QSA", "QSD", "QSL", "NE", "C",
	// "S=2", "N", "N=20", "P=upstream", "PT", "B", "BNP", "B=chars",
	// "BNE=chars", "BCTLS", "NS", "UnsafeAllow3F".
	Flags []string `toml:"flags"`
	// If are the conditions, all of which must hold (a condition with
	// the OR flag is or-ed with the next one).
	If []Cond `toml:"if"`
}

// Cond is one condition (RewriteCond).
type Cond struct {
	// Test is the string tested, expanded like Rule.To: "%{HTTP_HOST}",
	// "%{QUERY_STRING}", "%{REQUEST_METHOD}", "%{HTTP:X-Header}",
	// "%{HTTP_COOKIE}", "%{REQUEST_FILENAME}", "$1", ...
	Test string `toml:"test"`
	// Pattern is, after an optional "!" that negates it: a regular
	// expression; a file test "-f", "-s", "-d", "-l", "-x" (which fail when
	// the request has no DocumentRoot); a string comparison "=text",
	// "<text", "<=text", ">text", ">=text"; or an integer comparison
	// "-eq N", "-ne N", "-lt N", "-le N", "-gt N", "-ge N".
	Pattern string `toml:"pattern"`
	// Flags: "NC" (case-insensitive regex or string comparison), "OR"
	// (this condition or the next), "NV" (accepted, no effect).
	Flags []string `toml:"flags"`
}

// Error is a problem in one rule, for the config loader to locate.
type Error struct {
	Rule int    // index of the rule
	Cond int    // index of the condition, or -1
	Key  string // "match", "to", "flags", "if", "test", "pattern"
	Msg  string
}

func (e *Error) Error() string { return e.Key + ": " + e.Msg }

// Program is a compiled list of rules. It is immutable and safe for
// concurrent use.
type Program struct {
	rules   []rule
	proxies []ProxyRef
}

// ProxyRef is a rule's reference to an upstream by name (flag P=name), for
// the config loader to check that the upstream exists.
type ProxyRef struct {
	Rule     int
	Upstream string
}

// rule is a compiled Rule.
type rule struct {
	re        *regexp.Regexp
	prefix    string // a literal every match starts with, to skip the regexp cheaply
	negate    bool
	nosub     bool   // To is "-"
	toRaw     string // To as written, for the leading "//" check
	to        template
	conds     []cond
	ruleCaps  bool // $N are used: match with captures
	condCaps  bool // %N are used: conditions record captures
	flags     ruleFlags
	status    int // R=, F, G
	skip      int // S=
	maxRounds int // N=
	upstream  string
	escapes   string // B=
	noescapes string // BNE=
}

// Compile checks and compiles rules. On failure the error is an *Error
// naming the rule, the condition and the key at fault or, when several
// rules are wrong, their errors.Join (one *Error per faulty rule, in order;
// errors.As finds the first).
func Compile(rules []Rule) (*Program, error) {
	p := &Program{rules: make([]rule, len(rules))}
	var errs []error
	for i := range rules {
		if err := compileRule(&p.rules[i], &rules[i], i); err != nil {
			errs = append(errs, err)
			continue
		}
		if u := p.rules[i].upstream; u != "" {
			p.proxies = append(p.proxies, ProxyRef{Rule: i, Upstream: u})
		}
	}
	switch len(errs) {
	case 0:
		return p, nil
	case 1:
		return nil, errs[0]
	}
	return nil, errors.Join(errs...)
}

// Proxies lists the upstreams the rules proxy to.
func (p *Program) Proxies() []ProxyRef { return p.proxies }

func compileRule(r *rule, in *Rule, i int) error {
	fail := func(cond int, key string, err error) error {
		return &Error{Rule: i, Cond: cond, Key: key, Msg: err.Error()}
	}
	if err := parseRuleFlags(r, in.Flags); err != nil {
		return fail(-1, "flags", err)
	}

	pat := in.Match
	if strings.HasPrefix(pat, "!") {
		r.negate = true
		pat = pat[1:]
	}
	if pat == "" {
		return fail(-1, "match", errors.New("match is required (a regular expression on the path, e.g. \"^/old/(.*)$\")"))
	}
	re, err := compileRegex(pat, r.flags&flagNoCase != 0)
	if err != nil {
		return fail(-1, "match", err)
	}
	r.re = re
	if r.flags&flagNoCase == 0 {
		r.prefix = anchoredPrefix(pat)
	}
	groups := re.NumSubexp()
	if r.negate {
		groups = -1
	}

	to := in.To
	switch {
	case to == "":
		return fail(-1, "to", errors.New("to is required: a path, an absolute URL, or \"-\" for no substitution"))
	case to == "-":
		r.nosub = true
		if r.flags&(flagRedirect|flagProxy) != 0 {
			return fail(-1, "to", errors.New("R and P need a substitution, not \"-\""))
		}
	}
	if r.flags&flagStatus != 0 {
		r.nosub = true // F, G and R=4xx answer without substituting, as in Apache
	}
	// Query string handling decided from the literal substitution, as
	// cmd_rewriterule does.
	if strings.HasSuffix(to, "?") {
		if r.flags&flagQSA != 0 {
			r.flags |= flagQSL
		} else {
			r.flags |= flagQSNone
			to = to[:len(to)-1]
		}
	} else if r.flags&flagQSD != 0 && !strings.Contains(to, "?") {
		r.flags |= flagQSNone
	}
	r.toRaw = to
	if !r.nosub {
		if r.flags&flagProxy != 0 {
			if n, _ := absoluteURI(to); n > 0 {
				return fail(-1, "to", errors.New("with P=upstream the substitution is a path on that upstream, not a URL"))
			}
		}
		if r.to, err = parseTemplate(to, groups); err != nil {
			return fail(-1, "to", err)
		}
		r.ruleCaps = r.to.usesRuleRefs()
		r.condCaps = r.to.usesCondRefs()
	}

	r.conds = make([]cond, len(in.If))
	for j := range in.If {
		c, key, err := compileCond(&in.If[j], groups)
		if err != nil {
			return fail(j, key, err)
		}
		r.conds[j] = c
		r.ruleCaps = r.ruleCaps || c.test.usesRuleRefs()
		r.condCaps = r.condCaps || c.test.usesCondRefs()
	}
	if n := len(r.conds); n > 0 && r.conds[n-1].or {
		// Apache then lets the rule apply whatever the condition says.
		return fail(n-1, "flags", errors.New("OR on the last condition: there is no next condition to or it with"))
	}
	if r.negate {
		r.ruleCaps = false
	}
	return nil
}

// anchoredPrefix returns the literal text that every match of a
// case-sensitive pattern anchored with "^" starts with ("" if none), so
// that Apply can reject most paths with one comparison.
func anchoredPrefix(pattern string) string {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return ""
	}
	re = re.Simplify()
	if re.Op != syntax.OpConcat || len(re.Sub) < 2 || re.Sub[0].Op != syntax.OpBeginText {
		return ""
	}
	var b []byte
	for _, sub := range re.Sub[1:] {
		if sub.Op != syntax.OpLiteral || sub.Flags&syntax.FoldCase != 0 {
			break
		}
		for _, c := range sub.Rune {
			b = utf8.AppendRune(b, c)
		}
	}
	return string(b)
}

// Request is what rules see of a request.
type Request struct {
	Method string
	// Host is the Host header as received (%{HTTP_HOST}); its lower-cased
	// name and port make the scheme://host[:port] of redirects.
	Host string
	// Path is the %-decoded URL path (Apache's r->uri): it should start
	// with "/" (else no rule applies), with dot segments resolved and
	// slashes merged as the proxy routes it.
	Path     string
	RawQuery string // the query string as received, without "?"
	Header   http.Header
	HTTPS    bool
	// RemoteAddr is the client's "ip:port" or "ip" (%{REMOTE_ADDR}).
	RemoteAddr string
	// DocumentRoot anchors %{REQUEST_FILENAME} and file tests; "" makes
	// them fail.
	DocumentRoot string
	// ServerName names this server in redirects when the request has no
	// Host (HTTP/1.0); "" means "localhost".
	ServerName string
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
	Status                // answer Status: R=4xx/5xx, or 500 when [N] passed its bound or the URL outgrew 16380 bytes
)

var kindNames = [...]string{"None", "Rewritten", "Redirect", "Forbidden", "Gone", "Proxy", "Status"}

func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Result is the outcome of applying a Program.
type Result struct {
	Kind Kind
	// Path is the new %-decoded path (Rewritten, Proxy; for Redirect the
	// target before escaping) and RawQuery the new query string, without
	// "?" ("" for none), ready for the request line.
	Path     string
	RawQuery string
	// Status is the response status for Redirect, Forbidden, Gone and
	// Status.
	Status int
	// Location is the absolute, escaped URL to redirect to.
	Location string
	// Upstream is the upstream named by P=name.
	Upstream string
	// End is set when an [END] rule applied: no further rewrite rules
	// (such as a route's) may run for this request.
	End bool

	noEscape bool // [NE] on a proxy: send Path as it is
}

// EscapedPath returns Path escaped for a request line the way mod_proxy
// sends a rewritten [P] URL upstream (or, after [NE], unchanged).
func (r *Result) EscapedPath() string {
	if r.noEscape {
		return r.Path
	}
	return proxyEscapePath(r.Path)
}

// maxURILen is where Apache stops a rule set whose output keeps growing:
// twice LimitRequestLine's default.
const maxURILen = 2 * 8190

// Outcomes of one rule (mod_rewrite's RULE_RC_*).
type ruleRC uint8

const (
	rcNoMatch   ruleRC = iota
	rcMatch            // substituted
	rcNoSub            // matched, "-"
	rcStatusSet        // refused: the query separator came from an expansion (403)
)

// Outcomes of the rule list (mod_rewrite's ACTION_*).
type action uint8

const (
	actNone     action = iota
	actNormal          // rewritten
	actNoEscape        // rewritten by an [NE] rule
	actStatus          // answer s.status
)

// state is one request's rewriting state: the current URL path (Apache's
// r->filename) and query (r->args), and the captures $N and %N refer to.
type state struct {
	req      *Request
	path     string
	args     string
	ruleSrc  string
	ruleCaps []int
	condSrc  string
	condCaps []int
	status   int    // the status to answer (actStatus) or redirect with
	upstream string // set by a [P] rule
	noEscape bool   // the [P] rule had NE
	buf      []byte
}

// Apply runs the rules on req. It does not modify req, and when no rule
// matches it neither allocates nor touches the file system.
func (p *Program) Apply(req *Request) Result {
	if p == nil || len(p.rules) == 0 || !strings.HasPrefix(req.Path, "/") {
		return Result{Kind: None}
	}
	s := state{req: req, path: req.Path, args: req.RawQuery}
	act, end := s.run(p.rules)
	return s.finish(act, end)
}

// run is apply_rewrite_list: the rules in order, with chains, skips,
// restarts and stops.
func (s *state) run(rules []rule) (act action, end bool) {
	round := 1
restart:
	for i := 0; i < len(rules); i++ {
		r := &rules[i]
		rc := s.apply(r)
		if rc == rcNoMatch {
			// A failed rule skips the rest of its chain.
			for i < len(rules) && rules[i].flags&flagChain != 0 {
				i++
			}
			continue
		}
		if len(s.path) > maxURILen {
			s.status = http.StatusInternalServerError
			return actStatus, end
		}
		if rc == rcStatusSet {
			return actStatus, end
		}
		if r.flags&flagStatus != 0 {
			s.status = r.status
			return actStatus, end
		}
		if rc != rcNoSub {
			act = actNormal
			if r.flags&flagNoEscape != 0 {
				act = actNoEscape
			}
		}
		if r.flags&flagPassThrough != 0 {
			return actNormal, end
		}
		if r.flags&flagEnd != 0 {
			return act, true
		}
		if r.flags&(flagProxy|flagLast) != 0 {
			return act, end
		}
		if r.flags&flagNext != 0 {
			round++
			if round >= r.maxRounds {
				s.status = http.StatusInternalServerError
				return actStatus, end
			}
			goto restart
		}
		i += min(r.skip, len(rules)-i)
	}
	return act, end
}

// apply is apply_rewrite_rule: match, conditions, substitution.
func (s *state) apply(r *rule) ruleRC {
	var caps []int
	matched := false
	switch {
	case r.prefix != "" && !strings.HasPrefix(s.path, r.prefix):
		// Cannot match: spare the regexp engine.
	case r.ruleCaps:
		caps = r.re.FindStringSubmatchIndex(s.path)
		matched = caps != nil
	default:
		matched = r.re.MatchString(s.path)
	}
	if matched == r.negate {
		return rcNoMatch
	}
	s.ruleSrc, s.ruleCaps = s.path, caps
	s.condSrc, s.condCaps = "", nil
	if !s.conditions(r) {
		return rcNoMatch
	}
	if r.nosub {
		return rcNoSub
	}

	uri, qm := s.expand(&r.to, r, r.flags&flagAllow3F == 0)
	if qm == qmarkUnsafe {
		s.status = http.StatusForbidden
		return rcStatusSet
	}
	prefixAdded := false
	if n, _ := absoluteURI(uri); n == 0 && !strings.HasPrefix(uri, "/") &&
		r.flags&(flagProxy|flagRedirect) == 0 {
		uri = "/" + uri
		prefixAdded = true
	}
	s.path = uri
	s.splitQuery(r)

	switch {
	case r.flags&flagProxy != 0:
		// The substitution is a path on the named upstream.
		if !strings.HasPrefix(s.path, "/") {
			s.path = "/" + s.path
		}
		s.upstream, s.noEscape = r.upstream, r.flags&flagNoEscape != 0
		return rcMatch
	case r.flags&flagRedirect != 0:
		s.path = s.qualify(s.path)
		s.status = r.status
		return rcMatch
	}
	if n, _ := absoluteURI(s.path); n > 0 {
		// An absolute URL redirects even without R (Apache would first
		// reduce a URL naming this very server to its path; stackctl does
		// not know its own names, so it always redirects).
		s.status = r.status
		return rcMatch
	}
	if !prefixAdded && !strings.HasPrefix(r.toRaw, "//") {
		// Merge leading slashes unless the substitution wrote them.
		for len(s.path) > 1 && s.path[0] == '/' && s.path[1] == '/' {
			s.path = s.path[1:]
		}
	}
	return rcMatch
}

// conditions evaluates the rule's conditions in order, with OR chains.
func (s *state) conditions(r *rule) bool {
	for i := 0; i < len(r.conds); i++ {
		c := &r.conds[i]
		ok := s.eval(c, r.condCaps)
		switch {
		case c.or && !ok:
			// One false, the next may still hold.
		case c.or:
			// Skip the rest of the OR chain, its last member included.
			for i < len(r.conds) && r.conds[i].or {
				i++
			}
		case !ok:
			return false
		}
	}
	return true
}

// splitQuery is splitout_queryargs: a "?" in the new path starts the new
// query string, which replaces, is prepended to (QSA), or is dropped.
func (s *state) splitQuery(r *rule) {
	if r.flags&flagQSNone != 0 {
		s.args = ""
		return
	}
	skip, query := absoluteURI(s.path)
	if skip > 0 && !query {
		s.args = ""
		return
	}
	if r.flags&flagQSD != 0 {
		s.args = ""
	}
	var q int
	if r.flags&flagQSL != 0 {
		q = strings.LastIndexByte(s.path[skip:], '?')
	} else {
		q = strings.IndexByte(s.path[skip:], '?')
	}
	if q < 0 {
		return
	}
	q += skip
	newq := s.path[q+1:]
	s.path = s.path[:q]
	if r.flags&flagQSA != 0 {
		if newq != "" {
			s.args = newq + "&" + s.args
		}
	} else {
		s.args = newq
	}
	s.args = strings.TrimSuffix(s.args, "&")
}

// qualify is fully_qualify_uri: a path becomes scheme://host[:port]/path,
// with the host and port the client asked for (UseCanonicalName Off).
func (s *state) qualify(path string) string {
	if n, _ := absoluteURI(path); n > 0 {
		return path
	}
	scheme, def := "http", 80
	if s.req.HTTPS {
		scheme, def = "https", 443
	}
	name, port := serverName(s.req)
	if strings.IndexByte(name, ':') >= 0 {
		name = "[" + name + "]"
	}
	var b strings.Builder
	b.Grow(len(scheme) + 3 + len(name) + 6 + 1 + len(path))
	b.WriteString(scheme)
	b.WriteString("://")
	b.WriteString(name)
	if n, err := strconv.Atoi(port); err == nil && n != def && n > 0 && n < 65536 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(n))
	}
	if !strings.HasPrefix(path, "/") {
		b.WriteByte('/')
	}
	b.WriteString(path)
	return b.String()
}

// finish is hook_uri2file's epilogue: turn the final state into a Result.
func (s *state) finish(act action, end bool) Result {
	if act == actNone {
		return Result{Kind: None, End: end}
	}
	abs, _ := absoluteURI(s.path)
	willEscape := abs > 0 && act != actNoEscape && s.upstream == ""
	if s.args != "" && !willEscape && hasCtlOrSpace(s.args) {
		// A query with a raw space or control byte that nothing will
		// escape: Apache refuses it rather than forward a broken URL.
		return Result{Kind: Forbidden, Status: http.StatusForbidden, End: end}
	}
	switch {
	case act == actStatus:
		k := Status
		switch s.status {
		case http.StatusForbidden:
			k = Forbidden
		case http.StatusGone:
			k = Gone
		}
		return Result{Kind: k, Status: s.status, End: end}
	case s.upstream != "":
		if s.noEscape && hasCtlOrSpace(s.path) {
			return Result{Kind: Forbidden, Status: http.StatusForbidden, End: end}
		}
		return Result{Kind: Proxy, Path: s.path, RawQuery: s.args, Upstream: s.upstream, End: end, noEscape: s.noEscape}
	case abs > 0:
		loc := s.path
		if act != actNoEscape {
			loc = escapeAbsoluteURI(loc, abs)
		}
		if s.args != "" {
			q := s.args
			if act != actNoEscape && q != s.req.RawQuery {
				// Apache escapes a query it built, even the %-escapes it
				// copied from the request's (QSA): "%20" becomes "%2520".
				q = escapeURI(q)
			}
			loc += "?" + q
		}
		status := s.status
		if status < 300 || status > 399 {
			status = http.StatusFound
		}
		return Result{Kind: Redirect, Path: s.path, RawQuery: s.args, Status: status, Location: loc, End: end}
	}
	return Result{Kind: Rewritten, Path: s.path, RawQuery: s.args, End: end}
}
