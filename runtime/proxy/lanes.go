package proxy

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stackctl/stackctl/runtime/appserver"
	"github.com/stackctl/stackctl/runtime/uwsgi"
)

// LaneSource gives the private lanes of an app's ready workers and a
// channel closed when that set changes. *appserver.App satisfies it.
type LaneSource interface {
	Lanes() ([]*uwsgi.Lane, <-chan struct{})
}

// laneGroup dispatches requests over the lanes of one app: the fast path.
//
// A request goes to an idle lane (nothing in flight) when there is one,
// round robin among them. When every lane is busy it queues on the busy
// lane whose oldest request is the youngest, provided that lane has fewer
// than depth requests and its oldest one has not run longer than maxAge:
// queueing keeps the worker's next request already in its socket (the
// pipelining that makes this path fast), and the age rule keeps requests
// from waiting behind one that is slow while another worker could take
// them. When no lane qualifies the request waits, up to the upstream's
// connect_timeout, for one to free up.
type laneGroup struct {
	app string

	mu      sync.Mutex
	src     LaneSource
	waiters []chan struct{} // FIFO of requests waiting for capacity; guarded by mu
	view    atomic.Pointer[laneView]
	nwait   atomic.Int32 // len(waiters), readable without mu
	next    atomic.Uint32
}

// laneView is one published set of lanes.
type laneView struct {
	lanes   []*laneState
	changed <-chan struct{}
}

// laneState is the dispatcher's bookkeeping for one lane.
type laneState struct {
	lane     *uwsgi.Lane
	inflight atomic.Int32 // requests given to the lane and not yet finished
	gone     atomic.Bool  // the lane refused a request (draining or broken)
	addr     string       // "app:NAME#WORKER" for the access log
}

func newLaneGroup(app string, src LaneSource) *laneGroup {
	return &laneGroup{app: app, src: src}
}

// setSource switches to another app object (the app was re-created).
func (g *laneGroup) setSource(src LaneSource) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.src == src {
		return
	}
	g.src = src
	g.view.Store(nil)
	for len(g.waiters) > 0 {
		g.wakeOneLocked()
	}
}

// current returns the lanes in force, refreshing them when the app
// published a new set.
func (g *laneGroup) current() *laneView {
	if v := g.view.Load(); v != nil {
		select {
		case <-v.changed:
		default:
			return v
		}
	}
	return g.refresh()
}

func (g *laneGroup) refresh() *laneView {
	g.mu.Lock()
	defer g.mu.Unlock()
	old := g.view.Load()
	if old != nil {
		select {
		case <-old.changed:
		default:
			return old // another goroutine refreshed meanwhile
		}
	}
	lanes, changed := g.src.Lanes()
	v := &laneView{lanes: make([]*laneState, 0, len(lanes)), changed: changed}
	prev := map[*uwsgi.Lane]*laneState{}
	if old != nil {
		for _, ls := range old.lanes {
			prev[ls.lane] = ls
		}
	}
	for _, l := range lanes {
		if ls, ok := prev[l]; ok {
			v.lanes = append(v.lanes, ls) // keep its in-flight count
			continue
		}
		ls := &laneState{lane: l, addr: "app:" + g.app}
		if tag, ok := l.Tag.(appserver.LaneTag); ok {
			ls.addr = fmt.Sprintf("app:%s#%d", tag.App, tag.Worker)
			if tag.Thread > 0 {
				ls.addr += fmt.Sprintf(".%d", tag.Thread)
			}
		}
		v.lanes = append(v.lanes, ls)
	}
	g.view.Store(v)
	return v
}

func (ls *laneState) usable() bool {
	return !ls.gone.Load() && !ls.lane.Failed()
}

