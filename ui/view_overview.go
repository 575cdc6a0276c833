package ui

import (
	"strconv"
	"strings"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/stackctl/stackctl/runtime/control"
)

// overview is view 1: the proxy's traffic, each app and upstream at a
// glance, and the recent events.
type overview struct {
	c      *common
	w, h   int
	snap   *control.Snapshot
	events *eventLog

	cols   []column
	lay    layout
	header string
	apps   []row
	cursor int
	offset int
	sel    string // the selected app's name, kept across snapshots

	top       []string // proxy line and sparklines, formatted per snapshot
	upstreams []string
}

func newOverview(c *common, events *eventLog) overview {
	return overview{c: c, events: events, cols: []column{
		{title: "APP", width: 10, flex: true, max: 24, prio: 0},
		{title: "STATE", width: 12, prio: 0},
		{title: "WORKERS", width: 7, right: true, prio: 0},
		{title: "BUSY", width: 7, right: true, prio: 0},
		{title: "REQ/S", width: 7, right: true, prio: 0},
		{title: "P99 ms", width: 7, right: true, prio: 1},
		{title: "RSS", width: 8, right: true, prio: 1},
		{title: "RESTARTS", width: 8, right: true, prio: 1},
		{title: "CRASHES", width: 7, right: true, prio: 3},
		{title: "LQ", width: 4, right: true, prio: 2},
		{title: "5xx", width: 6, right: true, prio: 2},
		{title: "EXC", width: 6, right: true, prio: 4},
		{title: "MODULE", width: 10, flex: true, prio: 5},
	}}
}

func (v *overview) SetSize(w, h int) {
	v.w, v.h = w, h
	v.lay = layoutColumns(v.cols, w)
	v.format()
}

func (v *overview) setSnapshot(s *control.Snapshot) {
	v.snap = s
	v.format()
}

// selectedApp is the app under the cursor ("" when there is none).
func (v *overview) selectedApp() string { return v.sel }

// format builds every line of the view from the snapshot: on data, on
// resize, on theme change; never in View.
func (v *overview) format() {
	if v.snap == nil || v.w == 0 {
		return
	}
	s, c, st := v.snap, v.c, &v.c.styles
	v.header = v.lay.header(v.cols)

	// Proxy line and sparklines.
	v.top = v.top[:0]
	p := s.Proxy
	if p.Enabled {
		line := st.Bold.Render("proxy") + "  " + strings.Join(p.Listen, ", ") +
			st.Muted.Render(" · ") + strconv.Itoa(p.Active) + " active" +
			st.Muted.Render(" · ") + strconv.Itoa(p.Conns) + " conns" +
			st.Muted.Render(" · ") + fmtCount(p.Requests) + " reqs" +
			st.Muted.Render(" · ") + "2xx " + fmtCount(p.Status.S2xx) +
			" 4xx " + fmtCount(p.Status.S4xx) + " " + st.Bad.Render("5xx "+fmtCount(p.Status.S5xx))
		v.top = append(v.top, truncate(line, v.w))
	} else {
		v.top = append(v.top, st.Muted.Render("proxy disabled: apps are served on their own sockets"))
	}
	sw := max(8, v.w-22)
	h := p.History
	errs := errorRate(h.Errors, h.RPS)
	v.top = append(v.top,
		"req/s  "+st.SparkRPS.Render(sparkline(h.RPS, sw, 1))+" "+fitRight(fmtRate(p.RPS), 8)+" "+st.Muted.Render("/s"),
		"p99    "+st.SparkLatency.Render(sparkline(h.P99Ms, sw, 1))+" "+fitRight(fmtMs(p.P99Ms), 8)+" "+st.Muted.Render("ms"),
		"errors "+st.SparkErrors.Render(sparkline(errs, sw, 1))+" "+fitRight(fmtPct(last(errs)), 8)+" "+st.Muted.Render("%"),
	)

	// Apps.
	v.apps = v.apps[:0]
	cells := make([]string, len(v.cols))
	for _, a := range s.Apps {
		busy := 0
		for i := range a.Workers {
			if a.Workers[i].State == "busy" {
				busy++
			}
		}
		live := 0
		for i := range a.Workers {
			if a.Workers[i].PID != 0 {
				live++
			}
		}
		cells[0] = a.Name
		cells[1] = stateText(a.State)
		cells[2] = strconv.Itoa(live) + "/" + strconv.Itoa(a.Desired)
		cells[3] = strconv.Itoa(max(busy, a.Busy)) + "/" + strconv.Itoa(live)
		cells[4] = fmtRate(a.RPS)
		cells[5] = fmtMs(a.P99Ms)
		cells[6] = fmtBytes(a.RSSBytes)
		cells[7] = strconv.Itoa(a.Restarts)
		cells[8] = strconv.Itoa(a.Unstable)
		cells[9] = strconv.FormatUint(uint64(a.ListenQueue), 10)
		cells[10] = fmtCount(a.Errors)
		cells[11] = fmtCount(a.Exceptions)
		cells[12] = a.Module
		line, start, end := v.lay.row(v.cols, cells, 1)
		v.apps = append(v.apps, c.stateRow(a.Name, line, start, end, a.State))
	}
	v.reselect()

	// Upstreams at a glance: how many servers in each state.
	v.upstreams = v.upstreams[:0]
	for _, u := range s.Upstreams {
		counts := map[string]int{}
		var order []string
		for _, sv := range u.Servers {
			if counts[sv.State] == 0 {
				order = append(order, sv.State)
			}
			counts[sv.State]++
		}
		var b strings.Builder
		b.WriteString(fit(u.Name, 12))
		b.WriteString(" ")
		b.WriteString(st.Muted.Render(fit(u.Balance, 12)))
		for _, state := range []string{"up", "drain", "unhealthy", "down"} {
			if counts[state] > 0 {
				b.WriteString("  ")
				b.WriteString(c.stateStyle(state).Render(stateGlyph(state) + " " + strconv.Itoa(counts[state]) + " " + state))
			}
		}
		for _, state := range order {
			switch state {
			case "up", "drain", "unhealthy", "down":
			default:
				b.WriteString("  " + stateText(state) + " " + strconv.Itoa(counts[state]))
			}
		}
		v.upstreams = append(v.upstreams, truncate(b.String(), v.w-2))
	}
}

