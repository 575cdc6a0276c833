package proxy

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stackctl/stackctl/runtime/config"
)

// laneStack starts our own app server with helloApp (workers processes)
// and a proxy routing everything to it over lanes.
func laneStack(t *testing.T, workers int, extra string) (*testProxy, *appHarness, string) {
	t.Helper()
	dir := shortDir(t)
	writeFile(t, dir, "src/hello.py", helloApp)
	cfg := parseConfig(t, dir, `
run_dir = "{{DIR}}/run"
[proxy]
listen = ["127.0.0.1:0"]
access_log = "off"
[[proxy.route]]
path = "/"
upstream = "hello"
[[app]]
name = "hello"
module = "hello:application"
chdir = "{{DIR}}/src"
workers = `+strconv.Itoa(workers)+`
`+extra)
	h := newAppHarness(t, dir)
	h.start(t, cfg, "hello")
	tp := startProxy(t, dir, cfg, h.apps)
	return tp, h, dir
}

func TestLanesServeApp(t *testing.T) {
	tp, _, _ := laneStack(t, 2, "")
	c := newClient()
	for i := 0; i < 20; i++ {
		resp, body := get(t, c, "GET", tp.url("/"), nil, "")
		if resp.StatusCode != 200 || body != "Hello, World!" {
			t.Fatalf("GET / = %d %q", resp.StatusCode, body)
		}
	}
	// A body goes through (buffered, then sent on a lane), small and large.
	for _, n := range []int{1, 1000, 200 << 10} {
		payload := strings.Repeat("a", n)
		resp, body := get(t, c, "POST", tp.url("/echo"), nil, payload)
		if resp.StatusCode != 200 || body != payload {
			t.Fatalf("POST /echo %d bytes = %d, %d bytes back", n, resp.StatusCode, len(body))
		}
	}
	resp, body := get(t, c, "HEAD", tp.url("/"), nil, "")
	if resp.StatusCode != 200 || body != "" || resp.ContentLength != 13 {
		t.Fatalf("HEAD = %d %q len %d", resp.StatusCode, body, resp.ContentLength)
	}
	s := tp.Snapshot()
	if len(s.Upstreams) != 1 || s.Upstreams[0].Name != "hello" || s.Upstreams[0].Servers[0].Address != "app:hello" {
		t.Fatalf("snapshot upstreams: %+v", s.Upstreams)
	}
	srv := s.Upstreams[0].Servers[0]
	if srv.Requests < 24 || srv.State != StateUp || srv.Lanes == nil || srv.Lanes.Lanes != 2 {
		t.Errorf("server snapshot: %+v lanes %+v", srv, srv.Lanes)
	}
}

// One 2 s request among a load of fast ones must not hold up the fast
// ones: they go to the other worker instead of queueing behind it.
func TestSlowRequestDoesNotDelayFastOnes(t *testing.T) {
	tp, _, _ := laneStack(t, 2, "")
	fast := tp.url("/")
	// Warm up, then measure the quiet figure.
	runLoad(t, fast, 4, nil, 50)
	quiet := runLoad(t, fast, 4, nil, 300)
	if quiet.failed() > 0 {
		t.Fatalf("quiet load failures: %v", quiet.failures)
	}
	qp99 := quiet.quantile(0.99)

	var slowErr error
	var slowTook time.Duration
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t0 := time.Now()
		resp, err := newClient().Get(tp.url("/slow/2000"))
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				err = io.ErrUnexpectedEOF
			}
		}
		slowErr, slowTook = err, time.Since(t0)
	}()
	time.Sleep(100 * time.Millisecond) // the slow request is running
	stop := make(chan struct{})
	time.AfterFunc(1500*time.Millisecond, func() { close(stop) })
	loaded := runLoad(t, fast, 4, stop, 0)
	wg.Wait()
	if slowErr != nil || slowTook < 2*time.Second {
		t.Fatalf("slow request: %v after %s", slowErr, slowTook)
	}
	if loaded.failed() > 0 {
		t.Fatalf("failures under load: %v", loaded.failures)
	}
	lp99 := loaded.quantile(0.99)
	t.Logf("fast requests: quiet p99 %s (%d reqs), with a 2 s request running p99 %s max %s (%d reqs)",
		qp99, quiet.ok, lp99, loaded.quantile(1), loaded.ok)
	if limit := max(3*qp99, qp99+20*time.Millisecond); lp99 > limit {
		t.Errorf("p99 of fast requests %s with a slow one running; quiet %s (limit %s)", lp99, qp99, limit)
	}
	// Not one fast request may have queued behind the slow one: the other
	// worker could always take it.
	if worst := loaded.quantile(1); worst > time.Second {
		t.Errorf("a fast request took %s: it waited behind the slow one", worst)
	}
	if loaded.ok < 200 {
		t.Errorf("only %d fast requests in 1.5 s: they were held up", loaded.ok)
	}
}

