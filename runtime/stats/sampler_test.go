package stats

import (
	"errors"
	"fmt"
	"math"
	"testing"
	"time"
)

// fakeBackend serves scripted processes, so that the Sampler's bookkeeping
// (CPU deltas, PID reuse, fd cadence, forgetting) is tested exactly.
type fakeBackend struct {
	procs    map[int32]*fakeProc
	reads    map[int32]int
	fdCounts map[int32]int
	resets   map[int32]int
}

type fakeProc struct {
	start   uint64
	cpu     time.Duration
	when    time.Time
	rss     uint64
	threads int32
	fds     int32
}

func newFake() *fakeBackend {
	return &fakeBackend{
		procs:    map[int32]*fakeProc{},
		reads:    map[int32]int{},
		fdCounts: map[int32]int{},
		resets:   map[int32]int{},
	}
}

var errFakeGone = errors.New("no such process")

func (f *fakeBackend) name() string { return "fake" }

func (f *fakeBackend) read(st *procState, out *rawStat) error {
	f.reads[st.pid]++
	p := f.procs[st.pid]
	if p == nil {
		return errFakeGone
	}
	*out = rawStat{start: p.start, startTime: time.Unix(int64(p.start), 0), cpu: p.cpu, when: p.when, rss: p.rss, vms: 2 * p.rss, threads: p.threads}
	return nil
}

func (f *fakeBackend) countFDs(st *procState) (int32, error) {
	f.fdCounts[st.pid]++
	p := f.procs[st.pid]
	if p == nil {
		return -1, errFakeGone
	}
	if p.fds < 0 {
		return -1, errors.New("permission denied")
	}
	return p.fds, nil
}

func (f *fakeBackend) reset(st *procState) { f.resets[st.pid]++ }

// advance moves every process's clock by wall and its CPU time by cpu[pid].
func (f *fakeBackend) advance(wall time.Duration, cpu map[int32]time.Duration) {
	for pid, p := range f.procs {
		p.when = p.when.Add(wall)
		p.cpu += cpu[pid]
	}
}

func byPID(stats []ProcStat) map[int32]ProcStat {
	m := make(map[int32]ProcStat, len(stats))
	for _, s := range stats {
		m[s.PID] = s
	}
	return m
}

func TestSamplerCPUPercent(t *testing.T) {
	f := newFake()
	f.procs[10] = &fakeProc{start: 1, when: t0, cpu: 5 * time.Second, rss: 100, threads: 2, fds: 4}
	s := newSampler(f, SamplerOptions{})

	first := s.Sample([]int32{10})
	if len(first) != 1 || first[0].CPUPercent != 0 {
		t.Fatalf("first sample: %+v, want CPUPercent 0", first)
	}
	if first[0].CPUTime != 5*time.Second || first[0].RSS != 100 || first[0].VMS != 200 || first[0].Threads != 2 || first[0].FDs != 4 ||
		!first[0].StartTime.Equal(time.Unix(1, 0)) {
		t.Fatalf("first sample fields: %+v", first[0])
	}
	steps := []struct {
		wall, cpu time.Duration
		want      float64
	}{
		{time.Second, 500 * time.Millisecond, 50},
		{2 * time.Second, 4 * time.Second, 200}, // two cores
		{time.Second, 0, 0},                     // idle now: not the lifetime average
		{500 * time.Millisecond, 500 * time.Millisecond, 100},
		{0, 0, 0}, // no time passed: no division by zero
	}
	for i, st := range steps {
		f.advance(st.wall, map[int32]time.Duration{10: st.cpu})
		got := s.Sample([]int32{10})
		if len(got) != 1 || math.Abs(got[0].CPUPercent-st.want) > 1e-9 {
			t.Fatalf("step %d: %+v, want CPUPercent %v", i, got, st.want)
		}
	}
}

func TestSamplerPIDReuse(t *testing.T) {
	f := newFake()
	f.procs[7] = &fakeProc{start: 100, when: t0, cpu: 10 * time.Second, fds: 3}
	s := newSampler(f, SamplerOptions{FDEvery: 10})
	s.Sample([]int32{7})
	f.advance(time.Second, map[int32]time.Duration{7: time.Second})
	if got := s.Sample([]int32{7}); got[0].CPUPercent != 100 {
		t.Fatalf("before reuse: %+v", got)
	}

	tests := []struct {
		name      string
		next      fakeProc
		wantReads int // reads for this sample: 2 when the backend's identity was stale
	}{
		// New start time: a different process, even with more CPU time.
		{"new start time", fakeProc{start: 200, cpu: 60 * time.Second, fds: 9}, 1},
		// Same start time (a backend that cannot tell) but CPU time went
		// backwards: a different process; read again with a fresh identity.
		{"cpu went backwards", fakeProc{start: 200, cpu: time.Second, fds: 5}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.next
			p.when = f.procs[7].when.Add(time.Second)
			f.procs[7] = &p
			reads, resets, fdCounts := f.reads[7], f.resets[7], f.fdCounts[7]
			got := s.Sample([]int32{7})
			if len(got) != 1 || got[0].CPUPercent != 0 {
				t.Fatalf("after reuse: %+v, want a first sample (CPUPercent 0)", got)
			}
			if got[0].FDs != p.fds || f.fdCounts[7] != fdCounts+1 {
				t.Fatalf("fds not recounted for the new process: %+v", got[0])
			}
			if f.resets[7] != resets+1 || f.reads[7] != reads+tc.wantReads {
				t.Fatalf("resets %d reads %d, want %d and %d", f.resets[7]-resets, f.reads[7]-reads, 1, tc.wantReads)
			}
			// And from the new process on, deltas work again.
			f.advance(time.Second, map[int32]time.Duration{7: 250 * time.Millisecond})
			if got := s.Sample([]int32{7}); got[0].CPUPercent != 25 {
				t.Fatalf("after reuse, next sample: %+v", got)
			}
		})
	}
}

