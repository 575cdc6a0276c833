package proxy

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stackctl/stackctl/runtime/config"
	"github.com/stackctl/stackctl/runtime/stats"
)

// pool is one configuration of an upstream: its members (servers with
// their weights and options), its balancer and its settings. A new pool is
// built on every Apply; the backends inside it live on.
type pool struct {
	name     string
	cfg      config.Upstream
	bal      atomic.Pointer[balancer] // replaced whole by SetWeight
	hashKey  hashKey
	maxTries int
}

func newPool(u config.Upstream, members []*member) *pool {
	p := &pool{name: u.Name, cfg: u}
	kind := parseBalance(u.Balance)
	p.bal.Store(newBalancer(kind, members))
	p.hashKey = parseHashKey(u.HashKey, kind)
	p.maxTries = u.Tries
	if p.maxTries <= 0 {
		p.maxTries = len(members) // nginx: each server at most once
	}
	return p
}

// members returns the pool's members in config order.
func (p *pool) members() []*member { return p.bal.Load().members }

// memberByServer finds a member by its key ("uwsgi://127.0.0.1:3031",
// "app:hello"), by the server entry as written in the config, or by its
// bare address.
func (p *pool) memberByServer(server string) *member {
	for _, m := range p.members() {
		if m.b.spec.Key == server || m.b.entry == server || m.b.spec.Address == server {
			return m
		}
	}
	return nil
}

// withWeight returns a new balancer for the pool in which the member at
// index i has weight w.
func (p *pool) withWeight(i, w int) *balancer {
	old := p.bal.Load()
	ms := make([]*member, len(old.members))
	for j, m := range old.members {
		c := *m
		c.cw = 0
		if j == i {
			c.weight = w
		}
		ms[j] = &c
	}
	return newBalancer(old.kind, ms)
}

// Admin states as stored.
const (
	adminUp int32 = iota
	adminDrain
	adminDown
)

func adminName(a int32) string {
	switch a {
	case adminDrain:
		return AdminDrain
	case adminDown:
		return AdminDown
	}
	return AdminUp
}

func adminValue(s string) int32 {
	switch s {
	case AdminDrain:
		return adminDrain
	case AdminDown:
		return adminDown
	}
	return adminUp
}

// backend is one server of one upstream as it lives across
// reconfigurations: its transport, its health and admin state, its
// statistics. Pools refer to it through members.
type backend struct {
	p        *Proxy
	upstream string
	spec     config.ServerSpec
	entry    string // the server entry as written, options included
	id       string // upstream + " " + spec.Key

	tr transport

	// Request-path state, read without locks.
	admin       atomic.Int32
	unhealthy   atomic.Bool  // active checks' verdict
	failedUntil atomic.Int64 // unix nanoseconds until which passive health keeps it out; 0 = in
	inflight    atomic.Int64
	fails       atomic.Uint64
	pending     atomic.Int32 // passive.fails, readable without mu
	stats       counters

	mu sync.Mutex
	// adminSet: an operator set admin at run time; it survives reloads
	// unless the config's own "down" flag for the server changes.
	configured bool
	adminSet   bool
	cfgDown    bool
	weightSet  int // weight set at run time (0: none)
	cfgWeight  int
	passive    passiveHealth
	active     activeHealth
	lastCheck  *CheckResult
	health     *config.Health // the active check settings in force
	stopCheck  context.CancelFunc
	checkDone  chan struct{}
	maxFails   int
	failTimout time.Duration
}

// available reports whether the backend may take a new request at now.
func (b *backend) available(now time.Time) bool {
	if b.admin.Load() != adminUp || b.unhealthy.Load() {
		return false
	}
	if u := b.failedUntil.Load(); u != 0 && now.UnixNano() < u {
		return false
	}
	return true
}

// picked is called when the balancer chose b. A failed server whose
// fail_timeout has passed gets one probe request per fail_timeout: the
// pick pushes failedUntil forward so concurrent requests go elsewhere.
func (b *backend) picked(now time.Time, failTimeout time.Duration) {
	if u := b.failedUntil.Load(); u != 0 {
		b.failedUntil.CompareAndSwap(u, now.Add(failTimeout).UnixNano())
	}
}

// state is what the server's state is reported as.
func (b *backend) state(now time.Time) string {
	switch b.admin.Load() {
	case adminDown:
		return StateDown
	case adminDrain:
		return StateDrain
	}
	if b.unhealthy.Load() {
		return StateUnhealthy
	}
	b.mu.Lock()
	failed := b.passive.failed(b.maxFails)
	b.mu.Unlock()
	if failed {
		return StateFailed
	}
	return StateUp
}