// Killing a worker mid-request under load loses no GET: requests queued
// behind the dead worker's are resent (ErrNotStarted), the one it was
// running is resent because GET is idempotent.
func TestKillWorkerUnderLoad(t *testing.T) {
	tp, h, _ := laneStack(t, 2, "")
	stop := make(chan struct{})
	var res loadResult
	done := make(chan struct{})
	go func() {
		res = runLoad(t, tp.url("/slow/5"), 16, stop, 0)
		close(done)
	}()
	kills := 0
	for i := 0; i < 6; i++ {
		time.Sleep(400 * time.Millisecond)
		info := h.srv.App("hello").Snapshot()
		for _, w := range info.Workers {
			if w.PID > 0 && w.State != "starting" {
				if err := syscall.Kill(w.PID, syscall.SIGKILL); err == nil {
					kills++
				}
				break
			}
		}
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	<-done
	t.Logf("%d workers killed; %d GETs ok, failures %v", kills, res.ok, res.failures)
	if kills < 3 {
		t.Fatalf("only %d kills", kills)
	}
	if res.failed() > 0 {
		t.Errorf("failed GETs while killing workers: %v", res.failures)
	}
	if res.ok < 200 {
		t.Errorf("only %d GETs", res.ok)
	}
}

// A POST caught on a dying worker is not resent (it may have run), and
// the client gets a clean 502.
func TestKilledWorkerPostNotRetried(t *testing.T) {
	tp, h, _ := laneStack(t, 1, "")
	c := newClient()
	var resp *http.Response
	var err error
	done := make(chan struct{})
	go func() {
		req, _ := http.NewRequest("POST", tp.url("/slow/3000"), strings.NewReader("x"))
		resp, err = c.Do(req)
		close(done)
	}()
	time.Sleep(300 * time.Millisecond)
	pid := h.srv.App("hello").Snapshot().Workers[0].PID
	syscall.Kill(pid, syscall.SIGKILL)
	<-done
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("POST on a killed worker: %d, want 502", resp.StatusCode)
	}
	// The app recovers and serves again.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.srv.App("hello").WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	r2, body := get(t, c, "GET", tp.url("/"), nil, "")
	if r2.StatusCode != 200 || body != "Hello, World!" {
		t.Fatalf("after recovery: %d %q", r2.StatusCode, body)
	}
}

// An app that fails in the middle of its response: the client must see
// the response cut short, not a clean end, and the lane keeps working.
func TestMidResponseFailureAbortsClient(t *testing.T) {
	tp, _, _ := laneStack(t, 1, "")
	c := newClient()
	resp, err := c.Get(tp.url("/midfail"))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil {
		t.Fatalf("a failed response ended cleanly: %d %q", resp.StatusCode, body)
	}
	if !strings.HasPrefix(string(body), "partial") {
		t.Errorf("body before the cut: %q", body)
	}
	for range 5 {
		if r, b := get(t, c, "GET", tp.url("/"), nil, ""); r.StatusCode != 200 || b != "Hello, World!" {
			t.Fatalf("after an aborted response: %d %q", r.StatusCode, b)
		}
	}
}

// The request path through a lane: allocations and time per request.
func BenchmarkLaneRequest(b *testing.B) {
	dir := shortDir(b)
	writeFile(b, dir, "src/hello.py", helloApp)
	cfg := parseConfig(b, dir, `
run_dir = "{{DIR}}/run"
[proxy]
listen = ["127.0.0.1:0"]
access_log = "off"
[[proxy.route]]
path = "/"
upstream = "hello"
[[app]]
name = "hello"
module = "hello:application"
chdir = "{{DIR}}/src"
workers = 2
`)
	h := newAppHarness(b, dir)
	h.start(b, cfg, "hello")
	tp := startProxy(b, dir, cfg, h.apps)
	handler := tp.handlerFor(cfg.Proxy.Listen[0])
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		w := &discardWriter{h: http.Header{}}
		req, _ := http.NewRequest("GET", "http://localhost/", nil)
		req.RequestURI = "/"
		req.RemoteAddr = "127.0.0.1:5555"
		for pb.Next() {
			clear(w.h)
			w.code = 0
			req.Header = http.Header{"User-Agent": {"bench"}, "Accept": {"*/*"}}
			handler.ServeHTTP(w, req)
			if w.code != 200 {
				b.Fatalf("status %d", w.code)
			}
		}
	})
}

