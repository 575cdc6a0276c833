// Package proxy is stackctl's nginx: the HTTP front door. It listens on
// the configured addresses, matches each request to a route (by host, then
// exact path, longest prefix or regex, as nginx's locations), and serves it
// from static files, a redirect, or an upstream pool balanced across
// servers: stackctl's own app workers over private pipelined lanes (the fast
// path), uwsgi servers (uWSGI, gunicorn) and HTTP servers. It checks the
// servers' health passively and actively, retries failed requests where
// that is safe, writes an nginx-style access log, keeps per-route and
// per-server statistics, and takes a new configuration atomically while
// serving.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stackctl/stackctl/runtime/config"
	"github.com/stackctl/stackctl/runtime/logs"
	"github.com/stackctl/stackctl/runtime/proxy/rewrite"
	"github.com/stackctl/stackctl/runtime/proxy/static"
	"github.com/stackctl/stackctl/runtime/stats"
)

// Options connect a Proxy to the rest of the stack.
type Options struct {
	// Apps returns the lane source of the running app named name, or nil
	// (an untyped nil, or a nil *appserver.App) when there is none. Needed
	// for "app:NAME" servers and routes to an [[app]].
	Apps func(name string) LaneSource
	// Logs receives the access log as its "access" source: the in-memory
	// stream the console tails, and the file RunDir/logs/access.log or the
	// one access_log names (logs.Store.ReopenAll reopens it for logrotate).
	// Nil: a store of the proxy's own, without a directory.
	Logs *logs.Store
	// OnEvent is called for every server state change (health, admin),
	// with its reason. It must not block.
	OnEvent func(stats.Event)
	// Logger receives upstream errors (nginx's error.log). Nil discards.
	Logger *slog.Logger
}

// Proxy is a running front door. Its methods are safe for concurrent use.
type Proxy struct {
	opts    Options
	log     *slog.Logger
	tab     atomic.Pointer[table]
	stats   counters
	conns   atomic.Int64
	limiter *connLimiter
	access  atomic.Pointer[accessSink]
	states  sync.Pool

	// mu serialises reconfiguration: Apply, SetServerState, SetWeight,
	// Close.
	mu         sync.Mutex
	listeners  map[string]*listener
	backends   map[string]*backend
	routeStats map[string]*counters
	closed     bool

	upgrades sync.Map // *upgrade -> struct{}: hijacked connections, closed by Close

	wg sync.WaitGroup // every goroutine the proxy starts
}

// table is one configuration's routing: swapped atomically by Apply, so a
// request uses one table from start to end.
type table struct {
	cfg           *config.Config
	router        *router
	pools         map[string]*pool
	rewrite       *rewrite.Program
	maxBody       int64
	bodyBuffer    int64
	tempDir       string
	maxHeaders    int
	bodyTimeout   time.Duration
	sendTimeout   time.Duration
	lim           limits
	listen        []string
	defaultSource bool
}

// release lets go of what the table's routes keep open (static files).
// Requests still running on the table finish; they open files themselves.
func (t *table) release() {
	for _, rt := range t.router.all {
		if rt.static != nil {
			rt.static.Close()
		}
	}
}

// accessSink is where access-log lines go.
type accessSink struct {
	buf  *logs.Buffer // the log store's "access" buffer; nil when off
	path string       // access_log as configured
}

