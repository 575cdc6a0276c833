// Package config defines stackctl's configuration file: its schema, loading,
// defaults and validation. A Config is plain data: nothing here starts a
// process or opens a socket, so a configuration can be checked (stackctl
// check) or compared with the running one before anything changes.
package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// Config is one whole stackctl configuration.
type Config struct {
	// RunDir holds sockets, worker logs and the worker program. Default: a
	// directory per config file under $XDG_RUNTIME_DIR/stackctl or
	// /tmp/stackctl-UID.
	RunDir string `toml:"run_dir"`
	// Watch reloads the configuration when its file changes.
	Watch bool `toml:"watch"`

	Control   Control    `toml:"control"`
	Console   Console    `toml:"console"`
	Proxy     *Proxy     `toml:"proxy"`
	Upstreams []Upstream `toml:"upstream"`
	Apps      []App      `toml:"app"`

	// File is the absolute path the configuration was loaded from ("" for
	// one built in memory). Relative paths in the file are relative to its
	// directory.
	File string `toml:"-"`

	// Source is the file's text, kept so that a running stack can show it and
	// diff it against a new one.
	Source []byte `toml:"-"`

	pos positions
}

// Control configures the control socket and the optional metrics endpoints.
type Control struct {
	// Socket is the unix socket of the control API. Default: RunDir/control.sock.
	Socket string `toml:"socket"`
	// Metrics is a TCP address for Prometheus metrics; "" disables it.
	Metrics string `toml:"metrics"`
	// Stats is a TCP address serving uWSGI-style stats JSON; "" disables it.
	Stats string `toml:"stats"`
}

// Console configures the terminal console.
type Console struct {
	// Theme is the console's theme: a built-in (dark, light,
	// high-contrast, colorblind, mono) or a user theme file's name.
	Theme string `toml:"theme"`
}

// App is one Python WSGI application served by a pool of worker processes.
type App struct {
	Name    string `toml:"name"`
	Module  string `toml:"module"` // "pkg.mod:callable"; the callable defaults to "application"
	Chdir   string `toml:"chdir"`  // on sys.path and the workers' cwd; default: the config file's directory
	Python  string `toml:"python"` // interpreter; default "python3"
	Workers int    `toml:"workers"`
	Threads int    `toml:"threads"` // threads per worker
	// Socket is where front ends reach the workers with the uwsgi protocol:
	// "HOST:PORT" or "unix:/path". Default: unix:RunDir/NAME.sock.
	Socket string `toml:"socket"`
	// SocketMode is the permission of a unix socket, in octal ("0666"), for a
	// front end running as another user (uWSGI's chmod-socket).
	SocketMode string `toml:"socket_mode"`
	// Listen is the socket's accept backlog.
	Listen int `toml:"listen"`

	MaxRequests    int      `toml:"max_requests"`    // recycle a worker after N requests; 0 = off
	MaxRSS         Size     `toml:"max_rss"`         // recycle a worker above this RSS; 0 = off
	RequestTimeout Duration `toml:"request_timeout"` // replace a worker stuck longer in one request; 0 = off
	GracePeriod    Duration `toml:"grace_period"`    // how long a stopping worker may finish its requests
	StartTimeout   Duration `toml:"start_timeout"`   // how long importing the app may take
	BufferSize     Size     `toml:"buffer_size"`     // largest uwsgi vars block accepted (at most 64KiB)

	Env        map[string]string `toml:"env"`
	PythonPath []string          `toml:"pythonpath"` // extra sys.path entries, relative to chdir
	// TouchReload lists files (touch one to reload, as uWSGI's
	// touch-reload) and directories (any .py file in them changing, for
	// development), relative to chdir; a change chain-reloads the app.
	TouchReload []string `toml:"touch_reload"`
	// Speedups says whether workers use the C versions of their
	// per-request hot spots, which the master compiles once per interpreter
	// with the system's C compiler and Python's headers: "auto" (when
	// they can be built), "off" (pure Python), or "required" (an app whose
	// speedups cannot be built does not start).
	Speedups string `toml:"speedups"`
}

// Defaults applied to every app.
const (
	DefaultWorkers      = 2
	DefaultListen       = 1024
	DefaultPython       = "python3"
	DefaultGracePeriod  = Duration(30e9)
	DefaultStartTimeout = Duration(60e9)
	DefaultBufferSize   = Size(64 << 10)
	MaxBufferSize       = Size(64<<10 - 1) // a u16 datasize
)

