package stats

import (
	"fmt"
	"math"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func sec(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }

func values(ps []Point) []float64 {
	out := make([]float64, len(ps))
	for i, p := range ps {
		out[i] = p.Value
	}
	return out
}

func TestSeries(t *testing.T) {
	type op struct {
		set bool
		at  time.Duration // offset from t0
		v   float64
	}
	add := func(at time.Duration, v float64) op { return op{false, at, v} }
	set := func(at time.Duration, v float64) op { return op{true, at, v} }
	tests := []struct {
		name  string
		cap   int
		ops   []op
		n     int
		want  []float64 // values of Points(n), oldest first
		first time.Time // time of the first point
	}{
		{"accumulates within a second", 10,
			[]op{add(0, 1), add(300*time.Millisecond, 1), add(999*time.Millisecond, 1), add(time.Second, 5)},
			3, []float64{0, 3, 5}, sec(-1)},
		{"set overwrites", 10,
			[]op{set(0, 7), set(500*time.Millisecond, 2), add(600*time.Millisecond, 1)},
			1, []float64{3}, sec(0)},
		{"gaps read as zero", 10,
			[]op{set(0, 1), set(3*time.Second, 4)},
			5, []float64{0, 1, 0, 0, 4}, sec(-1)},
		{"n clamped to capacity", 3,
			[]op{set(0, 1), set(time.Second, 2), set(2*time.Second, 3), set(3*time.Second, 4)},
			50, []float64{2, 3, 4}, sec(1)},
		{"wrap-around forgets old seconds", 4,
			[]op{set(0, 1), set(time.Second, 2), set(5*time.Second, 6)},
			4, []float64{0, 0, 0, 6}, sec(2)}, // second 0 shares a slot with 4, second 1 with 5
		{"far jump forward leaves no stale values", 4,
			[]op{set(0, 1), set(time.Second, 2), set(2*time.Second, 3), set(3*time.Second, 4), set(100*time.Second, 9)},
			4, []float64{0, 0, 0, 9}, sec(97)},
		{"late write within the window lands", 5,
			[]op{set(4*time.Second, 4), add(2*time.Second, 2)},
			3, []float64{2, 0, 4}, sec(2)},
		{"write older than the window is ignored", 3,
			[]op{set(10*time.Second, 1), add(7*time.Second, 5), add(8*time.Second, 3)},
			3, []float64{3, 0, 1}, sec(8)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := NewSeries(tc.cap)
			for _, o := range tc.ops {
				if o.set {
					s.Set(t0.Add(o.at), o.v)
				} else {
					s.Add(t0.Add(o.at), o.v)
				}
			}
			ps := s.Points(tc.n)
			if got := values(ps); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("Points(%d) = %v, want %v", tc.n, got, tc.want)
			}
			for i, p := range ps {
				if want := tc.first.Add(time.Duration(i) * time.Second); !p.Time.Equal(want) {
					t.Fatalf("point %d at %v, want %v", i, p.Time, want)
				}
			}
			last, ok := s.Last()
			if !ok || last.Value != tc.want[len(tc.want)-1] || !last.Time.Equal(ps[len(ps)-1].Time) {
				t.Fatalf("Last() = %v, %v; want the newest point %v", last, ok, ps[len(ps)-1])
			}
		})
	}
}

