package proxy

import (
	"net"
	"testing"
	"time"

	"github.com/stackctl/stackctl/runtime/uwsgi"
)

// testLanes makes n lanes over in-memory pipes nobody reads: enough for
// dispatch, which looks only at the lanes' bookkeeping.
func testLanes(t testing.TB, n int) *laneView {
	v := &laneView{}
	for i := 0; i < n; i++ {
		a, b := net.Pipe()
		l := uwsgi.NewLane(a)
		t.Cleanup(func() { l.Close(); b.Close() })
		v.lanes = append(v.lanes, &laneState{lane: l})
	}
	return v
}

// TestPick: the dispatch rules of laneGroup, case by case.
func TestPick(t *testing.T) {
	const depth, maxAge = 4, time.Second
	tests := []struct {
		name     string
		inflight []int32
		broken   []int // lanes whose connection failed
		gone     []int
		avoid    int // index, -1 for none
		idleOnly bool
		want     []int // acceptable picks; empty: none
	}{
		{"an idle lane", []int32{1, 0, 2}, nil, nil, -1, false, []int{1}},
		{"idle lanes only, none idle", []int32{1, 1}, nil, nil, -1, true, nil},
		{"all busy: queue on one below depth", []int32{4, 2, 4}, nil, nil, -1, false, []int{1}},
		{"all at depth", []int32{4, 4}, nil, nil, -1, false, nil},
		{"a broken idle lane is skipped", []int32{0, 3}, []int{0}, nil, -1, false, []int{1}},
		{"a gone idle lane is skipped", []int32{0, 3}, nil, []int{0}, -1, false, []int{1}},
		{"never queue on avoid", []int32{1, 4}, nil, nil, 0, false, nil},
		{"avoid may still be taken idle", []int32{0}, nil, nil, 0, false, []int{0}},
	}
	for _, tt := range tests {
		v := testLanes(t, len(tt.inflight))
		for i, k := range tt.inflight {
			v.lanes[i].inflight.Store(k)
		}
		for _, i := range tt.broken {
			v.lanes[i].lane.Close()
		}
		for _, i := range tt.gone {
			v.lanes[i].gone.Store(true)
		}
		var avoid *laneState
		if tt.avoid >= 0 {
			avoid = v.lanes[tt.avoid]
		}
		var g laneGroup
		got := g.pick(v, depth, maxAge, tt.idleOnly, avoid)
		if got == nil {
			if len(tt.want) != 0 {
				t.Errorf("%s: picked none, want lane %v", tt.name, tt.want)
			}
			continue
		}
		idx := -1
		for i, ls := range v.lanes {
			if ls == got {
				idx = i
			}
		}
		okPick := false
		for _, w := range tt.want {
			okPick = okPick || w == idx
		}
		if !okPick {
			t.Errorf("%s: picked lane %d, want one of %v", tt.name, idx, tt.want)
		}
		if k := got.inflight.Load(); k != tt.inflight[idx]+1 {
			t.Errorf("%s: lane %d in flight %d after the pick, want %d", tt.name, idx, k, tt.inflight[idx]+1)
		}
	}
}

// TestPickManyBusy: among many busy lanes a request queues on one below
// depth, wherever the scan starts, and never on one at depth.
func TestPickManyBusy(t *testing.T) {
	v := testLanes(t, 96)
	for _, ls := range v.lanes {
		ls.inflight.Store(4)
	}
	var g laneGroup
	if ls := g.pick(v, 4, time.Second, false, nil); ls != nil {
		t.Fatal("picked a lane at depth")
	}
	for i := 0; i < 64; i++ {
		v.lanes[i].inflight.Store(1)
	}
	for i := 0; i < 10; i++ {
		ls := g.pick(v, 4, time.Second, false, nil)
		if ls == nil {
			t.Fatal("picked none with lanes below depth")
		}
		if k := ls.inflight.Load(); k < 2 || k > 4 {
			t.Fatalf("picked a lane now at %d in flight", k)
		}
	}
}

// BenchmarkPickAllBusy: dispatch over a slow app's 1,000 lanes (4 workers
// × 250 threads), every one busy: the cost of one request's pick.
func BenchmarkPickAllBusy(b *testing.B) {
	v := testLanes(b, 1000)
	for _, ls := range v.lanes {
		ls.inflight.Store(1)
	}
	var g laneGroup
	b.ReportAllocs()
	for b.Loop() {
		ls := g.pick(v, 8, time.Second, false, nil)
		ls.inflight.Add(-1)
	}
}
