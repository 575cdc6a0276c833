package ui

import (
	"context"
	"strconv"
	"strings"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/stackctl/stackctl/runtime/control"
)

// upstreams is view 3: every upstream's servers with their state, weight,
// load, failures, latency and last health check.
type upstreams struct {
	c    *common
	w, h int
	snap *control.Snapshot

	cols   []column
	lay    layout
	header string
	rows   []row // group titles (key "") and servers (key "upstream\x00address")
	cursor int
	offset int
	sel    string
	filter string
}

func newUpstreams(c *common) upstreams {
	return upstreams{c: c, cols: []column{
		{title: "SERVER", width: 14, want: 20, flex: true, max: 40, prio: 0},
		{title: "STATE", width: 11, prio: 0},
		{title: "WEIGHT", width: 6, right: true, prio: 0},
		{title: "ACTIVE", width: 6, right: true, prio: 0},
		{title: "REQS", width: 6, right: true, prio: 0},
		{title: "FAILS", width: 5, right: true, prio: 0},
		{title: "P99 ms", width: 6, right: true, prio: 0},
		{title: "LAST CHECK", width: 14, want: 28, flex: true, max: 48, prio: 0},
		{title: "CHECKED", width: 9, right: true, prio: 2},
		{title: "REASON", width: 12, flex: true, max: 30, prio: 3},
	}}
}

func (v *upstreams) SetSize(w, h int) {
	v.w, v.h = w, h
	v.lay = layoutColumns(v.cols, w)
	v.format()
}

func (v *upstreams) setSnapshot(s *control.Snapshot) {
	v.snap = s
	v.format()
}

func (v *upstreams) setFilter(f string) {
	v.filter = f
	v.format()
}

func serverKey(u, addr string) string { return u + "\x00" + addr }

func (v *upstreams) format() {
	v.rows = v.rows[:0]
	if v.snap == nil || v.w == 0 {
		return
	}
	st := &v.c.styles
	v.header = v.lay.header(v.cols)
	now := v.c.clock(v.snap)
	filter := strings.ToLower(v.filter)
	cells := make([]string, len(v.cols))
	for _, u := range v.snap.Upstreams {
		title := st.Accent.Render(u.Name) + st.Muted.Render(" · "+u.Balance+" · "+plural(len(u.Servers), "server"))
		v.rows = append(v.rows, row{plain: title, styled: title})
		for _, s := range u.Servers {
			cells[0] = s.Address
			if s.Backup {
				cells[0] += " (backup)"
			}
			cells[1] = stateText(s.State)
			cells[2] = strconv.Itoa(s.Weight)
			cells[3] = strconv.Itoa(s.Active)
			cells[4] = fmtCount(s.Requests)
			cells[5] = fmtCount(s.Fails)
			cells[6] = fmtMs(s.P99Ms)
			cells[7] = s.LastCheck
			cells[8] = ""
			if !s.CheckedAt.IsZero() {
				cells[8] = fmtDur(now.Sub(s.CheckedAt)) + " ago"
			}
			cells[9] = s.Reason
			line, start, end := v.lay.row(v.cols, cells, 1)
			if filter != "" && !strings.Contains(strings.ToLower(u.Name+" "+line), filter) {
				continue
			}
			v.rows = append(v.rows, v.c.stateRow(serverKey(u.Name, s.Address), line, start, end, s.State))
		}
	}
	if i := indexOf(v.rows, v.sel); i >= 0 && v.sel != "" {
		v.cursor = i
	}
	v.cursor = v.selectable(v.cursor, 1)
	if v.cursor < len(v.rows) {
		v.sel = v.rows[v.cursor].key
	}
	v.offset = scroll(v.cursor, v.offset, v.h-1, len(v.rows))
}

// selectable moves i onto a server row (not a group title), searching in
// direction dir first.
func (v *upstreams) selectable(i, dir int) int {
	i = clamp(i, 0, max(0, len(v.rows)-1))
	for _, d := range []int{dir, -dir} {
		for j := i; j >= 0 && j < len(v.rows); j += d {
			if v.rows[j].key != "" {
				return j
			}
		}
	}
	return i
}

// server returns the selected server and its upstream.
func (v *upstreams) server() (string, *control.UpstreamServer) {
	if v.snap == nil {
		return "", nil
	}
	for _, u := range v.snap.Upstreams {
		for i := range u.Servers {
			if serverKey(u.Name, u.Servers[i].Address) == v.sel {
				return u.Name, &u.Servers[i]
			}
		}
	}
	return "", nil
}

func (v upstreams) Update(msg tea.Msg) (upstreams, tea.Cmd) {
	km, ok := msg.(tea.KeyMsg)
	if !ok {
		return v, nil
	}
	b, a := v.c.match(km, ScopeUpstreams)
	if c, moved := moveCursor(a, v.cursor, len(v.rows), v.h-1); moved {
		dir := 1
		if c < v.cursor || a == actTop {
			dir = -1
		}
		if a == actTop {
			c, dir = 0, 1
		}
		v.cursor = v.selectable(c, dir)
		if v.cursor < len(v.rows) {
			v.sel = v.rows[v.cursor].key
		}
		v.offset = scroll(v.cursor, v.offset, v.h-1, len(v.rows))
		if v.cursor == 1 {
			v.offset = 0 // show the first group's title
		}
		return v, nil
	}
	up, s := v.server()
	switch a {
	case actBack:
		if v.filter != "" {
			return v, func() tea.Msg { return clearFilterMsg{} }
		}
	case actDrain:
		if s == nil {
			return v, nil
		}
		state := "drain"
		if s.State == "drain" || s.State == "draining" {
			state = "up"
		}
		return v, setServerCmd(v.c, up, s.Address, state)
	case actMarkDown:
		if s == nil {
			return v, nil
		}
		state := "down"
		if s.State == "down" {
			state = "up"
		}
		return v, v.c.confirm(b, state == "down", s.Address, setServerCmd(v.c, up, s.Address, state))
	}
	return v, nil
}

func setServerCmd(c *common, upstream, server, state string) tea.Cmd {
	return c.run(state+" "+upstream+" "+server, func(ctx context.Context) (control.Result, error) {
		return c.backend.SetServerState(ctx, upstream, server, state)
	})
}

func (v upstreams) View() string {
	x := newBox(v.h)
	st := &v.c.styles
	if v.snap == nil || len(v.snap.Upstreams) == 0 {
		x.line(st.Muted.Render("no upstreams"))
		return x.String()
	}
	x.line("  " + st.Header.Render(v.header))
	v.c.renderRows(x, v.rows, v.cursor, v.offset, v.h-1)
	if v.filter != "" && len(v.rows) == len(v.snap.Upstreams) {
		x.line("  " + st.Muted.Render("no server matches "+strconv.Quote(v.filter)))
	}
	return x.String()
}