// discardWriter is a minimal ResponseWriter for benchmarks.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(c int) {
	if w.code == 0 {
		w.code = c
	}
}
func (w *discardWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = 200
	}
	return len(b), nil
}

// TestRequeueFromSlowLane: a GET queued behind a request that turns out
// slow moves to another worker after requeue_after, instead of waiting for
// the slow one; a POST (not safe to run twice) stays where it is.
func TestRequeueFromSlowLane(t *testing.T) {
	// A long queue_max_age makes the request queue behind the young slow
	// one deterministically.
	dir := shortDir(t)
	cfg := twoWorkerPool(t, dir, `queue_max_age = "1s"`)
	h := newAppHarness(t, dir)
	h.start(t, cfg, "hello")
	tp := startProxy(t, dir, cfg, h.apps)
	run := func(method, path string) (time.Duration, error) {
		start := time.Now()
		req, _ := http.NewRequest(method, tp.url(path), strings.NewReader(""))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != 200 {
			return 0, fmt.Errorf("status %d", resp.StatusCode)
		}
		return time.Since(start), nil
	}
	for _, tc := range []struct {
		method   string
		requeued bool
	}{{"GET", true}, {"POST", false}} {
		t.Run(tc.method, func(t *testing.T) {
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); run("GET", "/slow/600") }() // one worker
			time.Sleep(50 * time.Millisecond)
			go func() { defer wg.Done(); run("GET", "/slow/2500") }() // the other
			time.Sleep(30 * time.Millisecond)
			// No idle worker: this queues behind the youngest request, the
			// 2.5 s one.
			took, err := run(tc.method, "/pid")
			wg.Wait()
			if err != nil {
				t.Fatal(err)
			}
			if tc.requeued && took > 1500*time.Millisecond {
				t.Errorf("the GET waited %s behind the slow request", took)
			}
			if !tc.requeued && took < 2*time.Second {
				t.Errorf("the POST took %s: it was moved although it is not safe to run twice", took)
			}
		})
	}
}

// TestNoRequeueWhileAllBusy: when every request is slow, a request queued
// behind one is not moved while no other lane is idle — moving it would
// leave its copy running and run it twice for nothing.
func TestNoRequeueWhileAllBusy(t *testing.T) {
	dir := shortDir(t)
	cfg := twoWorkerPool(t, dir, `queue_max_age = "5s"
requeue_after = "50ms"`)
	h := newAppHarness(t, dir)
	a := h.start(t, cfg, "hello")
	tp := startProxy(t, dir, cfg, h.apps)
	before := a.Snapshot().Requests
	// One worker busy for 1 s, the other for 300 ms; the third request
	// queues behind the youngest request, the 300 ms one, and no worker is
	// idle before its turn comes.
	paths := []string{"/slow/1000", "/slow/300", "/slow/100"}
	n := uint64(len(paths))
	var wg sync.WaitGroup
	errs := make(chan error, len(paths))
	for _, path := range paths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := newClient().Get(tp.url(path))
			if err != nil {
				errs <- err
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				errs <- fmt.Errorf("%s: status %d", path, resp.StatusCode)
			}
		}()
		time.Sleep(30 * time.Millisecond)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Every request has finished in the workers by now, copies included
	// (a copy moved to the 1 s worker would finish 100 ms after it).
	time.Sleep(300 * time.Millisecond)
	if ran := a.Snapshot().Requests - before; ran != n {
		t.Errorf("the workers ran %d requests for %d sent: queued requests were moved while every lane was busy", ran, n)
	}
}

// twoWorkerPool writes the hello app and returns a config routing / to an
// [[upstream]] "pool" of app "hello"'s 2 workers, with upstream keys added.
func twoWorkerPool(t *testing.T, dir, upstreamKeys string) *config.Config {
	t.Helper()
	writeFile(t, dir, "src/hello.py", helloApp)
	return parseConfig(t, dir, `
run_dir = "{{DIR}}/run"
[proxy]
listen = ["127.0.0.1:0"]
access_log = "off"
[[proxy.route]]
path = "/"
upstream = "pool"
[[upstream]]
name = "pool"
servers = ["app:hello"]
`+upstreamKeys+`
[[app]]
name = "hello"
module = "hello:application"
chdir = "{{DIR}}/src"
workers = 2
`)
}
