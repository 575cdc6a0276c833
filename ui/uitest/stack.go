// Package uitest is a fake stack for the console's tests: deterministic data
// behind the real control server, so tests drive the real control client
// (and its NDJSON streams) without Python, a proxy or a supervisor.
package uitest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/stackctl/stackctl/runtime/control"
	"github.com/stackctl/stackctl/runtime/logs"
	"github.com/stackctl/stackctl/runtime/stats"
)

// Stack is a fake running stack. It implements control.Backend; Start puts
// a control server in front of it.
type Stack struct {
	mu      sync.Mutex
	snap    *control.Snapshot
	hist    map[string]control.History
	cfg     control.ConfigText
	calls   []string
	logs    map[string]*logs.Buffer
	logCap  int
	events  *stats.Events
	applied []string

	// Validate replaces the default validator (every non-blank line is a
	// comment, a [table] or key = value).
	Validate func(text string) []control.ConfigError

	dir string
	srv *control.Server
	cli *control.Client
}

var _ control.Backend = (*Stack)(nil)

// Start serves snap through a control server on a fresh socket. logCap is
// each log's ring size in the fake stack (0: 10000).
func Start(snap *control.Snapshot, logCap int) (*Stack, error) {
	dir, err := os.MkdirTemp("", "uit")
	if err != nil {
		return nil, err
	}
	s := &Stack{
		snap:   snap,
		hist:   map[string]control.History{},
		logs:   map[string]*logs.Buffer{},
		logCap: logCap,
		events: stats.NewEvents(1000),
		dir:    dir,
		cfg:    control.ConfigText{File: "/etc/stackctl/stackctl.toml", Text: DemoConfig},
	}
	for _, e := range snap.Events {
		s.events.Add(stats.Event{Time: e.Time, Kind: e.Kind, Source: e.Source, Worker: e.Worker, Message: e.Message})
	}
	s.srv, err = control.Listen(filepath.Join(dir, "control.sock"), s)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s.cli = control.NewClient(s.srv.Socket())
	return s, nil
}

// Client is a control client of the stack.
func (s *Stack) Client() *control.Client { return s.cli }

// Close stops the server and removes the socket.
func (s *Stack) Close() {
	s.cli.Close()
	s.srv.Close()
	s.mu.Lock()
	for _, b := range s.logs {
		b.Close()
	}
	s.mu.Unlock()
	s.events.Close()
	os.RemoveAll(s.dir)
}

// SetSnapshot replaces the state the stack reports.
func (s *Stack) SetSnapshot(snap *control.Snapshot) {
	s.mu.Lock()
	s.snap = snap
	s.mu.Unlock()
}

// SetHistory sets one worker's history.
func (s *Stack) SetHistory(app string, id int, h control.History) {
	s.mu.Lock()
	s.hist[app+"/"+strconv.Itoa(id)] = h
	s.mu.Unlock()
}

// SetConfig sets the running configuration.
func (s *Stack) SetConfig(file, text string) {
	s.mu.Lock()
	s.cfg = control.ConfigText{File: file, Text: text}
	s.mu.Unlock()
}

// Buffer returns a log source's buffer, creating it.
func (s *Stack) Buffer(source string) *logs.Buffer {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.logs[source]
	if !ok {
		b, _ = logs.NewBuffer(source, s.logCap, "")
		s.logs[source] = b
	}
	return b
}

// Calls returns the commands the stack received, in order ("restart blog 3").
func (s *Stack) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

func (s *Stack) call(format string, args ...any) {
	s.mu.Lock()
	s.calls = append(s.calls, fmt.Sprintf(format, args...))
	s.mu.Unlock()
}

// Snapshot implements control.Backend; the recent events come from the
// event log, as in the real stack.
func (s *Stack) Snapshot() *control.Snapshot {
	s.mu.Lock()
	c := *s.snap
	s.mu.Unlock()
	c.Events = nil
	for _, e := range s.events.Recent(20) {
		c.Events = append(c.Events, control.WireEvent(e))
	}
	return &c
}

// WorkerHistory implements control.Backend.
func (s *Stack) WorkerHistory(app string, id int) (control.History, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h, ok := s.hist[app+"/"+strconv.Itoa(id)]; ok {
		return h, nil
	}
	for _, a := range s.snap.Apps {
		if a.Name != app {
			continue
		}
		for _, w := range a.Workers {
			if w.ID == id {
				return History(id, 60), nil
			}
		}
	}
	return control.History{}, fmt.Errorf("no worker %s/%d", app, id)
}

