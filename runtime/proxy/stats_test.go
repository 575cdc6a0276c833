package proxy

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stackctl/stackctl/runtime/config"
)

// The control API serves Snapshot as JSON; `stackctl status --json` relies
// on these keys.
func TestSnapshotJSON(t *testing.T) {
	be := &backend{spec: config.ServerSpec{Key: "uwsgi://127.0.0.1:3031"}}
	be.stats.begin()
	be.stats.end(200, 10, 20, time.Millisecond)
	be.fails.Add(2)
	s := Snapshot{Listen: []string{"127.0.0.1:8080"}, Counters: Counters{Requests: 7, Active: 1},
		Upstreams: []UpstreamSnapshot{{Name: "u", Servers: []ServerSnapshot{be.snapshot(&member{b: be, weight: 3}, time.Now())}}}}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	for _, k := range []string{"listen", "requests", "active", "connections", "status", "latency", "upstreams"} {
		if _, ok := m[k]; !ok {
			t.Errorf("proxy.%s missing in %s", k, b)
		}
	}
	srv := m["upstreams"].([]any)[0].(map[string]any)["servers"].([]any)[0].(map[string]any)
	want := map[string]any{"address": "uwsgi://127.0.0.1:3031", "state": "up", "weight": 3.0, "active": 0.0, "requests": 1.0, "fails": 2.0}
	for k, v := range want {
		if srv[k] != v {
			t.Errorf("upstreams[].servers[].%s = %v, want %v (%s)", k, srv[k], v, b)
		}
	}
	if lat := srv["latency"].(map[string]any); lat["count"] != 1.0 || lat["p99"] == 0.0 {
		t.Errorf("latency: %v", lat)
	}
}
