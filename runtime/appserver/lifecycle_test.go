package appserver

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// loadResult counts what a bounded load saw.
type loadResult struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	samples    []string // the first few failures
}

func (r *loadResult) fail(s string) {
	r.failed.Add(1)
	r.mu.Lock()
	if len(r.samples) < 10 {
		r.samples = append(r.samples, s)
	}
	r.mu.Unlock()
}

// startLoad sends GETs to url from n clients until the returned stop is
// called; stop returns the counts. Every non-2xx and every transport error
// is a failure.
func startLoad(t *testing.T, url string, n int) (stop func() *loadResult) {
	t.Helper()
	res := &loadResult{}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
			defer client.CloseIdleConnections()
			for ctx.Err() == nil {
				resp, err := client.Get(url)
				if err != nil {
					if ctx.Err() == nil {
						res.fail(err.Error())
					}
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode/100 != 2 {
					res.fail(resp.Status)
				} else {
					res.ok.Add(1)
				}
			}
		}()
	}
	return func() *loadResult {
		cancel()
		wg.Wait()
		return res
	}
}

func (r *loadResult) check(t *testing.T, what string) {
	t.Helper()
	t.Logf("%s: %d requests ok, %d failed", what, r.ok.Load(), r.failed.Load())
	if r.failed.Load() != 0 {
		t.Errorf("%s: %d failed requests (want 0): %v", what, r.failed.Load(), r.samples)
	}
	if r.ok.Load() < 50 {
		t.Errorf("%s: only %d requests succeeded; the load did not run", what, r.ok.Load())
	}
}

func pids(info AppInfo) map[int]int {
	m := map[int]int{}
	for _, w := range info.Workers {
		if w.State != StateStopping {
			m[w.ID] = w.PID
		}
	}
	return m
}

