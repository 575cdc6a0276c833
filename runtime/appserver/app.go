package appserver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/stackctl/stackctl/runtime/config"
	"github.com/stackctl/stackctl/runtime/uwsgi"
)

// App is one application's pool of workers: slots 1..N, each normally
// holding one live worker, as in uWSGI. It is created by Server.AddApp and
// stays the same object for the app's name across updates, so the proxy can
// hold on to it.
type App struct {
	srv  *Server
	name string

	// opMu serialises operations that take time (restart, chain reload,
	// scale, update, stop) so they never interleave on a slot.
	opMu sync.Mutex

	mu        sync.Mutex
	spec      spawnSpec // what new workers start from
	slots     []*slot
	retiring  map[*worker]struct{} // told to stop, not yet exited
	stopping  bool
	loadError string // the latest import traceback while in crash loop
	lastError string // the latest failed operation (a replacement that did not start)
	restarts  int
	requests  uint64 // completed requests, all workers ever
	failures  uint64 // 5xx responses
	exc       uint64 // requests whose app raised

	lanes        atomic.Pointer[[]*uwsgi.Lane]
	lanesChanged chan struct{} // closed and replaced whenever lanes change

	wg sync.WaitGroup // stopWorker and recycle goroutines
}

type slot struct {
	id       int
	cur      *worker // the worker serving this slot; nil while dead
	next     *worker // a replacement being started
	failures int     // consecutive unplanned exits
	restarts int     // times the slot got a new process
	crashes  int     // unplanned exits (pm2's "unstable restarts")
	lastExit string
	exitAt   time.Time
	retryAt  time.Time // when a backed-off respawn is due
	timer    *time.Timer
	requests uint64 // across the slot's processes (uWSGI's "requests")
}

// AppState summarises an app.
type AppState string

// App states.
const (
	AppStarting  AppState = "starting"   // no worker ready yet
	AppRunning   AppState = "running"    // at least one worker ready
	AppCrashLoop AppState = "crash-loop" // workers fail to load the app; retried with backoff
	AppStopping  AppState = "stopping"
)

// Name is the app's name.
func (a *App) Name() string { return a.name }

// Lanes returns the private lanes of the app's ready workers and a channel
// closed when that set changes. The slice must not be modified.
func (a *App) Lanes() ([]*uwsgi.Lane, <-chan struct{}) {
	a.mu.Lock()
	ch := a.lanesChanged
	a.mu.Unlock()
	if p := a.lanes.Load(); p != nil {
		return *p, ch
	}
	return nil, ch
}

// publishLanesLocked recomputes the lanes the proxy may use: those of
// workers that are ready and not stopping. A worker being recycled (past
// max_requests or max_rss, its replacement on the way) gets no new requests
// while any other worker is ready: the limit holds even though the worker
// keeps serving until its replacement is up, which it does only when it is
// all the app has (queueing would cost more than the overshoot).
func (a *App) publishLanesLocked() {
	var ls, recycling []*uwsgi.Lane
	for _, s := range a.slots {
		for _, w := range []*worker{s.cur, s.next} {
			switch {
			case w == nil || w.state != StateIdle:
			case w.recycling:
				recycling = append(recycling, w.lanes...)
			default:
				ls = append(ls, w.lanes...)
			}
		}
	}
	if len(ls) == 0 {
		ls = recycling
	}
	a.lanes.Store(&ls)
	close(a.lanesChanged)
	a.lanesChanged = make(chan struct{})
}

func (a *App) slotLocked(id int) *slot {
	for _, s := range a.slots {
		if s.id == id {
			return s
		}
	}
	return nil
}

// spawnLocked starts a worker for slot s from spec.
func (a *App) spawnLocked(s *slot, spec spawnSpec) (*worker, error) {
	w := &worker{
		app:        a,
		id:         s.id,
		seq:        a.srv.seq.Add(1),
		spec:       spec,
		ready:      make(chan struct{}),
		exited:     make(chan struct{}),
		readerDone: make(chan struct{}),
		state:      StateStarting,
		cores:      make([]core, spec.cfg.Threads),
	}
	if err := w.start(); err != nil {
		return nil, fmt.Errorf("start worker %d of %s: %w", s.id, a.name, err)
	}
	a.srv.event(Event{Kind: EventSpawned, App: a.name, Worker: s.id, PID: w.pid, Message: fmt.Sprintf("worker %d spawned (pid %d)", s.id, w.pid)})
	return w, nil
}