// New builds the proxy for cfg.Proxy, binds its listeners and starts
// serving and health checking. Close stops it.
func New(cfg *config.Config, opts Options) (*Proxy, error) {
	if cfg.Proxy == nil {
		return nil, errors.New("proxy: the configuration has no [proxy] section")
	}
	p := &Proxy{
		opts:       opts,
		log:        opts.Logger,
		listeners:  map[string]*listener{},
		backends:   map[string]*backend{},
		routeStats: map[string]*counters{},
		limiter:    newConnLimiter(cfg.Proxy.MaxConnections),
	}
	if p.log == nil {
		p.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if p.opts.Logs == nil {
		p.opts.Logs = logs.NewStore("", 0)
	}
	p.states.New = func() any { return new(reqState) }
	if err := p.Apply(cfg); err != nil {
		return nil, err
	}
	return p, nil
}

// built is a configuration ready to be committed: nothing in it is visible
// to requests yet.
type built struct {
	tab        *table
	backends   map[string]*backend // every backend of the new table
	fresh      []*backend          // created for it
	routeStats map[string]*counters
	sources    map[*laneGroup]LaneSource // app objects to switch to at commit
}

// build compiles cfg without touching the running state. Backends of
// servers that stay are reused (so are their connections, health and
// statistics); their per-configuration settings live in the new members.
func (p *Proxy) build(cfg *config.Config) (*built, error) {
	pc := cfg.Proxy
	b := &built{backends: map[string]*backend{}, routeStats: map[string]*counters{}, sources: map[*laneGroup]LaneSource{}}
	t := &table{
		cfg:         cfg,
		pools:       map[string]*pool{},
		maxBody:     int64(pc.MaxBody),
		bodyBuffer:  int64(pc.BodyBuffer),
		tempDir:     pc.TempDir,
		maxHeaders:  pc.MaxHeaders,
		bodyTimeout: pc.BodyTimeout.D(),
		sendTimeout: pc.SendTimeout.D(),
		lim: limits{readHeaderTimeout: pc.ReadHeaderTimeout.D(), keepaliveTimeout: pc.KeepaliveTimeout.D(),
			bodyTimeout: pc.BodyTimeout.D(), sendTimeout: pc.SendTimeout.D(),
			maxHeaderBytes: int(pc.MaxHeaderSize), maxHeaders: pc.MaxHeaders},
		listen: slices.Clone(pc.Listen),
	}
	b.tab = t
	fail := func(err error) (*built, error) {
		for _, be := range b.fresh {
			be.tr.closeIdle()
		}
		return nil, err
	}
	if len(pc.Rewrite) > 0 {
		prog, err := rewrite.Compile(pc.Rewrite)
		if err != nil {
			return fail(fmt.Errorf("proxy.rewrite: %w", err))
		}
		t.rewrite = prog
	}
	// The upstreams routes and rewrite rules can reach: every [[upstream]],
	// and every [[app]] named by a route or a rewrite rule's proxy flag.
	wanted := map[string]bool{}
	for _, u := range cfg.Upstreams {
		wanted[u.Name] = true
	}
	progs := make([]*rewrite.Program, len(pc.Routes))
	for i, rc := range pc.Routes {
		if rc.Upstream != "" {
			wanted[rc.Upstream] = true
		}
		if len(rc.Rewrite) > 0 {
			prog, err := rewrite.Compile(rc.Rewrite)
			if err != nil {
				return fail(fmt.Errorf("proxy.route[%d].rewrite: %w", i, err))
			}
			progs[i] = prog
		}
	}
	for _, prog := range append([]*rewrite.Program{t.rewrite}, progs...) {
		if prog != nil {
			for _, ref := range prog.Proxies() {
				wanted[ref.Upstream] = true
			}
		}
	}
	names := slices.Sorted(maps.Keys(wanted))
	for _, name := range names {
		u, ok := cfg.UpstreamNamed(name)
		if !ok {
			return fail(fmt.Errorf("rewrite rule proxies to %q: no upstream or app of that name", name))
		}
		members := make([]*member, 0, len(u.Servers))
		for _, entry := range u.Servers {
			spec, err := config.ParseServer(entry)
			if err != nil {
				return fail(fmt.Errorf("upstream %s: %w", u.Name, err))
			}
			be, err := p.backendFor(b, u, spec, entry)
			if err != nil {
				return fail(err)
			}
			m := &member{b: be, weight: spec.Weight, backup: spec.Backup, down: spec.Down, maxFails: u.MaxFails, failTimeout: u.FailTimeout.D()}
			if spec.MaxFails >= 0 {
				m.maxFails = spec.MaxFails
			}
			if spec.FailTimeout > 0 {
				m.failTimeout = spec.FailTimeout
			}
			members = append(members, m)
		}
		t.pools[name] = newPool(u, members)
	}
	routes := make([]*route, 0, len(pc.Routes))
	for i := range pc.Routes {
		rc := &pc.Routes[i]
		rt, err := p.buildRoute(b, t, i, rc, progs[i])
		if err != nil {
			return fail(err)
		}
		routes = append(routes, rt)
	}
	t.router = newRouter(routes)
	return b, nil
}

func (p *Proxy) buildRoute(b *built, t *table, i int, rc *config.Route, prog *rewrite.Program) (*route, error) {
	rt := &route{index: i, name: rc.Name, key: routeKey(rc), host: rc.Host, noRegex: rc.NoRegex,
		fallback: rc.Fallback, stripPrefix: rc.StripPrefix, redirect: rc.Redirect, status: rc.Status,
		maxBody: int64(rc.MaxBody)}
	if rt.maxBody == 0 {
		rt.maxBody = t.maxBody
	}
	switch {
	case rc.Exact != "":
		rt.kind, rt.pattern = matchExact, rc.Exact
	case rc.Regex != "":
		re, err := regexp.Compile(rc.Regex)
		if err != nil {
			return nil, fmt.Errorf("proxy.route[%d].regex: %w", i, err)
		}
		rt.kind, rt.pattern, rt.re = matchRegex, rc.Regex, re
	default:
		rt.kind, rt.pattern = matchPrefix, rc.Path
	}
	if rc.Static != "" {
		opts := static.Options{Root: rc.Static, Index: rc.Index, Listing: rc.Listing}
		if rc.Precompressed != nil && !*rc.Precompressed {
			opts.NoPrecompressed = true
		}
		if rc.CacheBytes != nil {
			opts.CacheBytes = int64(*rc.CacheBytes)
			if opts.CacheBytes == 0 {
				opts.CacheBytes = -1 // off
			}
		}
		h, err := static.New(opts)
		if err != nil {
			return nil, fmt.Errorf("proxy.route[%d].static: %w", i, err)
		}
		rt.static = h
	}
	if rc.Upstream != "" {
		rt.upstream = t.pools[rc.Upstream]
	}
	rt.rewrite = prog
	st := b.routeStats[rt.key]
	if st == nil {
		st = p.routeStats[rt.key]
	}
	if st == nil {
		st = new(counters)
	}
	b.routeStats[rt.key] = st
	rt.stats = st
	return rt, nil
}

// backendFor returns the running backend for a server of u, or a new one.
func (p *Proxy) backendFor(b *built, u config.Upstream, spec config.ServerSpec, entry string) (*backend, error) {
	id := u.Name + " " + spec.Key
	if be := b.backends[id]; be != nil {
		return be, nil
	}
	if be := p.backends[id]; be != nil {
		if spec.Scheme == "app" {
			src := p.appSource(spec.Address)
			if src == nil {
				return nil, fmt.Errorf("upstream %s: app %q is not running", u.Name, spec.Address)
			}
			b.sources[be.tr.(*laneTransport).g] = src // the app may have been re-created
		}
		b.backends[id] = be
		return be, nil
	}
	be := &backend{p: p, upstream: u.Name, spec: spec, entry: entry, id: id}
	switch spec.Scheme {
	case "app":
		src := p.appSource(spec.Address)
		if src == nil {
			return nil, fmt.Errorf("upstream %s: app %q is not running", u.Name, spec.Address)
		}
		be.tr = &laneTransport{g: newLaneGroup(spec.Address, src)}
	case "uwsgi":
		be.tr = newUwsgiTransport(spec)
	case "http":
		be.tr = newHTTPTransport(spec, u)
	default:
		return nil, fmt.Errorf("upstream %s: unknown server scheme %q", u.Name, spec.Scheme)
	}
	b.backends[id] = be
	b.fresh = append(b.fresh, be)
	return be, nil
}

func (p *Proxy) appSource(name string) LaneSource {
	if p.opts.Apps == nil {
		return nil
	}
	src := p.opts.Apps(name)
	if isNilSource(src) {
		return nil
	}
	return src
}

// Apply swaps in a new configuration: routes, upstreams, listeners, limits
// and the access log. Requests in flight finish on the configuration they
// started with; new ones use the new one. Listeners that stay are not
// closed; new ones are bound before anything changes, removed ones stop
// accepting and finish their requests within grace_period. Servers that
// stay keep their connections, health and admin state (an operator's
// admin state gives way only when the config's own "down" flag for the
// server changes) and statistics.
//
// If anything fails (a listener cannot bind, an app is not running, the
// access log cannot be opened) the error is returned and nothing changed.
func (p *Proxy) Apply(cfg *config.Config) error {
	if cfg == nil || cfg.Proxy == nil {
		return errors.New("proxy: the configuration has no [proxy] section")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("proxy: closed")
	}
	nb, err := p.build(cfg)
	if err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	rollback := func() {
		for _, be := range nb.fresh {
			be.tr.closeIdle()
		}
	}
	if err := os.MkdirAll(nb.tab.tempDir, 0o700); err != nil {
		rollback()
		return fmt.Errorf("proxy: temp_dir: %w", err)
	}
	// Bind the new listeners first: a failure leaves everything as it was.
	bound := map[string]net.Listener{}
	for _, addr := range cfg.Proxy.Listen {
		if p.listeners[addr] != nil {
			continue
		}
		ln, err := listen(addr)
		if err != nil {
			for _, l := range bound {
				l.Close()
			}
			rollback()
			return fmt.Errorf("proxy: %w", err)
		}
		bound[addr] = ln
	}
	sink, file, err := p.openAccess(cfg)
	if err != nil {
		for _, l := range bound {
			l.Close()
		}
		rollback()
		return fmt.Errorf("proxy: %w", err)
	}

	// Commit. From here on nothing fails.
	for g, src := range nb.sources {
		g.setSource(src)
	}
	for _, pl := range nb.tab.pools {
		for _, m := range pl.members() {
			p.settle(m, pl)
		}
		pl.bal.Store(newBalancer(pl.bal.Load().kind, pl.members())) // weights may have changed
	}
	if old := p.tab.Swap(nb.tab); old != nil {
		old.release()
	}
	if file != nil {
		if err := file.Commit(); err != nil {
			p.log.Warn("access log: closing the previous file", "error", err)
		}
	}
	if sink != nil {
		p.access.Store(sink)
	}
	p.limiter.setLimit(cfg.Proxy.MaxConnections)
	for addr, ln := range bound {
		l := newListener(addr, ln)
		l.start(p, p.handlerFor(addr), nb.tab.lim)
		p.listeners[addr] = l
	}
	grace := cfg.Proxy.GracePeriod.D()
	for addr, l := range p.listeners {
		if bound[addr] != nil {
			continue
		}
		if !slices.Contains(cfg.Proxy.Listen, addr) {
			delete(p.listeners, addr)
			p.background(func() {
				ctx, cancel := context.WithTimeout(context.Background(), grace)
				defer cancel()
				l.shutdown(ctx)
			})
			continue
		}
		l.mu.Lock()
		same := l.lim == nb.tab.lim
		l.mu.Unlock()
		if !same {
			// New limits: a new engine on the same socket; the old one
			// finishes its connections.
			prev := l.swap(p, p.handlerFor(addr), nb.tab.lim)
			p.background(func() {
				ctx, cancel := context.WithTimeout(context.Background(), grace)
				defer cancel()
				prev.shutdown(ctx)
			})
		}
	}
	// Backends no longer used: stop their checks; their connections go as
	// their last requests end.
	for id, be := range p.backends {
		if nb.backends[id] == nil {
			be.stopChecks()
			be.tr.closeIdle()
		}
	}
	p.backends = nb.backends
	p.routeStats = nb.routeStats
	return nil
}

// settle carries a backend's state into its new member: the admin state
// comes from the config unless an operator's stands (it gives way when the
// config's own "down" flag for the server changes), the weight likewise;
// then timeouts and the active health check.
func (p *Proxy) settle(m *member, pl *pool) {
	be := m.b
	be.mu.Lock()
	fresh := !be.configured
	be.configured = true
	if fresh || be.cfgDown != m.down {
		be.adminSet = false
	}
	be.cfgDown = m.down
	adminSet := be.adminSet
	if fresh || be.cfgWeight != m.weight {
		be.weightSet = 0
	}
	be.cfgWeight = m.weight
	if be.weightSet > 0 {
		m.weight = be.weightSet
	}
	be.maxFails, be.failTimout = m.maxFails, m.failTimeout
	if m.maxFails == 0 {
		be.passive = passiveHealth{}
		be.failedUntil.Store(0)
		be.pending.Store(0)
	}
	be.mu.Unlock()
	if !adminSet {
		state := AdminUp
		if m.down {
			state = AdminDown
		}
		if fresh {
			be.admin.Store(adminValue(state))
		} else {
			be.setAdmin(state, "config")
		}
	}
	if ht, ok := be.tr.(*httpTransport); ok {
		ht.setTimeouts(pl.cfg)
	}
	be.startChecks(pl.cfg.Health)
}

// handlerFor returns the handler of the listener at addr.
func (p *Proxy) handlerFor(addr string) http.Handler {
	port := ""
	if !strings.HasPrefix(addr, "unix:") {
		if _, pt, err := net.SplitHostPort(addr); err == nil {
			port = pt
		}
	}
	host, _, _ := net.SplitHostPort(addr)
	return &listenerHandler{p: p, port: port, host: host}
}

// openAccess prepares the access log cfg asks for: nil when it does not
// change. The lines go to the log store's "access" buffer (memory, for the
// console and `stackctl logs access`) and to its file, RunDir/logs/access.log
// or the file access_log names; a new file is opened here and used from the
// switch's Commit, so that a reload that cannot open it changes nothing.
func (p *Proxy) openAccess(cfg *config.Config) (*accessSink, *logs.FileSwitch, error) {
	path := cfg.Proxy.AccessLog
	if cur := p.access.Load(); cur != nil && cur.path == path {
		return nil, nil, nil
	}
	if path == "off" {
		return &accessSink{path: path}, nil, nil
	}
	buf, err := p.opts.Logs.Buffer(logs.SourceAccess)
	if err != nil {
		return nil, nil, fmt.Errorf("access log: %w", err)
	}
	file := path
	if cfg.DefaultAccessLog() {
		file = p.opts.Logs.Path(logs.SourceAccess)
	}
	var sw *logs.FileSwitch
	if buf.Path() != file {
		if sw, err = buf.PrepareFile(file); err != nil {
			return nil, nil, fmt.Errorf("access log: %w", err)
		}
	}
	return &accessSink{buf: buf, path: path}, sw, nil
}

// AccessLog returns the buffer the access log goes to, nil when it is off.
func (p *Proxy) AccessLog() *logs.Buffer {
	if s := p.access.Load(); s != nil {
		return s.buf
	}
	return nil
}

// errorLogf receives the engine's protocol errors and handler panics.
func (p *Proxy) errorLogf(format string, args ...any) {
	p.log.Warn(fmt.Sprintf(format, args...))
}

// background runs f as a goroutine Close waits for.
func (p *Proxy) background(f func()) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		f()
	}()
}

