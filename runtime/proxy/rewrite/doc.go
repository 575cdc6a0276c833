// Package rewrite is stackctl's equivalent of Apache's mod_rewrite: ordered
// rules, each a regular expression on the path with conditions
// (RewriteCond) on the host, headers, cookies, query string, method and file
// existence, back-references to the rule's and the last matched condition's
// captures, and flags: last, redirect with status, query string
// append/discard, no-escape, forbidden, gone, proxy to an upstream, chains,
// and a bounded number of passes.
//
// # Semantics
//
// The semantics are those of mod_rewrite in server (virtual host) context,
// and apache_test.go holds them to a real Apache 2.4: for every request of
// its corpus, the same status, the same Location header, and the same path
// and query reaching the upstream.
//
//   - A rule's Match is tried on the current URL path: %-decoded, with its
//     leading slash, without the query. Only when it matches are the
//     conditions evaluated, in order; a condition with OR is or-ed with the
//     next one. $N are the rule's captures, %N the last matched (regex,
//     non-negated) condition's; a group that did not take part is empty.
//   - A substitution replaces the path; a "?" in it starts a new query string
//     that replaces the request's (QSA appends the request's, QSD drops it, a
//     trailing "?" drops it too). "-" leaves the path alone. A relative
//     substitution gets a leading "/". An absolute URL redirects (302 unless
//     R=code), even without R.
//   - Rules apply in order, each to the previous one's output, until L, END,
//     PT, P, F, G or R=4xx stops; C makes the next rule depend on this one;
//     S=n skips n rules; N starts over, and the restart that would begin
//     round max (N=max, default 10) answers 500 instead: N=10 allows nine
//     passes over the rules.
//   - Redirect targets are made absolute from the request: http or https,
//     the Host header's name lower-cased, its port unless the default. The
//     target is escaped as Apache escapes it (lower-case %xx for everything
//     but alphanumerics and $-_.+!*'(),:;@&=/~) unless NE; a query string the
//     rules built is escaped too, even the %-escapes QSA copied from the
//     request ("%20" becomes "%2520", as in Apache).
//   - A "?" that came out of an expansion (a decoded %3F) as the query
//     separator, or a raw space or control byte in a query nothing will
//     escape, answers 403, as current Apache 2.4 does.
//
// # Differences from mod_rewrite
//
//   - Regular expressions are Go's RE2, not PCRE. There are no
//     backreferences inside a pattern (\1), lookahead or lookbehind, atomic
//     groups, possessive quantifiers, \G, \K, \Z, recursion or conditionals:
//     Compile names the construct. Repetition counts stop at 1000. "." and
//     character classes match a UTF-8 character where Apache's PCRE matches a
//     byte; NC folds Unicode case where PCRE folds ASCII; \s does not match a
//     vertical tab. Rules that depend on these are kept out of the
//     differential corpus.
//   - P names an upstream (P=name) and the substitution is the path on it;
//     Apache's [P] takes a URL. With P, "to" may not be a URL.
//   - %{REQUEST_FILENAME} is the request's DocumentRoot plus the current
//     path, as in .htaccess rules; in Apache's server context it is the bare
//     path, so Apache's %{DOCUMENT_ROOT}%{REQUEST_FILENAME} becomes
//     %{REQUEST_FILENAME} (Compile refuses the doubled form). File tests fail
//     when the request has no DocumentRoot.
//   - A rewritten path is always a URL path to route again (Apache's PT):
//     Apache instead serves it as a file system path when its first segment
//     exists on disk (a rule to /home/... would read /home).
//   - An absolute URL naming this server still redirects: Apache reduces
//     http://its-own-name/path to a local path first.
//   - The default N bound is 10 rounds, not 32000; N=max up to 32000.
//   - Configuration is strict where Apache is lenient: unknown flags and
//     variables, $N beyond the pattern's groups or with a negated pattern,
//     conflicting R/F/G/P, R or P with "-", OR on the last condition, NC on
//     a file or integer test are Compile errors. Unsupported: RewriteMap
//     (${map:key}), expr conditions, -U/-F subrequests, the E, CO, T, H, DPI
//     flags, %{ENV:}, %{SSL:}, %{LA-U:}, %{TIME...}, %{THE_REQUEST}.
//   - stackctl does not add a Vary header for header conditions (NV is
//     accepted and changes nothing).
package rewrite
