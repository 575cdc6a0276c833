package uitest

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/stackctl/stackctl/runtime/control"
)

// Now is the fixed "now" of the demo data.
var Now = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

// DemoConfig is the demo stack's configuration text.
const DemoConfig = `# stackctl demo
[proxy]
listen = ["127.0.0.1:8080", "[::1]:8080"]

[[proxy.route]]
path = "/static/"
static = "./public"

[[proxy.route]]
path = "/"
upstream = "blog"

[[upstream]]
name = "blog"
balance = "least_conn"
servers = ["app:blog", "uwsgi://10.0.0.5:3031 weight=2"]

[[app]]
name = "blog"
module = "blog.wsgi:application"
workers = 8
max_requests = 5000
`

// series makes a deterministic wavy series of n points around base.
func series(seed, n int, base, amp float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		x := float64(i+seed*7) / 5
		v := base + amp*math.Sin(x) + amp/2*math.Sin(x*2.3+float64(seed))
		out[i] = math.Max(0, math.Round(v*10)/10)
	}
	return out
}

// History is a deterministic per-second history of n points.
func History(seed, n int) control.History {
	return control.History{
		RPS:    series(seed, n, 40, 15),
		P99Ms:  series(seed+1, n, 30, 12),
		Errors: series(seed+2, n, 0.3, 0.5),
		RSS:    series(seed+3, n, 48<<20, 4<<20),
	}
}

var exits = []string{"", "max requests (5000)", "memory limit (256MiB)", "request timeout (30s)", "crashed: exit status 1", ""}

var paths = []string{"/", "/posts/42", "/api/v1/comments?page=3", "/feed.xml", "/search?q=wsgi+prefork", "/admin/login"}

