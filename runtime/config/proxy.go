package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/stackctl/stackctl/runtime/proxy/rewrite"
)

// Proxy is the HTTP front door: listeners and the routes they serve. See
// docs/proxy.md for every key.
type Proxy struct {
	// Listen are the addresses served: "HOST:PORT" or "unix:/path".
	Listen []string `toml:"listen"`
	// AccessLog is where the access log goes: unset means the log store's
	// file (RunDir/logs/access.log), a path means that file, "off"
	// disables the access log.
	AccessLog string  `toml:"access_log"`
	Routes    []Route `toml:"route"`
	// Rewrite are server-level rewrite rules, applied before routing.
	Rewrite []rewrite.Rule `toml:"rewrite"`

	// MaxBody is the largest request body accepted (413 above it); a route
	// may set its own. nginx's client_max_body_size.
	MaxBody Size `toml:"max_body"`
	// BodyBuffer is the largest request body kept in memory before it is
	// passed upstream; larger bodies are spooled to a temporary file in
	// TempDir. Request bodies are always read whole before an upstream sees
	// them, so a slow client never holds an app worker.
	BodyBuffer Size `toml:"body_buffer"`
	// TempDir receives spooled request bodies. Default RunDir/proxy_temp.
	TempDir string `toml:"temp_dir"`

	// MaxHeaderSize bounds the request line and headers together (431
	// above it); MaxHeaders their number.
	MaxHeaderSize Size `toml:"max_header_size"`
	MaxHeaders    int  `toml:"max_headers"`
	// ReadHeaderTimeout is how long a client may take to send a request's
	// head; BodyTimeout how long between two reads of its body;
	// SendTimeout how long between two writes of the response;
	// KeepaliveTimeout how long an idle keep-alive connection is kept.
	ReadHeaderTimeout Duration `toml:"read_header_timeout"`
	BodyTimeout       Duration `toml:"body_timeout"`
	SendTimeout       Duration `toml:"send_timeout"`
	KeepaliveTimeout  Duration `toml:"keepalive_timeout"`
	// MaxConnections bounds open client connections across all listeners;
	// beyond it new connections wait in the listen backlog.
	MaxConnections int `toml:"max_connections"`
	// GracePeriod is how long a removed listener, or the proxy on shutdown,
	// lets requests in flight finish.
	GracePeriod Duration `toml:"grace_period"`
}

// Route maps requests (by host and path) to one handler: static files, an
// upstream, or a redirect. Exactly one of Path, Exact and Regex selects the
// requests (Path "/" when none is set); exactly one of Static, Upstream and
// Redirect handles them (or none, when the route's rewrite rules decide).
type Route struct {
	// Name identifies the route in stats and as a fallback target ("@name").
	Name string `toml:"name"`
	// Host restricts the route to one host name: "example.com",
	// "*.example.com" (any subdomain) or "www.example.*".
	Host string `toml:"host"`
	// Path is a prefix (the longest matching prefix wins); Exact an exact
	// path (nginx "location ="); Regex an RE2 regular expression on the path
	// (nginx "location ~", "(?i)" for "~*"), tried in file order after the
	// exact and prefix matches unless the best prefix route has NoRegex
	// (nginx "^~").
	Path    string `toml:"path"`
	Exact   string `toml:"exact"`
	Regex   string `toml:"regex"`
	NoRegex bool   `toml:"no_regex"`

	// Static serves files from this directory; the part of the path below
	// the route's prefix names the file (as nginx "alias").
	Static  string   `toml:"static"`
	Index   []string `toml:"index"`
	Listing bool     `toml:"listing"`
	// Precompressed serves NAME.br / NAME.gz siblings to clients that
	// accept them (default true; nginx's gzip_static).
	Precompressed *bool `toml:"precompressed"`
	// CacheBytes is the memory for small files kept with prebuilt headers
	// (default 32MiB; 0 turns the cache off).
	CacheBytes *Size `toml:"cache_bytes"`
	// Fallback is what a static route does for a missing file (nginx
	// try_files): "@name" hands the request to the route of that name,
	// "/path" serves that path instead (routed again), "=404" answers that
	// status.
	Fallback string `toml:"fallback"`

	// Upstream passes requests to an [[upstream]] or an [[app]] of that name.
	Upstream string `toml:"upstream"`
	// StripPrefix removes the route's Path prefix before passing the request
	// on; for uwsgi servers it becomes SCRIPT_NAME (the app's mount point).
	StripPrefix bool `toml:"strip_prefix"`

	// Redirect answers with a redirect to this URL; $scheme, $host,
	// $request_uri, $uri and $args are replaced. Status is 301, 302 (the
	// default), 303, 307 or 308.
	Redirect string `toml:"redirect"`
	Status   int    `toml:"status"`

	// MaxBody overrides the proxy's max_body for this route.
	MaxBody Size `toml:"max_body"`
	// Rewrite are this route's rewrite rules, applied after routing.
	Rewrite []rewrite.Rule `toml:"rewrite"`
}

