package stack

import (
	"sync"
	"time"

	"github.com/stackctl/stackctl/runtime/appserver"
	"github.com/stackctl/stackctl/runtime/proxy"
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
	proxy   proxySeries
	servers map[serverKey]*serverSeries
}

type serverKey struct{ upstream, address string }

// proxySeries is the front door's history.
type proxySeries struct {
	rps, p99, errors *stats.Series
	reqRate, errRate stats.Rate
	prevHist         stats.HistogramSnapshot
	windows          []stats.HistogramSnapshot
	lastRPS, lastP99 float64
	lastP50          float64
}

// serverSeries is what an upstream server's p99 needs.
type serverSeries struct {
	prevHist stats.HistogramSnapshot
	windows  []stats.HistogramSnapshot
	lastP99  float64
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
	return &collector{
		apps: map[string]*appSeries{}, workers: map[workerKey]*workerSeries{}, servers: map[serverKey]*serverSeries{},
		proxy: proxySeries{rps: stats.NewSeries(0), p99: stats.NewSeries(0), errors: stats.NewSeries(0)},
	}
}

// pushWindow appends a one-second window to a ring of p99Window and returns
// the merge of the ring.
func pushWindow(ws *[]stats.HistogramSnapshot, w stats.HistogramSnapshot) stats.HistogramSnapshot {
	*ws = append(*ws, w)
	if len(*ws) > p99Window {
		*ws = (*ws)[1:]
	}
	var all stats.HistogramSnapshot
	for _, x := range *ws {
		all = all.Merge(x)
	}
	return all
}

// collect records one second's worth of the stack's state; ps is nil when
// there is no proxy.
func (c *collector) collect(now time.Time, apps []appserver.AppInfo, ps *proxy.Snapshot) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ps != nil {
		c.collectProxy(now, ps)
	}
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
		as.lastP99 = ms(pushWindow(&as.windows, window).Quantile(0.99))
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

func (c *collector) collectProxy(now time.Time, ps *proxy.Snapshot) {
	px := &c.proxy
	if rps, ok := px.reqRate.Update(now, ps.Requests); ok {
		px.lastRPS = rps
		px.rps.Set(now, rps)
	}
	if eps, ok := px.errRate.Update(now, ps.Status.X5xx); ok {
		px.errors.Set(now, eps)
	}
	win := ps.Histogram.Sub(px.prevHist)
	px.prevHist = ps.Histogram
	recent := pushWindow(&px.windows, win)
	px.lastP99, px.lastP50 = ms(recent.Quantile(0.99)), ms(recent.Quantile(0.5))
	px.p99.Set(now, ms(win.Quantile(0.99)))
	seen := map[serverKey]bool{}
	for _, u := range ps.Upstreams {
		for _, sv := range u.Servers {
			k := serverKey{u.Name, sv.Address}
			seen[k] = true
			ss := c.servers[k]
			if ss == nil {
				ss = &serverSeries{}
				c.servers[k] = ss
			}
			w := sv.Histogram.Sub(ss.prevHist)
			ss.prevHist = sv.Histogram
			ss.lastP99 = ms(pushWindow(&ss.windows, w).Quantile(0.99))
		}
	}
	for k := range c.servers {
		if !seen[k] {
			delete(c.servers, k)
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
