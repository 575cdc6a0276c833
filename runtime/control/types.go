// Package control is stackctl's control API: JSON over HTTP on a unix socket
// (mode 0600), served by a running stack and used by the CLI and the
// console. This file holds the wire types, which are the contract between
// them; the server and the typed client are in server.go and client.go.
//
// Endpoints (all under /v1):
//
//	GET  /snapshot                                 Snapshot
//	GET  /stream?interval=1s                       NDJSON of StreamMessage
//	GET  /logs/{source}?n=100&follow=1             NDJSON of LogBatch
//	GET  /events?n=100&follow=1                    NDJSON of EventBatch
//	GET  /apps/{app}/workers/{id}/history          History of one worker
//	POST /apps/{app}/workers/{id}/restart          Result
//	POST /apps/{app}/reload                        Result (chain reload)
//	POST /apps/{app}/scale        {"workers": N}   Result
//	POST /upstreams/{u}/servers/{addr}/state {"state": "up"|"drain"|"down"}  Result
//	POST /upstreams/{u}/servers/{addr}/weight {"weight": N}                 Result
//	GET  /config                                   ConfigText
//	POST /config/validate   body: TOML             ValidateResult
//	POST /config/apply      body: TOML, or empty to reload the file from disk   ApplyResult
package control

import "time"

// Snapshot is everything about a running stack in one document
// (`stackctl status --json`).
type Snapshot struct {
	Time      time.Time  `json:"time"`
	Version   string     `json:"version"`
	Config    string     `json:"config"` // the configuration file
	RunDir    string     `json:"run_dir"`
	StartedAt time.Time  `json:"started_at"`
	Proxy     Proxy      `json:"proxy"`
	Apps      []App      `json:"apps"`
	Upstreams []Upstream `json:"upstreams"`
	Events    []Event    `json:"events,omitempty"` // the most recent, oldest first
}

// Proxy is the HTTP front door.
type Proxy struct {
	Enabled  bool     `json:"enabled"`
	Listen   []string `json:"listen"`
	Requests uint64   `json:"requests"` // since start
	Active   int      `json:"active"`   // requests in flight
	Conns    int      `json:"connections"`
	Status   Statuses `json:"status"`
	RPS      float64  `json:"rps"`    // over the last second
	P50Ms    float64  `json:"p50_ms"` // over the last 10 s
	P99Ms    float64  `json:"p99_ms"`
	History  History  `json:"history"`
}

// Statuses counts responses by class.
type Statuses struct {
	S1xx uint64 `json:"1xx"`
	S2xx uint64 `json:"2xx"`
	S3xx uint64 `json:"3xx"`
	S4xx uint64 `json:"4xx"`
	S5xx uint64 `json:"5xx"`
}

// App is one application and its workers.
type App struct {
	Name        string   `json:"name"`
	State       string   `json:"state"` // starting, running, crash-loop, stopping
	Module      string   `json:"module"`
	Socket      string   `json:"socket"`
	Desired     int      `json:"desired"` // configured workers
	Threads     int      `json:"threads"`
	Busy        int      `json:"busy"` // workers running a request now
	Requests    uint64   `json:"requests"`
	Errors      uint64   `json:"errors"`     // 5xx
	Exceptions  uint64   `json:"exceptions"` // requests whose app raised
	Restarts    int      `json:"restarts"`
	Unstable    int      `json:"unstable_restarts"` // crashes (not planned stops)
	RSSBytes    uint64   `json:"rss_bytes"`         // all workers
	RPS         float64  `json:"rps"`
	P99Ms       float64  `json:"p99_ms"`
	ListenQueue uint32   `json:"listen_queue"`
	LoadError   string   `json:"load_error,omitempty"` // the traceback while in crash loop
	LastError   string   `json:"last_error,omitempty"`
	Workers     []Worker `json:"workers"`
	History     History  `json:"history"`
}

