// Package stack owns one running configuration of stackctl: it starts the
// apps (and, later, the proxy) from a config.Config and stops them. It is the
// only package that knows how the runtimes fit together; the binary and the
// control API drive it.
package stack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/stackctl/stackctl/runtime/appserver"
	"github.com/stackctl/stackctl/runtime/config"
	"github.com/stackctl/stackctl/runtime/logs"
	"github.com/stackctl/stackctl/runtime/stats"
)

// Options configure a Stack beyond its config file.
type Options struct {
	// OnEvent, if set, sees every event as it happens (after it is in the
	// event log). It must not block.
	OnEvent func(stats.Event)
	// LogLines is the in-memory capacity of each log buffer. Default 5000.
	LogLines int
}

// Stack is one running configuration.
type Stack struct {
	opts   Options
	logs   *logs.Store
	events *stats.Events
	apps   *appserver.Server

	mu  sync.Mutex
	cfg *config.Config
}

// Start starts everything cfg describes. If any app fails to start, what
// was started is stopped again and the error returned.
func Start(ctx context.Context, cfg *config.Config, opts Options) (*Stack, error) {
	if opts.LogLines <= 0 {
		opts.LogLines = 5000
	}
	if err := os.MkdirAll(cfg.RunDir, 0o755); err != nil {
		return nil, fmt.Errorf("run dir: %w", err)
	}
	s := &Stack{
		opts:   opts,
		cfg:    cfg,
		logs:   logs.NewStore(filepath.Join(cfg.RunDir, "logs"), opts.LogLines),
		events: stats.NewEvents(10000),
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
	return s, nil
}

func (s *Stack) appEvent(e appserver.Event) {
	ev := stats.Event{Time: e.Time, Kind: e.Kind, Source: e.App, Worker: e.Worker, Message: e.Message}
	if e.PID != 0 {
		ev.Fields = map[string]string{"pid": fmt.Sprint(e.PID)}
	}
	s.events.Add(ev)
	if s.opts.OnEvent != nil {
		s.opts.OnEvent(ev)
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

// Logs is the log store.
func (s *Stack) Logs() *logs.Store { return s.logs }

// Events is the event log.
func (s *Stack) Events() *stats.Events { return s.events }

// ReopenLogs reopens every log file (after logrotate moved them).
func (s *Stack) ReopenLogs() error { return s.logs.ReopenAll() }

// Stop stops the stack gracefully: workers finish their requests in flight;
// whatever outlives ctx is killed.
func (s *Stack) Stop(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
	}
	var err error
	if s.apps != nil {
		err = s.apps.Close(ctx)
	}
	s.events.Close()
	return errors.Join(err, s.logs.Close())
}
