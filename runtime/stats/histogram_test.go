package stats

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestBucketLayout(t *testing.T) {
	// Every value falls in a bucket whose bounds contain it, buckets are
	// contiguous, and no bucket is wider than 1/64 of its lower bound.
	for idx := 0; idx < histBuckets; idx++ {
		lo, hi := bucketLower(idx), bucketUpper(idx)
		if hi <= lo {
			t.Fatalf("bucket %d: empty range [%d, %d)", idx, lo, hi)
		}
		if idx > 0 && bucketUpper(idx-1) != lo {
			t.Fatalf("bucket %d starts at %d, previous ends at %d", idx, lo, bucketUpper(idx-1))
		}
		if lo >= histSub && float64(hi-lo)/float64(lo) > 1.0/histSub+1e-12 {
			t.Fatalf("bucket %d [%d, %d) wider than 1/%d", idx, lo, hi, histSub)
		}
		for _, v := range []time.Duration{lo, hi - 1, lo + (hi-lo)/2} {
			if got := bucketOf(uint64(v)); got != idx {
				t.Fatalf("bucketOf(%d) = %d, want %d", v, got, idx)
			}
		}
	}
	if got := bucketOf(1 << 62); got != histBuckets-1 {
		t.Fatalf("huge value in bucket %d, want the last (%d)", got, histBuckets-1)
	}
	if top := bucketUpper(histBuckets - 1); top < 18*time.Minute {
		t.Fatalf("buckets end at %v, want at least 18m", top)
	}
}

// exactQuantile uses the same definition as HistogramSnapshot.Quantile:
// the smallest value with at least ceil(q*n) values at or below it.
func exactQuantile(sorted []time.Duration, q float64) time.Duration {
	rank := int(math.Ceil(q * float64(len(sorted))))
	rank = max(rank, 1)
	return sorted[rank-1]
}

func TestQuantileAccuracy(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tests := []struct {
		name string
		gen  func() time.Duration
	}{
		{"uniform 1ms-100ms", func() time.Duration {
			return time.Millisecond + time.Duration(rng.Int64N(int64(99*time.Millisecond)))
		}},
		{"lognormal around 5ms", func() time.Duration {
			return time.Duration(math.Exp(rng.NormFloat64()*1.5) * float64(5*time.Millisecond))
		}},
		{"exponential mean 200us", func() time.Duration {
			return time.Duration(rng.ExpFloat64() * float64(200*time.Microsecond))
		}},
		{"bimodal 1us and 30s", func() time.Duration {
			if rng.IntN(10) == 0 {
				return 30*time.Second + time.Duration(rng.Int64N(int64(30*time.Second)))
			}
			return time.Microsecond + time.Duration(rng.Int64N(1000))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h Histogram
			vals := make([]time.Duration, 50000)
			var sum time.Duration
			for i := range vals {
				vals[i] = tc.gen()
				sum += vals[i]
				h.Observe(vals[i])
			}
			slices.Sort(vals)
			s := h.Snapshot()
			if s.Count() != uint64(len(vals)) {
				t.Fatalf("Count = %d, want %d", s.Count(), len(vals))
			}
			if s.Sum() != sum {
				t.Fatalf("Sum = %v, want %v", s.Sum(), sum)
			}
			if want := sum / time.Duration(len(vals)); s.Mean() != want {
				t.Fatalf("Mean = %v, want %v", s.Mean(), want)
			}
			if s.Max() != vals[len(vals)-1] {
				t.Fatalf("Max = %v, want %v", s.Max(), vals[len(vals)-1])
			}
			for _, q := range []float64{0, 0.5, 0.9, 0.99, 0.999, 1} {
				want := exactQuantile(vals, q)
				got := s.Quantile(q)
				if rel := math.Abs(float64(got-want)) / float64(want); rel > 0.01 {
					t.Errorf("Quantile(%v) = %v, want %v (%.2f%% off, limit 1%%)", q, got, want, 100*rel)
				}
			}
		})
	}
}

