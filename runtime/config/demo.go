package config

import (
	"embed"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
)

//go:embed demo
var demoFS embed.FS

// DemoDir is where Demo writes the demo stack by default: a fixed place, so
// `stackctl status` with no configuration finds a running demo.
func DemoDir() string { return DefaultRunDir("") + "-demo-app" }

// Demo writes the embedded demo stack (a stdlib-only WSGI app, a static
// directory and their configuration) into dir and loads it. It is what
// `stackctl` runs when no configuration file is given. The demo's proxy
// listens on 127.0.0.1:8080, or on a free port when 8080 is taken.
func Demo(dir string) (*Config, error) {
	err := fs.WalkDir(demoFS, "demo", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		target := filepath.Join(dir, strings.TrimPrefix(path, "demo"))
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := demoFS.ReadFile(path)
		if err != nil {
			return err
		}
		if d.Name() == "stackctl.toml" && !portFree("127.0.0.1:8080") {
			data = []byte(strings.Replace(string(data), `"127.0.0.1:8080"`, `"127.0.0.1:0"`, 1))
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		return nil, fmt.Errorf("write demo: %w", err)
	}
	return Load(filepath.Join(dir, "stackctl.toml"))
}

func portFree(addr string) bool {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	l.Close()
	return true
}
