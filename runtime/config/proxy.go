package config

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Proxy is the HTTP front door: listeners and the routes they serve.
type Proxy struct {
	Listen []string `toml:"listen"`
	// AccessLog is a file path, or "off". Default: RunDir/access.log.
	AccessLog string  `toml:"access_log"`
	Routes    []Route `toml:"route"`
}

// Route maps requests (by host and path) to one handler: static files, an
// upstream, or a redirect.
type Route struct {
	Host     string `toml:"host"`
	Path     string `toml:"path"`
	Static   string `toml:"static"`
	Upstream string `toml:"upstream"`
	Redirect string `toml:"redirect"`
}

// Upstream is a named pool of servers the proxy balances across.
type Upstream struct {
	Name    string   `toml:"name"`
	Servers []string `toml:"servers"`
	Balance string   `toml:"balance"`
}

func (p *Proxy) setDefaults(c *Config) {
	if p.AccessLog == "" {
		p.AccessLog = filepath.Join(c.RunDir, "access.log")
	} else if p.AccessLog != "off" {
		p.AccessLog = c.abs(p.AccessLog)
	}
	for i := range p.Routes {
		if p.Routes[i].Path == "" {
			p.Routes[i].Path = "/"
		}
		if p.Routes[i].Static != "" {
			p.Routes[i].Static = c.abs(p.Routes[i].Static)
		}
	}
}

func (u *Upstream) setDefaults() {
	if u.Balance == "" {
		u.Balance = "round_robin"
	}
}

// Target names what a route's upstream refers to: an [[upstream]] or an app.
func (c *Config) upstreamExists(name string) bool {
	for _, u := range c.Upstreams {
		if u.Name == name {
			return true
		}
	}
	return c.App(name) != nil
}

func (c *Config) validateProxy(r *report) {
	for i, u := range c.Upstreams {
		key := fmt.Sprintf("upstream[%d]", i)
		if u.Name == "" {
			r.add(key+".name", "missing: every upstream needs a name")
		} else if c.App(u.Name) != nil {
			r.add(key+".name", "upstream %q has the name of an app; an app is already an upstream of its own workers", u.Name)
		}
		if len(u.Servers) == 0 {
			r.add(key+".servers", "missing: an upstream needs at least one server")
		}
	}
	if c.Proxy == nil {
		return
	}
	if len(c.Proxy.Listen) == 0 {
		r.add("proxy.listen", "missing: the proxy needs at least one address to listen on")
	}
	for i, l := range c.Proxy.Listen {
		checkTCPAddr(r, fmt.Sprintf("proxy.listen[%d]", i), l)
	}
	for i, rt := range c.Proxy.Routes {
		key := fmt.Sprintf("proxy.route[%d]", i)
		if !strings.HasPrefix(rt.Path, "/") {
			r.add(key+".path", "must start with '/', got %q", rt.Path)
		}
		n := 0
		for _, s := range []string{rt.Static, rt.Upstream, rt.Redirect} {
			if s != "" {
				n++
			}
		}
		if n != 1 {
			r.add(key, "a route needs exactly one of static, upstream, redirect")
		}
		if rt.Upstream != "" && !c.upstreamExists(rt.Upstream) {
			r.add(key+".upstream", "no upstream or app named %q", rt.Upstream)
		}
	}
}
