package appserver

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/stackctl/stackctl/runtime/config"
)

func TestRespawnDelay(t *testing.T) {
	tests := []struct {
		name       string
		prev       int
		ran        time.Duration
		served     uint64
		loadFailed bool
		want       time.Duration
		wantN      int
	}{
		{"first crash respawns at once", 0, time.Second, 0, false, 0, 1},
		{"second quick crash backs off", 1, time.Second, 0, false, 100 * time.Millisecond, 2},
		{"third quick crash doubles", 2, time.Second, 0, false, 200 * time.Millisecond, 3},
		{"a long crash loop is capped", 30, time.Second, 0, false, crashMax, 31},
		{"a crash after a healthy run is fresh", 7, time.Minute, 0, false, 0, 1},
		{"a worker that served requests is replaced at once", 7, 100 * time.Millisecond, 3, false, 0, 1},
		{"load failure", 0, 100 * time.Millisecond, 0, true, time.Second, 1},
		{"repeated load failure doubles", 3, 100 * time.Millisecond, 0, true, 8 * time.Second, 4},
		{"load failure is capped", 20, 0, 0, true, loadFailMax, 21},
		{"load failures ignore run time", 2, time.Hour, 0, true, 4 * time.Second, 3},
	}
	for _, tt := range tests {
		got, n := respawnDelay(tt.prev, tt.ran, tt.served, tt.loadFailed)
		if got != tt.want || n != tt.wantN {
			t.Errorf("%s: respawnDelay(%d, %s, %d, %v) = %s, %d; want %s, %d", tt.name, tt.prev, tt.ran, tt.served, tt.loadFailed, got, n, tt.want, tt.wantN)
		}
	}
}

func TestOverdue(t *testing.T) {
	now := time.Now()
	cores := []core{
		{busy: true, since: now.Add(-2 * time.Second)},
		{busy: false, since: now.Add(-time.Hour)},
		{busy: true, since: now.Add(-5 * time.Second)},
		{busy: true, since: now.Add(-100 * time.Millisecond)},
	}
	for _, tt := range []struct {
		timeout time.Duration
		want    int
	}{{0, -1}, {10 * time.Second, -1}, {3 * time.Second, 2}, {time.Second, 2}, {50 * time.Millisecond, 2}} {
		if got := overdue(cores, now, tt.timeout); got != tt.want {
			t.Errorf("overdue(timeout %s) = %d, want %d", tt.timeout, got, tt.want)
		}
	}
	if overdue(cores[1:2], now, time.Millisecond) != -1 {
		t.Error("an idle thread is never overdue")
	}
}

func TestOverRSS(t *testing.T) {
	for _, tt := range []struct {
		rss  uint64
		max  int64
		want bool
	}{{100, 0, false}, {100, 200, false}, {200, 200, false}, {201, 200, true}} {
		if got := overRSS(tt.rss, tt.max); got != tt.want {
			t.Errorf("overRSS(%d, %d) = %v", tt.rss, tt.max, got)
		}
	}
}

func TestClassifyChange(t *testing.T) {
	base := config.App{Name: "a", Module: "m:app", Chdir: "/x", Python: "python3", Workers: 2, Threads: 1,
		Socket: "unix:/r/a.sock", Listen: 1024, MaxRequests: 10, MaxRSS: 1 << 20, RequestTimeout: 5e9,
		GracePeriod: 30e9, Env: map[string]string{"A": "1"}}
	tests := []struct {
		name   string
		edit   func(*config.App)
		reload bool
		socket bool
	}{
		{"nothing", func(*config.App) {}, false, false},
		{"worker count only (scaled, not reloaded)", func(a *config.App) { a.Workers = 5 }, false, false},
		{"master-side limits", func(a *config.App) { a.MaxRSS = 2 << 20; a.RequestTimeout = 1e9; a.GracePeriod = 1e9 }, false, false},
		{"module", func(a *config.App) { a.Module = "m:other" }, true, false},
		{"code dir", func(a *config.App) { a.Chdir = "/y" }, true, false},
		{"interpreter", func(a *config.App) { a.Python = "/usr/bin/python3" }, true, false},
		{"env value", func(a *config.App) { a.Env = map[string]string{"A": "2"} }, true, false},
		{"env key added", func(a *config.App) { a.Env = map[string]string{"A": "1", "B": "1"} }, true, false},
		{"threads", func(a *config.App) { a.Threads = 4 }, true, false},
		{"max_requests (enforced in the worker)", func(a *config.App) { a.MaxRequests = 11 }, true, false},
		{"speedups", func(a *config.App) { a.Speedups = "off" }, true, false},
		{"socket", func(a *config.App) { a.Socket = "127.0.0.1:3031" }, true, true},
		{"socket mode", func(a *config.App) { a.SocketMode = "0666" }, true, true},
		{"backlog", func(a *config.App) { a.Listen = 4096 }, true, true},
	}
	for _, tt := range tests {
		n := base
		n.Env = map[string]string{"A": "1"}
		tt.edit(&n)
		c := classifyChange(base, n)
		if c.reload != tt.reload || c.socket != tt.socket {
			t.Errorf("%s: reload=%v socket=%v, want %v %v", tt.name, c.reload, c.socket, tt.reload, tt.socket)
		}
	}
}

func TestParseFinished(t *testing.T) {
	p := make([]byte, 16)
	p[0] = 3
	binary.LittleEndian.PutUint16(p[1:], 404)
	binary.LittleEndian.PutUint64(p[3:], 1<<40)
	binary.LittleEndian.PutUint32(p[11:], 1500)
	p[15] = 1
	th, st, n, d, raised, err := parseFinished(p)
	if err != nil || th != 3 || st != 404 || n != 1<<40 || d != 1500*time.Microsecond || !raised {
		t.Fatalf("parseFinished = %d %d %d %s %v %v", th, st, n, d, raised, err)
	}
	if _, _, _, _, _, err := parseFinished(p[:15]); err == nil {
		t.Error("a short record must be an error")
	}
}