// Upstream is a named pool of servers the proxy balances across.
type Upstream struct {
	Name string `toml:"name"`
	// Servers: "app:NAME" (an [[app]]'s workers, over private pipelined
	// lanes), "uwsgi://HOST:PORT", "uwsgi://unix:/path.sock",
	// "http://HOST:PORT", "http://unix:/path.sock", each optionally
	// followed by nginx-style options: "weight=N", "backup", "down",
	// "max_fails=N", "fail_timeout=D".
	Servers []string `toml:"servers"`
	// Balance: round_robin (weighted, smooth), least_conn, ip_hash, hash
	// (consistent, on HashKey), random_two (power of two choices).
	Balance string `toml:"balance"`
	// HashKey is what balance = "hash" hashes: "header:NAME",
	// "cookie:NAME", "uri", "path" or "ip".
	HashKey string `toml:"hash_key"`

	// Tries bounds the attempts per request (0: each server once). A
	// request is retried on the next server when it failed before any
	// response byte reached the client, for idempotent methods (GET, HEAD,
	// OPTIONS, PUT, DELETE, TRACE) or when the request never left stackctl;
	// RetryNonIdempotent allows retrying POST and PATCH too.
	Tries              int      `toml:"tries"`
	TryTimeout         Duration `toml:"try_timeout"` // all attempts together; 0 = no limit
	RetryNonIdempotent bool     `toml:"retry_non_idempotent"`

	// ConnectTimeout bounds connecting to a server (for app: servers,
	// waiting for a free worker lane); SendTimeout writing the request;
	// ReadTimeout waiting for the response head and then between two reads
	// of its body.
	ConnectTimeout Duration `toml:"connect_timeout"`
	SendTimeout    Duration `toml:"send_timeout"`
	ReadTimeout    Duration `toml:"read_timeout"`

	// MaxFails failures within FailTimeout take a server out for
	// FailTimeout (nginx passive health); 0 disables. Servers may override.
	MaxFails    int      `toml:"max_fails"`
	FailTimeout Duration `toml:"fail_timeout"`

	// Keepalive is how many idle connections to each http:// server are
	// kept for reuse.
	Keepalive int `toml:"keepalive"`

	// QueueDepth is how many requests may wait on one busy worker lane of
	// an app: server when no lane is idle; QueueMaxAge keeps requests from
	// queueing behind one that has already run this long.
	QueueDepth  int      `toml:"queue_depth"`
	QueueMaxAge Duration `toml:"queue_max_age"`
	// RequeueAfter: a GET, HEAD or OPTIONS queued behind another request on
	// a worker lane, and still waiting this long (the request ahead turned
	// out slow), is sent to another worker once one is idle; the first
	// copy's answer is discarded. Nil means DefaultRequeueAfter; 0 turns it
	// off.
	RequeueAfter *Duration `toml:"requeue_after"`

	// Health configures active health checks; nil disables them.
	Health *Health `toml:"health"`
}