// respawnLocked gives a dead slot a new worker, or schedules a retry.
func (a *App) respawnLocked(s *slot) {
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	s.retryAt = time.Time{}
	w, err := a.spawnLocked(s, a.spec)
	if err != nil {
		s.lastExit = err.Error()
		s.exitAt = time.Now()
		var delay time.Duration
		delay, s.failures = respawnDelay(s.failures, 0, 0, true)
		a.scheduleLocked(s, delay)
		a.srv.event(Event{Kind: EventError, App: a.name, Worker: s.id, Message: err.Error()})
		return
	}
	s.cur = w
}

func (a *App) scheduleLocked(s *slot, delay time.Duration) {
	if delay <= 0 {
		a.respawnLocked(s)
		return
	}
	s.retryAt = time.Now().Add(delay)
	s.timer = time.AfterFunc(delay, func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.stopping || s.cur != nil || s.next != nil || a.slotLocked(s.id) != s {
			return
		}
		a.respawnLocked(s)
	})
}

// record handles one status record from w.
func (a *App) record(w *worker, typ byte, p []byte) {
	now := time.Now()
	switch typ {
	case recFinished:
		_, status, nbytes, dur, raised, err := parseFinished(p)
		if err != nil {
			return
		}
		w.latency.Observe(dur)
		a.mu.Lock()
		w.requests++
		w.bytesSent += nbytes
		w.busyTime += dur
		a.requests++
		if raised {
			w.exceptions++
			a.exc++
		}
		if status >= 500 {
			a.failures++
		}
		if s := a.slotLocked(w.id); s != nil && (s.cur == w || s.next == w) {
			s.requests++
		}
		a.mu.Unlock()
	case recReady:
		ri, err := parseReady(p)
		msg := fmt.Sprintf("worker %d ready (pid %d) in %s", w.id, w.pid, now.Sub(w.started).Round(time.Millisecond))
		if err == nil {
			msg += ", Python " + ri.Python
			if ri.Speedups {
				msg += " with speedups"
			}
		}
		// The event goes out first: whoever sees the worker ready (WaitReady,
		// a snapshot) finds its event already in the log.
		a.srv.event(Event{Kind: EventReady, App: a.name, Worker: w.id, PID: w.pid, Message: msg})
		a.mu.Lock()
		if w.state == StateStarting {
			w.state = StateIdle
			w.readyAt = now
			a.loadError = ""
			a.publishLanesLocked()
		}
		a.mu.Unlock()
		close(w.ready)
	case recLoadErr:
		a.mu.Lock()
		w.loadError = string(p)
		a.mu.Unlock()
	case recLimit:
		a.recycle(w, string(p))
	case recMessage:
		if len(p) < 1 {
			return
		}
		text := string(p[1:])
		if p[0] >= 2 {
			a.srv.event(Event{Kind: EventError, App: a.name, Worker: w.id, PID: w.pid, Message: fmt.Sprintf("worker %d: %s", w.id, text)})
		} else {
			a.srv.line(a.name, w.id, "stackctl", text)
		}
	}
}

func (w *worker) anyBusy() bool {
	for _, c := range w.cores {
		if c.busy {
			return true
		}
	}
	return false
}

// recycle replaces w gracefully (replacement first) because of reason,
// once: later triggers for the same worker are ignored.
func (a *App) recycle(w *worker, reason string) {
	a.mu.Lock()
	if w.recycling || w.replaced || a.stopping {
		a.mu.Unlock()
		return
	}
	w.recycling = true
	a.publishLanesLocked()
	a.wg.Add(1)
	a.mu.Unlock()
	a.srv.event(Event{Kind: EventRecycled, App: a.name, Worker: w.id, PID: w.pid, Message: fmt.Sprintf("worker %d recycling: %s", w.id, reason)})
	go func() {
		defer a.wg.Done()
		a.opMu.Lock()
		defer a.opMu.Unlock()
		a.mu.Lock()
		s := a.slotLocked(w.id)
		ok := s != nil && s.cur == w && !a.stopping
		spec := a.spec
		a.mu.Unlock()
		if !ok {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), spec.cfg.StartTimeout.D())
		defer cancel()
		if err := a.restartSlot(ctx, s, reason, spec); err != nil {
			a.srv.event(Event{Kind: EventError, App: a.name, Worker: w.id, Message: fmt.Sprintf("recycling worker %d: %v", w.id, err)})
			a.mu.Lock()
			w.recycling = false
			a.publishLanesLocked()
			a.mu.Unlock()
		}
	}()
}

