// Package chaos holds stackctl's chaos suite (issue 6): it operates a real
// `stackctl serve` — kills workers, chain-reloads, scales, recycles, reloads
// the configuration, stops an upstream, SIGKILLs stackctl, floods the proxy
// with slow clients — under a steady, bounded load of GETs through the proxy,
// and checks that no request fails. Scenarios 1–4 also run against nginx +
// uWSGI, whose failure count is the baseline to beat.
//
// The tests are behind the build tag `chaos` (they take about five minutes):
//
//	go test -tags chaos -count=1 -run Chaos -v -timeout 30m ./chaos/
//
// (-count=1: the suite builds stackctl itself, so go test's cache cannot
// tell when a result is stale.)
//
// CHAOS_REPORT=FILE also writes the report table as Markdown to FILE;
// CHAOS_RACE=1 builds stackctl with the race detector. The results and what
// they mean are in docs/reliability.md.
package chaos
