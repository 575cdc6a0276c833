// Package stack owns one running configuration of stackctl: it starts the
// apps and the proxy from a config.Config, applies a new configuration as a
// diff, collects per-second statistics, serves the control API and stops
// everything. It is the only package that knows how the runtimes fit
// together; the binary drives it.
package stack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stackctl/stackctl/runtime/appserver"
	"github.com/stackctl/stackctl/runtime/config"
	"github.com/stackctl/stackctl/runtime/control"
	"github.com/stackctl/stackctl/runtime/logs"
	"github.com/stackctl/stackctl/runtime/proxy"
	"github.com/stackctl/stackctl/runtime/stats"
)

// Options configure a Stack beyond its config file.
type Options struct {
	// Version is reported in snapshots.
	Version string
	// OnEvent, if set, sees every event as it is logged. It must not block.
	OnEvent func(stats.Event)
	// LogLines is the in-memory capacity of each log buffer. Default 5000.
	LogLines int
	// NoControl skips the control socket (tests of the runtime alone).
	NoControl bool
	// Logger receives the proxy's error log (upstream failures, in the
	// spirit of nginx's error.log); nil discards it.
	Logger *slog.Logger
}

// Stack is one running configuration.
type Stack struct {
	opts    Options
	logs    *logs.Store
	events  *stats.Events
	apps    *appserver.Server
	proxy   *proxy.Proxy // nil when the configuration has no [proxy]
	control *control.Server
	ends    *endpoints
	coll    *collector
	started time.Time

	applyMu sync.Mutex // one configuration change at a time
	mu      sync.Mutex
	cfg     *config.Config
	crashes map[string]int // unplanned worker exits per app

	stop chan struct{}
	wg   sync.WaitGroup
}

// Start starts everything cfg describes and the control socket. If anything
// fails to start, what was started is stopped again and the error returned.
func Start(ctx context.Context, cfg *config.Config, opts Options) (*Stack, error) {
	if opts.LogLines <= 0 {
		opts.LogLines = 5000
	}
	if err := os.MkdirAll(cfg.RunDir, 0o755); err != nil {
		return nil, fmt.Errorf("run dir: %w", err)
	}
	s := &Stack{
		opts:    opts,
		cfg:     cfg,
		logs:    logs.NewStore(filepath.Join(cfg.RunDir, "logs"), opts.LogLines),
		events:  stats.NewEvents(10000),
		coll:    newCollector(),
		started: time.Now(),
		crashes: map[string]int{},
		stop:    make(chan struct{}),
	}
	srv, err := appserver.New(appserver.Options{RunDir: cfg.RunDir, Logs: s.logs, OnEvent: s.appEvent})
	if err != nil {
		s.logs.Close()
		return nil, err
	}
	s.apps = srv
	for _, ac := range cfg.Apps {
		if _, err := srv.AddApp(ac); err != nil {
			s.Stop(ctx)
			return nil, err
		}
	}
	// The proxy comes after the apps: its app: servers are their lanes.
	if cfg.Proxy != nil {
		p, err := proxy.New(cfg, s.proxyOptions())
		if err != nil {
			s.Stop(ctx)
			return nil, err // the proxy's errors name it
		}
		s.proxy = p
	}
	if !opts.NoControl {
		cs, err := control.Listen(cfg.Control.Socket, s)
		if err != nil {
			s.Stop(ctx)
			return nil, err
		}
		s.control = cs
	}
	if cfg.Control.Metrics != "" || cfg.Control.Stats != "" {
		ends, err := startEndpoints(cfg.Control.Metrics, cfg.Control.Stats, s.Snapshot)
		if err != nil {
			s.Stop(ctx)
			return nil, err
		}
		s.ends = ends
	}
	s.wg.Add(2)
	go s.tick()
	go s.watchTouch()
	s.Record(stats.Event{Kind: stats.KindConfigApplied, Source: "stackctl", Message: fmt.Sprintf("stack started from %s (%d apps)", cfg.File, len(cfg.Apps))})
	return s, nil
}

// tick collects statistics once a second.
func (s *Stack) tick() {
	defer s.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			var ps *proxy.Snapshot
			if p := s.frontDoor(); p != nil {
				snap := p.Snapshot()
				ps = &snap
			}
			s.coll.collect(now, s.apps.Snapshot(), ps)
		}
	}
}

