package appserver

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/stackctl/stackctl/runtime/config"
)

//go:embed pyworker/_stackctl_speedups.c
var speedupsSource []byte

// speedupsBuildTimeout bounds asking the interpreter for its headers and
// compiling the module.
const speedupsBuildTimeout = 60 * time.Second

// speedupsKeep is how long a module no stackctl has used stays in the
// cache: each use renews it; a build removes the ones past it (those of
// older stackctls and interpreters).
const speedupsKeep = 30 * 24 * time.Hour

// speedups builds the workers' C speedups (pyworker/_stackctl_speedups.c)
// once per interpreter. The module is kept in a cache directory under a name
// made from a hash of its source, the interpreter's version and the
// compiler, so a rebuilt stackctl or an upgraded Python never loads a stale
// one, and the compiler runs once per machine, not once per start.
type speedups struct {
	dir string // cache directory

	mu    sync.Mutex
	built map[string]speedupsResult // by interpreter
}

type speedupsResult struct {
	path string
	err  error
	told bool // an "auto" app was told why it goes without
}

func newSpeedups(dir string) *speedups {
	return &speedups{dir: dir, built: map[string]speedupsResult{}}
}

// defaultSpeedupsDir is stackctl's directory in the user's cache, or the run
// directory when there is none or it cannot be made (a service user
// without a home).
func defaultSpeedupsDir(runDir string) string {
	if d, err := os.UserCacheDir(); err == nil {
		d = filepath.Join(d, "stackctl")
		if os.MkdirAll(d, 0o755) == nil {
			return d
		}
	}
	return runDir
}

// forApp returns the module a worker of cfg loads ("" for none), and an
// error only when cfg requires speedups that cannot be built. notice is
// told once per interpreter why "auto" goes without them.
func (sp *speedups) forApp(cfg config.App, notice func(string)) (string, error) {
	if cfg.Speedups == config.SpeedupsOff {
		return "", nil
	}
	sp.mu.Lock()
	r, done := sp.built[cfg.Python]
	if !done {
		ctx, cancel := context.WithTimeout(context.Background(), speedupsBuildTimeout)
		r.path, r.err = sp.build(ctx, cfg.Python)
		cancel()
	}
	if r.err != nil && !r.told && cfg.Speedups != config.SpeedupsRequired {
		notice(fmt.Sprintf("workers of %s run without speedups: %v", cfg.Python, r.err))
		r.told = true
	}
	sp.built[cfg.Python] = r
	sp.mu.Unlock()
	if r.err != nil {
		if cfg.Speedups == config.SpeedupsRequired {
			return "", fmt.Errorf("speedups required: %w", r.err)
		}
		return "", nil
	}
	return r.path, nil
}

// build compiles the module for python, or finds it already compiled.
func (sp *speedups) build(ctx context.Context, python string) (string, error) {
	out, err := exec.CommandContext(ctx, python, "-c",
		"import sys, sysconfig; print(sysconfig.get_paths()['include']); print(sysconfig.get_config_var('EXT_SUFFIX') or '.so'); print(sys.version)").Output()
	if err != nil {
		return "", fmt.Errorf("ask %s for its headers: %w", python, err)
	}
	lines := strings.SplitN(strings.TrimSpace(string(out)), "\n", 3)
	if len(lines) != 3 {
		return "", fmt.Errorf("ask %s for its headers: unexpected answer %q", python, out)
	}
	include, suffix, version := lines[0], lines[1], lines[2]
	if _, err := os.Stat(filepath.Join(include, "Python.h")); err != nil {
		return "", fmt.Errorf("no Python.h in %s (Debian: apt-get install python3-dev)", include)
	}
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	ccPath, err := exec.LookPath(cc)
	if err != nil {
		return "", fmt.Errorf("no C compiler: %w", err)
	}
	h := sha256.New()
	for _, part := range [][]byte{speedupsSource, []byte(include), []byte(suffix), []byte(version), []byte(ccPath)} {
		h.Write(part)
		h.Write([]byte{0})
	}
	path := filepath.Join(sp.dir, "_stackctl_speedups-"+hex.EncodeToString(h.Sum(nil))[:16]+suffix)
	if _, err := os.Stat(path); err == nil {
		now := time.Now()
		os.Chtimes(path, now, now) // in use: not to be pruned
		return path, nil
	}
	sp.prune(time.Now().Add(-speedupsKeep))
	if err := os.MkdirAll(sp.dir, 0o755); err != nil {
		return "", fmt.Errorf("speedups cache: %w", err)
	}
	// Another stackctl may be building the same module: each writes its own
	// temporary files and renames the result into place.
	tmp, err := os.MkdirTemp(sp.dir, "build-")
	if err != nil {
		return "", fmt.Errorf("speedups cache: %w", err)
	}
	defer os.RemoveAll(tmp)
	src := filepath.Join(tmp, "_stackctl_speedups.c")
	if err := os.WriteFile(src, speedupsSource, 0o644); err != nil {
		return "", fmt.Errorf("speedups cache: %w", err)
	}
	obj := filepath.Join(tmp, "_stackctl_speedups"+suffix)
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, ccPath, "-O2", "-shared", "-fPIC", "-I", include, "-o", obj, src)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 2000 {
			msg = msg[:2000] + "…"
		}
		return "", errors.Join(fmt.Errorf("compile speedups with %s: %w", cc, err), errors.New(msg))
	}
	if err := os.Rename(obj, path); err != nil {
		return "", fmt.Errorf("speedups cache: %w", err)
	}
	return path, nil
}

// prune removes the cached modules last used before cutoff.
func (sp *speedups) prune(cutoff time.Time) {
	old, _ := filepath.Glob(filepath.Join(sp.dir, "_stackctl_speedups-*"))
	for _, p := range old {
		if st, err := os.Stat(p); err == nil && st.ModTime().Before(cutoff) {
			os.Remove(p)
		}
	}
}
