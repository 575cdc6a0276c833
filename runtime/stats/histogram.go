package stats

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Bucket layout (log-linear, as in HdrHistogram): values are nanoseconds.
// Values below 2^histSubBits have a bucket each. Above, every power of two
// [2^e, 2^(e+1)) is split into 2^histSubBits equal buckets, so a bucket is
// at most 1/64 (1.6 %) of its lower bound wide and the midpoint reported
// for it is within 0.8 % of any value in it. Values from 2^histMaxExp ns
// (about 18 minutes) up share the last bucket; Max stays exact for them.
const (
	histSubBits = 6
	histSub     = 1 << histSubBits
	histMaxExp  = 40
	histBuckets = histSub + (histMaxExp-histSubBits)*histSub
)

// Histogram is a latency histogram. Observe may be called from any number
// of goroutines at once: it takes no lock and does not allocate (a few
// atomic additions on fixed buckets).
//
// Quantiles read from a snapshot are within 1 % of the exact sample
// quantile for durations from 64 ns to about 18 minutes (exact below
// 128 ns); longer durations are all reported as Max.
//
// The zero value is an empty histogram ready to use. A Histogram must not
// be copied after first use.
type Histogram struct {
	max    atomic.Int64
	sum    atomic.Uint64
	counts [histBuckets]atomic.Uint64
}

// Observe records one duration. Negative durations are recorded as zero.
func (h *Histogram) Observe(d time.Duration) {
	if d < 0 {
		d = 0
	}
	// Order matters: max and sum first, so that a snapshot, which reads the
	// buckets first, never counts an observation missing from Max or Sum.
	for {
		cur := h.max.Load()
		if int64(d) <= cur || h.max.CompareAndSwap(cur, int64(d)) {
			break
		}
	}
	h.sum.Add(uint64(d))
	h.counts[bucketOf(uint64(d))].Add(1)
}

// Snapshot returns a point-in-time copy of the histogram. It does not stop
// concurrent Observe calls: an observation in flight may be counted in Sum
// and Max but not yet in the buckets (never the other way round).
func (h *Histogram) Snapshot() HistogramSnapshot {
	var tmp [histBuckets]uint64
	lo, hi := -1, -1
	var n uint64
	for i := range h.counts {
		c := h.counts[i].Load()
		if c == 0 {
			continue
		}
		tmp[i] = c
		if lo < 0 {
			lo = i
		}
		hi = i
		n += c
	}
	s := HistogramSnapshot{
		sum: h.sum.Load(),
		max: time.Duration(h.max.Load()),
	}
	if n == 0 {
		return s
	}
	s.lo = lo
	s.counts = append([]uint64(nil), tmp[lo:hi+1]...)
	s.count = n
	return s
}

// HistogramSnapshot is an immutable copy of a Histogram's state. It is a
// value: Merge and Sub return new snapshots and never modify their
// operands. The zero value is an empty snapshot.
type HistogramSnapshot struct {
	lo     int      // bucket index of counts[0]
	counts []uint64 // buckets lo..lo+len-1; first and last non-zero (or empty)
	count  uint64
	sum    uint64 // nanoseconds
	max    time.Duration
}

// Count returns the number of observations.
func (s HistogramSnapshot) Count() uint64 { return s.count }

// Sum returns the total of all observed durations.
func (s HistogramSnapshot) Sum() time.Duration { return time.Duration(s.sum) }

// Max returns the largest observed duration, or 0 for an empty snapshot.
// For a snapshot returned by Sub it is exact when the window holds a new
// all-time maximum and otherwise an upper bound within one bucket (1.6 %).
func (s HistogramSnapshot) Max() time.Duration { return s.max }

// Mean returns the average observed duration, or 0 for an empty snapshot.
func (s HistogramSnapshot) Mean() time.Duration {
	if s.count == 0 {
		return 0
	}
	return time.Duration(s.sum / s.count)
}

// Quantile returns the q-quantile (q in [0, 1]; 0.99 is p99) of the
// observed durations: the smallest recorded value such that at least a
// fraction q of the observations are less than or equal to it, to within
// the bucket resolution (see Histogram). q outside [0, 1] is clamped; NaN
// is treated as 0. An empty snapshot yields 0. The result never exceeds
// Max.
func (s HistogramSnapshot) Quantile(q float64) time.Duration {
	if s.count == 0 {
		return 0
	}
	if !(q > 0) { // also catches NaN
		q = 0
	}
	if q > 1 {
		q = 1
	}
	rank := uint64(math.Ceil(q * float64(s.count)))
	if rank < 1 {
		rank = 1
	}
	if rank > s.count {
		rank = s.count
	}
	var seen uint64
	for i, c := range s.counts {
		seen += c
		if seen >= rank {
			idx := s.lo + i
			if idx == histBuckets-1 {
				return s.max
			}
			return min(bucketMid(idx), s.max)
		}
	}
	return s.max // unreachable while count == sum(counts)
}