// restartSlot replaces the slot's worker: the replacement starts first, and
// the old worker is told to stop only once the replacement is ready. If the
// replacement fails, the old worker keeps serving and the error is returned.
// Caller holds opMu.
func (a *App) restartSlot(ctx context.Context, s *slot, reason string, spec spawnSpec) error {
	a.mu.Lock()
	if a.stopping {
		a.mu.Unlock()
		return errors.New("app is stopping")
	}
	if a.slotLocked(s.id) != s {
		a.mu.Unlock()
		return fmt.Errorf("worker %d no longer exists", s.id)
	}
	old := s.cur
	nw, err := a.spawnLocked(s, spec)
	if err != nil {
		a.mu.Unlock()
		return err
	}
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
		s.retryAt = time.Time{}
	}
	s.next = nw
	a.mu.Unlock()

	err = a.waitReady(ctx, nw)

	a.mu.Lock()
	defer a.mu.Unlock()
	if s.next == nw {
		s.next = nil
	}
	if err != nil {
		a.lastError = fmt.Sprintf("replacement for worker %d failed: %v", s.id, err)
		a.retireLocked(nw, "replacement failed to start")
		if s.cur == nil && !a.stopping && a.slotLocked(s.id) == s {
			// The old worker died meanwhile: fall back to the normal respawn path.
			var delay time.Duration
			delay, s.failures = respawnDelay(s.failures, 0, 0, nw.loadError != "")
			a.scheduleLocked(s, delay)
		}
		return err
	}
	if a.stopping || a.slotLocked(s.id) != s {
		a.retireLocked(nw, "app stopping")
		return errors.New("app is stopping")
	}
	s.cur = nw
	s.restarts++
	a.restarts++
	if old != nil {
		s.lastExit = reason
		s.exitAt = time.Now()
		a.retireLocked(old, reason)
	}
	a.publishLanesLocked()
	return nil
}

