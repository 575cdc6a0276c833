package stack

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stackctl/stackctl/runtime/config"
	"github.com/stackctl/stackctl/runtime/control"
	"github.com/stackctl/stackctl/runtime/uwsgi"
)

const helloApp = `
import os
def application(environ, start_response):
    body = ("%s %s %d" % (os.environ.get("GREETING", "hello"), os.environ["STACKCTL_WORKER_ID"], os.getpid())).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
`

type fixture struct {
	t      *testing.T
	dir    string
	file   string
	stack  *Stack
	client *control.Client
}

func shortDir(t *testing.T) string {
	d, err := os.MkdirTemp("", "st")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func configText(dir string, workers int, greeting string) string {
	return fmt.Sprintf(`run_dir = "%s/run"

[[app]]
name = "hello"
module = "hello"
workers = %d
socket = "unix:%s/hello.sock"
env = { GREETING = "%s" }
`, dir, workers, dir, greeting)
}

func start(t *testing.T, workers int) *fixture {
	t.Helper()
	dir := shortDir(t)
	os.WriteFile(filepath.Join(dir, "hello.py"), []byte(helloApp), 0o644)
	file := filepath.Join(dir, "stackctl.toml")
	os.WriteFile(file, []byte(configText(dir, workers, "hello")), 0o644)
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	st, err := Start(context.Background(), cfg, Options{Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		st.Stop(ctx)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := st.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	c := control.NewClient(cfg.Control.Socket)
	t.Cleanup(c.Close)
	return &fixture{t: t, dir: dir, file: file, stack: st, client: c}
}

func (f *fixture) snap() *control.Snapshot {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := f.client.Snapshot(ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

func (f *fixture) pids() map[int]int {
	m := map[int]int{}
	for _, w := range f.snap().Apps[0].Workers {
		if w.State != "stopping" {
			m[w.ID] = w.PID
		}
	}
	return m
}

// get sends one request to the app's socket, as nginx would.
func get(sock string) (string, error) {
	c, err := net.DialTimeout("unix", sock, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	head, _ := uwsgi.AppendPacket(nil, 0, 0, uwsgi.VarsOf("REQUEST_METHOD", "GET", "PATH_INFO", "/", "SERVER_PROTOCOL", "HTTP/1.1"))
	if _, err := c.Write(head); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("status %d", resp.StatusCode)
	}
	return string(b), err
}

func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(d)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestStatusJSONSchema(t *testing.T) {
	f := start(t, 2)
	get(filepath.Join(f.dir, "hello.sock"))
	s := f.snap()
	if len(s.Apps) != 1 || s.Apps[0].Name != "hello" || len(s.Apps[0].Workers) != 2 {
		t.Fatalf("snapshot apps: %+v", s.Apps)
	}
	w := s.Apps[0].Workers[0]
	if w.ID != 1 || w.PID == 0 || (w.State != "idle" && w.State != "busy") || w.Restarts != 0 {
		t.Errorf("worker 1: %+v", w)
	}
	eventually(t, 5*time.Second, "RSS sampled", func() bool { return f.snap().Apps[0].Workers[0].RSSBytes > 1<<20 })
}

func TestRestartChangesOnePID(t *testing.T) {
	f := start(t, 3)
	before := f.pids()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := f.client.RestartWorker(ctx, "hello", 2)
	if err != nil || !r.OK {
		t.Fatalf("restart: %v %+v", err, r)
	}
	after := f.pids()
	if after[2] == before[2] || after[2] == 0 {
		t.Errorf("worker 2 pid %d -> %d, want a new one", before[2], after[2])
	}
	for _, id := range []int{1, 3} {
		if after[id] != before[id] {
			t.Errorf("worker %d pid changed %d -> %d; only worker 2 was restarted", id, before[id], after[id])
		}
	}
	if !strings.Contains(r.Message, "hello worker 2 restarted") {
		t.Errorf("message %q", r.Message)
	}
	// The command is in the event log.
	found := false
	for _, e := range f.stack.Events().Recent(50) {
		if e.Kind == "command" && strings.Contains(e.Message, "worker 2 restarted") {
			found = true
		}
	}
	if !found {
		t.Error("the restart is not in the events")
	}
}

func TestScaleChangesWorkerCount(t *testing.T) {
	f := start(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if r, err := f.client.Scale(ctx, "hello", 4); err != nil || !r.OK {
		t.Fatalf("scale up: %v %+v", err, r)
	}
	if n := len(f.pids()); n != 4 {
		t.Errorf("%d workers after scale 4", n)
	}
	if r, err := f.client.Scale(ctx, "hello", 1); err != nil || !r.OK {
		t.Fatalf("scale down: %v %+v", err, r)
	}
	eventually(t, 15*time.Second, "1 worker", func() bool { return len(f.snap().Apps[0].Workers) == 1 })
	if r, _ := f.client.Scale(ctx, "nope", 1); r.OK {
		t.Error("scaling an unknown app succeeded")
	}
}

// load sends requests to the app socket until stop; returns (ok, failed).
func load(sock string, n int) (stop func() (int64, int64, []string)) {
	var ok, failed atomic.Int64
	var mu sync.Mutex
	var samples []string
	done := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				if _, err := get(sock); err != nil {
					failed.Add(1)
					mu.Lock()
					if len(samples) < 5 {
						samples = append(samples, err.Error())
					}
					mu.Unlock()
				} else {
					ok.Add(1)
				}
			}
		}()
	}
	return func() (int64, int64, []string) {
		close(done)
		wg.Wait()
		return ok.Load(), failed.Load(), samples
	}
}

// TestReloadChangedAppUnderLoad: a changed app in the file is chain
// reloaded by `reload`, with zero failed requests; workers run the new
// settings.
func TestReloadChangedAppUnderLoad(t *testing.T) {
	f := start(t, 3)
	sock := filepath.Join(f.dir, "hello.sock")
	before := f.pids()
	stop := load(sock, 6)
	time.Sleep(300 * time.Millisecond)
	os.WriteFile(f.file, []byte(configText(f.dir, 3, "bonjour")), 0o644)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r, err := f.client.ApplyConfig(ctx, "")
	time.Sleep(300 * time.Millisecond)
	ok, failed, samples := stop()
	if err != nil || !r.OK {
		t.Fatalf("reload: %v %+v", err, r)
	}
	if failed != 0 || ok < 50 {
		t.Errorf("under load during the reload: %d ok, %d failed %v", ok, failed, samples)
	}
	if len(r.Changes) != 1 || !strings.Contains(r.Changes[0], "chain reload (env changed)") {
		t.Errorf("changes %q", r.Changes)
	}
	after := f.pids()
	for id, pid := range before {
		if after[id] == pid {
			t.Errorf("worker %d kept pid %d", id, pid)
		}
	}
	if body, _ := get(sock); !strings.HasPrefix(body, "bonjour ") {
		t.Errorf("after the reload the app says %q", body)
	}
}

// TestReloadBrokenConfigChangesNothing: a config with errors is rejected
// whole, the errors come back with file:line, nothing changes.
func TestReloadBrokenConfigChangesNothing(t *testing.T) {
	f := start(t, 2)
	before := f.pids()
	broken := configText(f.dir, 5, "bonjour") + "max_rss = \"lots\"\nworkerz = 1\n"
	os.WriteFile(f.file, []byte(broken), 0o644)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := f.client.ApplyConfig(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if r.OK || len(r.Errors) != 2 {
		t.Fatalf("a broken config was not rejected with 2 errors: %+v", r)
	}
	if e := r.Errors[0]; e.File != f.file || e.Line != 9 || e.Key != "app[0].max_rss" {
		t.Errorf("first error %+v, want %s:9 app[0].max_rss", e, f.file)
	}
	if after := f.pids(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("workers changed: %v -> %v", before, after)
	}
	// The same through validate, with the text in the request.
	v, err := f.client.ValidateConfig(ctx, broken)
	if err != nil || v.OK || len(v.Errors) != 2 {
		t.Errorf("validate: %v %+v", err, v)
	}
}

// TestApplyTextSavesFile: a config text applied through the API (the
// console's editor) is also written to the file.
func TestApplyTextSavesFile(t *testing.T) {
	f := start(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	text := configText(f.dir, 2, "hello")
	r, err := f.client.ApplyConfig(ctx, text)
	if err != nil || !r.OK || len(r.Changes) != 1 || !strings.Contains(r.Changes[0], "scaled 1 -> 2") {
		t.Fatalf("apply: %v %+v", err, r)
	}
	if b, _ := os.ReadFile(f.file); string(b) != text {
		t.Error("the applied text was not saved to the file")
	}
	if ct, err := f.client.Config(ctx); err != nil || ct.Text != text || ct.File != f.file {
		t.Errorf("Config(): %v %+v", err, ct)
	}
}

func TestLogsAndEventsThroughTheSocket(t *testing.T) {
	f := start(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ev, err := f.client.Events(ctx, 100, false)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ev.Next()
	ev.Close()
	if err != nil || len(b.Events) == 0 {
		t.Fatalf("events: %v %+v", err, b)
	}
	kinds := ""
	for _, e := range b.Events {
		kinds += e.Kind + " "
	}
	if !strings.Contains(kinds, "worker.spawned") || !strings.Contains(kinds, "worker.ready") {
		t.Errorf("events: %s", kinds)
	}
	lf, err := f.client.Logs(ctx, "hello", 100, true)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	// A restart logs lines of its own while we follow.
	go f.client.RestartWorker(ctx, "hello", 1)
	seen := ""
	for !strings.Contains(seen, "exited: restart") {
		lb, err := lf.Next()
		if err != nil {
			t.Fatalf("follow: %v (seen %q)", err, seen)
		}
		for _, l := range lb.Lines {
			seen += l.Text + "\n"
		}
	}
	if _, err := f.client.Logs(ctx, "nope", 1, false); err == nil {
		t.Error("logs of an unknown source did not fail")
	}
}

// TestControlSocketIsPrivate: the socket is 0600 and a client of another
// uid is refused, even when the mode is widened.
func TestControlSocketIsPrivate(t *testing.T) {
	f := start(t, 1)
	sock := f.stack.Config().Control.Socket
	st, err := os.Stat(sock)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("control socket mode %v %v, want 0600", st.Mode(), err)
	}
	if os.Getuid() != 0 {
		t.Skip("needs root to try a second uid")
	}
	// Let another user reach the file, to test the peer-credential check.
	os.Chmod(filepath.Dir(sock), 0o755)
	os.Chmod(f.dir, 0o755)
	os.Chmod(sock, 0o666)
	// The test binary lives in a private build directory: copy it where
	// the other user can run it.
	bin := filepath.Join(f.dir, "helper.test")
	data, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(bin, data, 0o755)
	cmd := exec.Command(bin, "-test.run=^TestHelperOtherUID$")
	cmd.Dir = f.dir
	cmd.Env = append(os.Environ(), "STACKCTL_HELPER_SOCKET="+sock)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the client as uid 65534: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "refused:") {
		t.Fatalf("a client of another uid was not refused:\n%s", out)
	}
}

// TestHelperOtherUID runs as another user in TestControlSocketIsPrivate.
func TestHelperOtherUID(t *testing.T) {
	sock := os.Getenv("STACKCTL_HELPER_SOCKET")
	if sock == "" {
		t.Skip("helper process only")
	}
	c := control.NewClient(sock)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Snapshot(ctx); err != nil {
		fmt.Println("refused:", err)
		return
	}
	fmt.Println("ACCEPTED")
}

func TestNotRunning(t *testing.T) {
	c := control.NewClient(filepath.Join(shortDir(t), "control.sock"))
	_, err := c.Snapshot(context.Background())
	if err == nil || !strings.Contains(err.Error(), "no stackctl is running") {
		t.Fatalf("err = %v", err)
	}
}

func TestMetricsAndUWSGIStats(t *testing.T) {
	dir := shortDir(t)
	os.WriteFile(filepath.Join(dir, "hello.py"), []byte(helloApp), 0o644)
	mport, sport := freePort(t), freePort(t)
	text := configText(dir, 2, "hi") + fmt.Sprintf("\n[control]\nmetrics = \"127.0.0.1:%d\"\nstats = \"127.0.0.1:%d\"\n", mport, sport)
	file := filepath.Join(dir, "stackctl.toml")
	os.WriteFile(file, []byte(text), 0o644)
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	st, err := Start(context.Background(), cfg, Options{Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Stop(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st.WaitReady(ctx)
	for i := 0; i < 5; i++ {
		get(filepath.Join(dir, "hello.sock"))
	}
	eventually(t, 5*time.Second, "the requests counted", func() bool { return st.Snapshot().Apps[0].Requests == 5 })
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", mport))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`stackctl_app_requests_total{app="hello"} 5`,
		`stackctl_app_workers_desired{app="hello"} 2`,
		`stackctl_app_up{app="hello"} 1`,
		`stackctl_worker_rss_bytes{app="hello",worker="1"}`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", sport))
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := io.ReadAll(c)
	c.Close()
	var stats struct {
		Workers []struct {
			ID       int    `json:"id"`
			PID      int    `json:"pid"`
			Requests uint64 `json:"requests"`
			Status   string `json:"status"`
			App      string `json:"app"`
		} `json:"workers"`
	}
	if err := json.Unmarshal(doc, &stats); err != nil || len(stats.Workers) != 2 {
		t.Fatalf("stats document: %v\n%s", err, doc)
	}
	total := uint64(0)
	for _, w := range stats.Workers {
		total += w.Requests
		if w.App != "hello" || w.PID == 0 || (w.Status != "idle" && w.Status != "busy") {
			t.Errorf("stats worker %+v", w)
		}
	}
	if total != 5 {
		t.Errorf("stats requests total %d, want 5", total)
	}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestTouchReload: touching a touch_reload file chain-reloads the app; so
// does editing a .py file under a watched directory.
func TestTouchReload(t *testing.T) {
	dir := shortDir(t)
	os.WriteFile(filepath.Join(dir, "hello.py"), []byte(helloApp), 0o644)
	os.WriteFile(filepath.Join(dir, "reload.txt"), nil, 0o644)
	file := filepath.Join(dir, "stackctl.toml")
	os.WriteFile(file, []byte(configText(dir, 1, "hi")+"touch_reload = [\"reload.txt\", \".\"]\n"), 0o644)
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	st, err := Start(context.Background(), cfg, Options{NoControl: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Stop(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st.WaitReady(ctx)
	pid := func() int { return st.Snapshot().Apps[0].Workers[0].PID }
	first := pid()
	time.Sleep(1500 * time.Millisecond) // the watcher's first scan
	later := time.Now().Add(2 * time.Second)
	os.Chtimes(filepath.Join(dir, "reload.txt"), later, later)
	eventually(t, 10*time.Second, "a reload after touching reload.txt", func() bool { p := pid(); return p != first && p != 0 })
	second := pid()
	eventually(t, 5*time.Second, "the reload to settle", func() bool { return len(st.Snapshot().Apps[0].Workers) == 1 })
	time.Sleep(1200 * time.Millisecond)
	later = later.Add(2 * time.Second)
	os.Chtimes(filepath.Join(dir, "hello.py"), later, later)
	eventually(t, 10*time.Second, "a reload after editing hello.py", func() bool { p := pid(); return p != second && p != 0 })
	found := false
	for _, e := range st.Events().Recent(100) {
		if e.Kind == "app.touch_reload" && strings.Contains(e.Message, "hello.py changed") {
			found = true
		}
	}
	if !found {
		t.Error("no touch_reload event naming hello.py")
	}
}
