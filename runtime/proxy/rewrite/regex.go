package rewrite

import (
	"errors"
	"regexp"
	"regexp/syntax"
	"strings"
)

// compileRegex compiles a mod_rewrite pattern (PCRE in Apache) with Go's
// RE2 engine, case-insensitively when nocase is set. PCRE constructs that
// RE2 cannot express are reported by name, so that a migrated rule fails at
// config load with a message the operator can act on rather than a bare
// syntax error.
func compileRegex(pattern string, nocase bool) (*regexp.Regexp, error) {
	expr := pattern
	if nocase {
		expr = "(?i)" + pattern
	}
	re, err := regexp.Compile(expr)
	if err == nil {
		return re, nil
	}
	var se *syntax.Error
	if !errors.As(err, &se) {
		return nil, err
	}
	if name := unsupportedPCRE(se); name != "" {
		return nil, errors.New(name + " is a PCRE construct that Go's RE2 engine does not support (" + se.Expr + ")")
	}
	return nil, errors.New("bad regular expression: " + se.Code.String() + ": " + se.Expr)
}

// unsupportedPCRE names the PCRE feature behind an RE2 syntax error, or
// returns "" when the error is an ordinary mistake.
func unsupportedPCRE(se *syntax.Error) string {
	e := se.Expr
	switch se.Code {
	case syntax.ErrInvalidPerlOp, syntax.ErrInvalidNamedCapture:
		switch {
		case strings.HasPrefix(e, "(?="):
			return "lookahead (?=...)"
		case strings.HasPrefix(e, "(?!"):
			return "negative lookahead (?!...)"
		case strings.HasPrefix(e, "(?<="):
			return "lookbehind (?<=...)"
		case strings.HasPrefix(e, "(?<!"):
			return "negative lookbehind (?<!...)"
		case strings.HasPrefix(e, "(?>"):
			return "atomic group (?>...)"
		case strings.HasPrefix(e, "(?("):
			return "conditional group (?(...)...)"
		case strings.HasPrefix(e, "(?R"), strings.HasPrefix(e, "(?&"), strings.HasPrefix(e, "(?+"),
			len(e) > 2 && e[2] >= '0' && e[2] <= '9':
			return "recursion (?R)"
		case strings.HasPrefix(e, "(?P=") || strings.HasPrefix(e, "(?P>"):
			return "named backreference (?P=name)"
		case strings.HasPrefix(e, "(?|"):
			return "branch reset (?|...)"
		case strings.HasPrefix(e, "(?#"):
			return "comment (?#...)"
		}
	case syntax.ErrInvalidRepeatOp:
		if strings.HasSuffix(e, "+") {
			return "possessive quantifier (" + e + ")"
		}
	case syntax.ErrInvalidEscape:
		if len(e) >= 2 {
			switch c := e[1]; {
			case c >= '1' && c <= '9':
				return "backreference \\" + e[1:]
			case c == 'k' || c == 'g':
				return "backreference \\" + string(c)
			case c == 'G':
				return "anchor \\G"
			case c == 'K':
				return "match reset \\K"
			case c == 'Z':
				return "anchor \\Z (use $ or \\z)"
			case c == 'R' || c == 'X' || c == 'C' || c == 'h' || c == 'H' || c == 'V' || c == 'N':
				return "escape \\" + string(c)
			}
		}
	}
	return ""
}
