package stack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stackctl/stackctl/runtime/control"
)

// metricsCollector exposes a snapshot as Prometheus metrics, computed at
// scrape time (nothing is kept between scrapes).
type metricsCollector struct {
	snap func() *control.Snapshot
}

var (
	descAppRequests    = prometheus.NewDesc("stackctl_app_requests_total", "Requests completed by an app's workers.", []string{"app"}, nil)
	descAppErrors      = prometheus.NewDesc("stackctl_app_errors_total", "5xx responses of an app.", []string{"app"}, nil)
	descAppExceptions  = prometheus.NewDesc("stackctl_app_exceptions_total", "Requests whose app raised.", []string{"app"}, nil)
	descAppRestarts    = prometheus.NewDesc("stackctl_app_restarts_total", "Worker processes replaced, for any reason.", []string{"app"}, nil)
	descAppCrashes     = prometheus.NewDesc("stackctl_app_crashes_total", "Worker exits nobody asked for.", []string{"app"}, nil)
	descAppWorkers     = prometheus.NewDesc("stackctl_app_workers", "Worker processes by state.", []string{"app", "state"}, nil)
	descAppDesired     = prometheus.NewDesc("stackctl_app_workers_desired", "Configured worker slots.", []string{"app"}, nil)
	descAppUp          = prometheus.NewDesc("stackctl_app_up", "1 when the app has a ready worker, 0 while starting or in crash loop.", []string{"app"}, nil)
	descAppP99         = prometheus.NewDesc("stackctl_app_request_duration_p99_seconds", "p99 request duration over the last 10 seconds.", []string{"app"}, nil)
	descAppQueue       = prometheus.NewDesc("stackctl_app_listen_queue", "Connections waiting in the app socket's accept queue (TCP sockets).", []string{"app"}, nil)
	descWorkerRequests = prometheus.NewDesc("stackctl_worker_requests_total", "Requests completed by a worker process.", []string{"app", "worker"}, nil)
	descWorkerRSS      = prometheus.NewDesc("stackctl_worker_rss_bytes", "Resident memory of a worker process.", []string{"app", "worker"}, nil)
	descWorkerCPU      = prometheus.NewDesc("stackctl_worker_cpu_percent", "CPU use of a worker process over the last sample (100 = one core).", []string{"app", "worker"}, nil)
	descWorkerRestarts = prometheus.NewDesc("stackctl_worker_restarts_total", "Processes a worker slot has had beyond the first.", []string{"app", "worker"}, nil)
	descProxyRequests  = prometheus.NewDesc("stackctl_proxy_requests_total", "Requests answered by the proxy, by status class.", []string{"class"}, nil)
	descProxyActive    = prometheus.NewDesc("stackctl_proxy_active_requests", "Requests in flight in the proxy.", nil, nil)
	descServerUp       = prometheus.NewDesc("stackctl_upstream_server_up", "1 when an upstream server takes requests.", []string{"upstream", "server", "state"}, nil)
	descServerRequests = prometheus.NewDesc("stackctl_upstream_server_requests_total", "Requests sent to an upstream server.", []string{"upstream", "server"}, nil)
	descServerFails    = prometheus.NewDesc("stackctl_upstream_server_fails_total", "Failed tries against an upstream server.", []string{"upstream", "server"}, nil)
)

func (m *metricsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descAppRequests, descAppErrors, descAppExceptions, descAppRestarts, descAppCrashes,
		descAppWorkers, descAppDesired, descAppUp, descAppP99, descAppQueue, descWorkerRequests, descWorkerRSS, descWorkerCPU,
		descWorkerRestarts, descProxyRequests, descProxyActive, descServerUp, descServerRequests, descServerFails} {
		ch <- d
	}
}

func (m *metricsCollector) Collect(ch chan<- prometheus.Metric) {
	s := m.snap()
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, a := range s.Apps {
		counter(descAppRequests, float64(a.Requests), a.Name)
		counter(descAppErrors, float64(a.Errors), a.Name)
		counter(descAppExceptions, float64(a.Exceptions), a.Name)
		counter(descAppRestarts, float64(a.Restarts), a.Name)
		counter(descAppCrashes, float64(a.Unstable), a.Name)
		gauge(descAppDesired, float64(a.Desired), a.Name)
		up := 0.0
		if a.State == "running" {
			up = 1
		}
		gauge(descAppUp, up, a.Name)
		gauge(descAppP99, a.P99Ms/1000, a.Name)
		gauge(descAppQueue, float64(a.ListenQueue), a.Name)
		states := map[string]int{"starting": 0, "idle": 0, "busy": 0, "stopping": 0}
		for _, w := range a.Workers {
			states[w.State]++
			if w.PID == 0 {
				continue
			}
			id := strconv.Itoa(w.ID)
			counter(descWorkerRequests, float64(w.Requests), a.Name, id)
			gauge(descWorkerRSS, float64(w.RSSBytes), a.Name, id)
			gauge(descWorkerCPU, w.CPUPercent, a.Name, id)
			counter(descWorkerRestarts, float64(w.Restarts), a.Name, id)
		}
		for st, n := range states {
			gauge(descAppWorkers, float64(n), a.Name, st)
		}
	}
	if s.Proxy.Enabled {
		for class, v := range map[string]uint64{"1xx": s.Proxy.Status.S1xx, "2xx": s.Proxy.Status.S2xx, "3xx": s.Proxy.Status.S3xx, "4xx": s.Proxy.Status.S4xx, "5xx": s.Proxy.Status.S5xx} {
			counter(descProxyRequests, float64(v), class)
		}
		gauge(descProxyActive, float64(s.Proxy.Active))
	}
	for _, u := range s.Upstreams {
		for _, sv := range u.Servers {
			up := 0.0
			if sv.State == "up" {
				up = 1
			}
			gauge(descServerUp, up, u.Name, sv.Address, sv.State)
			counter(descServerRequests, float64(sv.Requests), u.Name, sv.Address)
			counter(descServerFails, float64(sv.Fails), u.Name, sv.Address)
		}
	}
}

