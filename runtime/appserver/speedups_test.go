package appserver

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/peertest"
	"github.com/stackctl/stackctl/runtime/config"
)

// TestSpeedupsTwins builds the C speedups from scratch and checks them
// against their Python twins (testdata/twins.py: a corpus and 20,000 random
// vars blocks and response heads), and that a second build is the cached one.
func TestSpeedupsTwins(t *testing.T) {
	dir := t.TempDir()
	sp := newSpeedups(dir)
	ctx, cancel := context.WithTimeout(context.Background(), speedupsBuildTimeout)
	defer cancel()
	so, err := sp.build(ctx, "python3")
	if err != nil {
		peertest.Missing(t, "the C speedups cannot be built (apt-get install gcc python3-dev): "+err.Error())
	}
	st, err := os.Stat(so)
	if err != nil {
		t.Fatal(err)
	}
	// A module of another version, unused for longer than speedupsKeep, is
	// pruned by the next build; one used recently stays.
	stale := filepath.Join(dir, "_stackctl_speedups-0000000000000000.so")
	recent := filepath.Join(dir, "_stackctl_speedups-1111111111111111.so")
	for _, p := range []string{stale, recent} {
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	long := time.Now().Add(-speedupsKeep - time.Hour)
	os.Chtimes(stale, long, long)
	old := time.Now().Add(-time.Hour)
	os.Chtimes(so, old, old)
	again, err := sp.build(ctx, "python3")
	if err != nil || again != so {
		t.Fatalf("second build: %q %v, want the cached %q", again, err, so)
	}
	if st2, _ := os.Stat(so); st2.Size() != st.Size() || !st2.ModTime().After(old) {
		t.Error("the second build did not find the cached module (or did not mark it used)")
	}
	if err := os.Remove(so); err != nil {
		t.Fatal(err)
	}
	if _, err := sp.build(ctx, "python3"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("a module unused for %s is still cached (%v)", speedupsKeep, err)
	}
	if _, err := os.Stat(recent); err != nil {
		t.Errorf("a module used recently was pruned: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("cache dir holds %d entries, want the module and the recent one", len(entries))
	}
	out, err := exec.CommandContext(ctx, "python3", "testdata/twins.py", "pyworker", so).CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "ok:") {
		t.Fatalf("twins: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}

// TestSpeedupsUnavailable: without a working compiler "auto" serves with
// the Python versions and says why in the app's log; "required" refuses
// to start the app.
func TestSpeedupsUnavailable(t *testing.T) {
	t.Setenv("CC", "false")
	h := newHarnessWith(t, func(dir string, o *Options) { o.SpeedupsDir = filepath.Join(dir, "cache") })
	srv := h.srv
	src, _ := os.ReadFile("testdata/wsgiapp.py")
	cfg := h.app("nocc", string(src))
	cfg.Workers = 1
	cfg.Speedups = config.SpeedupsRequired
	if _, err := srv.AddApp(cfg); err == nil || !strings.Contains(err.Error(), "speedups required: compile speedups with false") {
		t.Fatalf("required without a compiler: %v", err)
	}
	cfg.Speedups = config.SpeedupsAuto
	a, err := srv.AddApp(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if r := viaSocket(a)(t, "GET", "/speedups", nil, nil); string(r.body) != "Python" {
		t.Errorf("auto without a compiler: served by %q (%v)", r.body, r.err)
	}
	if !logContains(h, "nocc", "run without speedups: compile speedups with false") {
		t.Errorf("no word of the missing speedups in the log:\n%s", logText(h, "nocc"))
	}
}

// A module that cannot be loaded (here: not a shared object at all) under
// "required" is a load error with the reason, not a silent fallback.
func TestSpeedupsRequiredLoadFailure(t *testing.T) {
	h := newHarness(t)
	bogus := filepath.Join(h.dir, "_stackctl_speedups.so")
	if err := os.WriteFile(bogus, []byte("not ELF"), 0o644); err != nil {
		t.Fatal(err)
	}
	src, _ := os.ReadFile("testdata/wsgiapp.py")
	cfg := h.app("badso", string(src))
	cfg.Workers = 1
	cfg.Speedups = config.SpeedupsRequired
	h.srv.speedups.built[cfg.Python] = speedupsResult{path: bogus}
	a, err := h.srv.AddApp(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var le *LoadError
	if err := a.WaitReady(ctx); !errors.As(err, &le) || !strings.Contains(le.Traceback, "speedups required but not loaded") {
		t.Fatalf("WaitReady: %v", err)
	}
}

func TestDefaultSpeedupsDir(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	if got := defaultSpeedupsDir("/run/x"); got != filepath.Join(cache, "stackctl") {
		t.Errorf("with a cache dir: %q", got)
	}
	t.Setenv("XDG_CACHE_HOME", "/dev/null") // cannot hold a directory
	if got := defaultSpeedupsDir("/run/x"); got != "/run/x" {
		t.Errorf("with a cache dir that cannot be made: %q, want the run dir", got)
	}
}

// requireSpeedups skips (fails in CI) a test that runs cfg with speedups
// "required" where they cannot be built.
func requireSpeedups(t *testing.T, h *harness, cfg config.App) {
	t.Helper()
	if cfg.Speedups != config.SpeedupsRequired {
		return
	}
	if _, err := h.srv.speedups.forApp(cfg, func(string) {}); err != nil {
		peertest.Missing(t, "the C speedups cannot be built (apt-get install gcc python3-dev): "+err.Error())
	}
}