// pick claims a lane for one request, or returns nil when none qualifies.
// idleOnly restricts it to idle lanes (for large request bodies, which
// should not sit in a busy worker's socket).
func (g *laneGroup) pick(v *laneView, depth int, maxAge time.Duration, idleOnly bool, avoid *laneState) *laneState {
	n := len(v.lanes)
	if n == 0 {
		return nil
	}
	queueing := !idleOnly && depth > 1
	var now time.Time
	if queueing {
		now = time.Now()
	}
	// One pass finds an idle lane or, failing that, the lane to queue on:
	// the one whose oldest request is youngest, none older than maxAge.
	// With every lane busy (a slow app's hundreds of threads) the pass is
	// the whole cost of dispatch, so it reads atomics only.
	for attempt := 0; attempt < 3; attempt++ {
		start := int(g.next.Add(1) % uint32(n))
		var best *laneState
		var bestAge time.Duration
		for k := 0; k < n; k++ {
			ls := v.lanes[(start+k)%n]
			in := ls.inflight.Load()
			if !ls.usable() {
				continue
			}
			if in == 0 && ls.inflight.CompareAndSwap(0, 1) {
				return ls
			}
			if !queueing || ls == avoid || in >= int32(depth) {
				continue
			}
			age := ls.lane.OldestAge(now)
			if age > maxAge {
				continue
			}
			if best == nil || age < bestAge {
				best, bestAge = ls, age
			}
		}
		if best == nil {
			return nil
		}
		for {
			k := best.inflight.Load()
			if k >= int32(depth) {
				break // filled up meanwhile: look again
			}
			if best.inflight.CompareAndSwap(k, k+1) {
				return best
			}
		}
	}
	return nil
}

// errNoLane is why a request found no worker lane in time.
var errNoLane = errors.New("no worker lane free")

// acquire claims a lane, waiting until deadline (or ctx's end) for one to
// free up. Waiters are served first come, first served: a release hands
// its capacity to the oldest waiter only (no thundering herd). A request
// never queues on avoid (the lane it was just requeued from).
func (g *laneGroup) acquire(ctx context.Context, deadline time.Time, depth int, maxAge time.Duration, idleOnly bool, avoid *laneState) (*laneState, error) {
	v := g.current()
	if ls := g.pick(v, depth, maxAge, idleOnly, avoid); ls != nil {
		return ls, nil
	}
	ch := waitChanPool.Get().(chan struct{})
	defer waitChanPool.Put(ch)
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	front := false
	for {
		g.enqueue(ch, front)
		// Look again now that a release will wake us: one may have
		// happened between the pick and the registration.
		v = g.current()
		if ls := g.pick(v, depth, maxAge, idleOnly, avoid); ls != nil {
			g.leave(ch)
			return ls, nil
		}
		if timer == nil {
			d := time.Until(deadline)
			if d <= 0 {
				g.leave(ch)
				return nil, g.noLaneErr(v)
			}
			timer = time.NewTimer(d)
		}
		select {
		case <-ch:
			// A release chose us (and took us off the queue). Should a
			// newcomer have taken the capacity first, we queue again at
			// the front.
			front = true
			if ls := g.pick(g.current(), depth, maxAge, idleOnly, avoid); ls != nil {
				return ls, nil
			}
			continue
		case <-v.changed:
		case <-timer.C:
			g.leave(ch)
			return nil, g.noLaneErr(v)
		case <-ctx.Done():
			g.leave(ch)
			return nil, ctx.Err()
		}
		g.leave(ch)
		front = true
	}
}

var waitChanPool = sync.Pool{New: func() any { return make(chan struct{}, 1) }}

func (g *laneGroup) enqueue(ch chan struct{}, front bool) {
	g.mu.Lock()
	if front {
		g.waiters = append(g.waiters, nil)
		copy(g.waiters[1:], g.waiters)
		g.waiters[0] = ch
	} else {
		g.waiters = append(g.waiters, ch)
	}
	g.nwait.Store(int32(len(g.waiters)))
	g.mu.Unlock()
}

// leave takes ch off the queue. If a release already chose it, the wake-up
// it carries is passed on to the next waiter, so none is lost.
func (g *laneGroup) leave(ch chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, w := range g.waiters {
		if w == ch {
			g.waiters = append(g.waiters[:i], g.waiters[i+1:]...)
			g.nwait.Store(int32(len(g.waiters)))
			return
		}
	}
	select {
	case <-ch:
		g.wakeOneLocked()
	default:
	}
}

// wakeOneLocked hands a wake-up to the oldest waiter.
func (g *laneGroup) wakeOneLocked() {
	if len(g.waiters) == 0 {
		return
	}
	w := g.waiters[0]
	copy(g.waiters, g.waiters[1:])
	g.waiters[len(g.waiters)-1] = nil
	g.waiters = g.waiters[:len(g.waiters)-1]
	g.nwait.Store(int32(len(g.waiters)))
	w <- struct{}{}
}

