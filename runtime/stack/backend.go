package stack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/stackctl/stackctl/runtime/appserver"
	"github.com/stackctl/stackctl/runtime/config"
	"github.com/stackctl/stackctl/runtime/control"
)

// The Stack is what the control API serves.
var _ control.Backend = (*Stack)(nil)

// Snapshot returns everything in one document.
func (s *Stack) Snapshot() *control.Snapshot {
	cfg := s.Config()
	now := time.Now()
	snap := &control.Snapshot{
		Time:      now,
		Version:   s.opts.Version,
		Config:    cfg.File,
		RunDir:    cfg.RunDir,
		StartedAt: s.started,
	}
	s.mu.Lock()
	crashes := make(map[string]int, len(s.crashes))
	for k, v := range s.crashes {
		crashes[k] = v
	}
	s.mu.Unlock()
	s.coll.mu.Lock()
	for _, a := range s.apps.Snapshot() {
		app := control.App{
			Name: a.Name, State: string(a.State), Module: a.Module, Socket: a.Socket, Desired: a.Desired,
			Threads: a.Threads, Requests: a.Requests, Errors: a.Errors, Exceptions: a.Exceptions,
			Restarts: a.Restarts, Unstable: crashes[a.Name], ListenQueue: a.ListenQueue, LoadError: a.LoadError, LastError: a.LastError,
		}
		if as := s.coll.apps[a.Name]; as != nil {
			app.RPS, app.P99Ms = as.lastRPS, as.lastP99
			app.History = control.History{RPS: values(as.rps, now), P99Ms: values(as.p99, now), Errors: values(as.errors, now), RSS: values(as.rss, now)}
		}
		for _, w := range a.Workers {
			cw := control.Worker{
				ID: w.ID, PID: w.PID, State: string(w.State), Requests: w.Requests, Exceptions: w.Exceptions,
				TxBytes: w.BytesSent, BusyMs: ms(w.BusyTime), RSSBytes: w.RSS, VMSBytes: w.VMS, CPUPercent: w.CPUPercent, Threads: int(w.Threads), FDs: int(w.FDs),
				Restarts: w.Restarts, LastExit: w.LastExit, StartedAt: w.StartedAt, RetryAt: w.RetryAt,
				AvgMs: ms(w.Latency.Mean), P99Ms: ms(w.Latency.P99),
			}
			if ws := s.coll.workers[workerKey{a.Name, w.ID}]; ws != nil && ws.pid == w.PID {
				cw.RPS = ws.lastRPS
			}
			for _, c := range w.Current {
				cw.Current = append(cw.Current, control.Request{Thread: c.Thread, Request: c.Request, Since: c.Since})
			}
			if w.State == appserver.StateBusy {
				app.Busy++
			}
			if w.State != appserver.StateStopping {
				app.RSSBytes += w.RSS
			}
			app.Workers = append(app.Workers, cw)
		}
		snap.Apps = append(snap.Apps, app)
	}
	if p := s.frontDoor(); p != nil {
		ps := p.Snapshot()
		snap.Proxy = control.Proxy{
			Enabled: true, Listen: p.Addrs(), Requests: ps.Requests, Active: int(ps.Active), Conns: int(ps.Connections),
			Status: control.Statuses{S1xx: ps.Status.X1xx, S2xx: ps.Status.X2xx, S3xx: ps.Status.X3xx, S4xx: ps.Status.X4xx, S5xx: ps.Status.X5xx},
			RPS:    s.coll.proxy.lastRPS, P50Ms: s.coll.proxy.lastP50, P99Ms: s.coll.proxy.lastP99,
			History: control.History{RPS: values(s.coll.proxy.rps, now), P99Ms: values(s.coll.proxy.p99, now), Errors: values(s.coll.proxy.errors, now)},
		}
		for _, u := range ps.Upstreams {
			cu := control.Upstream{Name: u.Name, Balance: u.Balance}
			for _, sv := range u.Servers {
				cs := control.UpstreamServer{
					Address: sv.Address, State: sv.State, Weight: sv.Weight, Backup: sv.Backup,
					Active: int(sv.Active), Requests: sv.Requests, Fails: sv.Fails,
				}
				if sv.State != "up" && sv.Admin != "up" {
					cs.Reason = "admin: " + sv.Admin
				} else if sv.State != "up" {
					cs.Reason = sv.Health
				}
				if ss := s.coll.servers[serverKey{u.Name, sv.Address}]; ss != nil {
					cs.P99Ms = ss.lastP99
				}
				if sv.LastCheck != nil {
					cs.LastCheck, cs.CheckedAt = sv.LastCheck.String(), sv.LastCheck.Time
				}
				cu.Servers = append(cu.Servers, cs)
			}
			snap.Upstreams = append(snap.Upstreams, cu)
		}
	}
	s.coll.mu.Unlock()
	for _, e := range s.events.Recent(20) {
		snap.Events = append(snap.Events, control.WireEvent(e))
	}
	return snap
}

// WorkerHistory returns a worker slot's per-second history.
func (s *Stack) WorkerHistory(app string, id int) (control.History, error) {
	s.coll.mu.Lock()
	defer s.coll.mu.Unlock()
	ws := s.coll.workers[workerKey{app, id}]
	if ws == nil {
		return control.History{}, fmt.Errorf("no history for worker %d of %s", id, app)
	}
	now := time.Now()
	return control.History{RPS: values(ws.rps, now), P99Ms: values(ws.p99, now), RSS: values(ws.rss, now)}, nil
}

