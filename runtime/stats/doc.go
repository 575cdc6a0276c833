// Package stats holds the measurement primitives of stackctl: latency
// histograms, per-second time series, a bounded event log with
// non-blocking subscriptions, and a sampler of worker processes (memory,
// CPU, threads, file descriptors).
//
// Everything here is a passive data structure or a pull-based reader:
// the package starts no goroutines. Owners (the app server, the proxy, the
// control API) decide when to observe, sample and snapshot.
//
// All exported methods are safe for concurrent use unless their doc
// comment says otherwise, and none of them panics on bad input: out of
// range arguments are clamped and documented as such.
package stats
