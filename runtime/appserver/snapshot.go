package appserver

import (
	"sort"
	"time"

	"github.com/stackctl/stackctl/runtime/stats"
)

// AppInfo is a snapshot of one app.
type AppInfo struct {
	Name        string       `json:"name"`
	State       AppState     `json:"state"`
	Socket      string       `json:"socket"`
	Module      string       `json:"module"`
	Workers     []WorkerInfo `json:"workers"`
	Desired     int          `json:"desired"` // configured worker slots
	Threads     int          `json:"threads"`
	Requests    uint64       `json:"requests"`
	Errors      uint64       `json:"errors"`     // 5xx responses
	Exceptions  uint64       `json:"exceptions"` // requests whose app raised
	Restarts    int          `json:"restarts"`
	LoadError   string       `json:"load_error,omitempty"` // traceback while in crash loop
	LastError   string       `json:"last_error,omitempty"`
	ListenQueue uint32       `json:"listen_queue"`
}

// WorkerInfo is a snapshot of one worker process (or of a slot waiting for
// one, with PID 0).
type WorkerInfo struct {
	ID           int            `json:"id"`
	PID          int            `json:"pid"`
	State        WorkerState    `json:"state"`
	Requests     uint64         `json:"requests"`      // by this process
	SlotRequests uint64         `json:"slot_requests"` // by every process of this slot
	Exceptions   uint64         `json:"exceptions"`
	BytesSent    uint64         `json:"tx"`
	BusyTime     time.Duration  `json:"running_time"`
	Current      []RequestInfo  `json:"current,omitempty"`
	RSS          uint64         `json:"rss_bytes"`
	VMS          uint64         `json:"vms_bytes"`
	CPUPercent   float64        `json:"cpu_percent"`
	Threads      int32          `json:"threads"`
	FDs          int32          `json:"fds"`
	Restarts     int            `json:"restarts"`
	LastExit     string         `json:"last_exit"`
	LastExitAt   time.Time      `json:"last_exit_at,omitzero"`
	RetryAt      time.Time      `json:"retry_at,omitzero"` // a backed-off respawn is due
	StartedAt    time.Time      `json:"started_at,omitzero"`
	ReadyAt      time.Time      `json:"ready_at,omitzero"`
	Latency      LatencySummary `json:"latency"`
	// Histogram is every request duration since the process started, for
	// windows (Sub) and merges; not serialised.
	Histogram stats.HistogramSnapshot `json:"-"`
	// Crashes counts the slot's unplanned exits.
	Crashes int `json:"crashes"`
}

// RequestInfo is a request a worker thread is running.
type RequestInfo struct {
	Thread  int       `json:"thread"`
	Request string    `json:"request"` // "METHOD URI"
	Since   time.Time `json:"since"`
}

// LatencySummary summarises a worker's request durations.
type LatencySummary struct {
	Count uint64        `json:"count"`
	Mean  time.Duration `json:"mean"`
	P50   time.Duration `json:"p50"`
	P99   time.Duration `json:"p99"`
	Max   time.Duration `json:"max"`
}

// Snapshot returns every app, sorted by name.
func (s *Server) Snapshot() []AppInfo {
	s.mu.Lock()
	apps := make([]*App, 0, len(s.apps))
	for _, a := range s.apps {
		apps = append(apps, a)
	}
	s.mu.Unlock()
	out := make([]AppInfo, 0, len(apps))
	for _, a := range apps {
		out = append(out, a.Snapshot())
	}
	sortApps(out)
	return out
}

// Snapshot returns the app's state and every worker's.
func (a *App) Snapshot() AppInfo {
	a.mu.Lock()
	defer a.mu.Unlock()
	info := AppInfo{
		Name:       a.name,
		Socket:     a.spec.cfg.Socket,
		Module:     a.spec.cfg.Module,
		Desired:    len(a.slots),
		Threads:    a.spec.cfg.Threads,
		Requests:   a.requests,
		Errors:     a.failures,
		Exceptions: a.exc,
		Restarts:   a.restarts,
		LoadError:  a.loadError,
		LastError:  a.lastError,
	}
	if a.spec.listener != nil {
		info.ListenQueue, _ = listenQueue(a.spec.listener)
	}
	ready := 0
	for _, s := range a.slots {
		if s.cur == nil && s.next == nil {
			info.Workers = append(info.Workers, WorkerInfo{
				ID: s.id, State: StateStarting, SlotRequests: s.requests, Restarts: s.restarts, Crashes: s.crashes,
				LastExit: s.lastExit, LastExitAt: s.exitAt, RetryAt: s.retryAt,
			})
		}
	}
	for _, w := range a.workersLocked() {
		w.board.read(w.cores)
		state := w.state
		if state == StateIdle && w.anyBusy() {
			state = StateBusy
		}
		wi := WorkerInfo{
			ID: w.id, PID: w.pid, State: state, Requests: w.requests, Exceptions: w.exceptions,
			BytesSent: w.bytesSent, BusyTime: w.busyTime, RSS: w.sample.RSS, VMS: w.sample.VMS,
			CPUPercent: w.sample.CPUPercent, Threads: w.sample.Threads, FDs: w.sample.FDs,
			StartedAt: w.started, ReadyAt: w.readyAt,
		}
		if s := a.slotLocked(w.id); s != nil {
			wi.SlotRequests, wi.Restarts, wi.LastExit, wi.LastExitAt, wi.Crashes = s.requests, s.restarts, s.lastExit, s.exitAt, s.crashes
			if s.cur == w && w.state != StateStarting {
				ready++
			}
		}
		for i, c := range w.cores {
			if c.busy {
				wi.Current = append(wi.Current, RequestInfo{Thread: i, Request: c.request, Since: c.since})
			}
		}
		h := w.latency.Snapshot()
		wi.Histogram = h
		wi.Latency = LatencySummary{Count: h.Count(), Mean: h.Mean(), P50: h.Quantile(0.5), P99: h.Quantile(0.99), Max: h.Max()}
		info.Workers = append(info.Workers, wi)
	}
	switch {
	case a.stopping:
		info.State = AppStopping
	case a.loadError != "" && ready == 0:
		info.State = AppCrashLoop
	case ready == 0:
		info.State = AppStarting
	default:
		info.State = AppRunning
	}
	sortWorkers(info.Workers)
	return info
}

func sortApps(as []AppInfo) {
	sort.Slice(as, func(i, j int) bool { return as[i].Name < as[j].Name })
}

func sortWorkers(ws []WorkerInfo) {
	sort.SliceStable(ws, func(i, j int) bool { return ws[i].ID < ws[j].ID })
}