// Worker is one worker process (or a slot waiting for one, with PID 0).
type Worker struct {
	ID         int       `json:"id"`
	PID        int       `json:"pid"`
	State      string    `json:"state"` // starting, idle, busy, stopping
	Requests   uint64    `json:"requests"`
	RPS        float64   `json:"rps"`
	AvgMs      float64   `json:"avg_ms"`
	P99Ms      float64   `json:"p99_ms"`
	Exceptions uint64    `json:"exceptions"`
	TxBytes    uint64    `json:"tx_bytes"`
	BusyMs     float64   `json:"busy_ms"` // time spent in requests (uWSGI's running_time)
	RSSBytes   uint64    `json:"rss_bytes"`
	VMSBytes   uint64    `json:"vms_bytes"`
	CPUPercent float64   `json:"cpu_percent"`
	Threads    int       `json:"threads"`
	FDs        int       `json:"fds"`
	Restarts   int       `json:"restarts"`
	LastExit   string    `json:"last_exit"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	RetryAt    time.Time `json:"retry_at,omitzero"` // a backed-off respawn is due
	Current    []Request `json:"current,omitempty"` // what its threads are running
}

// Request is a request a worker thread is running.
type Request struct {
	Thread  int       `json:"thread"`
	Request string    `json:"request"` // "METHOD URI"
	Since   time.Time `json:"since"`
}

// Upstream is a pool of servers behind the proxy.
type Upstream struct {
	Name    string           `json:"name"`
	Balance string           `json:"balance"`
	Servers []UpstreamServer `json:"servers"`
}

// UpstreamServer is one server of an upstream.
type UpstreamServer struct {
	Address   string    `json:"address"`
	State     string    `json:"state"` // up, down, drain, unhealthy
	Reason    string    `json:"reason,omitempty"`
	Weight    int       `json:"weight"`
	Backup    bool      `json:"backup,omitempty"`
	Active    int       `json:"active"`
	Requests  uint64    `json:"requests"`
	Fails     uint64    `json:"fails"`
	P99Ms     float64   `json:"p99_ms"`
	LastCheck string    `json:"last_check,omitempty"` // the last active health check's result
	CheckedAt time.Time `json:"checked_at,omitzero"`
}

// History holds per-second points, oldest first, the newest second last
// (a whole second: the one in progress is not included).
type History struct {
	RPS    []float64 `json:"rps,omitempty"`
	P99Ms  []float64 `json:"p99_ms,omitempty"`
	Errors []float64 `json:"errors,omitempty"` // 5xx per second
	RSS    []float64 `json:"rss_bytes,omitempty"`
}

// Event is one entry of the stack's event log.
type Event struct {
	Seq     uint64            `json:"seq"`
	Time    time.Time         `json:"time"`
	Kind    string            `json:"kind"`
	Source  string            `json:"source"`
	Worker  int               `json:"worker,omitempty"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
}

// LogLine is one line of an app's output, the access log, or the events.
type LogLine struct {
	Seq    uint64    `json:"seq"`
	Time   time.Time `json:"time"`
	Source string    `json:"source"`
	Worker int       `json:"worker,omitempty"`
	Stream string    `json:"stream"` // stdout, stderr, stackctl, access
	Text   string    `json:"text"`
}

// LogBatch is one message of a log follow: lines in order, and how many were
// skipped before them because the reader fell behind.
type LogBatch struct {
	Lines []LogLine `json:"lines"`
	Lost  uint64    `json:"lost,omitempty"`
	// Buffer identifies where the lines come from; when it changes, Seq
	// numbers start again (a reload moved the access log to a file of its
	// own, or stackctl restarted). 0 for the events.
	Buffer uint64 `json:"buffer,omitempty"`
}

// EventBatch is one message of an event follow.
type EventBatch struct {
	Events []Event `json:"events"`
	Lost   uint64  `json:"lost,omitempty"`
}

// StreamMessage is one message of /v1/stream: a snapshot at each interval,
// events as they happen (batched).
type StreamMessage struct {
	Snapshot *Snapshot `json:"snapshot,omitempty"`
	Events   []Event   `json:"events,omitempty"`
	Lost     uint64    `json:"lost,omitempty"`
}

// Result is the answer to a command.
type Result struct {
	OK      bool   `json:"ok"`
	Message string `json:"message"` // what happened, for a status line
}

// ConfigText is the running configuration.
type ConfigText struct {
	File string `json:"file"`
	Text string `json:"text"`
}

// ConfigError is one problem in a configuration.
type ConfigError struct {
	File string `json:"file"`
	Line int    `json:"line,omitempty"`
	Key  string `json:"key,omitempty"`
	Msg  string `json:"message"`
}

// ValidateResult says whether a configuration is valid.
type ValidateResult struct {
	OK     bool          `json:"ok"`
	Errors []ConfigError `json:"errors,omitempty"`
}

// ApplyResult is the answer to applying a configuration: either what
// changed, or the errors (and nothing changed).
type ApplyResult struct {
	OK      bool          `json:"ok"`
	Changes []string      `json:"changes,omitempty"` // "app blog: chain reload (module changed)", ...
	Errors  []ConfigError `json:"errors,omitempty"`
	Message string        `json:"message"`
}

// Error is the body of a non-2xx answer.
type Error struct {
	Error string `json:"error"`
}