func (g *laneGroup) noLaneErr(v *laneView) error {
	if len(v.lanes) == 0 {
		return &upError{err: fmt.Errorf("app %s: no ready worker", g.app), timeout: true, health: true, busy: true}
	}
	return &upError{err: fmt.Errorf("app %s: %w (%d lanes busy)", g.app, errNoLane, len(v.lanes)), timeout: true, busy: true}
}

// release gives back a lane claimed by pick, waking the oldest waiter.
func (g *laneGroup) release(ls *laneState) {
	ls.inflight.Add(-1)
	if g.nwait.Load() > 0 {
		g.mu.Lock()
		g.wakeOneLocked()
		g.mu.Unlock()
	}
}

func (g *laneGroup) snapshot() LaneSnapshot {
	v := g.current()
	s := LaneSnapshot{Lanes: len(v.lanes), Waiting: int64(g.nwait.Load())}
	for _, ls := range v.lanes {
		if k := int(ls.inflight.Load()); k > 0 {
			s.Busy++
			s.Queued += k - 1
		}
	}
	return s
}

// laneTransport is the transport of an app: server.
type laneTransport struct {
	g *laneGroup
}

// largeBody is the request body size above which a request waits for an
// idle lane rather than queueing on a busy one: a big body written into a
// busy worker's socket would sit there, holding the lane's writer.
const largeBody = 64 << 10

func (t *laneTransport) closeIdle() {}

// roundTrip sends the request over a lane. A lane that breaks before the
// request started (uwsgi.ErrNotStarted: it was queued behind the request
// a dying worker was running, or the lane was draining) is not the
// request's fault: it is resent on another lane whatever its method. One
// that may have started (ErrMaybeStarted) is resent once, and only when the
// method is idempotent or the upstream allows it.
func (t *laneTransport) roundTrip(ctx context.Context, rs *reqState, pl *pool) (*upResponse, error) {
	now := time.Now()
	deadline := now.Add(pl.cfg.ConnectTimeout.D())
	idleOnly := rs.body.size > largeBody
	head, err := rs.uwsgiHead(true)
	if err != nil {
		return nil, &upError{err: err, health: false}
	}
	maybeResent := false
	var avoid *laneState
	for resends := 0; ; resends++ {
		ls, err := t.g.acquire(ctx, deadline, pl.cfg.QueueDepth, pl.cfg.QueueMaxAge.D(), idleOnly, avoid)
		if err != nil {
			return nil, classify(err, false)
		}
		// read_timeout bounds the wait for the response head once the
		// worker reads it (the lane's read deadline); a request queued
		// behind a stuck one is freed when that one times out and breaks
		// the lane (ErrNotStarted, resent above). The context neither
		// fires by itself (no timer per request) nor follows the client:
		// the request is already in the worker's socket, so giving up on
		// a client that left would only discard the answer, and watching
		// for that costs the engine a syscall per request.
		rs.dctx = deadlineCtx{deadline: time.Now().Add(pl.cfg.ReadTimeout.D())}
		resp, err := t.do(rs, ls, head, pl)
		if errors.Is(err, errRequeued) {
			// Queued behind a request that turned out slow: the copy left
			// on that lane runs later and its answer is discarded; try
			// again where no slow request is ahead.
			t.g.release(ls)
			rs.requeued++
			avoid = ls
			continue
		}
		if err == nil {
			b := &rs.laneBody
			b.body, b.g, b.ls = resp.Body, t.g, ls
			rs.resp = upResponse{status: resp.StatusCode, header: resp.Header, contentLength: resp.ContentLength, body: b, addr: ls.addr}
			return &rs.resp, nil
		}
		t.g.release(ls)
		if errors.Is(err, uwsgi.ErrNotStarted) {
			ls.gone.Store(true) // draining or broken; a new set is published soon
			if resends < 64 && time.Now().Before(deadline) && ctx.Err() == nil {
				continue
			}
		} else if errors.Is(err, uwsgi.ErrMaybeStarted) && !maybeResent && ctx.Err() == nil &&
			(idempotent(rs.method) || pl.cfg.RetryNonIdempotent) && !errors.Is(err, context.DeadlineExceeded) {
			maybeResent = true
			continue
		}
		ue := classify(err, true)
		ue.err = fmt.Errorf("%s: %w", ls.addr, err)
		return nil, ue
	}
}

// errRequeued marks a request taken off a lane where it waited too long.
var errRequeued = errors.New("requeued")