// Values of App.Speedups.
const (
	SpeedupsAuto     = "auto"
	SpeedupsOff      = "off"
	SpeedupsRequired = "required"
)

// Callable splits Module into the module path and the callable expression.
func (a *App) Callable() (module, callable string) {
	m, c, ok := strings.Cut(a.Module, ":")
	if !ok || c == "" {
		c = "application"
	}
	return m, c
}

// SocketNetwork returns the network ("unix" or "tcp") and address of Socket.
func (a *App) SocketNetwork() (network, address string) {
	if p, ok := strings.CutPrefix(a.Socket, "unix:"); ok {
		return "unix", p
	}
	return "tcp", a.Socket
}

// Load reads, parses and validates the configuration at path. On a problem
// in the file it returns Errors, each with file, line and key.
func Load(path string) (*Config, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("load config %s: %w", path, err)
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	return Parse(abs, data)
}

// Parse parses and validates a configuration whose text is data. file names
// it in errors and anchors relative paths; it should be absolute.
func Parse(file string, data []byte) (*Config, error) {
	c := &Config{File: file, Source: bytes.Clone(data)}
	if errs := checkSchema(file, data); len(errs) > 0 {
		return nil, errs
	}
	dec := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return nil, decodeErrors(file, data, err)
	}
	c.pos = indexPositions(data)
	c.setDefaults()
	r := &report{file: file, pos: c.pos}
	c.validate(r)
	if len(r.errs) > 0 {
		return nil, r.errs
	}
	return c, nil
}

// decodeErrors turns go-toml's errors into Errors with the key path written
// the way validation writes it ("app[1].workers").
func decodeErrors(file string, data []byte, err error) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) {
		pos := indexPositions(data)
		var es Errors
		for i := range strict.Errors {
			de := &strict.Errors[i]
			line, _ := de.Position()
			es = append(es, &Error{File: file, Line: line, Key: locateKey(pos, de.Key(), line), Msg: "unknown key"})
		}
		return es
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		line, _ := de.Position()
		msg := strings.TrimPrefix(de.Error(), "toml: ")
		key := ""
		if len(de.Key()) > 0 {
			key = locateKey(indexPositions(data), de.Key(), line)
			msg = friendlyTypeError(msg)
		}
		return Errors{{File: file, Line: line, Key: key, Msg: msg}}
	}
	return Errors{{File: file, Msg: err.Error()}}
}

// locateKey finds the indexed path ("app[1].workers") of a go-toml key
// (["app","workers"]) written at line; the go-toml key lacks array indexes.
func locateKey(pos positions, key []string, line int) string {
	want := strings.Join(key, ".")
	for path, l := range pos {
		if l == line && stripIndexes(path) == want {
			return path
		}
	}
	return want
}

var indexRE = regexp.MustCompile(`\[\d+\]`)

func stripIndexes(path string) string { return indexRE.ReplaceAllString(path, "") }

var typeErrRE = regexp.MustCompile(`^cannot decode TOML (\w+) into struct field [\w.]+ of type (.+)$`)

func friendlyTypeError(msg string) string {
	if m := typeErrRE.FindStringSubmatch(msg); m != nil {
		want := m[2]
		switch {
		case strings.HasPrefix(want, "int"):
			want = "integer"
		case strings.HasPrefix(want, "[]"):
			want = "array"
		case strings.HasPrefix(want, "map["), strings.HasPrefix(want, "config."), strings.HasPrefix(want, "*config."):
			want = "table"
		}
		return fmt.Sprintf("wrong type: want %s, got %s", want, m[1])
	}
	return msg
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// dir is the directory relative paths are resolved against.
func (c *Config) dir() string {
	if c.File == "" {
		wd, _ := os.Getwd()
		return wd
	}
	return filepath.Dir(c.File)
}

func (c *Config) abs(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.dir(), p)
}