// waitReady waits until w reports ready, dies, or time runs out.
func (a *App) waitReady(ctx context.Context, w *worker) error {
	timeout := time.NewTimer(w.spec.cfg.StartTimeout.D())
	defer timeout.Stop()
	select {
	case <-w.ready:
		return nil
	case <-w.exited:
		a.mu.Lock()
		defer a.mu.Unlock()
		if w.loadError != "" {
			return &LoadError{App: a.name, Traceback: w.loadError}
		}
		return fmt.Errorf("worker %d %s before it was ready", w.id, w.exitDesc)
	case <-timeout.C:
		return fmt.Errorf("worker %d not ready after %s (start_timeout)", w.id, w.spec.cfg.StartTimeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// LoadError is an application that failed to import; Traceback is what
// Python printed.
type LoadError struct {
	App       string
	Traceback string
}

func (e *LoadError) Error() string {
	last := strings.TrimSpace(e.Traceback)
	if i := strings.LastIndexByte(last, '\n'); i >= 0 {
		last = last[i+1:]
	}
	return fmt.Sprintf("app %s failed to load: %s", e.App, last)
}

// retireLocked tells w to stop: no new requests reach it, it finishes what
// it has, and it is killed if it takes longer than the grace period.
func (a *App) retireLocked(w *worker, reason string) {
	if w.state == StateStopping {
		return
	}
	w.state = StateStopping
	if w.stopReason == "" {
		w.stopReason = reason
	}
	w.replaced = true
	a.retiring[w] = struct{}{}
	a.publishLanesLocked()
	a.wg.Add(1)
	go a.stopWorker(w)
}

// stopWorker runs the graceful stop of w: SIGTERM (stop accepting on the
// shared socket), drain its lanes, close them (the worker exits when idle),
// and SIGKILL after the grace period.
func (a *App) stopWorker(w *worker) {
	defer a.wg.Done()
	w.signal(syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(context.Background(), w.spec.cfg.GracePeriod.D())
	defer cancel()
	for _, l := range w.lanes {
		l.Drain(ctx)
	}
	for _, l := range w.lanes {
		l.Close()
	}
	select {
	case <-w.exited:
	case <-ctx.Done():
		a.mu.Lock()
		w.stopReason += fmt.Sprintf(" (killed after the %s grace period)", w.spec.cfg.GracePeriod)
		a.mu.Unlock()
		w.signal(syscall.SIGKILL)
		<-w.exited
	}
}

// handleExit is called once per worker after its process was reaped.
func (a *App) handleExit(w *worker, desc string) {
	now := time.Now()
	a.mu.Lock()
	planned := w.stopReason != ""
	loadFailed := w.loadError != "" && w.readyAt.IsZero()
	reason := w.stopReason
	switch {
	case loadFailed:
		reason = "failed to load the app (" + desc + ")"
	case !planned:
		reason = desc
	}
	w.exitDesc = reason
	w.board.close()
	w.board = nil
	delete(a.retiring, w)
	s := a.slotLocked(w.id)
	if s != nil && s.next == w {
		s.next = nil
	}
	if s != nil && s.cur == w {
		s.cur = nil
		s.lastExit = reason
		s.exitAt = now
		if !planned {
			s.crashes++
		}
		if !w.replaced && !a.stopping {
			s.restarts++
			a.restarts++
			if loadFailed {
				a.loadError = w.loadError
			}
			if s.next == nil {
				delay := time.Duration(0)
				if !planned {
					delay, s.failures = respawnDelay(s.failures, now.Sub(w.started), w.requests, loadFailed)
				}
				a.scheduleLocked(s, delay)
			}
		}
	} else if s != nil && w.replaced && !planned {
		s.lastExit = reason
		s.exitAt = now
	}
	a.publishLanesLocked()
	a.mu.Unlock()

	kind := EventExited
	if !planned {
		kind = EventCrashed
	}
	msg := fmt.Sprintf("worker %d (pid %d) exited: %s", w.id, w.pid, reason)
	if loadFailed {
		msg += "\n" + strings.TrimSpace(w.loadError)
	}
	a.srv.event(Event{Kind: kind, App: a.name, Worker: w.id, PID: w.pid, Message: msg})
}

// harakiriLocked replaces a worker stuck in one request: its stacks are
// dumped to its log (SIGUSR2), a replacement starts at once, and the stuck
// process is killed.
func (a *App) harakiriLocked(w *worker, c core, now time.Time) {
	reason := fmt.Sprintf("request_timeout: %q ran %s (limit %s)", c.request, now.Sub(c.since).Round(time.Millisecond), w.spec.cfg.RequestTimeout)
	w.stopReason = reason
	w.replaced = true
	w.state = StateStopping
	a.retiring[w] = struct{}{}
	if s := a.slotLocked(w.id); s != nil && s.cur == w {
		s.cur = nil
		s.lastExit = reason
		s.exitAt = now
		s.restarts++
		a.restarts++
		a.respawnLocked(s)
	}
	a.publishLanesLocked()
	a.srv.event(Event{Kind: EventRecycled, App: a.name, Worker: w.id, PID: w.pid, Message: fmt.Sprintf("worker %d killed: %s", w.id, reason)})
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		w.signal(syscall.SIGUSR2) // faulthandler: every thread's stack to stderr
		select {
		case <-w.exited:
			return
		case <-time.After(200 * time.Millisecond):
		}
		w.signal(syscall.SIGKILL)
		<-w.exited
	}()
}

// check applies the request timeout to every worker; called by the
// server's ticker.
func (a *App) check(now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopping {
		return
	}
	for _, s := range a.slots {
		w := s.cur
		if w == nil || w.state == StateStopping || w.spec.cfg.RequestTimeout <= 0 {
			continue
		}
		w.board.read(w.cores)
		if i := overdue(w.cores, now, w.spec.cfg.RequestTimeout.D()); i >= 0 {
			a.harakiriLocked(w, w.cores[i], now)
		}
	}
}

// workersLocked lists every live worker of the app.
func (a *App) workersLocked() []*worker {
	var ws []*worker
	for _, s := range a.slots {
		if s.cur != nil {
			ws = append(ws, s.cur)
		}
		if s.next != nil {
			ws = append(ws, s.next)
		}
	}
	for w := range a.retiring {
		ws = append(ws, w)
	}
	sort.Slice(ws, func(i, j int) bool {
		if ws[i].id != ws[j].id {
			return ws[i].id < ws[j].id
		}
		return ws[i].seq < ws[j].seq
	})
	return ws
}

// RestartWorker gracefully replaces worker id: the replacement is ready
// before the old one stops taking requests, so no request is lost.
func (a *App) RestartWorker(ctx context.Context, id int) error {
	a.opMu.Lock()
	defer a.opMu.Unlock()
	a.mu.Lock()
	s := a.slotLocked(id)
	spec := a.spec
	a.mu.Unlock()
	if s == nil {
		return fmt.Errorf("app %s has no worker %d", a.name, id)
	}
	return a.restartSlot(ctx, s, "restart", spec)
}

// ChainReload replaces every worker, one at a time, each replacement ready
// before the next old worker stops. With a new spec (changed settings or
// code) the new workers start from it; if one fails to start, the reload
// stops there, the remaining workers keep the old settings, and the error
// (with the traceback of a failed import) is returned.
func (a *App) ChainReload(ctx context.Context) error {
	a.opMu.Lock()
	defer a.opMu.Unlock()
	return a.chainLocked(ctx, nil, "chain reload")
}

func (a *App) chainLocked(ctx context.Context, next *spawnSpec, reason string) error {
	a.mu.Lock()
	prev := a.spec
	if next != nil {
		a.spec = *next
	}
	spec := a.spec
	slots := append([]*slot(nil), a.slots...)
	a.mu.Unlock()
	a.srv.event(Event{Kind: EventReload, App: a.name, Message: fmt.Sprintf("%s of %s started (%d workers)", reason, a.name, len(slots))})
	for _, s := range slots {
		if err := a.restartSlot(ctx, s, reason, spec); err != nil {
			if next != nil {
				a.mu.Lock()
				a.spec = prev
				a.mu.Unlock()
			}
			err = fmt.Errorf("%s of %s stopped at worker %d: %w", reason, a.name, s.id, err)
			a.srv.event(Event{Kind: EventError, App: a.name, Message: err.Error()})
			return err
		}
	}
	a.srv.event(Event{Kind: EventReload, App: a.name, Message: fmt.Sprintf("%s of %s complete", reason, a.name)})
	return nil
}

// Scale sets the number of worker slots. New slots start at once (Scale
// waits until they are ready or ctx ends); removed slots (the highest ids)
// stop gracefully.
func (a *App) Scale(ctx context.Context, n int) error {
	a.opMu.Lock()
	defer a.opMu.Unlock()
	return a.scaleLocked(ctx, n)
}

func (a *App) scaleLocked(ctx context.Context, n int) error {
	if n < 1 || n > 1024 {
		return fmt.Errorf("scale %s to %d: want 1 to 1024 workers", a.name, n)
	}
	a.mu.Lock()
	if a.stopping {
		a.mu.Unlock()
		return errors.New("app is stopping")
	}
	before := len(a.slots)
	var started []*worker
	for id := before + 1; id <= n; id++ {
		s := &slot{id: id}
		a.slots = append(a.slots, s)
		a.respawnLocked(s)
		if s.cur != nil {
			started = append(started, s.cur)
		}
	}
	if n < before {
		for _, s := range a.slots[n:] {
			if s.timer != nil {
				s.timer.Stop()
				s.timer = nil
			}
			for _, w := range []*worker{s.cur, s.next} {
				if w != nil {
					a.retireLocked(w, "scaled down")
				}
			}
		}
		a.slots = a.slots[:n]
	}
	a.spec.cfg.Workers = n
	a.publishLanesLocked()
	a.mu.Unlock()
	if n != before {
		a.srv.event(Event{Kind: EventScaled, App: a.name, Message: fmt.Sprintf("%s scaled from %d to %d workers", a.name, before, n)})
	}
	for _, w := range started {
		if err := a.waitReady(ctx, w); err != nil {
			return fmt.Errorf("scale %s: %w", a.name, err)
		}
	}
	return nil
}

// WaitReady waits until every slot has a ready worker, or the app is in a
// crash loop (returned as *LoadError), or ctx ends.
func (a *App) WaitReady(ctx context.Context) error {
	for {
		a.mu.Lock()
		ready, total := 0, len(a.slots)
		for _, s := range a.slots {
			if s.cur != nil && s.cur.state != StateStarting {
				ready++
			}
		}
		loadErr := a.loadError
		_, ch := a.lanes.Load(), a.lanesChanged
		a.mu.Unlock()
		if ready == total {
			return nil
		}
		if loadErr != "" {
			return &LoadError{App: a.name, Traceback: loadErr}
		}
		select {
		case <-ch:
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			return fmt.Errorf("%s: %d of %d workers ready: %w", a.name, ready, total, ctx.Err())
		}
	}
}

// update applies a changed configuration: master-side limits take effect at
// once, a changed worker count scales, anything a worker starts from
// (module, code dir, interpreter, env, threads, socket...) chain-reloads.
func (a *App) update(ctx context.Context, cfg config.App) error {
	a.opMu.Lock()
	defer a.opMu.Unlock()
	a.mu.Lock()
	old := a.spec
	a.mu.Unlock()
	change := classifyChange(old.cfg, cfg)
	if change.reload {
		next := old
		next.cfg = cfg
		next.cfg.Workers = old.cfg.Workers
		so, err := a.srv.speedupsFor(cfg)
		if err != nil {
			return err
		}
		next.speedups = so
		if change.socket {
			l, err := openSocket(networkOf(cfg), addressOf(cfg), cfg.Listen, cfg.SocketFileMode())
			if err != nil {
				return fmt.Errorf("update %s: open socket %s: %w", a.name, cfg.Socket, err)
			}
			next.listener = l
		}
		if err := a.chainLocked(ctx, &next, "config change"); err != nil {
			if change.socket {
				next.listener.Close()
			}
			return err
		}
		if change.socket {
			closeSocket(old)
		}
	} else {
		a.mu.Lock()
		a.spec.cfg = cfg
		a.spec.cfg.Workers = old.cfg.Workers
		a.mu.Unlock()
	}
	if cfg.Workers != old.cfg.Workers {
		return a.scaleLocked(ctx, cfg.Workers)
	}
	return nil
}

func networkOf(cfg config.App) string { n, _ := cfg.SocketNetwork(); return n }
func addressOf(cfg config.App) string { _, a := cfg.SocketNetwork(); return a }

// closeSocket closes a spec's listening socket and removes its file.
func closeSocket(spec spawnSpec) {
	if spec.listener != nil {
		spec.listener.Close()
	}
	if n, addr := spec.cfg.SocketNetwork(); n == "unix" {
		os.Remove(addr)
	}
}

// change says what a configuration change needs.
type change struct {
	reload bool // workers must be replaced
	socket bool // the listening socket must be reopened
}

// classifyChange compares an app's running settings with new ones. Workers
// (the count) is handled by scaling and not compared here.
func classifyChange(old, new config.App) change {
	var c change
	c.socket = old.Socket != new.Socket || old.SocketMode != new.SocketMode || old.Listen != new.Listen
	c.reload = c.socket || old.Module != new.Module || old.Chdir != new.Chdir || old.Python != new.Python ||
		old.Threads != new.Threads || old.MaxRequests != new.MaxRequests || old.BufferSize != new.BufferSize || old.Speedups != new.Speedups ||
		!equalMap(old.Env, new.Env) || strings.Join(old.PythonPath, "\x00") != strings.Join(new.PythonPath, "\x00")
	return c
}

func equalMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// stop stops every worker gracefully; those still alive when ctx ends are
// killed. The listening socket is closed last.
func (a *App) stop(ctx context.Context) {
	a.mu.Lock()
	a.stopping = true
	a.mu.Unlock()
	a.opMu.Lock() // wait for a running operation; it sees stopping and ends
	defer a.opMu.Unlock()
	a.mu.Lock()
	for _, s := range a.slots {
		if s.timer != nil {
			s.timer.Stop()
			s.timer = nil
		}
	}
	ws := a.workersLocked()
	for _, w := range ws {
		a.retireLocked(w, "shutdown")
	}
	a.mu.Unlock()
	done := make(chan struct{})
	go func() { a.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		a.mu.Lock()
		ws = a.workersLocked()
		a.mu.Unlock()
		for _, w := range ws {
			w.signal(syscall.SIGKILL)
		}
		<-done
	}
	a.mu.Lock()
	closeSocket(a.spec)
	a.mu.Unlock()
}
