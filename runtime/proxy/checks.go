package proxy

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/stackctl/stackctl/runtime/config"
)

// startChecks starts (or restarts, or stops) the backend's active health
// checks for the settings h (nil: none). Called under the proxy's mu.
func (b *backend) startChecks(h *config.Health) {
	b.mu.Lock()
	if sameHealth(b.health, h) {
		b.mu.Unlock()
		return
	}
	stop, done := b.stopCheck, b.checkDone
	b.stopCheck, b.checkDone = nil, nil
	wasUnhealthy := b.active.unhealthy
	if h == nil {
		b.health = nil
		b.active = activeHealth{}
		b.lastCheck = nil
	} else {
		c := *h
		b.health = &c
	}
	b.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
	if h == nil {
		if wasUnhealthy {
			b.unhealthy.Store(false)
			b.event(StateUnhealthy, StateUp, "active", "health checks removed")
		}
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done = make(chan struct{})
	b.mu.Lock()
	b.stopCheck, b.checkDone = cancel, done
	hc := *b.health
	b.mu.Unlock()
	b.p.wg.Add(1)
	go func() {
		defer b.p.wg.Done()
		defer close(done)
		b.checkLoop(ctx, hc)
	}()
}

// stopChecks stops the active checks and waits for the checker to end.
func (b *backend) stopChecks() {
	b.mu.Lock()
	stop, done := b.stopCheck, b.checkDone
	b.stopCheck, b.checkDone = nil, nil
	b.health = nil
	b.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
}

func sameHealth(a, b *config.Health) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

// checkLoop checks the server every interval; the first check comes after
// a random part of an interval so that many servers are not checked in
// step.
func (b *backend) checkLoop(ctx context.Context, h config.Health) {
	interval := h.Interval.D()
	first := time.Duration(rand.Int64N(int64(interval)/4 + 1))
	t := time.NewTimer(first)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		res := b.check(ctx, h)
		if ctx.Err() != nil {
			return
		}
		b.observeCheck(res, &h)
		t.Reset(interval)
	}
}

// check sends one health check request over the backend's own transport.
func (b *backend) check(ctx context.Context, h config.Health) CheckResult {
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, h.Timeout.D())
	defer cancel()
	host := h.Host
	if host == "" {
		host = "localhost"
	}
	req, err := http.NewRequestWithContext(cctx, http.MethodGet, "http://"+host+h.Path, nil)
	if err != nil {
		return CheckResult{Time: start, Error: err.Error()}
	}
	req.RequestURI = h.Path
	req.RemoteAddr = "127.0.0.1:0"
	req.Header.Set("User-Agent", "stackctl-health-check")
	rs := &reqState{p: b.p, r: req, out: req, method: req.Method,
		path: req.URL.Path, rawQuery: req.URL.RawQuery, clientIP: "127.0.0.1", clientPort: "0",
		lh: &listenerHandler{host: "localhost", port: "0"}}
	cfg := config.Upstream{Name: b.upstream, ConnectTimeout: h.Timeout, SendTimeout: h.Timeout, ReadTimeout: h.Timeout,
		QueueDepth: config.DefaultQueueDepth, QueueMaxAge: config.DefaultQueueMaxAge}
	resp, err := b.tr.roundTrip(cctx, rs, &pool{name: b.upstream, cfg: cfg})
	if err != nil {
		return CheckResult{Time: start, Error: err.Error(), Duration: time.Since(start)}
	}
	// Read (a bounded part of) the body so the connection or lane stays
	// in step, and count its time.
	io.Copy(io.Discard, io.LimitReader(resp.body, 64<<10))
	resp.body.Close()
	if resp.upgraded != nil {
		resp.upgraded.Close()
	}
	res := CheckResult{Time: start, Status: resp.status, Duration: time.Since(start)}
	res.OK = expectOK(resp.status, h.Expect)
	if !res.OK {
		want := "2xx or 3xx"
		if h.Expect != 0 {
			want = strconv.Itoa(h.Expect)
		}
		res.Error = fmt.Sprintf("status %d, want %s", resp.status, want)
	}
	return res
}