// Health is an active health check: every Interval each server gets
// "GET Path"; Fall consecutive failures mark it unhealthy, Rise consecutive
// successes healthy again.
type Health struct {
	Path     string   `toml:"path"`
	Host     string   `toml:"host"`
	Interval Duration `toml:"interval"`
	Timeout  Duration `toml:"timeout"`
	// Expect is the status a healthy server answers; 0 means any 2xx or 3xx.
	Expect int `toml:"expect"`
	Rise   int `toml:"rise"`
	Fall   int `toml:"fall"`
}

// Proxy defaults.
const (
	DefaultMaxBody           = Size(1 << 20)
	DefaultBodyBuffer        = Size(1 << 20)
	DefaultMaxHeaderSize     = Size(32 << 10)
	DefaultMaxHeaders        = 100
	DefaultReadHeaderTimeout = Duration(10 * time.Second)
	DefaultBodyTimeout       = Duration(60 * time.Second)
	DefaultSendTimeout       = Duration(60 * time.Second)
	DefaultKeepaliveTimeout  = Duration(75 * time.Second)
	DefaultMaxConnections    = 16384
	DefaultProxyGrace        = Duration(10 * time.Second)

	DefaultConnectTimeout = Duration(10 * time.Second)
	DefaultSendTimeoutUp  = Duration(60 * time.Second)
	DefaultReadTimeout    = Duration(60 * time.Second)
	DefaultMaxFails       = 1
	DefaultFailTimeout    = Duration(10 * time.Second)
	DefaultKeepalive      = 32
	DefaultQueueDepth     = 8
	DefaultQueueMaxAge    = Duration(20 * time.Millisecond)
	DefaultRequeueAfter   = Duration(100 * time.Millisecond)

	DefaultHealthInterval = Duration(5 * time.Second)
	DefaultHealthTimeout  = Duration(2 * time.Second)
	DefaultHealthRise     = 2
	DefaultHealthFall     = 3
)

// Balance algorithms.
var balances = []string{"round_robin", "least_conn", "ip_hash", "hash", "random_two"}