// endpoints are the optional TCP listeners: Prometheus metrics and the
// uWSGI-style stats server.
type endpoints struct {
	metrics *http.Server
	stats   net.Listener
	done    chan struct{}
}

func startEndpoints(metricsAddr, statsAddr string, snap func() *control.Snapshot) (*endpoints, error) {
	e := &endpoints{done: make(chan struct{})}
	var started []func()
	if metricsAddr != "" {
		ln, err := net.Listen("tcp", metricsAddr)
		if err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
		reg := prometheus.NewRegistry()
		reg.MustRegister(&metricsCollector{snap: snap})
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		e.metrics = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		started = append(started, func() { e.metrics.Serve(ln) })
	}
	if statsAddr != "" {
		ln, err := net.Listen("tcp", statsAddr)
		if err != nil {
			if e.metrics != nil {
				e.metrics.Close()
			}
			return nil, fmt.Errorf("stats: %w", err)
		}
		e.stats = ln
		started = append(started, func() { serveUWSGIStats(ln, snap) })
	}
	n := len(started)
	finished := make(chan struct{}, n)
	for _, run := range started {
		go func() { run(); finished <- struct{}{} }()
	}
	go func() {
		for i := 0; i < n; i++ {
			<-finished
		}
		close(e.done)
	}()
	return e, nil
}

func (e *endpoints) close() {
	if e == nil {
		return
	}
	if e.metrics != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		e.metrics.Shutdown(ctx)
		cancel()
	}
	if e.stats != nil {
		e.stats.Close()
	}
	<-e.done
}

// uwsgiStats is the document uWSGI's stats server writes, where the fields
// overlap, so uwsgitop and exporters built for it read stackctl.
type uwsgiStats struct {
	Version     string        `json:"version"`
	ListenQueue uint32        `json:"listen_queue"`
	PID         int           `json:"pid"`
	UID         int           `json:"uid"`
	GID         int           `json:"gid"`
	CWD         string        `json:"cwd"`
	Workers     []uwsgiWorker `json:"workers"`
}

type uwsgiWorker struct {
	ID           int     `json:"id"`
	PID          int     `json:"pid"`
	App          string  `json:"app"` // stackctl: which app (uWSGI runs one per instance)
	Accepting    int     `json:"accepting"`
	Requests     uint64  `json:"requests"`
	Exceptions   uint64  `json:"exceptions"`
	Status       string  `json:"status"`
	RSS          uint64  `json:"rss"`
	VSZ          uint64  `json:"vsz"`
	RunningTime  uint64  `json:"running_time"` // µs in requests
	LastSpawn    int64   `json:"last_spawn"`
	RespawnCount int     `json:"respawn_count"`
	TX           uint64  `json:"tx"`
	AvgRT        uint64  `json:"avg_rt"` // µs
	Apps         []any   `json:"apps"`
	Cores        []any   `json:"cores"`
	CPUPercent   float64 `json:"cpu_percent"`
}

// serveUWSGIStats writes one JSON document to each connection and closes it,
// as uWSGI's --stats does.
func serveUWSGIStats(ln net.Listener, snap func() *control.Snapshot) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		json.NewEncoder(c).Encode(uwsgiStatsOf(snap()))
		c.Close()
	}
}

func uwsgiStatsOf(s *control.Snapshot) uwsgiStats {
	cwd, _ := os.Getwd()
	out := uwsgiStats{Version: "stackctl " + s.Version, PID: os.Getpid(), UID: os.Getuid(), GID: os.Getgid(), CWD: cwd, Workers: []uwsgiWorker{}}
	for _, a := range s.Apps {
		out.ListenQueue += a.ListenQueue
		for _, w := range a.Workers {
			st := w.State
			if st == "starting" || st == "stopping" {
				st = "cheap"
			}
			accepting := 0
			if w.State == "idle" || w.State == "busy" {
				accepting = 1
			}
			uw := uwsgiWorker{
				ID: w.ID, PID: w.PID, App: a.Name, Accepting: accepting, Requests: w.Requests, Exceptions: w.Exceptions,
				Status: st, RSS: w.RSSBytes, VSZ: w.VMSBytes, RunningTime: uint64(w.BusyMs * 1000), RespawnCount: w.Restarts, TX: w.TxBytes, AvgRT: uint64(w.AvgMs * 1000),
				CPUPercent: w.CPUPercent, Apps: []any{}, Cores: []any{},
			}
			if !w.StartedAt.IsZero() {
				uw.LastSpawn = w.StartedAt.Unix()
			}
			out.Workers = append(out.Workers, uw)
		}
	}
	return out
}