// DefaultRunDir is the run directory used when run_dir is not set: one per
// configuration file, so two stacks never share sockets.
func DefaultRunDir(file string) string {
	base := os.Getenv("XDG_RUNTIME_DIR")
	if base != "" {
		base = filepath.Join(base, "stackctl")
	} else {
		base = filepath.Join(os.TempDir(), "stackctl-"+strconv.Itoa(os.Getuid()))
	}
	name := "default"
	if file != "" {
		sum := sha256.Sum256([]byte(file))
		name = strings.TrimSuffix(filepath.Base(file), filepath.Ext(file)) + "-" + hex.EncodeToString(sum[:4])
	}
	return filepath.Join(base, name)
}

func (c *Config) setDefaults() {
	if c.RunDir == "" {
		c.RunDir = DefaultRunDir(c.File)
	}
	c.RunDir = c.abs(c.RunDir)
	if c.Control.Socket == "" {
		c.Control.Socket = filepath.Join(c.RunDir, "control.sock")
	}
	c.Control.Socket = c.abs(c.Control.Socket)
	for i := range c.Apps {
		c.Apps[i].setDefaults(c)
	}
	if c.Proxy != nil {
		c.Proxy.setDefaults(c)
	}
	for i := range c.Upstreams {
		c.Upstreams[i].setDefaults()
	}
}

func (a *App) setDefaults(c *Config) {
	if a.Python == "" {
		a.Python = DefaultPython
	}
	if a.Workers == 0 {
		a.Workers = DefaultWorkers
	}
	if a.Threads == 0 {
		a.Threads = 1
	}
	if a.Listen == 0 {
		a.Listen = DefaultListen
	}
	if a.GracePeriod == 0 {
		a.GracePeriod = DefaultGracePeriod
	}
	if a.StartTimeout == 0 {
		a.StartTimeout = DefaultStartTimeout
	}
	if a.BufferSize == 0 {
		a.BufferSize = DefaultBufferSize
	}
	if a.Speedups == "" {
		a.Speedups = SpeedupsAuto
	}
	if a.BufferSize > MaxBufferSize {
		a.BufferSize = MaxBufferSize
	}
	if a.Chdir == "" {
		a.Chdir = c.dir()
	}
	a.Chdir = c.abs(a.Chdir)
	for i, p := range a.TouchReload {
		if !filepath.IsAbs(p) {
			a.TouchReload[i] = filepath.Join(a.Chdir, p)
		}
	}
	if a.Socket == "" && a.Name != "" {
		a.Socket = "unix:" + filepath.Join(c.RunDir, a.Name+".sock")
	} else if p, ok := strings.CutPrefix(a.Socket, "unix:"); ok {
		a.Socket = "unix:" + c.abs(p)
	}
}