func (p *Proxy) setDefaults(c *Config) {
	if p.AccessLog == "" {
		p.AccessLog = filepath.Join(c.RunDir, "logs", "access.log")
	} else if p.AccessLog != "off" {
		p.AccessLog = c.abs(p.AccessLog)
	}
	if p.MaxBody == 0 {
		p.MaxBody = DefaultMaxBody
	}
	if p.BodyBuffer == 0 {
		p.BodyBuffer = DefaultBodyBuffer
	}
	if p.TempDir == "" {
		p.TempDir = filepath.Join(c.RunDir, "proxy_temp")
	}
	p.TempDir = c.abs(p.TempDir)
	if p.MaxHeaderSize == 0 {
		p.MaxHeaderSize = DefaultMaxHeaderSize
	}
	if p.MaxHeaders == 0 {
		p.MaxHeaders = DefaultMaxHeaders
	}
	if p.ReadHeaderTimeout == 0 {
		p.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if p.BodyTimeout == 0 {
		p.BodyTimeout = DefaultBodyTimeout
	}
	if p.SendTimeout == 0 {
		p.SendTimeout = DefaultSendTimeout
	}
	if p.KeepaliveTimeout == 0 {
		p.KeepaliveTimeout = DefaultKeepaliveTimeout
	}
	if p.MaxConnections == 0 {
		p.MaxConnections = DefaultMaxConnections
	}
	if p.GracePeriod == 0 {
		p.GracePeriod = DefaultProxyGrace
	}
	for i := range p.Routes {
		rt := &p.Routes[i]
		if rt.Path == "" && rt.Exact == "" && rt.Regex == "" {
			rt.Path = "/"
		}
		if rt.Static != "" {
			rt.Static = c.abs(rt.Static)
		}
		if rt.Redirect != "" && rt.Status == 0 {
			rt.Status = 302
		}
	}
}

// DefaultAccessLog reports whether the access log goes to the log store's
// own file (RunDir/logs/access.log) rather than a file of its own or nowhere.
func (c *Config) DefaultAccessLog() bool {
	return c.Proxy != nil && c.Proxy.AccessLog == filepath.Join(c.RunDir, "logs", "access.log")
}

func (u *Upstream) setDefaults() {
	if u.Balance == "" {
		u.Balance = "round_robin"
	}
	if u.ConnectTimeout == 0 {
		u.ConnectTimeout = DefaultConnectTimeout
	}
	if u.SendTimeout == 0 {
		u.SendTimeout = DefaultSendTimeoutUp
	}
	if u.ReadTimeout == 0 {
		u.ReadTimeout = DefaultReadTimeout
	}
	if u.FailTimeout == 0 {
		u.FailTimeout = DefaultFailTimeout
	}
	if u.Keepalive == 0 {
		u.Keepalive = DefaultKeepalive
	}
	if u.QueueDepth == 0 {
		u.QueueDepth = DefaultQueueDepth
	}
	if u.RequeueAfter == nil {
		d := DefaultRequeueAfter
		u.RequeueAfter = &d
	}
	if u.QueueMaxAge == 0 {
		u.QueueMaxAge = DefaultQueueMaxAge
	}
	if h := u.Health; h != nil {
		if h.Path == "" {
			h.Path = "/"
		}
		if h.Interval == 0 {
			h.Interval = DefaultHealthInterval
		}
		if h.Timeout == 0 {
			h.Timeout = DefaultHealthTimeout
		}
		if h.Rise == 0 {
			h.Rise = DefaultHealthRise
		}
		if h.Fall == 0 {
			h.Fall = DefaultHealthFall
		}
	}
}

// setMaxFailsDefaults gives max_fails its default where the file does not
// set it; it runs after the positions are indexed, so that a written
// "max_fails = 0" (passive health off) stays 0.
func (c *Config) setMaxFailsDefaults() {
	for i := range c.Upstreams {
		if _, written := c.pos[fmt.Sprintf("upstream[%d].max_fails", i)]; !written && c.Upstreams[i].MaxFails == 0 {
			c.Upstreams[i].MaxFails = DefaultMaxFails
		}
	}
}

// ImplicitUpstream returns the upstream an [[app]] named name is when a
// route refers to it directly: its own workers, with default settings.
func ImplicitUpstream(name string) Upstream {
	u := Upstream{Name: name, Servers: []string{"app:" + name}, MaxFails: 0}
	u.setDefaults()
	return u
}

// UpstreamNamed returns the [[upstream]] named name, the implicit upstream
// of an [[app]] of that name, or false.
func (c *Config) UpstreamNamed(name string) (Upstream, bool) {
	for _, u := range c.Upstreams {
		if u.Name == name {
			return u, true
		}
	}
	if c.App(name) != nil {
		return ImplicitUpstream(name), true
	}
	return Upstream{}, false
}

// Target names what a route's upstream refers to: an [[upstream]] or an app.
func (c *Config) upstreamExists(name string) bool {
	_, ok := c.UpstreamNamed(name)
	return ok
}

// ServerSpec is one parsed entry of an upstream's servers.
type ServerSpec struct {
	// Scheme is "app", "uwsgi" or "http".
	Scheme string
	// Network is "tcp" or "unix" for uwsgi and http servers.
	Network string
	// Address is HOST:PORT or a socket path; for app servers the app name.
	Address string
	// Key is the server's identity: scheme and address without options
	// ("uwsgi://127.0.0.1:3031", "app:hello"). State carries over reloads
	// by key.
	Key         string
	Weight      int
	Backup      bool
	Down        bool
	MaxFails    int // -1: the upstream's
	FailTimeout time.Duration
}

// ParseServer parses an upstream server entry such as
// "uwsgi://10.0.0.5:3031 weight=2 backup".
func ParseServer(s string) (ServerSpec, error) {
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return ServerSpec{}, errors.New("empty server")
	}
	sp := ServerSpec{Weight: 1, MaxFails: -1}
	target := fields[0]
	switch {
	case strings.HasPrefix(target, "app:"):
		sp.Scheme, sp.Address = "app", strings.TrimPrefix(target, "app:")
		if !nameRE.MatchString(sp.Address) {
			return sp, fmt.Errorf("invalid app name in %q", target)
		}
		sp.Key = "app:" + sp.Address
	case strings.HasPrefix(target, "uwsgi://"), strings.HasPrefix(target, "http://"):
		scheme, rest, _ := strings.Cut(target, "://")
		sp.Scheme = scheme
		if p, ok := strings.CutPrefix(rest, "unix:"); ok {
			if p == "" || !strings.HasPrefix(p, "/") {
				return sp, fmt.Errorf("invalid unix socket in %q: want an absolute path such as %s://unix:/run/app.sock", target, scheme)
			}
			if len(p) > 107 {
				return sp, fmt.Errorf("unix socket path longer than 107 bytes in %q", target)
			}
			sp.Network, sp.Address = "unix", p
		} else {
			rest = strings.TrimSuffix(rest, "/")
			host, port, err := splitHostPort(rest)
			if err != nil {
				return sp, fmt.Errorf("invalid address in %q: %v", target, err)
			}
			if strings.ContainsAny(host, "/?#@") {
				return sp, fmt.Errorf("invalid address in %q: want %s://HOST:PORT", target, scheme)
			}
			sp.Network, sp.Address = "tcp", host+":"+port
			if strings.Contains(host, ":") {
				sp.Address = "[" + host + "]:" + port
			}
		}
		if sp.Network == "unix" {
			sp.Key = scheme + "://unix:" + sp.Address
		} else {
			sp.Key = scheme + "://" + sp.Address
		}
	default:
		return sp, fmt.Errorf("unknown server %q: want app:NAME, uwsgi://HOST:PORT, uwsgi://unix:/path, http://HOST:PORT or http://unix:/path", target)
	}
	for _, opt := range fields[1:] {
		k, v, hasV := strings.Cut(opt, "=")
		switch k {
		case "weight":
			n, err := strconv.Atoi(v)
			if !hasV || err != nil || n < 1 || n > 1000 {
				return sp, fmt.Errorf("invalid %q: weight must be 1 to 1000", opt)
			}
			sp.Weight = n
		case "backup":
			if hasV {
				return sp, fmt.Errorf("invalid %q: backup takes no value", opt)
			}
			sp.Backup = true
		case "down":
			if hasV {
				return sp, fmt.Errorf("invalid %q: down takes no value", opt)
			}
			sp.Down = true
		case "max_fails":
			n, err := strconv.Atoi(v)
			if !hasV || err != nil || n < 0 {
				return sp, fmt.Errorf("invalid %q: max_fails must be a count (0 = off)", opt)
			}
			sp.MaxFails = n
		case "fail_timeout":
			d, err := time.ParseDuration(v)
			if !hasV || err != nil || d <= 0 {
				return sp, fmt.Errorf("invalid %q: fail_timeout must be a duration such as 10s", opt)
			}
			sp.FailTimeout = d
		default:
			return sp, fmt.Errorf("unknown server option %q (known: weight=N, backup, down, max_fails=N, fail_timeout=D)", opt)
		}
	}
	return sp, nil
}