// reselect keeps the cursor on the same app across snapshots.
func (v *overview) reselect() {
	if i := indexOf(v.apps, v.sel); i >= 0 {
		v.cursor = i
	}
	v.cursor = clamp(v.cursor, 0, max(0, len(v.apps)-1))
	if len(v.apps) > 0 {
		v.sel = v.apps[v.cursor].key
	}
}

// appRows is how many app rows fit: all of them if they can, leaving room
// for the upstreams and a few events.
func (v *overview) appRows() int {
	rest := v.h - len(v.top) - 2 - 1 - len(v.upstreams) - 1 - 3
	return clamp(len(v.apps), 1, max(1, rest))
}

func (v overview) Update(msg tea.Msg) (overview, tea.Cmd) {
	km, ok := msg.(tea.KeyMsg)
	if !ok {
		return v, nil
	}
	b, a := v.c.match(km, ScopeOverview)
	if c, moved := moveCursor(a, v.cursor, len(v.apps), v.appRows()); moved {
		v.cursor = c
		v.offset = scroll(c, v.offset, v.appRows(), len(v.apps))
		if len(v.apps) > 0 {
			v.sel = v.apps[c].key
		}
		return v, nil
	}
	app := v.app()
	if app == nil {
		return v, nil
	}
	switch a {
	case actEnter:
		return v, func() tea.Msg { return openWorkersMsg{app: app.Name} }
	case actReload:
		return v, reloadCmd(v.c, app.Name)
	case actScaleUp, actScaleDown:
		return v, scaleCmd(v.c, b, a, app)
	case actLogs:
		return v, func() tea.Msg { return openLogsMsg{source: app.Name} }
	}
	return v, nil
}

func (v *overview) app() *control.App {
	if v.snap == nil {
		return nil
	}
	for i := range v.snap.Apps {
		if v.snap.Apps[i].Name == v.sel {
			return &v.snap.Apps[i]
		}
	}
	return nil
}

func (v overview) View() string {
	x := newBox(v.h)
	if v.snap == nil {
		x.line(v.c.styles.Muted.Render("waiting for the stack…"))
		return x.String()
	}
	c := v.c
	for _, l := range v.top {
		x.line(l)
	}
	x.line(c.rule("Apps", v.w))
	x.line("  " + c.styles.Header.Render(v.header))
	n := v.appRows()
	c.renderRows(x, v.apps, v.cursor, scroll(v.cursor, v.offset, n, len(v.apps)), n)
	if len(v.upstreams) > 0 {
		x.line(c.rule("Upstreams", v.w))
		for _, l := range v.upstreams {
			x.line("  " + l)
		}
	}
	if !x.full() {
		title := "Events"
		if v.events.lost > 0 {
			title += " (" + strconv.FormatUint(v.events.lost, 10) + " lost)"
		}
		x.line(c.rule(title, v.w))
		list := v.events.list
		if len(list) == 0 {
			x.line(c.styles.Muted.Render("  no events yet"))
		}
		// Newest first: the list is cut at the bottom of the screen.
		for i := len(list) - 1; i >= 0 && !x.full(); i-- {
			x.line("  " + c.eventLine(list[i], v.w-2))
		}
	}
	return x.String()
}