var (
	nameRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	moduleRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*(:[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*(\(\))?)?$`)
	envKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

func (c *Config) validate(r *report) {
	names := map[string]int{}
	for i := range c.Apps {
		a := &c.Apps[i]
		key := fmt.Sprintf("app[%d]", i)
		a.validate(r, key)
		if a.Name == "" {
			continue
		}
		if j, dup := names[a.Name]; dup {
			r.add(key+".name", "duplicate app name %q (also app[%d], line %d)", a.Name, j, r.pos.line(fmt.Sprintf("app[%d].name", j)))
		}
		names[a.Name] = i
	}
	sockets := map[string]string{}
	for i := range c.Apps {
		a := &c.Apps[i]
		if names[a.Name] != i {
			continue // a duplicate name, already reported
		}
		if other, dup := sockets[a.Socket]; dup && a.Socket != "" {
			r.add(fmt.Sprintf("app[%d].socket", i), "socket %s is already used by app %q", a.Socket, other)
		}
		sockets[a.Socket] = a.Name
	}
	if c.Control.Metrics != "" {
		checkTCPAddr(r, "control.metrics", c.Control.Metrics)
	}
	if c.Control.Stats != "" {
		checkTCPAddr(r, "control.stats", c.Control.Stats)
	}
	c.validateProxy(r)
}

func (a *App) validate(r *report, key string) {
	switch {
	case a.Name == "":
		r.add(key+".name", "missing: every app needs a name")
	case !nameRE.MatchString(a.Name):
		r.add(key+".name", "invalid name %q: use letters, digits, '_', '-', '.' (at most 64)", a.Name)
	}
	switch {
	case a.Module == "":
		r.add(key+".module", "missing: the WSGI callable to serve, such as \"hello:application\"")
	case !moduleRE.MatchString(a.Module):
		r.add(key+".module", "invalid module %q: want \"package.module:callable\"", a.Module)
	}
	if st, err := os.Stat(a.Chdir); err != nil {
		r.add(key+".chdir", "directory %s does not exist", a.Chdir)
	} else if !st.IsDir() {
		r.add(key+".chdir", "%s is not a directory", a.Chdir)
	}
	if _, err := exec.LookPath(a.Python); err != nil {
		r.add(key+".python", "interpreter %q not found", a.Python)
	}
	if a.Workers < 1 || a.Workers > 1024 {
		r.add(key+".workers", "must be between 1 and 1024, got %d", a.Workers)
	}
	if a.Threads < 1 || a.Threads > 256 {
		r.add(key+".threads", "must be between 1 and 256, got %d", a.Threads)
	}
	if a.MaxRequests < 0 {
		r.add(key+".max_requests", "must not be negative")
	}
	if a.Listen < 1 {
		r.add(key+".listen", "must be positive")
	}
	if a.BufferSize < 4096 {
		r.add(key+".buffer_size", "must be at least 4KiB, got %s", a.BufferSize)
	}
	if network, addr := a.SocketNetwork(); network == "tcp" {
		checkTCPAddr(r, key+".socket", addr)
	} else if addr == "" {
		r.add(key+".socket", "empty unix socket path")
	} else if len(addr) > 107 {
		r.add(key+".socket", "unix socket path longer than 107 bytes: %s", addr)
	}
	switch a.Speedups {
	case SpeedupsAuto, SpeedupsOff, SpeedupsRequired:
	default:
		r.add(key+".speedups", "unknown value %q: want \"auto\", \"off\" or \"required\"", a.Speedups)
	}
	if a.SocketMode != "" {
		if m, err := strconv.ParseUint(a.SocketMode, 8, 32); err != nil || m > 0o777 {
			r.add(key+".socket_mode", "invalid mode %q: want octal such as \"0660\"", a.SocketMode)
		} else if network, _ := a.SocketNetwork(); network != "unix" {
			r.add(key+".socket_mode", "only applies to a unix socket")
		}
	}
	for _, k := range slices.Sorted(maps.Keys(a.Env)) { // errors in a stable order
		if !envKeyRE.MatchString(k) {
			r.add(key+".env."+k, "invalid environment variable name %q", k)
		}
	}
}

// SocketFileMode returns SocketMode as a file mode, or 0 if unset.
func (a *App) SocketFileMode() os.FileMode {
	m, err := strconv.ParseUint(a.SocketMode, 8, 32)
	if err != nil {
		return 0
	}
	return os.FileMode(m)
}

func checkTCPAddr(r *report, key, addr string) {
	host, port, ok := strings.Cut(addr, ":")
	if i := strings.LastIndexByte(addr, ':'); i >= 0 {
		host, port, ok = addr[:i], addr[i+1:], true
	}
	if !ok || port == "" {
		r.add(key, "invalid address %q: want HOST:PORT or unix:/path", addr)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		r.add(key, "invalid port in %q", addr)
	}
	_ = host
}

// App returns the app named name, or nil.
func (c *Config) App(name string) *App {
	for i := range c.Apps {
		if c.Apps[i].Name == name {
			return &c.Apps[i]
		}
	}
	return nil
}

// Line returns the line of a key path in the file, or 0.
func (c *Config) Line(key string) int { return c.pos.line(key) }

// ControlSocket returns the control socket a stack started from file
// listens on. It reads only run_dir and control.socket, leniently, so it
// works while the rest of the file has errors (stackctl status during an
// edit).
func ControlSocket(file string) (string, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return "", err
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		return "", err
	}
	var partial struct {
		RunDir  string `toml:"run_dir"`
		Control struct {
			Socket string `toml:"socket"`
		} `toml:"control"`
	}
	if err := toml.Unmarshal(data, &partial); err != nil {
		return "", decodeErrors(abs, data, err)
	}
	c := &Config{File: abs, RunDir: partial.RunDir}
	c.Control.Socket = partial.Control.Socket
	if c.RunDir == "" {
		c.RunDir = DefaultRunDir(abs)
	}
	c.RunDir = c.abs(c.RunDir)
	if c.Control.Socket == "" {
		return filepath.Join(c.RunDir, "control.sock"), nil
	}
	return c.abs(c.Control.Socket), nil
}