func TestSeriesEmptyAndZeroValue(t *testing.T) {
	var s Series // zero value: default capacity
	if _, ok := s.Last(); ok {
		t.Fatal("Last on an empty series reported a point")
	}
	if ps := s.Points(5); ps != nil {
		t.Fatalf("Points on an empty series = %v, want nil", ps)
	}
	if ps := s.PointsAt(t0, 3); fmt.Sprint(values(ps)) != "[0 0 0]" || !ps[2].Time.Equal(t0) {
		t.Fatalf("PointsAt on an empty series = %v", ps)
	}
	if s.Cap() != DefaultSeriesCapacity || NewSeries(0).Cap() != DefaultSeriesCapacity || NewSeries(-3).Cap() != DefaultSeriesCapacity {
		t.Fatal("default capacity not applied")
	}
	s.Add(t0, 2)
	if got := len(s.Points(10_000)); got != DefaultSeriesCapacity {
		t.Fatalf("zero-value series holds %d points, want %d", got, DefaultSeriesCapacity)
	}
	for _, n := range []int{0, -1} {
		if ps := s.Points(n); ps != nil {
			t.Fatalf("Points(%d) = %v, want nil", n, ps)
		}
	}
}

func TestSeriesPointsAt(t *testing.T) {
	s := NewSeries(10)
	s.Add(sec(0), 1)
	s.Add(sec(1), 2)
	// Idle since: the window ending now shows the idle seconds as zeros.
	if got := values(s.PointsAt(sec(4), 5)); fmt.Sprint(got) != "[1 2 0 0 0]" {
		t.Fatalf("PointsAt(+4s) = %v", got)
	}
	// A window ending before the newest write leaves it out.
	if got := values(s.PointsAt(sec(0), 2)); fmt.Sprint(got) != "[0 1]" {
		t.Fatalf("PointsAt(+0s) = %v", got)
	}
	// Far in the future: everything has left the window.
	if got := values(s.PointsAt(sec(100), 3)); fmt.Sprint(got) != "[0 0 0]" {
		t.Fatalf("PointsAt(+100s) = %v", got)
	}
}

func TestSeriesConcurrent(t *testing.T) {
	s := NewSeries(60)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				s.Add(sec(i%5), 1)
				_ = s.Points(5)
			}
		}()
	}
	wg.Wait()
	var total float64
	for _, p := range s.Points(5) {
		total += p.Value
	}
	if total != 8000 {
		t.Fatalf("sum over the series = %v, want 8000", total)
	}
}

func TestPerSecond(t *testing.T) {
	tests := []struct {
		prev, cur uint64
		elapsed   time.Duration
		want      float64
	}{
		{100, 300, 2 * time.Second, 100},
		{100, 100, time.Second, 0},
		{0, 5, 500 * time.Millisecond, 10},
		{1000, 30, time.Second, 30}, // counter reset: counts from zero
		{1, 2, 0, 0},
		{1, 2, -time.Second, 0},
	}
	for _, tc := range tests {
		if got := PerSecond(tc.prev, tc.cur, tc.elapsed); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("PerSecond(%d, %d, %v) = %v, want %v", tc.prev, tc.cur, tc.elapsed, got, tc.want)
		}
	}
}

func TestRate(t *testing.T) {
	var r Rate
	steps := []struct {
		at     time.Time
		total  uint64
		want   float64
		wantOK bool
	}{
		{sec(0), 50, 0, false}, // first reading: no rate yet
		{sec(1), 150, 100, true},
		{sec(3), 350, 100, true},
		{sec(3), 400, 0, false}, // no time passed
		{sec(4), 420, 20, true},
		{sec(5), 10, 10, true}, // counter reset (worker restarted)
	}
	for i, st := range steps {
		got, ok := r.Update(st.at, st.total)
		if ok != st.wantOK || math.Abs(got-st.want) > 1e-9 {
			t.Fatalf("step %d: Update = %v, %v; want %v, %v", i, got, ok, st.want, st.wantOK)
		}
	}
}

// Example of a requests-per-second sparkline fed from a cumulative counter
// once per tick.
func ExampleRate() {
	series := NewSeries(60)
	var rate Rate
	totals := []uint64{1000, 1250, 1250, 1900} // the counter, read once a second
	for i, total := range totals {
		now := sec(i)
		if perSecond, ok := rate.Update(now, total); ok {
			series.Set(now, perSecond)
		}
	}
	fmt.Println(values(series.Points(3)))
	// Output: [250 0 650]
}
