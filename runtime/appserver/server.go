// Package appserver is stackctl's uWSGI: a master that supervises real
// Python worker processes running WSGI applications.
//
// Each app has a listening socket opened once by the master and inherited by
// every worker (pre-fork, as in uWSGI and gunicorn), where front ends such
// as nginx speak the uwsgi protocol; and each worker thread also serves a
// private kept-alive lane (see uwsgi.Lane) that stackctl's own proxy uses.
// Workers report to the master on a status pipe; their output is captured
// line by line. The master respawns, recycles (max requests, max RSS,
// request timeout), restarts, chain-reloads and scales them.
package appserver

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stackctl/stackctl/runtime/config"
	"github.com/stackctl/stackctl/runtime/logs"
	"github.com/stackctl/stackctl/runtime/stats"
)

//go:embed pyworker/stackctl_worker.py
var workerProgram []byte

// Options configure a Server.
type Options struct {
	// RunDir receives the worker program. Required.
	RunDir string
	// Logs receives every worker's stdout and stderr, one buffer (and
	// file) per app. Nil discards the output.
	Logs *logs.Store
	// OnEvent is called for every lifecycle event. It must not block.
	OnEvent func(Event)
	// SampleInterval is how often worker memory and CPU are sampled (and
	// max_rss enforced). Default 1s.
	SampleInterval time.Duration
	// SpeedupsDir keeps the compiled C speedups of the workers (see
	// config.App.Speedups). Default: stackctl in the user's cache directory.
	SpeedupsDir string
}

// Server is the master of every app.
type Server struct {
	opts     Options
	script   string
	speedups *speedups
	sampler  *stats.Sampler
	seq      atomic.Uint64

	mu     sync.Mutex
	apps   map[string]*App
	closed bool

	stop     chan struct{}
	loopDone chan struct{}
}

// New prepares a server: it writes the worker program into the run
// directory and starts the supervision ticker. Close stops it.
func New(opts Options) (*Server, error) {
	if opts.RunDir == "" {
		return nil, errors.New("appserver: RunDir is required")
	}
	if opts.SampleInterval <= 0 {
		opts.SampleInterval = time.Second
	}
	if opts.SpeedupsDir == "" {
		opts.SpeedupsDir = defaultSpeedupsDir(opts.RunDir)
	}
	if err := os.MkdirAll(opts.RunDir, 0o755); err != nil {
		return nil, fmt.Errorf("appserver: run dir: %w", err)
	}
	script := filepath.Join(opts.RunDir, "stackctl_worker.py")
	tmp := script + ".tmp"
	if err := os.WriteFile(tmp, workerProgram, 0o644); err != nil {
		return nil, fmt.Errorf("appserver: write worker program: %w", err)
	}
	if err := os.Rename(tmp, script); err != nil {
		return nil, fmt.Errorf("appserver: write worker program: %w", err)
	}
	s := &Server{
		opts:     opts,
		script:   script,
		speedups: newSpeedups(opts.SpeedupsDir),
		sampler:  stats.NewSampler(stats.SamplerOptions{}),
		apps:     map[string]*App{},
		stop:     make(chan struct{}),
		loopDone: make(chan struct{}),
	}
	go s.loop()
	return s, nil
}

// AddApp opens the app's socket and starts its workers. It returns once they
// are spawned; use App.WaitReady to wait for them to import the app.
func (s *Server) AddApp(cfg config.App) (*App, error) {
	so, err := s.speedupsFor(cfg)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("appserver: closed")
	}
	if _, dup := s.apps[cfg.Name]; dup {
		return nil, fmt.Errorf("app %s already exists", cfg.Name)
	}
	network, addr := cfg.SocketNetwork()
	l, err := openSocket(network, addr, cfg.Listen, cfg.SocketFileMode())
	if err != nil {
		return nil, fmt.Errorf("app %s: open socket %s: %w", cfg.Name, cfg.Socket, err)
	}
	a := &App{
		srv:          s,
		name:         cfg.Name,
		spec:         spawnSpec{cfg: cfg, listener: l, script: s.script, speedups: so},
		retiring:     map[*worker]struct{}{},
		lanesChanged: make(chan struct{}),
	}
	a.mu.Lock()
	for id := 1; id <= cfg.Workers; id++ {
		sl := &slot{id: id}
		a.slots = append(a.slots, sl)
		a.respawnLocked(sl)
	}
	a.publishLanesLocked()
	a.mu.Unlock()
	s.apps[cfg.Name] = a
	s.event(Event{Kind: EventAppStarted, App: cfg.Name, Message: fmt.Sprintf("app %s started on %s with %d workers", cfg.Name, cfg.Socket, cfg.Workers)})
	return a, nil
}

// App returns the app named name, or nil.
func (s *Server) App(name string) *App {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.apps[name]
}