// Demo is a deterministic snapshot at Now: a proxy, an app "blog" with
// workers workers, a small app "api" with one worker backing off, an app
// "legacy" in a crash loop, two upstreams with servers in every state, and
// recent events.
func Demo(workers int) *control.Snapshot {
	now := Now
	s := &control.Snapshot{
		Time:      now,
		Version:   "0.9.0",
		Config:    "/etc/stackctl/stackctl.toml",
		RunDir:    "/run/stackctl",
		StartedAt: now.Add(-3*time.Hour - 12*time.Minute - 5*time.Second),
		Proxy: control.Proxy{
			Enabled:  true,
			Listen:   []string{"127.0.0.1:8080", "[::1]:8080"},
			Requests: 1_234_567,
			Active:   7,
			Conns:    42,
			Status:   control.Statuses{S2xx: 1_200_000, S3xx: 20_000, S4xx: 14_000, S5xx: 567},
			RPS:      1234.5,
			P50Ms:    3.2,
			P99Ms:    48.7,
			History: control.History{
				RPS:    series(1, 120, 1200, 300),
				P99Ms:  series(2, 120, 45, 15),
				Errors: series(3, 120, 1, 1.5),
			},
		},
	}
	blog := control.App{
		Name: "blog", State: "running", Module: "blog.wsgi:application", Socket: "127.0.0.1:3031",
		Desired: workers, Threads: 1, Requests: 1_180_000, Errors: 512, Exceptions: 48,
		Restarts: 23, Unstable: 2, RPS: 1180.2, P99Ms: 47.9, ListenQueue: 3,
		History: History(5, 120),
	}
	var rss uint64
	for i := 1; i <= workers; i++ {
		w := control.Worker{
			ID: i, PID: 40_000 + i*13, State: "idle",
			Requests:   uint64(5000 - (i*397)%4900),
			RPS:        float64((i*37)%90) / 2,
			AvgMs:      3 + float64((i*17)%40)/4,
			P99Ms:      20 + float64((i*29)%80),
			Exceptions: uint64(i % 3),
			TxBytes:    uint64(i) * 7_654_321,
			RSSBytes:   uint64(40<<20) + uint64(i)*1_337_000,
			VMSBytes:   uint64(180<<20) + uint64(i)*2_000_000,
			CPUPercent: float64((i*23)%100) / 3,
			Threads:    1,
			FDs:        9 + i%4,
			Restarts:   i % 4,
			LastExit:   exits[i%len(exits)],
			StartedAt:  now.Add(-time.Duration(i*7+3) * time.Minute),
		}
		switch {
		case i%3 == 0:
			w.State = "busy"
			w.Current = []control.Request{{Request: "GET " + paths[i%len(paths)], Since: now.Add(-time.Duration(i*37) * time.Millisecond)}}
			blog.Busy++
		case i == 4:
			w.State = "starting"
			w.Requests, w.RPS, w.StartedAt = 0, 0, now.Add(-2*time.Second)
		case i == 7:
			w.State = "stopping"
		}
		rss += w.RSSBytes
		blog.Workers = append(blog.Workers, w)
	}
	blog.RSSBytes = rss
	api := control.App{
		Name: "api", State: "running", Module: "api:app", Socket: "unix:/run/stackctl/api.sock",
		Desired: 3, Threads: 4, Requests: 54_321, Errors: 55, Restarts: 5, Unstable: 4,
		RPS: 54.3, P99Ms: 120.5, RSSBytes: 2 * 61 << 20, History: History(9, 120),
		Workers: []control.Worker{
			{ID: 1, PID: 41_001, State: "busy", Requests: 30_000, RPS: 30.1, AvgMs: 12, P99Ms: 118, RSSBytes: 61 << 20, CPUPercent: 41.5, Threads: 4, FDs: 14, StartedAt: now.Add(-95 * time.Minute),
				Current: []control.Request{{Thread: 1, Request: "POST /v1/orders", Since: now.Add(-1200 * time.Millisecond)}, {Thread: 2, Request: "GET /v1/items/7", Since: now.Add(-40 * time.Millisecond)}}},
			{ID: 2, PID: 41_002, State: "idle", Requests: 24_321, RPS: 24.2, AvgMs: 11, P99Ms: 122, RSSBytes: 61 << 20, CPUPercent: 22.0, Threads: 4, FDs: 14, Restarts: 1, LastExit: "memory limit (256MiB)", StartedAt: now.Add(-41 * time.Minute)},
			{ID: 3, PID: 0, State: "starting", Restarts: 4, LastExit: "crashed: exit status 1", RetryAt: now.Add(4 * time.Second)},
		},
	}
	legacy := control.App{
		Name: "legacy", State: "crash-loop", Module: "legacy:application", Socket: "127.0.0.1:3033",
		Desired: 2, Restarts: 17, Unstable: 17,
		LoadError: "Traceback (most recent call last):\n  File \"legacy.py\", line 3, in <module>\nModuleNotFoundError: No module named 'flask_sqlalchemy'",
		LastError: "exit status 1",
		Workers: []control.Worker{
			{ID: 1, State: "starting", Restarts: 9, LastExit: "crashed: exit status 1", RetryAt: now.Add(8 * time.Second)},
			{ID: 2, State: "starting", Restarts: 8, LastExit: "crashed: exit status 1", RetryAt: now.Add(3 * time.Second)},
		},
	}
	s.Apps = []control.App{blog, api, legacy}
	s.Upstreams = []control.Upstream{
		{Name: "blog", Balance: "least_conn", Servers: []control.UpstreamServer{
			{Address: "app:blog", State: "up", Weight: 1, Active: 5, Requests: 1_100_000, Fails: 3, P99Ms: 47.1, LastCheck: "200 OK in 2.1ms", CheckedAt: now.Add(-1500 * time.Millisecond)},
			{Address: "10.0.0.5:3031", State: "drain", Weight: 2, Active: 1, Requests: 80_000, Fails: 0, P99Ms: 52.3, LastCheck: "200 OK in 3.4ms", CheckedAt: now.Add(-800 * time.Millisecond)},
			{Address: "10.0.0.6:3031", State: "down", Reason: "marked down", Weight: 1, Requests: 12_000, Fails: 0, LastCheck: "-"},
			{Address: "10.0.0.7:3031", State: "unhealthy", Reason: "3 failed checks", Weight: 1, Requests: 9_000, Fails: 41, P99Ms: 3000, LastCheck: "connect: connection refused", CheckedAt: now.Add(-2 * time.Second)},
		}},
		{Name: "api", Balance: "round_robin", Servers: []control.UpstreamServer{
			{Address: "app:api", State: "up", Weight: 1, Active: 2, Requests: 54_321, Fails: 1, P99Ms: 120.5, LastCheck: "200 OK in 9.8ms", CheckedAt: now.Add(-400 * time.Millisecond)},
		}},
	}
	evs := []struct {
		ago          time.Duration
		kind, source string
		worker       int
		msg          string
	}{
		{55 * time.Minute, "worker.spawned", "blog", 3, "worker 3 spawned (pid 40039)"},
		{40 * time.Minute, "worker.recycled", "blog", 5, "max requests (5000) reached; replaced gracefully"},
		{31 * time.Minute, "config.applied", "stack", 0, "configuration applied: app blog: workers 6 -> 8"},
		{22 * time.Minute, "worker.killed", "api", 2, "memory limit (256MiB): rss 271MiB"},
		{14 * time.Minute, "upstream.drain", "blog", 0, "server 10.0.0.5:3031 draining"},
		{9 * time.Minute, "worker.timeout", "blog", 9, "request timeout (30s): GET /search?q=wsgi+prefork"},
		{5 * time.Minute, "health.unhealthy", "blog", 0, "server 10.0.0.7:3031 unhealthy: connect: connection refused"},
		{3 * time.Minute, "app.crash-loop", "legacy", 0, "crash loop: ModuleNotFoundError: No module named 'flask_sqlalchemy'"},
		{90 * time.Second, "worker.crashed", "api", 3, "exit status 1; respawn in 8s"},
		{20 * time.Second, "command", "blog", 0, "app blog: chain reload started"},
	}
	for i, e := range evs {
		s.Events = append(s.Events, control.Event{Seq: uint64(i + 1), Time: now.Add(-e.ago), Kind: e.kind, Source: e.source, Worker: e.worker, Message: e.msg})
	}
	return s
}

// LogLines is n deterministic log lines of an app, one second apart before
// Now, from its first workers workers.
func LogLines(app string, n, workers int) []control.LogLine {
	out := make([]control.LogLine, n)
	for i := range out {
		w := i%workers + 1
		l := control.LogLine{
			Seq: uint64(i + 1), Time: Now.Add(-time.Duration(n-i) * time.Second),
			Source: app, Worker: w, Stream: "stdout",
		}
		switch i % 7 {
		case 3:
			l.Stream = "stderr"
			l.Text = "WARNING slow query: SELECT * FROM posts WHERE id = " + strconv.Itoa(i) + " (312 ms)"
		case 5:
			l.Stream = "stderr"
			l.Text = "Traceback (most recent call last): KeyError: 'user'"
		default:
			l.Text = fmt.Sprintf("INFO %s %s 200 %d bytes in %d ms", []string{"GET", "POST", "GET", "GET"}[i%4], paths[i%len(paths)], 512+i*7%4096, 1+i*13%90)
		}
		out[i] = l
	}
	return out
}

// FillLogs appends LogLines(app, n, workers) to the stack's log of app.
// The lines' times are the stack's (now), not the demo's.
func (s *Stack) FillLogs(app string, n, workers int) {
	b := s.Buffer(app)
	for _, l := range LogLines(app, n, workers) {
		b.Append(l.Worker, l.Stream, l.Text)
	}
}