func TestQuantileEdges(t *testing.T) {
	var empty HistogramSnapshot
	if empty.Quantile(0.5) != 0 || empty.Mean() != 0 || empty.Max() != 0 || empty.Count() != 0 {
		t.Fatalf("empty snapshot is not all zero: %+v", empty)
	}
	var h Histogram
	for _, d := range []time.Duration{10, 20, 30, 40, -5} {
		h.Observe(d)
	}
	s := h.Snapshot()
	tests := []struct {
		q    float64
		want time.Duration
	}{
		{math.NaN(), 0}, // treated as 0: the smallest value (the negative one, recorded as 0)
		{-1, 0},
		{0, 0},
		{0.2, 0},
		{0.21, 10},
		{0.5, 20},
		{0.8, 30},
		{1, 40},
		{7, 40},
	}
	for _, tc := range tests {
		if got := s.Quantile(tc.q); got != tc.want {
			t.Errorf("Quantile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	// Durations beyond the last bucket report Max, not the bucket's midpoint.
	var big Histogram
	big.Observe(3 * time.Hour)
	if got := big.Snapshot().Quantile(0.5); got != 3*time.Hour {
		t.Fatalf("Quantile of one 3h value = %v", got)
	}
}

func observeAll(h *Histogram, ds []time.Duration) {
	for _, d := range ds {
		h.Observe(d)
	}
}

func randomDurations(seed uint64, n int) []time.Duration {
	rng := rand.New(rand.NewPCG(seed, seed))
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(math.Exp(rng.Float64()*20)) * time.Microsecond / 100
	}
	return out
}

// sameQuantiles fails unless got and want agree on count, sum and
// quantiles.
func sameQuantiles(t *testing.T, what string, got, want HistogramSnapshot) {
	t.Helper()
	sameQuantilesBelow(t, what, got, want, 1)
}

// sameQuantilesBelow is sameQuantiles for the quantiles up to qmax.
func sameQuantilesBelow(t *testing.T, what string, got, want HistogramSnapshot, qmax float64) {
	t.Helper()
	if got.Count() != want.Count() || got.Sum() != want.Sum() {
		t.Fatalf("%s: count/sum = %d/%v, want %d/%v", what, got.Count(), got.Sum(), want.Count(), want.Sum())
	}
	for _, q := range []float64{0, 0.1, 0.5, 0.9, 0.99, 1} {
		if q > qmax {
			break
		}
		if g, w := got.Quantile(q), want.Quantile(q); g != w {
			t.Fatalf("%s: Quantile(%v) = %v, want %v", what, q, g, w)
		}
	}
}

func TestMerge(t *testing.T) {
	a, b := randomDurations(1, 3000), randomDurations(2, 5000)
	var ha, hb, hall Histogram
	observeAll(&ha, a)
	observeAll(&hb, b)
	observeAll(&hall, a)
	observeAll(&hall, b)
	sa, sb := ha.Snapshot(), hb.Snapshot()
	m := sa.Merge(sb)
	sameQuantiles(t, "a+b", m, hall.Snapshot())
	if m.Max() != hall.Snapshot().Max() {
		t.Fatalf("merged Max = %v, want %v", m.Max(), hall.Snapshot().Max())
	}
	sameQuantiles(t, "b+a", sb.Merge(sa), hall.Snapshot())
	sameQuantiles(t, "a+empty", sa.Merge(HistogramSnapshot{}), sa)
	sameQuantiles(t, "empty+a", HistogramSnapshot{}.Merge(sa), sa)
	// Operands are values: merging must not change them.
	sameQuantiles(t, "a after merge", sa, ha.Snapshot())
}

func TestSub(t *testing.T) {
	first, window := randomDurations(3, 4000), randomDurations(4, 2500)
	var h, w Histogram
	observeAll(&h, first)
	prev := h.Snapshot()
	observeAll(&h, window)
	observeAll(&w, window)
	cur := h.Snapshot()

	got := cur.Sub(prev)
	// Quantile(1) is Max, which Sub knows only to within a bucket here.
	sameQuantilesBelow(t, "window", got, w.Snapshot(), 0.99)
	if got.Max() < w.Snapshot().Max() || float64(got.Max()) > float64(w.Snapshot().Max())*(1+1.0/histSub) {
		t.Fatalf("window Max = %v, want %v within one bucket above", got.Max(), w.Snapshot().Max())
	}
	if empty := cur.Sub(cur); empty.Count() != 0 || empty.Sum() != 0 || empty.Max() != 0 || empty.Quantile(0.5) != 0 {
		t.Fatalf("cur - cur is not empty: count %d sum %v max %v", empty.Count(), empty.Sum(), empty.Max())
	}
	sameQuantiles(t, "cur - empty", cur.Sub(HistogramSnapshot{}), cur)
	// prev is not an earlier state of w's snapshot: treated as a reset.
	sameQuantiles(t, "reset", w.Snapshot().Sub(prev), w.Snapshot())
	// A window holding a new maximum reports it exactly.
	h.Observe(time.Hour)
	if got := h.Snapshot().Sub(cur).Max(); got != time.Hour {
		t.Fatalf("window Max with new maximum = %v, want 1h", got)
	}
}

func TestHistogramConcurrent(t *testing.T) {
	var h Histogram
	const goroutines, each = 8, 5000
	var wg sync.WaitGroup
	stop := make(chan struct{})
	snaps := make(chan uint64, 1)
	go func() { // snapshots while observing: counts never go backwards
		var last uint64
		for {
			select {
			case <-stop:
				snaps <- last
				return
			default:
			}
			s := h.Snapshot()
			if s.Count() < last || s.Sum() < time.Duration(s.Count()) {
				snaps <- math.MaxUint64
				return
			}
			last = s.Count()
		}
	}()
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				h.Observe(time.Duration(1+g*each+i) * time.Microsecond)
			}
		}()
	}
	wg.Wait()
	close(stop)
	if last := <-snaps; last == math.MaxUint64 {
		t.Fatal("a snapshot taken during Observe went backwards or had Sum below Count")
	}
	s := h.Snapshot()
	if s.Count() != goroutines*each {
		t.Fatalf("Count = %d, want %d", s.Count(), goroutines*each)
	}
	if want := time.Duration(goroutines*each) * time.Microsecond; s.Max() != want {
		t.Fatalf("Max = %v, want %v", s.Max(), want)
	}
}

func TestObserveDoesNotAllocate(t *testing.T) {
	var h Histogram
	if n := testing.AllocsPerRun(1000, func() { h.Observe(1234 * time.Microsecond) }); n != 0 {
		t.Fatalf("Observe allocates %v times per call", n)
	}
}

func BenchmarkHistogramObserve(b *testing.B) {
	var h Histogram
	b.ReportAllocs()
	d := time.Duration(0)
	for b.Loop() {
		d += 997 * time.Nanosecond
		h.Observe(d)
	}
}

func BenchmarkHistogramObserveParallel(b *testing.B) {
	var h Histogram
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		d := time.Duration(0)
		for pb.Next() {
			d += 997 * time.Nanosecond
			h.Observe(d % time.Second)
		}
	})
}

func BenchmarkHistogramSnapshot(b *testing.B) {
	var h Histogram
	observeAll(&h, randomDurations(5, 10000))
	b.ReportAllocs()
	for b.Loop() {
		s := h.Snapshot()
		_ = s.Quantile(0.99)
	}
}