func splitHostPort(s string) (host, port string, err error) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return "", "", errors.New("missing port")
	}
	host, port = s[:i], s[i+1:]
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	if host == "" {
		return "", "", errors.New("missing host")
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return "", "", fmt.Errorf("invalid port %q", port)
	}
	return host, port, nil
}

var hashKeyRE = regexp.MustCompile(`^(header:[A-Za-z0-9-]+|cookie:[!#$%&'*+.^_|~0-9A-Za-z-]+|uri|path|ip)$`)

func (c *Config) validateProxy(r *report) {
	c.setMaxFailsDefaults()
	names := map[string]int{}
	for i := range c.Upstreams {
		u := &c.Upstreams[i]
		key := fmt.Sprintf("upstream[%d]", i)
		switch {
		case u.Name == "":
			r.add(key+".name", "missing: every upstream needs a name")
		case !nameRE.MatchString(u.Name):
			r.add(key+".name", "invalid name %q: use letters, digits, '_', '-', '.' (at most 64)", u.Name)
		case c.App(u.Name) != nil:
			r.add(key+".name", "upstream %q has the name of an app; an app is already an upstream of its own workers", u.Name)
		default:
			if j, dup := names[u.Name]; dup {
				r.add(key+".name", "duplicate upstream name %q (also upstream[%d], line %d)", u.Name, j, r.pos.line(fmt.Sprintf("upstream[%d].name", j)))
			}
			names[u.Name] = i
		}
		if len(u.Servers) == 0 {
			r.add(key+".servers", "missing: an upstream needs at least one server")
		}
		seen := map[string]bool{}
		primaries := 0
		for j, s := range u.Servers {
			skey := fmt.Sprintf("%s.servers[%d]", key, j)
			sp, err := ParseServer(s)
			if err != nil {
				r.add(skey, "%v", err)
				continue
			}
			if seen[sp.Key] {
				r.add(skey, "server %s is listed twice", sp.Key)
			}
			seen[sp.Key] = true
			if sp.Scheme == "app" && c.App(sp.Address) == nil {
				r.add(skey, "no app named %q", sp.Address)
			}
			if !sp.Backup {
				primaries++
			}
		}
		if len(u.Servers) > 0 && primaries == 0 {
			r.add(key+".servers", "every server is a backup: at least one must not be")
		}
		if !contains(balances, u.Balance) {
			r.add(key+".balance", "unknown balance %q (known: %s)", u.Balance, strings.Join(balances, ", "))
		}
		switch {
		case u.Balance == "hash" && u.HashKey == "":
			r.add(key+".hash_key", "missing: balance = \"hash\" needs a hash_key such as \"header:X-User\" or \"cookie:session\"")
		case u.HashKey != "" && u.Balance != "hash":
			r.add(key+".hash_key", "only used with balance = \"hash\"")
		case u.HashKey != "" && !hashKeyRE.MatchString(u.HashKey):
			r.add(key+".hash_key", "invalid hash_key %q: want header:NAME, cookie:NAME, uri, path or ip", u.HashKey)
		}
		if u.Tries < 0 || u.Tries > 100 {
			r.add(key+".tries", "must be between 0 (each server once) and 100")
		}
		if u.MaxFails < 0 {
			r.add(key+".max_fails", "must not be negative")
		}
		if u.Keepalive < 0 || u.Keepalive > 10000 {
			r.add(key+".keepalive", "must be between 0 and 10000")
		}
		if u.QueueDepth < 1 || u.QueueDepth > 1024 {
			r.add(key+".queue_depth", "must be between 1 and 1024")
		}
		if h := u.Health; h != nil {
			hkey := key + ".health"
			if !strings.HasPrefix(h.Path, "/") {
				r.add(hkey+".path", "must start with '/', got %q", h.Path)
			}
			if h.Expect != 0 && (h.Expect < 100 || h.Expect > 599) {
				r.add(hkey+".expect", "must be an HTTP status (100-599) or 0 for any 2xx/3xx")
			}
			if h.Rise < 1 || h.Fall < 1 {
				r.add(hkey, "rise and fall must be at least 1")
			}
			if h.Interval.D() < 10*time.Millisecond {
				r.add(hkey+".interval", "must be at least 10ms")
			}
			if h.Timeout > h.Interval {
				r.add(hkey+".timeout", "must not exceed interval (%s)", h.Interval)
			}
		}
	}
	if c.Proxy == nil {
		return
	}
	p := c.Proxy
	if len(p.Listen) == 0 {
		r.add("proxy.listen", "missing: the proxy needs at least one address to listen on")
	}
	listens := map[string]bool{}
	for i, l := range p.Listen {
		key := fmt.Sprintf("proxy.listen[%d]", i)
		if path, ok := strings.CutPrefix(l, "unix:"); ok {
			if !strings.HasPrefix(path, "/") || len(path) > 107 {
				r.add(key, "invalid unix socket %q: want an absolute path of at most 107 bytes", l)
			}
		} else {
			checkTCPAddr(r, key, l)
		}
		if listens[l] {
			r.add(key, "%s is listed twice", l)
		}
		listens[l] = true
	}
	if p.MaxHeaders < 1 {
		r.add("proxy.max_headers", "must be positive")
	}
	if p.MaxHeaderSize < 1024 || p.MaxHeaderSize > 1<<20 {
		r.add("proxy.max_header_size", "must be between 1KiB and 1MiB")
	}
	if p.MaxConnections < 1 {
		r.add("proxy.max_connections", "must be positive")
	}
	if p.AccessLog != "off" {
		if st, err := os.Stat(filepath.Dir(p.AccessLog)); err == nil && !st.IsDir() {
			r.add("proxy.access_log", "%s is not a directory", filepath.Dir(p.AccessLog))
		}
	}
	c.checkRewrite(r, "proxy.rewrite", p.Rewrite)
	routeNames := map[string]int{}
	for i := range p.Routes {
		rt := &p.Routes[i]
		if rt.Name == "" {
			continue
		}
		key := fmt.Sprintf("proxy.route[%d].name", i)
		if !nameRE.MatchString(rt.Name) {
			r.add(key, "invalid name %q: use letters, digits, '_', '-', '.' (at most 64)", rt.Name)
		}
		if j, dup := routeNames[rt.Name]; dup {
			r.add(key, "duplicate route name %q (also proxy.route[%d])", rt.Name, j)
		}
		routeNames[rt.Name] = i
	}
	for i := range p.Routes {
		rt := &p.Routes[i]
		key := fmt.Sprintf("proxy.route[%d]", i)
		matchers := 0
		for _, s := range []string{rt.Path, rt.Exact, rt.Regex} {
			if s != "" {
				matchers++
			}
		}
		if matchers > 1 {
			r.add(key, "a route has one of path, exact, regex")
		}
		if rt.Path != "" && !strings.HasPrefix(rt.Path, "/") {
			r.add(key+".path", "must start with '/', got %q", rt.Path)
		}
		if rt.Exact != "" && !strings.HasPrefix(rt.Exact, "/") {
			r.add(key+".exact", "must start with '/', got %q", rt.Exact)
		}
		if rt.Regex != "" {
			if _, err := regexp.Compile(rt.Regex); err != nil {
				r.add(key+".regex", "invalid regular expression: %v", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
			}
		}
		if rt.NoRegex && rt.Path == "" {
			r.add(key+".no_regex", "only applies to a path (prefix) route")
		}
		if rt.Host != "" && !validHostPattern(rt.Host) {
			r.add(key+".host", "invalid host %q: want a name such as example.com, *.example.com or www.example.*", rt.Host)
		}
		handlers := 0
		for _, s := range []string{rt.Static, rt.Upstream, rt.Redirect} {
			if s != "" {
				handlers++
			}
		}
		if handlers > 1 || (handlers == 0 && len(rt.Rewrite) == 0) {
			r.add(key, "a route needs exactly one of static, upstream, redirect (or only rewrite rules)")
		}
		if rt.Upstream != "" && !c.upstreamExists(rt.Upstream) {
			r.add(key+".upstream", "no upstream or app named %q", rt.Upstream)
		}
		if rt.Static != "" {
			if st, err := os.Stat(rt.Static); err != nil {
				r.add(key+".static", "directory %s does not exist", rt.Static)
			} else if !st.IsDir() {
				r.add(key+".static", "%s is not a directory", rt.Static)
			}
		} else {
			if len(rt.Index) > 0 {
				r.add(key+".index", "only applies to a static route")
			}
			if rt.Listing {
				r.add(key+".listing", "only applies to a static route")
			}
			if rt.Fallback != "" {
				r.add(key+".fallback", "only applies to a static route")
			}
		}
		for j, ix := range rt.Index {
			if ix == "" || strings.ContainsAny(ix, "/\\") {
				r.add(fmt.Sprintf("%s.index[%d]", key, j), "invalid index file name %q", ix)
			}
		}
		if fb := rt.Fallback; fb != "" {
			switch {
			case strings.HasPrefix(fb, "@"):
				if _, ok := routeNames[fb[1:]]; !ok {
					r.add(key+".fallback", "no route named %q", fb[1:])
				} else if routeNames[fb[1:]] == i {
					r.add(key+".fallback", "a route cannot fall back to itself")
				}
			case strings.HasPrefix(fb, "="):
				if n, err := strconv.Atoi(fb[1:]); err != nil || n < 200 || n > 599 {
					r.add(key+".fallback", "invalid status in %q", fb)
				}
			case strings.HasPrefix(fb, "/"):
			default:
				r.add(key+".fallback", "invalid fallback %q: want \"@route\", \"/path\" or \"=404\"", fb)
			}
		}
		if rt.StripPrefix && (rt.Upstream == "" || rt.Path == "") {
			r.add(key+".strip_prefix", "only applies to a path route with an upstream")
		}
		if rt.Redirect != "" {
			switch rt.Status {
			case 301, 302, 303, 307, 308:
			default:
				r.add(key+".status", "invalid redirect status %d: want 301, 302, 303, 307 or 308", rt.Status)
			}
			if _, err := url.Parse(strings.NewReplacer("$scheme", "http", "$host", "h", "$request_uri", "/", "$uri", "/", "$args", "").Replace(rt.Redirect)); err != nil {
				r.add(key+".redirect", "invalid URL %q", rt.Redirect)
			}
		} else if rt.Status != 0 {
			r.add(key+".status", "only applies to a redirect")
		}
		if rt.MaxBody < 0 {
			r.add(key+".max_body", "must not be negative")
		}
		c.checkRewrite(r, key+".rewrite", rt.Rewrite)
	}
}

// checkRewrite compiles rules and reports each problem at its key; a rule
// that proxies (P=name) must name an upstream or app.
func (c *Config) checkRewrite(r *report, key string, rules []rewrite.Rule) {
	if len(rules) == 0 {
		return
	}
	// Dangling P=name references, rule by rule so that one bad rule does
	// not hide another's.
	for i := range rules {
		if prog, err := rewrite.Compile(rules[i : i+1]); err == nil {
			for _, ref := range prog.Proxies() {
				if !c.upstreamExists(ref.Upstream) {
					r.add(fmt.Sprintf("%s[%d].flags", key, i), "no upstream or app named %q", ref.Upstream)
				}
			}
		}
	}
	_, err := rewrite.Compile(rules)
	if err == nil {
		return
	}
	var rerrs interface{ Unwrap() []error }
	errs := []error{err}
	if errors.As(err, &rerrs) {
		errs = rerrs.Unwrap()
	}
	for _, e := range errs {
		var re *rewrite.Error
		if !errors.As(e, &re) {
			r.add(key, "%v", e)
			continue
		}
		k := fmt.Sprintf("%s[%d]", key, re.Rule)
		if re.Cond >= 0 {
			k += fmt.Sprintf(".if[%d]", re.Cond)
		}
		if re.Key != "" && re.Key != "if" {
			k += "." + re.Key
		}
		r.add(k, "%s", re.Msg)
	}
}

func validHostPattern(h string) bool {
	if strings.HasPrefix(h, "*.") && strings.HasSuffix(h, ".*") {
		return false // one wildcard per pattern, as nginx allows
	}
	h = strings.TrimPrefix(h, "*.")
	h = strings.TrimSuffix(h, ".*")
	if h == "" || strings.ContainsAny(h, "*/: ") {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