func TestSamplerFDCadence(t *testing.T) {
	tests := []struct {
		every  int
		counts string // after which samples (1-based) fds were counted
	}{
		{0, "[1 6]"}, // default: 5
		{1, "[1 2 3 4 5 6 7 8 9 10]"},
		{3, "[1 4 7 10]"},
		{-1, "[]"},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.every), func(t *testing.T) {
			f := newFake()
			f.procs[3] = &fakeProc{start: 1, when: t0, fds: 8}
			s := newSampler(f, SamplerOptions{FDEvery: tc.every})
			var counted []int
			for i := 1; i <= 10; i++ {
				before := f.fdCounts[3]
				got := s.Sample([]int32{3})
				if f.fdCounts[3] > before {
					counted = append(counted, i)
				}
				wantFDs := int32(8)
				if tc.every < 0 {
					wantFDs = -1
				}
				if got[0].FDs != wantFDs {
					t.Fatalf("sample %d: FDs = %d, want %d (the last count)", i, got[0].FDs, wantFDs)
				}
				f.advance(time.Second, nil)
			}
			if fmt.Sprint(counted) != tc.counts {
				t.Fatalf("counted on samples %v, want %s", counted, tc.counts)
			}
		})
	}
	// A count that fails reads as -1.
	f := newFake()
	f.procs[3] = &fakeProc{start: 1, when: t0, fds: -1}
	if got := newSampler(f, SamplerOptions{}).Sample([]int32{3}); got[0].FDs != -1 {
		t.Fatalf("failed fd count: FDs = %d, want -1", got[0].FDs)
	}
}

func TestSamplerForgets(t *testing.T) {
	f := newFake()
	for _, pid := range []int32{1, 2, 3} {
		f.procs[pid] = &fakeProc{start: uint64(pid), when: t0}
	}
	s := newSampler(f, SamplerOptions{})
	got := s.Sample([]int32{3, 1, 2, 1, 0, -4, 99})
	// In the order asked, without duplicates, non-positive or unknown PIDs.
	var order []int32
	for _, st := range got {
		order = append(order, st.PID)
	}
	if fmt.Sprint(order) != "[3 1 2]" {
		t.Fatalf("sampled %v, want [3 1 2]", order)
	}
	if f.reads[1] != 1 || f.reads[0] != 0 || f.reads[-4] != 0 {
		t.Fatalf("reads: %v (duplicates and non-positive PIDs must not be read)", f.reads)
	}
	if len(s.procs) != 3 {
		t.Fatalf("state for %d PIDs, want 3 (99 does not exist)", len(s.procs))
	}

	delete(f.procs, 2) // exited
	f.advance(time.Second, map[int32]time.Duration{1: time.Second, 3: time.Second})
	got = s.Sample([]int32{1, 2}) // 3 no longer asked for
	if m := byPID(got); len(m) != 1 || m[1].CPUPercent != 100 {
		t.Fatalf("second round: %+v", got)
	}
	if _, ok := s.procs[2]; ok {
		t.Fatal("state kept for an exited PID")
	}
	if _, ok := s.procs[3]; ok {
		t.Fatal("state kept for a PID no longer asked for")
	}
	// Asked for again later, 3 starts over (no delta across the gap).
	f.advance(time.Second, map[int32]time.Duration{3: time.Second})
	if got := byPID(s.Sample([]int32{1, 3})); got[3].CPUPercent != 0 {
		t.Fatalf("PID 3 after a gap: %+v", got[3])
	}
	if got := s.Sample(nil); len(got) != 0 || len(s.procs) != 0 {
		t.Fatalf("empty round: %v, state %d", got, len(s.procs))
	}
}

func TestAppendSampleReuses(t *testing.T) {
	f := newFake()
	f.procs[1] = &fakeProc{start: 1, when: t0}
	f.procs[2] = &fakeProc{start: 2, when: t0}
	s := newSampler(f, SamplerOptions{})
	buf := make([]ProcStat, 0, 8)
	pids := []int32{1, 2}
	buf = s.AppendSample(buf[:0], pids)
	if n := testing.AllocsPerRun(50, func() { buf = s.AppendSample(buf[:0], pids) }); n != 0 {
		t.Fatalf("steady-state AppendSample allocates %v times", n)
	}
	if len(buf) != 2 {
		t.Fatalf("AppendSample returned %d stats", len(buf))
	}
}