// failure records a failed attempt (passive health).
func (b *backend) failure(now time.Time, m *member, err error) {
	b.fails.Add(1)
	b.mu.Lock()
	down := b.passive.failure(now, m.maxFails, m.failTimeout)
	if until := b.passive.downUntil(m.maxFails, m.failTimeout); !until.IsZero() {
		b.failedUntil.Store(until.UnixNano())
	}
	fails := b.passive.fails
	b.pending.Store(int32(fails))
	b.mu.Unlock()
	if down {
		b.event(StateUp, StateFailed, "passive", fmt.Sprintf("%d failure(s) within %s (last: %v); out for %s", fails, m.failTimeout, err, m.failTimeout))
	}
}

// success records a good response (passive health).
func (b *backend) success(now time.Time, m *member) {
	if b.pending.Load() == 0 {
		return // the common case: nothing to forgive, no lock
	}
	b.mu.Lock()
	back := b.passive.success(now, m.maxFails, m.failTimeout)
	if !b.passive.failed(m.maxFails) {
		b.failedUntil.Store(0)
	}
	b.pending.Store(int32(b.passive.fails))
	b.mu.Unlock()
	if back {
		b.event(StateFailed, StateUp, "passive", "a request succeeded")
	}
}

// setAdmin changes the admin state; by says who ("api", "config").
func (b *backend) setAdmin(state string, by string) {
	old := b.admin.Swap(adminValue(state))
	if old == adminValue(state) {
		return
	}
	b.event(adminName(old), state, "admin", "set by "+by)
}

// observeCheck records an active check result.
func (b *backend) observeCheck(res CheckResult, h *config.Health) {
	b.mu.Lock()
	b.lastCheck = &res
	changed := b.active.observe(res.OK, h.Rise, h.Fall)
	unhealthy := b.active.unhealthy
	b.mu.Unlock()
	if !changed {
		return
	}
	b.unhealthy.Store(unhealthy)
	if unhealthy {
		b.event(StateUp, StateUnhealthy, "active", fmt.Sprintf("%d failed check(s) in a row (last: %s)", h.Fall, res))
	} else {
		b.event(StateUnhealthy, StateUp, "active", fmt.Sprintf("%d good check(s) in a row", h.Rise))
	}
}

// event reports a state change of the server.
func (b *backend) event(from, to, cause, reason string) {
	if b.p == nil || b.p.opts.OnEvent == nil {
		return
	}
	b.p.opts.OnEvent(stats.Event{
		Kind:    stats.KindHealthChanged,
		Source:  b.upstream,
		Message: fmt.Sprintf("upstream %s server %s: %s -> %s (%s: %s)", b.upstream, b.spec.Key, from, to, cause, reason),
		Fields:  map[string]string{"server": b.spec.Key, "from": from, "to": to, "cause": cause, "reason": reason},
	})
}

// snapshot describes the backend as a member of a pool.
func (b *backend) snapshot(m *member, now time.Time) ServerSnapshot {
	s := ServerSnapshot{
		Address:  b.spec.Key,
		State:    b.state(now),
		Admin:    adminName(b.admin.Load()),
		Weight:   m.weight,
		Backup:   m.backup,
		Fails:    b.fails.Load(),
		Counters: b.stats.snapshot(),
	}
	s.Active = b.inflight.Load()
	b.mu.Lock()
	switch {
	case b.health == nil:
		s.Health = "unchecked"
	case b.active.unhealthy:
		s.Health = "unhealthy"
	default:
		s.Health = "healthy"
	}
	if b.lastCheck != nil {
		c := *b.lastCheck
		s.LastCheck = &c
	}
	b.mu.Unlock()
	if lt, ok := b.tr.(*laneTransport); ok {
		ls := lt.g.snapshot()
		s.Lanes = &ls
	}
	return s
}

// transport sends requests to one server.
type transport interface {
	// roundTrip sends the request and returns the response head, or an
	// error (an *upError says whether the request may have run).
	roundTrip(ctx context.Context, rs *reqState, pl *pool) (*upResponse, error)
	// closeIdle closes idle kept-alive connections.
	closeIdle()
}

// upResponse is the head of a server's response; body must be closed.
type upResponse struct {
	status        int
	header        http.Header
	contentLength int64 // -1: unknown (streamed)
	body          interface {
		Read([]byte) (int, error)
		Close() error
	}
	addr string // for $upstream_addr: the server, or the worker lane
	// upgraded is the server connection after a 101 Switching Protocols.
	upgraded interface {
		Read([]byte) (int, error)
		Write([]byte) (int, error)
		Close() error
	}
}