// RestartWorker implements control.Backend.
func (s *Stack) RestartWorker(_ context.Context, app string, id int) (string, error) {
	s.call("restart %s %d", app, id)
	if s.app(app) == nil {
		return "", fmt.Errorf("no app %q", app)
	}
	return fmt.Sprintf("worker %s/%d: graceful restart started", app, id), nil
}

// ReloadApp implements control.Backend.
func (s *Stack) ReloadApp(_ context.Context, app string) (string, error) {
	s.call("reload %s", app)
	if s.app(app) == nil {
		return "", fmt.Errorf("no app %q", app)
	}
	return "app " + app + ": chain reload started", nil
}

// Scale implements control.Backend: it changes the desired count.
func (s *Stack) Scale(_ context.Context, app string, workers int) (string, error) {
	s.call("scale %s %d", app, workers)
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.snap.Apps {
		if s.snap.Apps[i].Name == app {
			s.snap.Apps[i].Desired = workers
			return fmt.Sprintf("app %s: scaling to %d workers", app, workers), nil
		}
	}
	return "", fmt.Errorf("no app %q", app)
}

// SetServerState implements control.Backend.
func (s *Stack) SetServerState(upstream, server, state string) (string, error) {
	s.call("state %s %s %s", upstream, server, state)
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.snap.Upstreams {
		u := &s.snap.Upstreams[i]
		if u.Name != upstream {
			continue
		}
		for j := range u.Servers {
			if u.Servers[j].Address == server {
				u.Servers[j].State = state
				return fmt.Sprintf("upstream %s: server %s is %s", upstream, server, state), nil
			}
		}
	}
	return "", fmt.Errorf("no server %s in upstream %s", server, upstream)
}

// SetWeight implements control.Backend.
func (s *Stack) SetWeight(upstream, server string, weight int) (string, error) {
	s.call("weight %s %s %d", upstream, server, weight)
	return fmt.Sprintf("upstream %s: server %s weight %d", upstream, server, weight), nil
}

// ConfigText implements control.Backend.
func (s *Stack) ConfigText() control.ConfigText {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg
}

// ValidateConfig implements control.Backend.
func (s *Stack) ValidateConfig(text []byte) []control.ConfigError {
	s.call("validate")
	if s.Validate != nil {
		return s.Validate(string(text))
	}
	return validate(string(text))
}

// ApplyConfig implements control.Backend.
func (s *Stack) ApplyConfig(_ context.Context, text []byte) control.ApplyResult {
	s.call("apply")
	if errs := s.ValidateConfig(text); len(errs) > 0 {
		return control.ApplyResult{Errors: errs, Message: "invalid configuration; nothing changed"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg.Text = string(text)
	return control.ApplyResult{OK: true, Changes: []string{"configuration replaced"}, Message: "configuration applied"}
}

// Log implements control.Backend.
func (s *Stack) Log(source string) (*logs.Buffer, bool) {
	if source == "access" || s.app(source) != nil {
		return s.Buffer(source), true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.logs[source]
	return b, ok
}

// Events implements control.Backend.
func (s *Stack) Events() *stats.Events { return s.events }

// Record implements control.Backend.
func (s *Stack) Record(e stats.Event) { s.events.Add(e) }

func (s *Stack) app(name string) *control.App {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.snap.Apps {
		if s.snap.Apps[i].Name == name {
			return &s.snap.Apps[i]
		}
	}
	return nil
}

// validate is the fake's configuration check: a line is blank, a comment,
// a [table], a [[table]] or key = value.
func validate(text string) []control.ConfigError {
	var errs []control.ConfigError
	for i, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case l == "", strings.HasPrefix(l, "#"), strings.HasPrefix(l, "[") && strings.HasSuffix(l, "]"):
		case strings.Contains(l, "="):
			if strings.TrimSpace(l[:strings.Index(l, "=")]) == "" {
				errs = append(errs, control.ConfigError{File: "stackctl.toml", Line: i + 1, Msg: "missing key before ="})
			}
		default:
			errs = append(errs, control.ConfigError{File: "stackctl.toml", Line: i + 1, Msg: fmt.Sprintf("expected key = value, got %q", l)})
		}
	}
	return errs
}
