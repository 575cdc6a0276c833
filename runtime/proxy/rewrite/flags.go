package rewrite

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
)

// ruleFlags is the set of a rule's flags without values.
type ruleFlags uint32

const (
	flagLast        ruleFlags = 1 << iota // L
	flagEnd                               // END
	flagRedirect                          // R
	flagStatus                            // F, G, R=4xx/5xx: answer a status, no substitution
	flagNoCase                            // NC
	flagQSA                               // QSA
	flagQSD                               // QSD
	flagQSL                               // QSL, or a literal "?" ending a QSA substitution
	flagQSNone                            // the query is dropped (trailing "?", or QSD without "?")
	flagNoEscape                          // NE
	flagChain                             // C
	flagNext                              // N
	flagProxy                             // P=upstream
	flagPassThrough                       // PT
	flagB                                 // B: escape back-references
	flagBNP                               // BNP: B escapes a space as %20, not +
	flagBCTLS                             // BCTLS: B escapes controls and space only
	flagAllow3F                           // UnsafeAllow3F
)

// DefaultMaxPasses bounds [N] loops when the flag gives no N=max: after
// this many passes over the rules the request is answered 500, as Apache
// does at its own bound (32000 in Apache 2.4; N=max there and here).
const DefaultMaxPasses = 10

// MaxPasses is the largest N=max accepted: Apache 2.4's own default bound,
// so no configuration can make one request loop longer than Apache would.
const MaxPasses = 32000

// parseRuleFlags fills r's flags from the configuration's flag list.
func parseRuleFlags(r *rule, flags []string) error {
	r.status = http.StatusFound
	r.maxRounds = DefaultMaxPasses
	for _, f := range flags {
		if strings.ContainsAny(f, ",[]") {
			return errors.New("one flag per element, e.g. [\"R=301\", \"L\"]: " + quote(f))
		}
		key, val, hasVal := strings.Cut(strings.TrimSpace(f), "=")
		noVal := func(bit ruleFlags) error {
			if hasVal {
				return errors.New("flag " + key + " takes no value: " + quote(f))
			}
			r.flags |= bit
			return nil
		}
		var err error
		switch strings.ToLower(key) {
		case "l", "last":
			err = noVal(flagLast)
		case "end":
			err = noVal(flagEnd)
		case "nc", "nocase":
			err = noVal(flagNoCase)
		case "qsa", "qsappend":
			err = noVal(flagQSA)
		case "qsd", "qsdiscard":
			err = noVal(flagQSD)
		case "qsl", "qslast":
			err = noVal(flagQSL)
		case "ne", "noescape":
			err = noVal(flagNoEscape)
		case "c", "chain":
			err = noVal(flagChain)
		case "pt", "passthrough":
			err = noVal(flagPassThrough)
		case "ns", "nosubreq":
			// Accepted for compatibility: stackctl makes no subrequests,
			// so every rule already behaves as NS.
			err = noVal(0)
		case "unsafeallow3f":
			err = noVal(flagAllow3F)
		case "bnp", "backrefnoplus":
			err = noVal(flagBNP)
		case "bctls":
			err = noVal(flagBCTLS | flagB)
		case "b", "backrefescaping":
			r.flags |= flagB
			r.escapes = val
		case "bne":
			if val == "" {
				return errors.New("flag BNE wants a list of characters, e.g. BNE=/")
			}
			r.noescapes = val
		case "f", "forbidden":
			err = noVal(flagStatus)
			r.status = http.StatusForbidden
		case "g", "gone":
			err = noVal(flagStatus)
			r.status = http.StatusGone
		case "r", "redirect":
			r.flags |= flagRedirect
			if hasVal {
				code, ok := redirectStatus(val)
				if !ok {
					return errors.New("bad status in " + quote(f) + ": want 301, 302, 303, 307, 308 (or permanent, temp, seeother), or a 4xx/5xx status")
				}
				r.status = code
				if code >= 400 {
					// Like Apache: a non-redirect status drops the
					// substitution and answers the status.
					r.flags = r.flags&^flagRedirect | flagStatus
				}
			}
		case "s", "skip":
			n, convErr := strconv.Atoi(val)
			if !hasVal || convErr != nil || n < 1 {
				return errors.New("flag S wants a positive number of rules to skip, e.g. S=2: " + quote(f))
			}
			r.skip = n
		case "n", "next":
			r.flags |= flagNext
			if hasVal {
				n, convErr := strconv.Atoi(val)
				if convErr != nil || n < 1 || n > MaxPasses {
					return errors.New("flag N wants a pass limit from 1 to " + strconv.Itoa(MaxPasses) + ", e.g. N=10: " + quote(f))
				}
				r.maxRounds = n
			}
		case "p", "proxy":
			if val == "" {
				return errors.New("flag P names the upstream to proxy to, e.g. P=backend: " + quote(f))
			}
			r.flags |= flagProxy
			r.upstream = val
		case "co", "cookie":
			return errors.New("flag CO (set a cookie) is not supported")
		case "e", "env":
			return errors.New("flag E (set an environment variable) is not supported: there is no request environment")
		case "h", "handler":
			return errors.New("flag H (handler) is not supported: route to an upstream or static root instead")
		case "t", "type":
			return errors.New("flag T (MIME type) is not supported")
		case "dpi", "discardpath":
			return errors.New("flag DPI is not supported: there is no PATH_INFO")
		case "unsafeprefixstat", "unc":
			return errors.New("flag " + key + " is not supported: rewritten paths are never file system paths")
		default:
			return errors.New("unknown flag " + quote(f))
		}
		if err != nil {
			return err
		}
	}
	terminal := 0
	for _, b := range []ruleFlags{flagRedirect, flagStatus, flagProxy} {
		if r.flags&b != 0 {
			terminal++
		}
	}
	if terminal > 1 {
		return errors.New("flags R, F, G and P exclude each other")
	}
	return nil
}

// redirectStatus parses the value of R=.
func redirectStatus(v string) (int, bool) {
	switch strings.ToLower(v) {
	case "permanent":
		return http.StatusMovedPermanently, true
	case "temp":
		return http.StatusFound, true
	case "seeother":
		return http.StatusSeeOther, true
	}
	code, err := strconv.Atoi(v)
	if err != nil {
		return 0, false
	}
	switch {
	case code == 301, code == 302, code == 303, code == 307, code == 308:
		return code, true
	case code >= 400 && code <= 599 && http.StatusText(code) != "":
		return code, true
	}
	return 0, false
}
