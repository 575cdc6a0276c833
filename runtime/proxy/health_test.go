package proxy

import (
	"errors"
	"testing"
	"time"

	"github.com/stackctl/stackctl/runtime/config"
	"github.com/stackctl/stackctl/runtime/stats"
)

func TestPassiveHealth(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	const ft = 10 * time.Second
	type step struct {
		at      float64
		ok      bool
		wantEv  string // "down", "up" or ""
		wantOut bool   // failed (out) after the step, checked at the same time
	}
	cases := []struct {
		name     string
		maxFails int
		steps    []step
	}{
		{"one failure takes a max_fails=1 server out", 1, []step{
			{0, false, "down", true},
		}},
		{"failures must fall within fail_timeout of each other", 3, []step{
			{0, false, "", false},
			{5, false, "", false},
			{16, false, "", false}, // 11 s after the previous: the count restarts at 1
			{20, false, "", false},
			{25, false, "down", true},
		}},
		{"a success within the window does not forgive (nginx)", 3, []step{
			{0, false, "", false},
			{1, true, "", false},
			{2, false, "", false},
			{3, true, "", false},
			{4, false, "down", true},
		}},
		{"a success after the window forgives", 2, []step{
			{0, false, "", false},
			{11, true, "", false},
			{12, false, "", false}, // counts from 1 again
		}},
		{"a good probe after fail_timeout brings it back", 1, []step{
			{0, false, "down", true},
			{11, true, "up", false},
		}},
		{"a failed probe keeps it out", 2, []step{
			{0, false, "", false},
			{1, false, "down", true},
			{12, false, "", true}, // probe failed: out again for fail_timeout, no new event
			{13, true, "up", false},
		}},
		{"max_fails 0 disables", 0, []step{
			{0, false, "", false}, {1, false, "", false}, {2, false, "", false},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var h passiveHealth
			for i, s := range c.steps {
				var ev string
				if s.ok {
					if h.success(at(s.at), c.maxFails, ft) {
						ev = "up"
					}
				} else if h.failure(at(s.at), c.maxFails, ft) {
					ev = "down"
				}
				if ev != s.wantEv {
					t.Errorf("step %d at %vs: event %q, want %q", i, s.at, ev, s.wantEv)
				}
				until := h.downUntil(c.maxFails, ft)
				out := !until.IsZero() && at(s.at).Before(until)
				if out != s.wantOut {
					t.Errorf("step %d at %vs: out = %v, want %v (fails %d)", i, s.at, out, s.wantOut, h.fails)
				}
			}
		})
	}
}

func TestActiveHealth(t *testing.T) {
	cases := []struct {
		name    string
		results string // '+' pass, '-' fail
		rise    int
		fall    int
		changes string // the verdict after each result: 'h' healthy, 'u' unhealthy
	}{
		{"fall 3", "--+---", 2, 3, "hhhhhu"},
		{"rise 2 after falling", "---+-++", 2, 3, "hhuuuuh"},
		{"fall 1 rise 1", "-+-+", 1, 1, "uhuh"},
		{"flapping below the thresholds stays", "+-+-+-", 2, 2, "hhhhhh"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var a activeHealth
			var got []byte
			for _, r := range c.results {
				a.observe(r == '+', c.rise, c.fall)
				if a.unhealthy {
					got = append(got, 'u')
				} else {
					got = append(got, 'h')
				}
			}
			if string(got) != c.changes {
				t.Errorf("verdicts %s, want %s", got, c.changes)
			}
		})
	}
}

func TestExpectOK(t *testing.T) {
	cases := []struct {
		status, expect int
		ok             bool
	}{
		{200, 0, true}, {204, 0, true}, {301, 0, true}, {404, 0, false}, {500, 0, false},
		{200, 204, false}, {204, 204, true}, {503, 503, true},
	}
	for _, c := range cases {
		if got := expectOK(c.status, c.expect); got != c.ok {
			t.Errorf("expectOK(%d, %d) = %v", c.status, c.expect, got)
		}
	}
}

// The backend wires the state machines to events and the request path.
func TestBackendStateEvents(t *testing.T) {
	var events []stats.Event
	p := &Proxy{opts: Options{OnEvent: func(e stats.Event) { events = append(events, e) }}}
	be := &backend{p: p, upstream: "u", spec: config.ServerSpec{Key: "uwsgi://10.0.0.1:3031"}}
	m := &member{b: be, weight: 1, maxFails: 2, failTimeout: time.Second}
	be.maxFails = 2
	now := time.Now()
	be.failure(now, m, errors.New("connection refused"))
	if !be.available(now) || be.state(now) != StateUp {
		t.Fatal("one failure of max_fails=2 took the server out")
	}
	be.failure(now, m, errors.New("connection refused"))
	if be.available(now) || be.state(now) != StateFailed {
		t.Fatalf("two failures: available=%v state=%s, want out and failed", be.available(now), be.state(now))
	}
	if !be.available(now.Add(1100 * time.Millisecond)) {
		t.Fatal("not probed after fail_timeout")
	}
	be.success(now.Add(1100*time.Millisecond), m)
	if be.state(now) != StateUp || !be.available(now) {
		t.Fatal("a good probe did not bring the server back")
	}
	be.setAdmin(AdminDrain, "test")
	if be.available(now) || be.state(now) != StateDrain {
		t.Fatal("drained server still available")
	}
	be.setAdmin(AdminUp, "test")
	h := &config.Health{Rise: 1, Fall: 1}
	be.observeCheck(CheckResult{Error: "connection refused"}, h)
	if be.available(now) || be.state(now) != StateUnhealthy {
		t.Fatal("failed check with fall=1 did not mark unhealthy")
	}
	be.observeCheck(CheckResult{OK: true, Status: 200}, h)
	want := []string{"up>failed", "failed>up", "up>drain", "drain>up", "up>unhealthy", "unhealthy>up"}
	if len(events) != len(want) {
		t.Fatalf("%d events, want %d: %v", len(events), len(want), events)
	}
	for i, e := range events {
		if got := e.Fields["from"] + ">" + e.Fields["to"]; got != want[i] || e.Kind != stats.KindHealthChanged || e.Fields["reason"] == "" || e.Source != "u" {
			t.Errorf("event %d: %s %+v, want %s with a reason", i, got, e, want[i])
		}
	}
}
