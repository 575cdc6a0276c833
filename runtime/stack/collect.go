package stack

import (
	"sync"
	"time"

	"github.com/stackctl/stackctl/runtime/appserver"
	"github.com/stackctl/stackctl/runtime/stats"
)

// historyPoints is how much per-second history snapshots carry (the rings
// keep more: stats.DefaultSeriesCapacity, 10 minutes).
const historyPoints = 120

// p99Window is how many one-second latency windows an app's p99 covers.
const p99Window = 10

// collector turns cumulative counters into per-second series once a second:
// requests/s, p99, errors/s and RSS per app and per worker. It keeps the
// state those derivations need (previous totals and histograms, by worker
// process) and drops what belongs to processes that are gone.
type collector struct {
	mu      sync.Mutex
	apps    map[string]*appSeries
	workers map[workerKey]*workerSeries
}

type workerKey struct {
	app string
	id  int
}

type appSeries struct {
	rps, p99, errors, rss *stats.Series
	reqRate, errRate      stats.Rate
	windows               []stats.HistogramSnapshot // the last p99Window one-second windows
	lastRPS, lastP99      float64
}

type workerSeries struct {
	rps, p99, rss *stats.Series
	pid           int
	rate          stats.Rate
	prevHist      stats.HistogramSnapshot
	lastRPS       float64
}

func newCollector() *collector {
	return &collector{apps: map[string]*appSeries{}, workers: map[workerKey]*workerSeries{}}
}

// collect records one second's worth of the app server's state.
func (c *collector) collect(now time.Time, apps []appserver.AppInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	seenApps := map[string]bool{}
	seenWorkers := map[workerKey]bool{}
	for _, a := range apps {
		seenApps[a.Name] = true
		as := c.apps[a.Name]
		if as == nil {
			as = &appSeries{rps: stats.NewSeries(0), p99: stats.NewSeries(0), errors: stats.NewSeries(0), rss: stats.NewSeries(0)}
			c.apps[a.Name] = as
		}
		var window stats.HistogramSnapshot
		var rss uint64
		for _, w := range a.Workers {
			if w.PID == 0 || w.State == appserver.StateStopping {
				continue
			}
			key := workerKey{a.Name, w.ID}
			seenWorkers[key] = true
			ws := c.workers[key]
			if ws == nil || ws.pid != w.PID {
				// A new process in the slot: its counters start over, the
				// slot's history goes on.
				if ws == nil {
					ws = &workerSeries{rps: stats.NewSeries(0), p99: stats.NewSeries(0), rss: stats.NewSeries(0)}
					c.workers[key] = ws
				}
				ws.pid = w.PID
				ws.rate = stats.Rate{}
				ws.prevHist = stats.HistogramSnapshot{}
			}
			if rps, ok := ws.rate.Update(now, w.Requests); ok {
				ws.lastRPS = rps
				ws.rps.Set(now, rps)
			}
			win := w.Histogram.Sub(ws.prevHist)
			ws.prevHist = w.Histogram
			ws.p99.Set(now, ms(win.Quantile(0.99)))
			ws.rss.Set(now, float64(w.RSS))
			window = window.Merge(win)
			rss += w.RSS
		}
		if rps, ok := as.reqRate.Update(now, a.Requests); ok {
			as.lastRPS = rps
			as.rps.Set(now, rps)
		}
		if eps, ok := as.errRate.Update(now, a.Errors); ok {
			as.errors.Set(now, eps)
		}
		as.windows = append(as.windows, window)
		if len(as.windows) > p99Window {
			as.windows = as.windows[1:]
		}
		var recent stats.HistogramSnapshot
		for _, w := range as.windows {
			recent = recent.Merge(w)
		}
		as.lastP99 = ms(recent.Quantile(0.99))
		as.p99.Set(now, ms(window.Quantile(0.99)))
		as.rss.Set(now, float64(rss))
	}
	for name := range c.apps {
		if !seenApps[name] {
			delete(c.apps, name)
		}
	}
	for key := range c.workers {
		if !seenWorkers[key] && !seenApps[key.app] {
			delete(c.workers, key)
		}
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// values returns the points of a series, the newest whole second last.
func values(s *stats.Series, now time.Time) []float64 {
	pts := s.PointsAt(now.Add(-time.Second), historyPoints)
	out := make([]float64, len(pts))
	for i, p := range pts {
		out[i] = p.Value
	}
	return out
}
