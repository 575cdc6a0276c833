package stack

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stackctl/stackctl/runtime/config"
	"github.com/stackctl/stackctl/runtime/control"
	"github.com/stackctl/stackctl/runtime/logs"
)

// proxyStack runs two apps, "blue" and "green", behind one upstream, and a
// route to it.
func proxyStack(t *testing.T, greeting string) (*fixture, string) {
	t.Helper()
	dir := shortDir(t)
	os.WriteFile(filepath.Join(dir, "hello.py"), []byte(helloApp), 0o644)
	port := freePort(t)
	file := filepath.Join(dir, "stackctl.toml")
	os.WriteFile(file, []byte(proxyConfig(dir, port, greeting)), 0o644)
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
	return &fixture{t: t, dir: dir, file: file, stack: st, client: c}, fmt.Sprintf("http://127.0.0.1:%d/", port)
}

func proxyConfig(dir string, port int, greeting string) string {
	return fmt.Sprintf(`run_dir = "%[1]s/run"

[proxy]
listen = ["127.0.0.1:%[2]d"]

[[proxy.route]]
path = "/"
upstream = "web"

[[upstream]]
name = "web"
servers = ["app:blue", "app:green"]

[[app]]
name = "blue"
module = "hello"
workers = 2
env = { GREETING = "%[3]s-blue" }

[[app]]
name = "green"
module = "hello"
workers = 2
env = { GREETING = "%[3]s-green" }
`, dir, port, greeting)
}

func httpGet(c *http.Client, url string) (string, error) {
	resp, err := c.Get(url)
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

func server(s *control.Snapshot, upstream, addr string) control.UpstreamServer {
	for _, u := range s.Upstreams {
		if u.Name == upstream {
			for _, sv := range u.Servers {
				if sv.Address == addr {
					return sv
				}
			}
		}
	}
	return control.UpstreamServer{}
}

// TestDrainThroughControl: draining a server shows in status and sends it no
// new requests; undrain brings them back.
func TestDrainThroughControl(t *testing.T) {
	f, url := proxyStack(t, "hi")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if r, err := f.client.SetServerState(ctx, "web", "app:green", "drain"); err != nil || !r.OK {
		t.Fatalf("drain: %v %+v", err, r)
	}
	if sv := server(f.snap(), "web", "app:green"); sv.State != "drain" {
		t.Fatalf("after drain: %+v", sv)
	}
	before := server(f.snap(), "web", "app:green").Requests
	c := &http.Client{Timeout: 10 * time.Second}
	for i := 0; i < 50; i++ {
		body, err := httpGet(c, url)
		if err != nil || !strings.HasPrefix(body, "hi-blue ") {
			t.Fatalf("request %d while green is drained: %q %v", i, body, err)
		}
	}
	if after := server(f.snap(), "web", "app:green").Requests; after != before {
		t.Errorf("a drained server got %d new requests", after-before)
	}
	if r, err := f.client.SetServerState(ctx, "web", "app:green", "up"); err != nil || !r.OK {
		t.Fatalf("undrain: %v %+v", err, r)
	}
	seen := map[string]bool{}
	for i := 0; i < 50; i++ {
		body, _ := httpGet(c, url)
		seen[strings.Fields(body + " x")[0]] = true
	}
	if !seen["hi-green"] || !seen["hi-blue"] {
		t.Errorf("after undrain, served by %v", seen)
	}
	if r, _ := f.client.SetServerState(ctx, "web", "app:nope", "drain"); r.OK {
		t.Error("draining an unknown server succeeded")
	}
}

// TestReloadThroughProxyUnderLoad: changing both apps in the file and
// reloading chain-reloads them while HTTP load goes through the proxy: no
// request fails, and afterwards every answer is the new one.
func TestReloadThroughProxyUnderLoad(t *testing.T) {
	f, url := proxyStack(t, "hi")
	var ok, failed atomic.Int64
	var mu sync.Mutex
	var samples []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Timeout: 30 * time.Second}
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := httpGet(c, url); err != nil {
					failed.Add(1)
					mu.Lock()
					samples = append(samples, err.Error())
					mu.Unlock()
				} else {
					ok.Add(1)
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	port := strings.TrimSuffix(strings.TrimPrefix(url, "http://127.0.0.1:"), "/")
	var p int
	fmt.Sscan(port, &p)
	os.WriteFile(f.file, []byte(proxyConfig(f.dir, p, "bonjour")), 0o644)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r, err := f.client.ApplyConfig(ctx, "")
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	if err != nil || !r.OK {
		t.Fatalf("reload: %v %+v", err, r)
	}
	t.Logf("%d ok, %d failed; changes %q", ok.Load(), failed.Load(), r.Changes)
	if failed.Load() != 0 || ok.Load() < 100 {
		t.Errorf("%d requests failed during the reload (ok %d): %v", failed.Load(), ok.Load(), samples)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	for i := 0; i < 20; i++ {
		if body, err := httpGet(c, url); err != nil || !strings.HasPrefix(body, "bonjour-") {
			t.Fatalf("after the reload: %q %v", body, err)
		}
	}
	s := f.snap()
	if !s.Proxy.Enabled || s.Proxy.Requests < uint64(ok.Load()) || len(s.Upstreams) == 0 {
		t.Errorf("proxy in status: %+v upstreams %d", s.Proxy, len(s.Upstreams))
	}
}

// TestAccessLogOwnFileIsFollowed: with access_log naming a file of its
// own, the access lines go to that file and to what the console and
// `stackctl logs access` follow.
func TestAccessLogOwnFileIsFollowed(t *testing.T) {
	f, url := proxyStack(t, "own")
	own := filepath.Join(f.dir, "own-access.log")
	text, _ := os.ReadFile(f.file)
	text = []byte(strings.Replace(string(text), "[proxy]\n", fmt.Sprintf("[proxy]\naccess_log = %q\n", own), 1))
	os.WriteFile(f.file, text, 0o644)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := f.stack.ReloadFile(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := httpGet(http.DefaultClient, url+"from-the-own-log-test"); err != nil {
		t.Fatal(err)
	}
	buf, ok := f.stack.Log(logs.SourceAccess)
	if !ok {
		t.Fatal("no access log to follow")
	}
	found := func(lines []logs.Line) bool {
		for _, l := range lines {
			if strings.Contains(l.Text, "GET /from-the-own-log-test") {
				return true
			}
		}
		return false
	}
	deadline := time.Now().Add(5 * time.Second)
	for !found(buf.Tail(100)) {
		if time.Now().After(deadline) {
			t.Fatalf("the followed access log lacks the request: %v", buf.Tail(100))
		}
		time.Sleep(20 * time.Millisecond)
	}
	deadline = time.Now().Add(5 * time.Second)
	for {
		data, _ := os.ReadFile(own)
		if strings.Contains(string(data), "GET /from-the-own-log-test") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s lacks the request: %q", own, data)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