// Merge returns the combination of s and o, as if every observation of
// both had been made on one histogram (for example, all workers of an app).
func (s HistogramSnapshot) Merge(o HistogramSnapshot) HistogramSnapshot {
	if o.count == 0 {
		s.sum += o.sum
		s.max = max(s.max, o.max)
		return s
	}
	if s.count == 0 {
		o.sum += s.sum
		o.max = max(s.max, o.max)
		return o
	}
	lo := min(s.lo, o.lo)
	hi := max(s.lo+len(s.counts), o.lo+len(o.counts))
	counts := make([]uint64, hi-lo)
	for i, c := range s.counts {
		counts[s.lo-lo+i] += c
	}
	for i, c := range o.counts {
		counts[o.lo-lo+i] += c
	}
	return HistogramSnapshot{
		lo:     lo,
		counts: counts,
		count:  s.count + o.count,
		sum:    s.sum + o.sum,
		max:    max(s.max, o.max),
	}
}

// Sub returns the observations made between prev and s, where prev is an
// earlier snapshot of the same histogram: the "since last tick" window.
//
// If prev is not an earlier state of s (some bucket holds fewer
// observations in s than in prev, as when a worker restarted with a fresh
// histogram), Sub treats it as a reset and returns s unchanged.
func (s HistogramSnapshot) Sub(prev HistogramSnapshot) HistogramSnapshot {
	if prev.count == 0 {
		if prev.sum > s.sum {
			return s
		}
		s.sum -= prev.sum
		return s
	}
	if prev.count > s.count || prev.sum > s.sum ||
		prev.lo < s.lo || prev.lo+len(prev.counts) > s.lo+len(s.counts) {
		return s
	}
	diff := make([]uint64, len(s.counts))
	copy(diff, s.counts)
	for i, c := range prev.counts {
		j := prev.lo - s.lo + i
		if c > diff[j] {
			return s
		}
		diff[j] -= c
	}
	lo, hi := -1, -1
	var n uint64
	for i, c := range diff {
		if c == 0 {
			continue
		}
		if lo < 0 {
			lo = i
		}
		hi = i
		n += c
	}
	out := HistogramSnapshot{sum: s.sum - prev.sum}
	if n == 0 {
		return out
	}
	out.lo = s.lo + lo
	out.counts = diff[lo : hi+1]
	out.count = n
	if s.max > prev.max {
		out.max = s.max // the window holds the new all-time maximum
	} else {
		top := s.lo + hi
		if top == histBuckets-1 {
			out.max = s.max
		} else {
			out.max = min(bucketUpper(top)-1, s.max)
		}
	}
	return out
}

// bucketOf returns the bucket index of a value in nanoseconds.
func bucketOf(v uint64) int {
	if v < histSub {
		return int(v)
	}
	e := bits.Len64(v) - 1 // v in [2^e, 2^(e+1)), e >= histSubBits
	if e >= histMaxExp {
		return histBuckets - 1
	}
	shift := e - histSubBits
	return shift*histSub + int(v>>uint(shift))
}

// bucketLower returns the smallest value of bucket idx.
func bucketLower(idx int) time.Duration {
	if idx < histSub {
		return time.Duration(idx)
	}
	shift := idx/histSub - 1
	mant := uint64(idx%histSub + histSub)
	return time.Duration(mant << uint(shift))
}

// bucketUpper returns the smallest value above bucket idx.
func bucketUpper(idx int) time.Duration {
	if idx < histSub {
		return time.Duration(idx + 1)
	}
	shift := idx/histSub - 1
	mant := uint64(idx%histSub + histSub + 1)
	return time.Duration(mant << uint(shift))
}

// bucketMid returns the value reported for bucket idx: its midpoint,
// rounded down, which is exact for buckets one nanosecond wide.
func bucketMid(idx int) time.Duration {
	lo := bucketLower(idx)
	return lo + (bucketUpper(idx)-lo-1)/2
}
