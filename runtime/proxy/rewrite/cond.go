package rewrite

import (
	"errors"
	"os"
	"regexp"
	"strings"
)

// condKind is what a condition's pattern does with the expanded test string
// (mod_rewrite's CONDPAT_* types).
type condKind uint8

const (
	condRegex    condKind = iota
	condFile              // -f: a regular file
	condFileSize          // -s: a regular file with a size above zero
	condDir               // -d: a directory
	condLink              // -l, -L, -h: a symbolic link
	condExec              // -x: anything with an execute bit
	condStrEQ             // =text
	condStrLT             // <text
	condStrLE             // <=text
	condStrGT             // >text
	condStrGE             // >=text
	condIntEQ             // -eq N (-ne N is a negated -eq)
	condIntLT             // -lt N
	condIntLE             // -le N
	condIntGT             // -gt N
	condIntGE             // -ge N
)

type cond struct {
	test    template
	kind    condKind
	re      *regexp.Regexp
	operand string // for string comparisons
	num     int    // for integer comparisons
	negate  bool
	nocase  bool
	or      bool
}

// compileCond compiles c; the returned key names the offending field.
func compileCond(c *Cond, ruleGroups int) (cond, string, error) {
	var k cond
	for _, f := range c.Flags {
		switch strings.ToLower(f) {
		case "nc", "nocase":
			k.nocase = true
		case "or", "ornext":
			k.or = true
		case "nv", "novary":
			// Accepted for compatibility: stackctl does not add Vary.
		default:
			if strings.ContainsAny(f, ",[]") {
				return k, "flags", errors.New("one flag per element: " + quote(f))
			}
			return k, "flags", errors.New("unknown condition flag " + quote(f))
		}
	}
	if c.Test == "" {
		return k, "test", errors.New("test is required, e.g. \"%{HTTP_HOST}\"")
	}
	if strings.EqualFold(c.Test, "expr") {
		return k, "test", errors.New("ap_expr conditions (RewriteCond expr ...) are not supported")
	}
	if strings.Contains(strings.ToUpper(c.Test), "%{DOCUMENT_ROOT}%{REQUEST_FILENAME}") {
		return k, "test", errors.New("%{REQUEST_FILENAME} already starts with the document root: write %{REQUEST_FILENAME} alone")
	}
	t, err := parseTemplate(c.Test, ruleGroups)
	if err != nil {
		return k, "test", err
	}
	k.test = t

	p := c.Pattern
	if p == "" {
		return k, "pattern", errors.New("pattern is required (a regular expression, a file test such as \"-f\", or a comparison such as \"=value\")")
	}
	if p[0] == '!' {
		k.negate = true
		p = p[1:]
	}
	// Classify exactly as cmd_rewritecond does, so a pattern means what it
	// meant in Apache: "-f" is a file test, "-z" stays a regex.
	k.kind = condRegex
	if len(p) >= 2 {
		if p[0] == '-' {
			if len(p) == 2 {
				switch p[1] {
				case 'f':
					k.kind = condFile
				case 's':
					k.kind = condFileSize
				case 'd':
					k.kind = condDir
				case 'x':
					k.kind = condExec
				case 'h', 'L', 'l':
					k.kind = condLink
				case 'U', 'F':
					return k, "pattern", errors.New(quote(p) + " needs a subrequest, which stackctl does not have: use -f/-d on %{REQUEST_FILENAME}")
				}
			} else if len(p) >= 4 {
				kinds := map[string]condKind{"-lt": condIntLT, "-le": condIntLE, "-gt": condIntGT, "-ge": condIntGE, "-eq": condIntEQ, "-ne": condIntEQ}
				if kind, ok := kinds[p[:3]]; ok {
					k.kind = kind
					if p[:3] == "-ne" {
						k.negate = !k.negate
					}
					k.num = atoi(p[3:])
					if strings.TrimSpace(p[3:]) == "" || !isInteger(strings.TrimSpace(p[3:])) {
						return k, "pattern", errors.New(quote(c.Pattern) + ": " + p[:3] + " needs an integer")
					}
				}
			}
		} else {
			switch {
			case strings.HasPrefix(p, ">="):
				k.kind, k.operand = condStrGE, p[2:]
			case p[0] == '>':
				k.kind, k.operand = condStrGT, p[1:]
			case strings.HasPrefix(p, "<="):
				k.kind, k.operand = condStrLE, p[2:]
			case p[0] == '<':
				k.kind, k.operand = condStrLT, p[1:]
			case p[0] == '=':
				k.kind, k.operand = condStrEQ, p[1:]
				if k.operand == `""` { // Apache's spelling of the empty string
					k.operand = ""
				}
			}
		}
	}
	if k.nocase && k.kind != condRegex && (k.kind < condStrEQ || k.kind > condStrGE) {
		return k, "flags", errors.New("NC has no effect on " + quote(p) + " (Apache ignores it with a warning)")
	}
	if k.kind == condRegex {
		re, err := compileRegex(p, k.nocase)
		if err != nil {
			return k, "pattern", err
		}
		k.re = re
	}
	return k, "", nil
}