// TestLifecycleUnderLoad restarts a worker, chain-reloads the app and
// scales it down while nginx sends it a steady load: no request may fail.
func TestLifecycleUnderLoad(t *testing.T) {
	h := newHarness(t)
	cfg := h.app("life", helloApp)
	cfg.Workers = 4
	a := h.start(cfg)
	fe := nginxFor(t, cfg.Socket)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	t.Run("restart", func(t *testing.T) {
		before := pids(a.Snapshot())
		stop := startLoad(t, "http://"+fe.addr+"/", 8)
		time.Sleep(300 * time.Millisecond)
		for id := 1; id <= 4; id++ {
			if err := a.RestartWorker(ctx, id); err != nil {
				t.Fatalf("restart %d: %v", id, err)
			}
		}
		time.Sleep(300 * time.Millisecond)
		stop().check(t, "restart every worker")
		after := pids(a.Snapshot())
		for id, pid := range before {
			if after[id] == pid || after[id] == 0 {
				t.Errorf("worker %d: pid %d -> %d, want a new process", id, pid, after[id])
			}
		}
		if s := a.Snapshot(); s.Workers[0].LastExit != "restart" || s.Workers[0].Restarts != 1 {
			t.Errorf("worker 1 after restart: last_exit %q restarts %d", s.Workers[0].LastExit, s.Workers[0].Restarts)
		}
	})

	t.Run("chain reload", func(t *testing.T) {
		before := pids(a.Snapshot())
		stop := startLoad(t, "http://"+fe.addr+"/", 8)
		time.Sleep(300 * time.Millisecond)
		for i := 0; i < 3; i++ {
			if err := a.ChainReload(ctx); err != nil {
				t.Fatalf("chain reload: %v", err)
			}
		}
		time.Sleep(300 * time.Millisecond)
		stop().check(t, "3 chain reloads")
		after := pids(a.Snapshot())
		for id, pid := range before {
			if after[id] == pid {
				t.Errorf("worker %d kept pid %d through a chain reload", id, pid)
			}
		}
	})

	t.Run("scale down and up", func(t *testing.T) {
		stop := startLoad(t, "http://"+fe.addr+"/", 8)
		time.Sleep(300 * time.Millisecond)
		for _, n := range []int{1, 4, 2, 3} {
			if err := a.Scale(ctx, n); err != nil {
				t.Fatalf("scale to %d: %v", n, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
		stop().check(t, "scale 4 -> 1 -> 4 -> 2 -> 3")
		eventually(t, 10*time.Second, "3 workers", func() bool { return len(a.Snapshot().Workers) == 3 })
	})
}

// TestRecycling: max_requests, max_rss and request_timeout each replace a
// worker, and the slot records why.
func TestRecycling(t *testing.T) {
	h := newHarness(t)
	src, _ := os.ReadFile("testdata/wsgiapp.py")

	t.Run("max_requests", func(t *testing.T) {
		cfg := h.app("maxreq", string(src))
		cfg.Workers = 1
		cfg.MaxRequests = 20
		a := h.start(cfg)
		first := a.Snapshot().Workers[0].PID
		for i := 0; i < 20; i++ {
			if resp, _, err := uwsgiDo(t, cfg.Socket, "GET", "/", nil, nil); err != nil || resp.StatusCode != 200 {
				t.Fatalf("request %d: %v", i, err)
			}
		}
		eventually(t, 10*time.Second, "the worker to be recycled", func() bool {
			w := a.Snapshot().Workers
			return len(w) == 1 && w[0].PID != first && w[0].State == StateIdle
		})
		w := a.Snapshot().Workers[0]
		if w.LastExit != "max_requests" || w.Restarts != 1 {
			t.Errorf("last_exit %q restarts %d, want max_requests 1", w.LastExit, w.Restarts)
		}
		// The replacement serves.
		if resp, _, err := uwsgiDo(t, cfg.Socket, "GET", "/", nil, nil); err != nil || resp.StatusCode != 200 {
			t.Fatalf("after recycling: %v", err)
		}
	})

	// A worker past max_requests keeps serving until its replacement is
	// up, but the proxy's lanes send it nothing new while another worker
	// is ready: otherwise a slow start lets it serve far past its limit.
	t.Run("max_requests_on_lanes", func(t *testing.T) {
		marker := filepath.Join(h.dir, "slow-start")
		cfg := h.app("maxlane", fmt.Sprintf(`
import os, time
if os.path.exists(%q):
    time.sleep(3)  # replacements start slowly
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
`, marker))
		cfg.Workers = 2
		cfg.MaxRequests = 5
		a := h.start(cfg)
		lanes, _ := a.Lanes()
		if len(lanes) != 2 {
			t.Fatalf("%d lanes, want 2", len(lanes))
		}
		os.WriteFile(marker, nil, 0o644)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for i := 0; i < cfg.MaxRequests; i++ {
			if resp, _, err := laneDo(ctx, lanes[0], "GET", "/", nil); err != nil || resp.StatusCode != 200 {
				t.Fatalf("request %d: %v", i, err)
			}
		}
		eventually(t, 2*time.Second, "the recycling worker's lane to leave the published set", func() bool {
			ls, _ := a.Lanes()
			return len(ls) == 1 && ls[0] == lanes[1]
		})
		// Still serving what reaches it, and replaced once the new worker is up.
		if resp, _, err := laneDo(ctx, lanes[0], "GET", "/", nil); err != nil || resp.StatusCode != 200 {
			t.Fatalf("the recycling worker stopped serving before its replacement was up: %v", err)
		}
		eventually(t, 10*time.Second, "the replacement's lane", func() bool {
			ls, _ := a.Lanes()
			return len(ls) == 2 && !slices.Contains(ls, lanes[0])
		})
	})

	t.Run("max_rss", func(t *testing.T) {
		cfg := h.app("maxrss", `
import os
hog = []
def application(environ, start_response):
    if environ["PATH_INFO"] == "/grow":
        hog.append(bytearray(80 << 20))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
`)
		cfg.Workers = 1
		cfg.MaxRSS = 64 << 20
		a := h.start(cfg)
		first := a.Snapshot().Workers[0].PID
		if resp, _, err := uwsgiDo(t, cfg.Socket, "GET", "/grow", nil, nil); err != nil || resp.StatusCode != 200 {
			t.Fatalf("grow: %v", err)
		}
		eventually(t, 15*time.Second, "the worker to be recycled for its memory", func() bool {
			w := a.Snapshot().Workers
			return len(w) == 1 && w[0].PID != first
		})
		if w := a.Snapshot().Workers[0]; !strings.HasPrefix(w.LastExit, "max_rss: ") {
			t.Errorf("last_exit %q, want max_rss: ...", w.LastExit)
		}
	})

	t.Run("request_timeout", func(t *testing.T) {
		cfg := h.app("harakiri", string(src))
		cfg.Workers = 1
		cfg.RequestTimeout = 500e6
		a := h.start(cfg)
		first := a.Snapshot().Workers[0].PID
		start := time.Now()
		resp, _, err := uwsgiDo(t, cfg.Socket, "GET", "/slow?30", nil, nil)
		if err == nil && resp.StatusCode == 200 {
			t.Fatal("a request stuck past request_timeout completed")
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("the stuck request held its connection for %s", d)
		}
		eventually(t, 10*time.Second, "a replacement worker", func() bool {
			w := a.Snapshot().Workers
			return len(w) == 1 && w[0].PID != first && w[0].State == StateIdle
		})
		w := a.Snapshot().Workers[0]
		if !strings.HasPrefix(w.LastExit, "request_timeout: \"GET /slow?30\" ran") {
			t.Errorf("last_exit %q", w.LastExit)
		}
		// The stack dump the master asked for before the kill is in the log.
		eventually(t, 5*time.Second, "the stuck worker's stack in the log", func() bool {
			return logContains(h, "harakiri", "most recent call first") && logContains(h, "harakiri", "in app")
		})
		if resp, _, err := uwsgiDo(t, cfg.Socket, "GET", "/", nil, nil); err != nil || resp.StatusCode != 200 {
			t.Fatalf("after the timeout: %v", err)
		}
	})
}

var _ = fmt.Sprint
