package ui

import (
	"context"
	"slices"
	"strconv"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/stackctl/stackctl/runtime/control"
)

// The Workers view's detail pane (enter): the selected worker's facts, its
// per-second history as sparklines, and its last lines from the app's log.

// historyMsg is a worker's history, tagged so stale answers are dropped.
type historyMsg struct {
	key  string
	gen  int
	hist control.History
	err  error
}

// fetchHistory asks for the selected worker's history when the detail pane
// is open and it is missing or a second old.
func (v *workers) fetchHistory(force bool) tea.Cmd {
	w := v.selected()
	if !v.detail || w == nil {
		return nil
	}
	key := v.app + "/" + strconv.Itoa(w.ID)
	now := v.c.clock(v.snap)
	if !force && key == v.histFor && now.Sub(v.histAt) < time.Second {
		return nil
	}
	if key != v.histFor {
		v.hist = control.History{}
	}
	v.histFor, v.histAt = key, now
	v.histGen++
	gen, app, id, c := v.histGen, v.app, w.ID, v.c
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(c.ctx, c.timeout)
		defer cancel()
		h, err := c.backend.WorkerHistory(ctx, app, id)
		return historyMsg{key: key, gen: gen, hist: h, err: err}
	}
}

// formatDetailLog collects the selected worker's last lines from the app's
// log; it runs when lines arrive or the selection moves.
func (v *workers) formatDetailLog() {
	v.logLines = v.logLines[:0]
	w := v.selected()
	if !v.detail || w == nil || v.store.source != v.app {
		return
	}
	want := max(1, v.detailHeight()-4)
	r := v.store.ring
	for i := r.next(); i > r.first() && len(v.logLines) < want; i-- {
		l := r.at(i - 1)
		if l.Worker != w.ID {
			continue
		}
		v.logLines = append(v.logLines, v.c.logLine(l, true, v.w-2))
	}
	slices.Reverse(v.logLines)
}

// viewDetail draws the selected worker's pane: facts, sparklines, log.
func (v *workers) viewDetail(x *box) {
	c, st := v.c, &v.c.styles
	w := v.selected()
	if w == nil {
		x.line(c.rule("worker", v.w))
		return
	}
	now := c.clock(v.snap)
	x.line(c.rule("worker "+strconv.Itoa(w.ID)+" · pid "+strconv.Itoa(w.PID), v.w))
	state := workerState(w)
	sep := st.Muted.Render(" · ")
	facts := c.stateStyle(state).Render(stateText(state))
	for _, r := range w.Current {
		facts += sep + st.Info.Render(r.Request) + " for " + fmtDur(now.Sub(r.Since))
	}
	facts += sep + fmtCount(w.Requests) + " reqs" + sep + fmtRate(w.RPS) + " req/s" + sep +
		"avg " + fmtMs(w.AvgMs) + " ms" + sep + "p99 " + fmtMs(w.P99Ms) + " ms" + sep +
		fmtBytes(w.RSSBytes) + sep + fmtPct(w.CPUPercent) + "% CPU" + sep +
		plural(w.Threads, "thread") + sep + strconv.Itoa(w.FDs) + " fds"
	x.line(" " + truncate(facts, v.w-1))
	life := "up " + fmtDur(now.Sub(w.StartedAt)) + sep + plural(w.Restarts, "restart") + sep +
		plural(int(w.Exceptions), "exception") + sep + fmtBytes(w.TxBytes) + " sent"
	if w.PID == 0 {
		life = "not running"
		if !w.RetryAt.IsZero() {
			life += sep + "respawn in " + fmtDur(w.RetryAt.Sub(now))
		}
	}
	if w.LastExit != "" {
		life += sep + "last exit: " + st.Warn.Render(w.LastExit)
	}
	x.line(" " + truncate(life, v.w-1))

	// Three sparklines side by side; each gets a third of the width.
	sw := max(6, (v.w-3*18)/3)
	h := v.hist
	x.line(" " + "req/s " + st.SparkRPS.Render(sparkline(h.RPS, sw, 1)) + " " + fitRight(fmtRate(last(h.RPS)), 6) +
		"   p99 " + st.SparkLatency.Render(sparkline(h.P99Ms, sw, 1)) + " " + fitRight(fmtMs(last(h.P99Ms)), 6) + " ms" +
		"   rss " + st.SparkRPS.Render(sparklineRange(h.RSS, sw)) + " " + fitRight(fmtBytes(uint64(last(h.RSS))), 7))
	if v.store.source != v.app {
		x.line(" " + st.Muted.Render("log: waiting for "+v.app+"'s log…"))
		return
	}
	if len(v.logLines) == 0 {
		x.line(" " + st.Muted.Render("no recent log lines from worker "+strconv.Itoa(w.ID)))
	}
	for _, l := range v.logLines {
		x.line(" " + l)
	}
}