// do sends one request over a lane. A safe request (GET, HEAD, OPTIONS)
// queued behind others, when the upstream allows requeueing, is moved when
// it has waited requeue_after for its turn and another lane is idle: the
// request ahead of it turned out slow, and a worker is free. Its copy left
// on the first lane still runs (its bytes are in the worker's socket) and
// its answer is discarded, so a request is never moved while every lane is
// busy — with an app whose every request is slow that would run each
// request several times for nothing; the check is repeated every
// requeue_after instead. Only the wait for the turn is bounded; once the
// worker answers, the response is read as usual.
func (t *laneTransport) do(rs *reqState, ls *laneState, head []byte, pl *pool) (*uwsgi.Response, error) {
	after := pl.cfg.RequeueAfter.D()
	if after <= 0 || ls.inflight.Load() <= 1 || !safeMethod(rs.method) || rs.requeued >= maxRequeues {
		return ls.lane.Do(&rs.dctx, head, rs.body.reader(), rs.isHead)
	}
	ctx, cancel := context.WithCancel(&rs.dctx)
	defer cancel()
	w := &requeueWatch{g: t.g, from: ls, after: after, cancel: cancel}
	w.arm()
	defer w.stop()
	resp, err := ls.lane.Do(ctx, head, rs.body.reader(), rs.isHead)
	if err != nil && w.fired.Load() && errors.Is(err, context.Canceled) {
		return nil, errRequeued
	}
	return resp, err
}

// requeueWatch checks every after whether a request waiting on from could
// run at once elsewhere, and cancels its wait when it could.
type requeueWatch struct {
	g      *laneGroup
	from   *laneState
	after  time.Duration
	cancel context.CancelFunc
	fired  atomic.Bool

	mu      sync.Mutex
	timer   *time.Timer
	stopped bool
}

func (w *requeueWatch) arm() {
	w.mu.Lock()
	w.timer = time.AfterFunc(w.after, w.check)
	w.mu.Unlock()
}

func (w *requeueWatch) check() {
	if w.g.hasIdle(w.from) {
		w.fired.Store(true)
		w.cancel()
		return
	}
	w.mu.Lock()
	if !w.stopped {
		w.timer.Reset(w.after)
	}
	w.mu.Unlock()
}

func (w *requeueWatch) stop() {
	w.mu.Lock()
	w.stopped = true
	w.timer.Stop()
	w.mu.Unlock()
}

// hasIdle reports whether a lane other than except has nothing in flight.
func (g *laneGroup) hasIdle(except *laneState) bool {
	for _, ls := range g.current().lanes {
		if ls != except && ls.inflight.Load() == 0 && ls.usable() {
			return true
		}
	}
	return false
}

// maxRequeues bounds how often one request moves between lanes.
const maxRequeues = 3

// safeMethod reports whether running a request twice is harmless (RFC
// 9110's safe methods): a requeued request's first copy still runs.
func safeMethod(m string) bool {
	return m == "GET" || m == "HEAD" || m == "OPTIONS"
}

// laneBody is a lane response body: closing it hands the lane on and
// returns the claim.
type laneBody struct {
	body interface{ Read([]byte) (int, error) }
	g    *laneGroup
	ls   *laneState
}

func (b *laneBody) Read(p []byte) (int, error) { return b.body.Read(p) }

func (b *laneBody) Close() error {
	var err error
	if c, ok := b.body.(interface{ Close() error }); ok {
		err = c.Close()
	}
	if b.g != nil {
		b.g.release(b.ls)
	}
	*b = laneBody{}
	return err
}

// deadlineCtx is a context that is never done and only reports a
// deadline: a lane uses it for the read deadline of the response head.
type deadlineCtx struct {
	deadline time.Time
}

func (c *deadlineCtx) Deadline() (time.Time, bool) { return c.deadline, true }
func (c *deadlineCtx) Done() <-chan struct{}       { return nil }
func (c *deadlineCtx) Err() error                  { return nil }
func (c *deadlineCtx) Value(any) any               { return nil }

// isNilSource reports whether src is nil, including a typed nil pointer
// in the interface (an Apps func returning a nil *appserver.App).
func isNilSource(src LaneSource) bool {
	if src == nil {
		return true
	}
	v := reflect.ValueOf(src)
	return v.Kind() == reflect.Pointer && v.IsNil()
}
