package proxy

import (
	"sync/atomic"
	"time"

	"github.com/stackctl/stackctl/runtime/stats"
)

// counters are the request statistics of one route, server or the whole
// proxy. Every field is updated with atomics: no lock on the request path.
type counters struct {
	requests atomic.Uint64
	status   [6]atomic.Uint64 // [1..5]: 1xx..5xx; [0]: anything else
	bytesIn  atomic.Uint64
	bytesOut atomic.Uint64
	active   atomic.Int64
	latency  stats.Histogram
}

func (c *counters) begin() { c.active.Add(1) }

// end records a finished request.
func (c *counters) end(status int, in, out int64, took time.Duration) {
	c.active.Add(-1)
	c.requests.Add(1)
	c.status[statusClass(status)].Add(1)
	if in > 0 {
		c.bytesIn.Add(uint64(in))
	}
	if out > 0 {
		c.bytesOut.Add(uint64(out))
	}
	c.latency.Observe(took)
}

func statusClass(status int) int {
	if status >= 100 && status < 600 {
		return status / 100
	}
	return 0
}

// Counters are request statistics.
type Counters struct {
	Requests uint64        `json:"requests"`
	Active   int64         `json:"active"`
	Status   StatusClasses `json:"status"`
	BytesIn  uint64        `json:"bytes_in"`  // request body bytes
	BytesOut uint64        `json:"bytes_out"` // response body bytes
	Latency  Latency       `json:"latency"`
	// Histogram holds every duration, for windows (Sub) and merges.
	Histogram stats.HistogramSnapshot `json:"-"`
}

// StatusClasses counts responses by status class.
type StatusClasses struct {
	X1xx  uint64 `json:"1xx"`
	X2xx  uint64 `json:"2xx"`
	X3xx  uint64 `json:"3xx"`
	X4xx  uint64 `json:"4xx"`
	X5xx  uint64 `json:"5xx"`
	Other uint64 `json:"other,omitempty"`
}

// Latency summarises request durations (from the request's head to the
// response's last byte).
type Latency struct {
	Count uint64        `json:"count"`
	Mean  time.Duration `json:"mean"`
	P50   time.Duration `json:"p50"`
	P90   time.Duration `json:"p90"`
	P99   time.Duration `json:"p99"`
	Max   time.Duration `json:"max"`
}

func (c *counters) snapshot() Counters {
	h := c.latency.Snapshot()
	return Counters{
		Requests: c.requests.Load(),
		Active:   c.active.Load(),
		Status: StatusClasses{
			X1xx: c.status[1].Load(), X2xx: c.status[2].Load(), X3xx: c.status[3].Load(),
			X4xx: c.status[4].Load(), X5xx: c.status[5].Load(), Other: c.status[0].Load(),
		},
		BytesIn:  c.bytesIn.Load(),
		BytesOut: c.bytesOut.Load(),
		Latency: Latency{Count: h.Count(), Mean: h.Mean(), P50: h.Quantile(0.5), P90: h.Quantile(0.9),
			P99: h.Quantile(0.99), Max: h.Max()},
		Histogram: h,
	}
}

// Snapshot is the proxy's state and statistics at one moment: a value the
// control API serves as JSON.
type Snapshot struct {
	Listen      []string `json:"listen"`
	Connections int64    `json:"connections"` // open client connections
	Counters
	Routes    []RouteSnapshot    `json:"routes"`
	Upstreams []UpstreamSnapshot `json:"upstreams"`
}

// RouteSnapshot is one route's statistics.
type RouteSnapshot struct {
	Name    string `json:"name,omitempty"`
	Host    string `json:"host,omitempty"`
	Match   string `json:"match"`   // "path /static/", "exact /healthz", "regex \\.php$"
	Handler string `json:"handler"` // "static /srv/www", "upstream blog", "redirect https://...", "rewrite"
	Counters
}

// UpstreamSnapshot is one upstream pool.
type UpstreamSnapshot struct {
	Name    string           `json:"name"`
	Balance string           `json:"balance"`
	Servers []ServerSnapshot `json:"servers"`
}

// ServerSnapshot is one server of an upstream.
type ServerSnapshot struct {
	Address string `json:"address"` // "uwsgi://127.0.0.1:3031", "app:hello"
	// State is what decides whether it gets requests: up, drain, down,
	// unhealthy (active checks) or failed (max_fails).
	State  string `json:"state"`
	Admin  string `json:"admin"`  // up, drain, down
	Health string `json:"health"` // healthy, unhealthy, or unchecked (no active checks)
	Weight int    `json:"weight"`
	Backup bool   `json:"backup,omitempty"`
	// Fails counts failed attempts (connect errors, timeouts, bad
	// responses); Retries the requests resent elsewhere after one.
	Fails     uint64       `json:"fails"`
	LastCheck *CheckResult `json:"last_check,omitempty"`
	// Lanes describes an app: server's worker lanes.
	Lanes *LaneSnapshot `json:"lanes,omitempty"`
	Counters
}

// LaneSnapshot describes the worker lanes of an app: server.
type LaneSnapshot struct {
	Lanes  int `json:"lanes"`  // ready worker threads
	Busy   int `json:"busy"`   // lanes with at least one request
	Queued int `json:"queued"` // requests beyond the first on a lane
	// Waiting are requests waiting for any lane to take them.
	Waiting int64 `json:"waiting"`
}
