package config

import (
	"embed"
	"fmt"
	"os"
	"path/filepath"
)

//go:embed demo
var demoFS embed.FS

// DemoDir is where Demo writes the demo stack by default: a fixed place, so
// `stackctl status` with no configuration finds a running demo.
func DemoDir() string { return DefaultRunDir("") + "-demo-app" }

// Demo writes the embedded demo stack (a stdlib-only WSGI app and its
// configuration) into dir and loads it. It is what `stackctl` runs when no
// configuration file is given.
func Demo(dir string) (*Config, error) {
	entries, err := demoFS.ReadDir("demo")
	if err != nil {
		return nil, fmt.Errorf("read embedded demo: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("write demo: %w", err)
	}
	for _, e := range entries {
		data, err := demoFS.ReadFile("demo/" + e.Name())
		if err != nil {
			return nil, fmt.Errorf("read embedded demo: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), data, 0o644); err != nil {
			return nil, fmt.Errorf("write demo: %w", err)
		}
	}
	return Load(filepath.Join(dir, "stackctl.toml"))
}
