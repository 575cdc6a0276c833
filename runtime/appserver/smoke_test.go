package appserver

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestSmoke(t *testing.T) {
	h := newHarness(t)
	a := h.start(h.app("hello", helloApp))
	resp, body, err := uwsgiDo(t, a.spec.cfg.Socket, "GET", "/", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(string(body), "hello from ") {
		t.Fatalf("shared socket: %d %q", resp.StatusCode, body)
	}
	lanes, _ := a.Lanes()
	if len(lanes) != 2 {
		t.Fatalf("%d lanes, want 2", len(lanes))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i := 0; i < 3; i++ {
		r, b, err := laneDo(ctx, lanes[0], "GET", "/", nil)
		if err != nil || r.StatusCode != 200 || !strings.HasPrefix(string(b), "hello from 1") {
			t.Fatalf("lane: %v %v %q", r, err, b)
		}
	}
	info := a.Snapshot()
	t.Logf("%+v", info)
}

// Whoever sees a worker ready finds its worker.ready event already
// delivered: a consumer that is slow to take events (the control socket's
// event log, a console) must not lag behind WaitReady.
func TestReadyEventPrecedesReadiness(t *testing.T) {
	h := newHarness(t)
	var mu sync.Mutex
	ready := 0
	h.srv.opts.OnEvent = func(e Event) {
		if e.Kind != EventReady {
			return
		}
		time.Sleep(100 * time.Millisecond) // a slow consumer
		mu.Lock()
		ready++
		mu.Unlock()
	}
	cfg := h.app("hello", helloApp)
	cfg.Workers = 3
	h.start(cfg)
	mu.Lock()
	defer mu.Unlock()
	if ready != cfg.Workers {
		t.Fatalf("WaitReady returned with %d worker.ready events delivered, want %d", ready, cfg.Workers)
	}
}