// SetServerState sets a server's admin state: "up", "drain" (no new
// requests; those in flight finish) or "down". server is the server's
// address as in the config ("uwsgi://127.0.0.1:3031", "app:hello"). The
// state survives reloads unless the config's own "down" flag for the
// server changes.
func (p *Proxy) SetServerState(upstream, server, state string) error {
	if !validAdmin(state) {
		return fmt.Errorf("proxy: invalid state %q: want up, drain or down", state)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	m, err := p.findMember(upstream, server)
	if err != nil {
		return err
	}
	m.b.mu.Lock()
	m.b.adminSet = true
	m.b.mu.Unlock()
	m.b.setAdmin(state, "api")
	return nil
}

// SetWeight sets a server's weight (1 to 1000) until the config's own
// weight for it changes.
func (p *Proxy) SetWeight(upstream, server string, w int) error {
	if w < 1 || w > 1000 {
		return fmt.Errorf("proxy: invalid weight %d: want 1 to 1000", w)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	m, err := p.findMember(upstream, server)
	if err != nil {
		return err
	}
	pl := p.tab.Load().pools[upstream]
	pl.bal.Store(pl.withWeight(m.index, w))
	m.b.mu.Lock()
	m.b.weightSet = w
	m.b.mu.Unlock()
	return nil
}

func (p *Proxy) findMember(upstream, server string) (*member, error) {
	if p.closed {
		return nil, errors.New("proxy: closed")
	}
	pl := p.tab.Load().pools[upstream]
	if pl == nil {
		return nil, fmt.Errorf("proxy: no upstream %q", upstream)
	}
	m := pl.memberByServer(server)
	if m == nil {
		return nil, fmt.Errorf("proxy: upstream %s has no server %q", upstream, server)
	}
	return m, nil
}

// Snapshot returns the proxy's state and statistics.
func (p *Proxy) Snapshot() Snapshot {
	t := p.tab.Load()
	now := time.Now()
	s := Snapshot{Listen: slices.Clone(t.listen), Connections: p.conns.Load(), Counters: p.stats.snapshot()}
	for _, rt := range t.router.all {
		rs := RouteSnapshot{Name: rt.name, Host: rt.host, Match: rt.kind.String() + " " + rt.pattern, Counters: rt.stats.snapshot()}
		switch {
		case rt.static != nil:
			rs.Handler = "static " + t.cfg.Proxy.Routes[rt.index].Static
		case rt.upstream != nil:
			rs.Handler = "upstream " + rt.upstream.name
		case rt.redirect != "":
			rs.Handler = fmt.Sprintf("redirect %d %s", rt.status, rt.redirect)
		default:
			rs.Handler = "rewrite"
		}
		s.Routes = append(s.Routes, rs)
	}
	names := slices.Sorted(maps.Keys(t.pools))
	for _, name := range names {
		pl := t.pools[name]
		bl := pl.bal.Load()
		us := UpstreamSnapshot{Name: name, Balance: bl.kind.String()}
		for _, m := range bl.members {
			us.Servers = append(us.Servers, m.b.snapshot(m, now))
		}
		s.Upstreams = append(s.Upstreams, us)
	}
	sort.Slice(s.Listen, func(i, j int) bool { return s.Listen[i] < s.Listen[j] })
	return s
}

// Addrs returns the bound address of every listener (with the real port
// when the config said port 0), sorted.
func (p *Proxy) Addrs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, l := range p.listeners {
		a := l.ln.Addr()
		if a.Network() == "unix" {
			out = append(out, "unix:"+a.String())
		} else {
			out = append(out, a.String())
		}
	}
	sort.Strings(out)
	return out
}

// Close stops the proxy gracefully: listeners stop accepting, requests in
// flight finish until ctx ends (then their connections are closed), health
// checks stop and idle upstream connections close. No goroutine of the
// proxy is left when it returns.
func (p *Proxy) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	ls := make([]*listener, 0, len(p.listeners))
	for _, l := range p.listeners {
		ls = append(ls, l)
	}
	p.listeners = map[string]*listener{}
	backends := p.backends
	p.mu.Unlock()

	var wg sync.WaitGroup
	errs := make([]error, len(ls))
	for i, l := range ls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = l.shutdown(ctx)
		}()
	}
	wg.Wait()
	// Upgraded (WebSocket) connections are not the engines' any more.
	p.closeUpgrades(ctx)
	for _, be := range backends {
		be.stopChecks()
	}
	p.wg.Wait()
	for _, be := range backends {
		be.tr.closeIdle()
	}
	if t := p.tab.Load(); t != nil {
		t.release()
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("proxy: close: %w", err)
	}
	return nil
}