// Apps returns the names of all apps, sorted.
func (s *Server) Apps() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.apps))
	for n := range s.apps {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (s *Server) app(name string) (*App, error) {
	if a := s.App(name); a != nil {
		return a, nil
	}
	return nil, fmt.Errorf("no app named %q", name)
}

// UpdateApp applies a changed configuration to a running app (see
// App.update for what each change costs). The app keeps running as it was
// if the change fails.
func (s *Server) UpdateApp(ctx context.Context, cfg config.App) error {
	a, err := s.app(cfg.Name)
	if err != nil {
		return err
	}
	return a.update(ctx, cfg)
}

// RemoveApp stops an app's workers gracefully and closes its socket.
func (s *Server) RemoveApp(ctx context.Context, name string) error {
	s.mu.Lock()
	a := s.apps[name]
	delete(s.apps, name)
	s.mu.Unlock()
	if a == nil {
		return fmt.Errorf("no app named %q", name)
	}
	a.stop(ctx)
	s.event(Event{Kind: EventAppStopped, App: name, Message: fmt.Sprintf("app %s stopped", name)})
	return nil
}

// RestartWorker gracefully replaces one worker of an app.
func (s *Server) RestartWorker(ctx context.Context, app string, id int) error {
	a, err := s.app(app)
	if err != nil {
		return err
	}
	return a.RestartWorker(ctx, id)
}

// ChainReload replaces an app's workers one at a time.
func (s *Server) ChainReload(ctx context.Context, app string) error {
	a, err := s.app(app)
	if err != nil {
		return err
	}
	return a.ChainReload(ctx)
}

// Scale sets an app's number of workers.
func (s *Server) Scale(ctx context.Context, app string, n int) error {
	a, err := s.app(app)
	if err != nil {
		return err
	}
	return a.Scale(ctx, n)
}

// Close stops every app gracefully (killing what outlives ctx) and the
// supervision ticker. No worker process or goroutine of the server
// survives it.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	apps := make([]*App, 0, len(s.apps))
	for _, a := range s.apps {
		apps = append(apps, a)
	}
	s.apps = map[string]*App{}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, a := range apps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.stop(ctx)
		}()
	}
	wg.Wait()
	close(s.stop)
	<-s.loopDone
	return nil
}

// loop enforces request timeouts (every 100 ms) and samples memory and CPU
// (every SampleInterval), recycling workers over max_rss.
func (s *Server) loop() {
	defer close(s.loopDone)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	lastSample := time.Time{}
	var pids []int32
	var ws []*worker
	for {
		select {
		case <-s.stop:
			return
		case now := <-tick.C:
			s.mu.Lock()
			apps := make([]*App, 0, len(s.apps))
			for _, a := range s.apps {
				apps = append(apps, a)
			}
			s.mu.Unlock()
			for _, a := range apps {
				a.check(now)
			}
			if now.Sub(lastSample) < s.opts.SampleInterval {
				continue
			}
			lastSample = now
			pids, ws = pids[:0], ws[:0]
			for _, a := range apps {
				a.mu.Lock()
				for _, w := range a.workersLocked() {
					pids = append(pids, int32(w.pid))
					ws = append(ws, w)
				}
				a.mu.Unlock()
			}
			samples := s.sampler.Sample(pids)
			byPID := make(map[int32]stats.ProcStat, len(samples))
			for _, st := range samples {
				byPID[st.PID] = st
			}
			for _, w := range ws {
				st, ok := byPID[int32(w.pid)]
				if !ok {
					continue
				}
				a := w.app
				a.mu.Lock()
				w.sample = st
				limit := int64(w.spec.cfg.MaxRSS)
				over := overRSS(st.RSS, limit) && w.state != StateStopping && w.state != StateStarting
				a.mu.Unlock()
				if over {
					a.recycle(w, fmt.Sprintf("max_rss: %s > %s", config.Size(st.RSS), config.Size(limit)))
				}
			}
		}
	}
}

// speedupsFor returns the compiled speedups cfg's workers load, or "".
func (s *Server) speedupsFor(cfg config.App) (string, error) {
	so, err := s.speedups.forApp(cfg, func(msg string) { s.line(cfg.Name, 0, "stackctl", msg) })
	if err != nil {
		return "", fmt.Errorf("app %s: %w", cfg.Name, err)
	}
	return so, nil
}

func (s *Server) event(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	if s.opts.OnEvent != nil {
		s.opts.OnEvent(e)
	}
	s.line(e.App, e.Worker, "stackctl", e.Message)
}

// output captures one stream of a worker into the app's log.
func (s *Server) output(app string, worker int, stream string, r io.Reader) {
	if s.opts.Logs == nil {
		io.Copy(io.Discard, r)
		return
	}
	b, err := s.opts.Logs.Buffer(app)
	if err != nil {
		io.Copy(io.Discard, r)
		return
	}
	logs.Capture(r, b, worker, stream)
}

// line adds one line of stackctl's own to an app's log.
func (s *Server) line(app string, worker int, stream, text string) {
	if s.opts.Logs == nil || app == "" {
		return
	}
	if b, err := s.opts.Logs.Buffer(app); err == nil {
		for _, l := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
			b.Append(worker, stream, l)
		}
	}
}