func (s *Stack) proxyOptions() proxy.Options {
	return proxy.Options{
		Apps: func(name string) proxy.LaneSource {
			if a := s.apps.App(name); a != nil {
				return a
			}
			return nil
		},
		Logs:    s.logs,
		OnEvent: s.Record,
		Logger:  s.opts.Logger,
	}
}

func (s *Stack) appEvent(e appserver.Event) {
	ev := stats.Event{Time: e.Time, Kind: e.Kind, Source: e.App, Worker: e.Worker, Message: e.Message}
	if e.PID != 0 {
		ev.Fields = map[string]string{"pid": strconv.Itoa(e.PID)}
	}
	if e.Kind == appserver.EventCrashed {
		s.mu.Lock()
		s.crashes[e.App]++
		s.mu.Unlock()
	}
	s.Record(ev)
}

// Record adds an event to the event log (and the OnEvent hook).
func (s *Stack) Record(e stats.Event) {
	s.events.Add(e)
	if s.opts.OnEvent != nil {
		if e.Time.IsZero() {
			e.Time = time.Now()
		}
		s.opts.OnEvent(e)
	}
}

// WaitReady waits until every app has all its workers ready. An app in a
// crash loop ends the wait with its load error.
func (s *Stack) WaitReady(ctx context.Context) error {
	var errs []error
	for _, name := range s.apps.Apps() {
		if a := s.apps.App(name); a != nil {
			if err := a.WaitReady(ctx); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// Config returns the running configuration.
func (s *Stack) Config() *config.Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg
}

// Apps is the app server.
func (s *Stack) Apps() *appserver.Server { return s.apps }

// Events is the event log.
func (s *Stack) Events() *stats.Events { return s.events }

// Log returns a log buffer by source.
func (s *Stack) Log(source string) (*logs.Buffer, bool) { return s.logs.Lookup(source) }

// frontDoor returns the running proxy, or nil.
func (s *Stack) frontDoor() *proxy.Proxy {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proxy
}

// ReopenLogs reopens every log file (after logrotate moved them).
func (s *Stack) ReopenLogs() error {
	return s.logs.ReopenAll()
}

// Stop stops the stack gracefully: workers finish their requests in flight;
// whatever outlives ctx is killed. No process or goroutine of the stack
// survives it.
func (s *Stack) Stop(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
	}
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	s.wg.Wait()
	var errs []error
	s.ends.close()
	if s.control != nil {
		errs = append(errs, s.control.Close())
	}
	// The front door closes first: in-flight requests finish on workers
	// that are still there.
	if p := s.frontDoor(); p != nil {
		errs = append(errs, p.Close(ctx))
	}
	if s.apps != nil {
		errs = append(errs, s.apps.Close(ctx))
	}
	s.events.Close()
	errs = append(errs, s.logs.Close())
	return errors.Join(errs...)
}

// Apply changes the running stack to cfg, as a diff: new apps start,
// removed apps stop, changed apps chain-reload (code or settings) or scale
// (worker count), unchanged apps are untouched. It returns what changed.
func (s *Stack) Apply(ctx context.Context, cfg *config.Config) ([]string, error) {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	old := s.Config()
	if cfg.RunDir != old.RunDir {
		return nil, fmt.Errorf("run_dir cannot change while the stack runs (%s -> %s); restart stackctl", old.RunDir, cfg.RunDir)
	}
	if cfg.Control.Socket != old.Control.Socket {
		return nil, fmt.Errorf("control.socket cannot change while the stack runs; restart stackctl")
	}
	var changes []string
	var errs []error
	// New apps first, so routes that name them find them.
	for _, ac := range cfg.Apps {
		if old.App(ac.Name) == nil {
			if _, err := s.apps.AddApp(ac); err != nil {
				errs = append(errs, err)
				continue
			}
			changes = append(changes, fmt.Sprintf("app %s: added (%d workers)", ac.Name, ac.Workers))
		}
	}
	for _, ac := range cfg.Apps {
		prev := old.App(ac.Name)
		if prev == nil {
			continue
		}
		what := describeAppChange(*prev, ac)
		if what == "" {
			continue
		}
		if err := s.apps.UpdateApp(ctx, ac); err != nil {
			errs = append(errs, fmt.Errorf("app %s: %w", ac.Name, err))
			continue
		}
		changes = append(changes, "app "+ac.Name+": "+what)
	}
	// The proxy's new routes and upstreams, after the apps they may name
	// and before the apps they no longer name stop.
	if perr := s.applyProxy(old, cfg); perr != nil {
		errs = append(errs, perr)
	} else if what := describeProxyChange(old, cfg); what != "" {
		changes = append(changes, what)
	}
	for _, ac := range old.Apps {
		if cfg.App(ac.Name) == nil {
			if err := s.apps.RemoveApp(ctx, ac.Name); err != nil {
				errs = append(errs, err)
				continue
			}
			changes = append(changes, "app "+ac.Name+": removed")
		}
	}
	s.mu.Lock()
	s.cfg = cfg
	s.mu.Unlock()
	err := errors.Join(errs...)
	if err != nil {
		s.Record(stats.Event{Kind: stats.KindConfigRejected, Source: "stackctl", Message: "configuration applied with errors: " + err.Error()})
		return changes, err
	}
	msg := "configuration applied: no changes"
	if len(changes) > 0 {
		msg = "configuration applied: " + strings.Join(changes, "; ")
	}
	s.Record(stats.Event{Kind: stats.KindConfigApplied, Source: "stackctl", Message: msg})
	return changes, nil
}

// applyProxy starts, swaps or stops the proxy for cfg.
func (s *Stack) applyProxy(old, cfg *config.Config) error {
	p := s.frontDoor()
	switch {
	case p == nil && cfg.Proxy == nil:
		return nil
	case p == nil:
		np, err := proxy.New(cfg, s.proxyOptions())
		if err != nil {
			return err
		}
		s.mu.Lock()
		s.proxy = np
		s.mu.Unlock()
		return nil
	case cfg.Proxy == nil:
		s.mu.Lock()
		s.proxy = nil
		s.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return p.Close(ctx)
	default:
		return p.Apply(cfg)
	}
}

// describeProxyChange says what changed in the proxy's configuration.
func describeProxyChange(old, cfg *config.Config) string {
	switch {
	case old.Proxy == nil && cfg.Proxy == nil:
		return ""
	case old.Proxy == nil:
		return "proxy: started on " + strings.Join(cfg.Proxy.Listen, ", ")
	case cfg.Proxy == nil:
		return "proxy: stopped"
	}
	a, _ := json.Marshal([]any{old.Proxy, old.Upstreams})
	b, _ := json.Marshal([]any{cfg.Proxy, cfg.Upstreams})
	if string(a) == string(b) {
		return ""
	}
	return "proxy: routes, upstreams and listeners swapped"
}

// describeAppChange says what applying new to an app running old costs, or
// "" when nothing changes.
func describeAppChange(old, new config.App) string {
	var what []string
	var fields []string
	for _, f := range []struct {
		name    string
		changed bool
	}{
		{"module", old.Module != new.Module}, {"chdir", old.Chdir != new.Chdir}, {"python", old.Python != new.Python},
		{"threads", old.Threads != new.Threads}, {"socket", old.Socket != new.Socket || old.SocketMode != new.SocketMode || old.Listen != new.Listen},
		{"env", fmt.Sprint(old.Env) != fmt.Sprint(new.Env)}, {"pythonpath", strings.Join(old.PythonPath, ":") != strings.Join(new.PythonPath, ":")},
		{"max_requests", old.MaxRequests != new.MaxRequests}, {"buffer_size", old.BufferSize != new.BufferSize},
	} {
		if f.changed {
			fields = append(fields, f.name)
		}
	}
	if len(fields) > 0 {
		what = append(what, "chain reload ("+strings.Join(fields, ", ")+" changed)")
	}
	if old.Workers != new.Workers {
		what = append(what, fmt.Sprintf("scaled %d -> %d workers", old.Workers, new.Workers))
	}
	var limits []string
	if old.MaxRSS != new.MaxRSS {
		limits = append(limits, "max_rss")
	}
	if old.RequestTimeout != new.RequestTimeout {
		limits = append(limits, "request_timeout")
	}
	if old.GracePeriod != new.GracePeriod || old.StartTimeout != new.StartTimeout {
		limits = append(limits, "timeouts")
	}
	if len(limits) > 0 {
		what = append(what, strings.Join(limits, ", ")+" updated")
	}
	return strings.Join(what, ", ")
}

// ReloadFile reloads the configuration file and applies it; an invalid file
// changes nothing and its errors are returned.
func (s *Stack) ReloadFile(ctx context.Context) ([]string, error) {
	file := s.Config().File
	cfg, err := config.Load(file)
	if err != nil {
		s.Record(stats.Event{Kind: stats.KindConfigRejected, Source: "stackctl", Message: "configuration rejected, nothing changed:\n" + err.Error()})
		return nil, err
	}
	return s.Apply(ctx, cfg)
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
