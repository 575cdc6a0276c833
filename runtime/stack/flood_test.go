package stack

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/runtime/config"
	"github.com/stackctl/stackctl/runtime/control"
)

const floodApp = `
import sys, time
def application(environ, start_response):
    # 50,000 lines a second for 5 seconds, in 10 ms batches.
    # Reports the time spent inside write(): a pipe the master stopped
    # reading would block it.
    n = 0
    blocked = 0.0
    start = time.monotonic()
    for tick in range(500):
        chunk = "".join("flood line %d\n" % (n + i) for i in range(500))
        t = time.monotonic()
        sys.stdout.write(chunk)
        blocked += time.monotonic() - t
        n += 500
        delay = start + (tick + 1) * 0.01 - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    body = b"%d %.3f %.3f" % (n, time.monotonic() - start, blocked)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
`

// TestLogFlood: a worker printing 50k lines/s for 5 s is never slowed by a
// slow follower, the stack's memory stays bounded, the follower is told how
// many lines it lost, and the log file has every line.
func TestLogFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("5 s flood")
	}
	dir := shortDir(t)
	os.WriteFile(filepath.Join(dir, "flood.py"), []byte(floodApp), 0o644)
	file := filepath.Join(dir, "stackctl.toml")
	os.WriteFile(file, []byte(fmt.Sprintf("run_dir = %q\n[[app]]\nname = \"flood\"\nmodule = \"flood\"\nworkers = 1\nsocket = \"unix:%s/flood.sock\"\n", dir+"/run", dir)), 0o644)
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	st, err := Start(context.Background(), cfg, Options{LogLines: 5000})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Stop(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := st.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}

	// A follower that reads slowly, through the control socket.
	c := control.NewClient(cfg.Control.Socket)
	defer c.Close()
	f, err := c.Logs(ctx, "flood", 0, true)
	if err != nil {
		t.Fatal(err)
	}
	var lost uint64
	followed := make(chan struct{})
	go func() {
		defer close(followed)
		for {
			b, err := f.Next()
			if err != nil {
				return
			}
			lost += b.Lost
			time.Sleep(20 * time.Millisecond)
		}
	}()

	var peak uint64
	sampling, sampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			select {
			case <-sampling:
				return
			case <-time.After(100 * time.Millisecond):
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peak {
					peak = ms.HeapInuse
				}
			}
		}
	}()
	body, err := get(filepath.Join(dir, "flood.sock"))
	close(sampling)
	<-sampled // peak is final
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var took, blocked float64
	fmt.Sscanf(body, "%d %f %f", &n, &took, &blocked)
	if n != 250000 {
		t.Fatalf("the app printed %d lines", n)
	}
	// Never blocked: writing 12 MB into the pipe costs well under a second
	// of the five; a producer stalled behind a slow reader would spend most
	// of its time in write().
	t.Logf("flood: %d lines in %.2fs, %.3fs of it in write(); peak heap in use %d MiB", n, took, blocked, peak>>20)
	if blocked > 1.5 {
		t.Errorf("the producer spent %.1fs of %.1fs blocked in write()", blocked, took)
	}
	if peak > 256<<20 {
		t.Errorf("heap in use peaked at %d MiB during the flood", peak>>20)
	}
	// The follower fell behind and was told.
	time.Sleep(500 * time.Millisecond)
	f.Close()
	<-followed
	if lost == 0 {
		t.Error("a slow follower lost no lines: it was not slow, or loss is not reported")
	}
	// The file has every line, in order.
	eventually(t, 10*time.Second, "the log file to hold every line", func() bool {
		return countFlood(t, filepath.Join(cfg.RunDir, "logs", "flood.log")) == 250000
	})
}

// countFlood checks the flood lines in a log file are 0..N-1 in order and
// returns N.
func countFlood(t *testing.T, path string) int {
	fh, err := os.Open(path)
	if err != nil {
		return -1
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	next := 0
	for sc.Scan() {
		line := sc.Text()
		i := strings.Index(line, "flood line ")
		if i < 0 {
			continue
		}
		var k int
		fmt.Sscanf(line[i:], "flood line %d", &k)
		if k != next {
			t.Fatalf("log file: line %d where %d was expected", k, next)
		}
		next++
	}
	return next
}