// RestartWorker gracefully replaces one worker.
func (s *Stack) RestartWorker(ctx context.Context, app string, id int) (string, error) {
	before := s.pidOf(app, id)
	if err := s.apps.RestartWorker(ctx, app, id); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s worker %d restarted (pid %d -> %d)", app, id, before, s.pidOf(app, id)), nil
}

func (s *Stack) pidOf(app string, id int) int {
	a := s.apps.App(app)
	if a == nil {
		return 0
	}
	for _, w := range a.Snapshot().Workers {
		if w.ID == id && w.State != appserver.StateStopping {
			return w.PID
		}
	}
	return 0
}

// ReloadApp chain-reloads an app.
func (s *Stack) ReloadApp(ctx context.Context, app string) (string, error) {
	start := time.Now()
	if err := s.apps.ChainReload(ctx, app); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s chain-reloaded in %s", app, time.Since(start).Round(time.Millisecond)), nil
}

// Scale sets an app's worker count (until the next configuration change).
func (s *Stack) Scale(ctx context.Context, app string, n int) (string, error) {
	a := s.apps.App(app)
	if a == nil {
		return "", fmt.Errorf("no app named %q", app)
	}
	before := a.Snapshot().Desired
	if err := a.Scale(ctx, n); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s scaled from %d to %d workers", app, before, n), nil
}

// SetServerState sets an upstream server's administrative state.
func (s *Stack) SetServerState(upstream, server, state string) (string, error) {
	p := s.frontDoor()
	if p == nil {
		return "", errors.New("the proxy is not running (no [proxy] in the configuration)")
	}
	if err := p.SetServerState(upstream, server, state); err != nil {
		return "", err
	}
	return fmt.Sprintf("upstream %s: server %s is %s", upstream, server, state), nil
}

// SetWeight sets an upstream server's weight.
func (s *Stack) SetWeight(upstream, server string, weight int) (string, error) {
	p := s.frontDoor()
	if p == nil {
		return "", errors.New("the proxy is not running (no [proxy] in the configuration)")
	}
	if err := p.SetWeight(upstream, server, weight); err != nil {
		return "", err
	}
	return fmt.Sprintf("upstream %s: server %s has weight %d", upstream, server, weight), nil
}

// ConfigText returns the running configuration's text.
func (s *Stack) ConfigText() control.ConfigText {
	cfg := s.Config()
	return control.ConfigText{File: cfg.File, Text: string(cfg.Source)}
}

// parseText parses a configuration text as if it were the running file.
func (s *Stack) parseText(text []byte) (*config.Config, error) {
	return config.Parse(s.Config().File, text)
}

// ValidateConfig checks a configuration text without applying it.
func (s *Stack) ValidateConfig(text []byte) []control.ConfigError {
	_, err := s.parseText(text)
	return configErrors(err)
}

func configErrors(err error) []control.ConfigError {
	if err == nil {
		return nil
	}
	var es config.Errors
	if errors.As(err, &es) {
		out := make([]control.ConfigError, len(es))
		for i, e := range es {
			out[i] = control.ConfigError{File: e.File, Line: e.Line, Key: e.Key, Msg: e.Msg}
		}
		return out
	}
	return []control.ConfigError{{Msg: err.Error()}}
}

// ApplyConfig applies a configuration text, or reloads the file when text is
// empty. A valid text that is applied is also written to the configuration
// file, so the file and the running stack agree.
func (s *Stack) ApplyConfig(ctx context.Context, text []byte) control.ApplyResult {
	var (
		changes []string
		err     error
	)
	if len(text) == 0 {
		changes, err = s.ReloadFile(ctx)
		if err != nil {
			if ce := configErrors(err); len(ce) > 0 && isConfigError(err) {
				return control.ApplyResult{Errors: ce, Message: "configuration rejected; nothing changed"}
			}
			return control.ApplyResult{Changes: changes, Message: err.Error()}
		}
	} else {
		cfg, perr := s.parseText(text)
		if perr != nil {
			return control.ApplyResult{Errors: configErrors(perr), Message: "configuration rejected; nothing changed"}
		}
		changes, err = s.Apply(ctx, cfg)
		if err != nil {
			return control.ApplyResult{Changes: changes, Message: err.Error()}
		}
		if werr := writeFileAtomic(cfg.File, text); werr != nil {
			return control.ApplyResult{OK: true, Changes: changes, Message: "applied, but not saved: " + werr.Error()}
		}
	}
	msg := "configuration applied: no changes"
	if len(changes) > 0 {
		msg = fmt.Sprintf("configuration applied: %d changes", len(changes))
	}
	return control.ApplyResult{OK: true, Changes: changes, Message: msg}
}

func isConfigError(err error) bool {
	var es config.Errors
	return errors.As(err, &es)
}

func writeFileAtomic(path string, data []byte) error {
	if path == "" {
		return errors.New("no configuration file")
	}
	mode := os.FileMode(0o644)
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm()
	}
	tmp := path + ".stackctl-tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
