package stats

import (
	"math"
	"sync"
	"time"
)

// DefaultSeriesCapacity is the number of seconds a Series keeps unless told
// otherwise: ten minutes.
const DefaultSeriesCapacity = 600

// Point is one second of a Series.
type Point struct {
	Time  time.Time // the start of the second, in UTC
	Value float64
}

// Series is a ring of per-second float64 values covering the most recent
// Cap() seconds, for sparklines and short-term rates. Writes name the
// second they belong to by a time; all times within one wall-clock second
// (Unix seconds) address the same slot.
//
// Two ways to fill it:
//   - Add accumulates: call Add(now, 1) per request and each second holds
//     the number of requests in that second (a counter-like series).
//   - Set overwrites: record one value per second, such as a gauge (RSS) or
//     a rate computed with Rate from a cumulative counter.
//
// Seconds never written read as 0 (not NaN): for counters and rates a
// missing second means nothing happened. Writes older than the window are
// ignored.
//
// The zero value is an empty series of DefaultSeriesCapacity seconds. A
// Series is safe for concurrent use.
type Series struct {
	mu     sync.Mutex
	secs   []int64 // Unix second held by each slot
	vals   []float64
	newest int64 // newest second written; valid when any
	any    bool
}

// NewSeries returns an empty series keeping the last capacity seconds.
// capacity <= 0 means DefaultSeriesCapacity.
func NewSeries(capacity int) *Series {
	s := &Series{}
	s.init(capacity)
	return s
}

func (s *Series) init(capacity int) {
	if capacity <= 0 {
		capacity = DefaultSeriesCapacity
	}
	s.secs = make([]int64, capacity)
	s.vals = make([]float64, capacity)
	for i := range s.secs {
		s.secs[i] = math.MinInt64 // no second: unwritten slots never match
	}
}

// Cap returns the number of seconds the series keeps.
func (s *Series) Cap() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.secs == nil {
		return DefaultSeriesCapacity
	}
	return len(s.secs)
}

// Add adds v to the value of the second containing t.
func (s *Series) Add(t time.Time, v float64) {
	s.write(t.Unix(), v, true)
}

// Set replaces the value of the second containing t with v.
func (s *Series) Set(t time.Time, v float64) {
	s.write(t.Unix(), v, false)
}

func (s *Series) write(sec int64, v float64, accumulate bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.secs == nil {
		s.init(0)
	}
	n := int64(len(s.secs))
	if s.any && sec <= s.newest-n {
		return // older than the window
	}
	i := slot(sec, n)
	if s.secs[i] != sec {
		s.secs[i] = sec
		s.vals[i] = 0
	}
	if accumulate {
		s.vals[i] += v
	} else {
		s.vals[i] = v
	}
	if !s.any || sec > s.newest {
		s.newest = sec
		s.any = true
	}
}

// Last returns the newest second written and its value (which may still
// be accumulating), and false if nothing was ever written.
func (s *Series) Last() (Point, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.any {
		return Point{}, false
	}
	return Point{Time: time.Unix(s.newest, 0).UTC(), Value: s.vals[slot(s.newest, int64(len(s.secs)))]}, true
}

// Points returns the n seconds ending with the newest second written,
// oldest first and newest last, one Point per second with unwritten
// seconds as 0. n is clamped to Cap(). It returns nil for n <= 0 or when
// nothing was ever written.
//
// The newest second may still be accumulating. Use PointsAt for a window
// that ends at the current time, so that idle seconds show up as zeros.
func (s *Series) Points(n int) []Point {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.any {
		return nil
	}
	return s.points(s.newest, n)
}

// PointsAt is like Points but the window ends with the second containing
// end rather than with the newest second written, so that seconds with no
// writes up to end read as 0. Pass end = now.Add(-time.Second) to leave
// out the second still in progress. It returns nil only for n <= 0.
func (s *Series) PointsAt(end time.Time, n int) []Point {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.points(end.Unix(), n)
}

func (s *Series) points(end int64, n int) []Point {
	c := DefaultSeriesCapacity
	if s.secs != nil {
		c = len(s.secs)
	}
	if n <= 0 {
		return nil
	}
	n = min(n, c)
	out := make([]Point, n)
	first := end - int64(n) + 1
	for k := range out {
		sec := first + int64(k)
		out[k].Time = time.Unix(sec, 0).UTC()
		if s.secs != nil {
			if i := slot(sec, int64(c)); s.secs[i] == sec {
				out[k].Value = s.vals[i]
			}
		}
	}
	return out
}

// slot maps a Unix second to its ring index, also for negative seconds.
func slot(sec, n int64) int {
	i := sec % n
	if i < 0 {
		i += n
	}
	return int(i)
}

// PerSecond returns the average per-second rate of a cumulative counter
// that read prev and, elapsed later, cur. A counter that went backwards is
// taken to have restarted from zero in between, so the rate is
// cur/elapsed. It returns 0 when elapsed <= 0.
func PerSecond(prev, cur uint64, elapsed time.Duration) float64 {
	if elapsed <= 0 {
		return 0
	}
	delta := cur
	if cur >= prev {
		delta = cur - prev
	}
	return float64(delta) / elapsed.Seconds()
}

// Rate turns successive readings of a cumulative counter (requests served,
// bytes sent) into a per-second rate, for example to Set into a Series
// once per tick. The zero value is ready to use. A Rate is not safe for
// concurrent use: it belongs to the goroutine that polls the counter.
type Rate struct {
	total  uint64
	at     time.Time
	primed bool
}

// Update records that the counter read total at time t and returns the
// rate since the previous reading (see PerSecond for counter resets). ok is
// false on the first reading and when t is not after the previous reading;
// such a reading still becomes the new reference.
func (r *Rate) Update(t time.Time, total uint64) (perSecond float64, ok bool) {
	prevTotal, prevAt, primed := r.total, r.at, r.primed
	r.total, r.at, r.primed = total, t, true
	if !primed {
		return 0, false
	}
	elapsed := t.Sub(prevAt)
	if elapsed <= 0 {
		return 0, false
	}
	return PerSecond(prevTotal, total, elapsed), true
}