// eval evaluates the condition in the current state; with caps it records
// the captures of a matching (non-negated) regex for %N.
func (s *state) eval(c *cond, caps bool) bool {
	in, _ := s.expand(&c.test, nil, false)
	var rc bool
	switch c.kind {
	case condRegex:
		if caps {
			m := c.re.FindStringSubmatchIndex(in)
			rc = m != nil
			if rc && !c.negate {
				s.condSrc, s.condCaps = in, m
			}
		} else {
			rc = c.re.MatchString(in)
		}
	case condFile, condFileSize, condDir, condExec:
		if s.req.DocumentRoot != "" {
			if fi, err := os.Stat(in); err == nil {
				switch c.kind {
				case condFile:
					rc = fi.Mode().IsRegular()
				case condFileSize:
					rc = fi.Mode().IsRegular() && fi.Size() > 0
				case condDir:
					rc = fi.IsDir()
				case condExec:
					rc = fi.Mode()&0o111 != 0
				}
			}
		}
	case condLink:
		if s.req.DocumentRoot != "" {
			fi, err := os.Lstat(in)
			rc = err == nil && fi.Mode()&os.ModeSymlink != 0
		}
	case condStrEQ:
		if c.nocase {
			rc = len(in) == len(c.operand) && compareFold(in, c.operand) == 0
		} else {
			rc = in == c.operand
		}
	case condStrLT, condStrLE, condStrGT, condStrGE:
		var cmp int
		if c.nocase {
			cmp = compareFold(in, c.operand)
		} else {
			cmp = compareLexicography(in, c.operand)
		}
		switch c.kind {
		case condStrLT:
			rc = cmp < 0
		case condStrLE:
			rc = cmp <= 0
		case condStrGT:
			rc = cmp > 0
		case condStrGE:
			rc = cmp >= 0
		}
	case condIntEQ:
		rc = atoi(in) == c.num
	case condIntLT:
		rc = atoi(in) < c.num
	case condIntLE:
		rc = atoi(in) <= c.num
	case condIntGT:
		rc = atoi(in) > c.num
	case condIntGE:
		rc = atoi(in) >= c.num
	}
	return rc != c.negate
}

// compareLexicography is mod_rewrite's compare_lexicography: a longer
// string is greater, strings of one length compare bytewise. So "10" > "9",
// which is what a version or hour comparison usually wants.
func compareLexicography(a, b string) int {
	if len(a) != len(b) {
		if len(a) > len(b) {
			return 1
		}
		return -1
	}
	return strings.Compare(a, b)
}

// compareFold is strcasecmp: ASCII case-folded, plain lexicographic order.
func compareFold(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		ca, cb := lower(a[i]), lower(b[i])
		if ca != cb {
			if ca < cb {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	}
	return 0
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// atoi is C's atoi, as Apache uses for -eq and friends: leading space, an
// optional sign, digits up to the first non-digit; garbage reads as 0.
func atoi(s string) int {
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] >= '\t' && s[i] <= '\r') {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	n := 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		if n < 1<<40 { // saturate instead of overflowing
			n = n*10 + int(s[i]-'0')
		}
	}
	if neg {
		return -n
	}
	return n
}

func isInteger(s string) bool {
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
