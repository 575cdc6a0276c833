package ui

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/stackctl/stackctl/runtime/control"
)

// workers is view 2: one app's workers as a sortable table, and a detail
// pane for the selected worker with its sparklines and its log lines.
type workers struct {
	c     *common
	w, h  int
	snap  *control.Snapshot
	store *logStore

	app    string // the app shown
	cols   []column
	lay    layout
	header string
	rows   []row
	list   []*control.Worker // rows' workers, sorted and filtered
	cursor int
	offset int
	selID  int // the selected worker's id, kept across re-sorts
	sortBy int // index into workerSorts
	desc   bool
	filter string

	detail   bool
	hist     control.History
	histFor  string // "app/id" the history is of
	histGen  int
	histAt   time.Time // snapshot time of the last fetch
	logLines []string  // the selected worker's recent lines, formatted
}

// The Workers table's columns, in display order.
const (
	wcID = iota
	wcPID
	wcState
	wcRequest
	wcAge
	wcReqs
	wcRPS
	wcAvg
	wcP99
	wcRSS
	wcVSZ
	wcCPU
	wcExc
	wcTx
	wcRestarts
	wcUptime
	wcExit
)

// workerSort is one sort order of the table.
type workerSort struct {
	name string
	col  int // the column it marks
	less func(a, b *control.Worker) int
}

var workerSorts = []workerSort{
	{"id", wcID, func(a, b *control.Worker) int { return a.ID - b.ID }},
	{"req/s", wcRPS, func(a, b *control.Worker) int { return cmp.Compare(a.RPS, b.RPS) }},
	{"p99", wcP99, func(a, b *control.Worker) int { return cmp.Compare(a.P99Ms, b.P99Ms) }},
	{"rss", wcRSS, func(a, b *control.Worker) int { return cmp.Compare(a.RSSBytes, b.RSSBytes) }},
	{"cpu", wcCPU, func(a, b *control.Worker) int { return cmp.Compare(a.CPUPercent, b.CPUPercent) }},
	{"requests", wcReqs, func(a, b *control.Worker) int { return cmp.Compare(a.Requests, b.Requests) }},
	{"restarts", wcRestarts, func(a, b *control.Worker) int { return a.Restarts - b.Restarts }},
	{"uptime", wcUptime, func(a, b *control.Worker) int { return b.StartedAt.Compare(a.StartedAt) }},
}

func newWorkers(c *common, store *logStore) workers {
	return workers{c: c, store: store, selID: -1, cols: []column{
		wcID:       {title: "ID", width: 3, right: true, prio: 0},
		wcPID:      {title: "PID", width: 7, right: true, prio: 0},
		wcState:    {title: "STATE", width: 10, prio: 0},
		wcRequest:  {title: "REQUEST", width: 10, want: 22, flex: true, max: 48, prio: 1},
		wcAge:      {title: "AGE", width: 6, right: true, prio: 1},
		wcReqs:     {title: "REQS", width: 7, right: true, prio: 0},
		wcRPS:      {title: "REQ/S", width: 6, right: true, prio: 0},
		wcAvg:      {title: "AVG ms", width: 7, right: true, prio: 2},
		wcP99:      {title: "P99 ms", width: 7, right: true, prio: 1},
		wcRSS:      {title: "RSS", width: 7, right: true, prio: 0},
		wcVSZ:      {title: "VSZ", width: 7, right: true, prio: 5},
		wcCPU:      {title: "CPU%", width: 5, right: true, prio: 2},
		wcExc:      {title: "EXC", width: 5, right: true, prio: 3},
		wcTx:       {title: "TX", width: 7, right: true, prio: 4},
		wcRestarts: {title: "RST", width: 4, right: true, prio: 1},
		wcUptime:   {title: "UPTIME", width: 7, right: true, prio: 2},
		wcExit:     {title: "LAST EXIT", width: 9, want: 22, flex: true, max: 40, prio: 3},
	}}
}

func (v *workers) SetSize(w, h int) {
	v.w, v.h = w, h
	v.lay = layoutColumns(v.cols, w)
	v.format()
}

func (v *workers) setSnapshot(s *control.Snapshot) {
	v.snap = s
	if v.app == "" || v.findApp() == nil {
		v.app = ""
		if len(s.Apps) > 0 {
			v.app = s.Apps[0].Name
		}
	}
	v.format()
}

// setApp shows an app's workers.
func (v *workers) setApp(name string) {
	if name != v.app {
		v.app, v.selID, v.cursor, v.offset = name, -1, 0, 0
		v.hist, v.histFor = control.History{}, ""
	}
	v.format()
}

func (v *workers) setFilter(f string) {
	v.filter = f
	v.format()
}

func (v *workers) findApp() *control.App {
	if v.snap == nil {
		return nil
	}
	for i := range v.snap.Apps {
		if v.snap.Apps[i].Name == v.app {
			return &v.snap.Apps[i]
		}
	}
	return nil
}

// selected returns the selected worker, or nil.
func (v *workers) selected() *control.Worker {
	if v.cursor < len(v.list) {
		return v.list[v.cursor]
	}
	return nil
}

// tableHeight is the rows the table gets; the detail pane takes the rest.
func (v *workers) tableHeight() int {
	h := v.tableArea()
	if v.detail {
		h -= v.detailHeight()
	}
	return max(1, h)
}

// tableArea is the height below the app line and the column header.
func (v *workers) tableArea() int {
	h := v.h - 2
	if a := v.findApp(); a != nil && a.LoadError != "" {
		h-- // the load error's line
	}
	return h
}

// detailHeight is two fifths of the view, or more when the table needs
// less: a short table leaves the room to the worker's log.
func (v *workers) detailHeight() int {
	base := clamp(v.h*2/5, 7, max(7, v.h-5))
	return clamp(v.tableArea()-max(1, len(v.rows)), base, max(base, v.h-3))
}

// format sorts, filters and formats the table from the snapshot: on data,
// resize, sort, filter and theme change; never in View.
func (v *workers) format() {
	v.rows, v.list = v.rows[:0], v.list[:0]
	a := v.findApp()
	if a == nil || v.w == 0 {
		return
	}
	srt := workerSorts[v.sortBy]
	v.header = v.headerLine(srt)
	for i := range a.Workers {
		v.list = append(v.list, &a.Workers[i])
	}
	slices.SortStableFunc(v.list, func(x, y *control.Worker) int {
		r := srt.less(x, y)
		if r == 0 {
			r = x.ID - y.ID
		}
		if v.desc {
			return -r
		}
		return r
	})
	now := v.c.clock(v.snap)
	cells := make([]string, len(v.cols))
	filter := strings.ToLower(v.filter)
	kept := v.list[:0]
	for _, w := range v.list {
		state := workerState(w)
		cells[wcID] = strconv.Itoa(w.ID)
		cells[wcPID] = "-"
		if w.PID != 0 {
			cells[wcPID] = strconv.Itoa(w.PID)
		}
		cells[wcState] = stateText(state)
		cells[wcRequest], cells[wcAge] = "", ""
		if len(w.Current) > 0 {
			cells[wcRequest] = w.Current[0].Request
			if len(w.Current) > 1 {
				cells[wcRequest] += " (+" + strconv.Itoa(len(w.Current)-1) + ")"
			}
			cells[wcAge] = fmtDur(now.Sub(w.Current[0].Since))
		}
		cells[wcReqs] = fmtCount(w.Requests)
		cells[wcRPS] = fmtRate(w.RPS)
		cells[wcAvg] = fmtMs(w.AvgMs)
		cells[wcP99] = fmtMs(w.P99Ms)
		cells[wcRSS] = fmtBytes(w.RSSBytes)
		cells[wcVSZ] = fmtBytes(w.VMSBytes)
		cells[wcCPU] = fmtPct(w.CPUPercent)
		cells[wcExc] = fmtCount(w.Exceptions)
		cells[wcTx] = fmtBytes(w.TxBytes)
		cells[wcRestarts] = strconv.Itoa(w.Restarts)
		cells[wcUptime] = "-"
		if !w.StartedAt.IsZero() && w.PID != 0 {
			cells[wcUptime] = fmtDur(now.Sub(w.StartedAt))
		}
		cells[wcExit] = w.LastExit
		line, start, end := v.lay.row(v.cols, cells, wcState)
		if filter != "" && !strings.Contains(strings.ToLower(line), filter) {
			continue
		}
		kept = append(kept, w)
		v.rows = append(v.rows, v.c.stateRow(strconv.Itoa(w.ID), line, start, end, state))
	}
	v.list = kept
	v.reselect()
	v.formatDetailLog()
}

// workerState is the state shown: a slot waiting to respawn has no PID.
func workerState(w *control.Worker) string {
	if w.PID == 0 && !w.RetryAt.IsZero() {
		return "backoff"
	}
	if w.State == "" {
		return "starting"
	}
	return w.State
}

func (v *workers) headerLine(srt workerSort) string {
	cols := slices.Clone(v.cols)
	arrow := "▲"
	if v.desc {
		arrow = "▼"
	}
	cols[srt.col].title += arrow
	return v.lay.header(cols)
}

// reselect puts the cursor back on the selected worker after a re-sort.
func (v *workers) reselect() {
	if i := indexOf(v.rows, strconv.Itoa(v.selID)); i >= 0 {
		v.cursor = i
	}
	v.cursor = clamp(v.cursor, 0, max(0, len(v.rows)-1))
	if w := v.selected(); w != nil {
		v.selID = w.ID
	}
	v.offset = scroll(v.cursor, v.offset, v.tableHeight(), len(v.rows))
}

func (v workers) Update(msg tea.Msg) (workers, tea.Cmd) {
	switch msg := msg.(type) {
	case historyMsg:
		if msg.gen == v.histGen && msg.key == v.histFor && msg.err == nil {
			v.hist = msg.hist
		}
		return v, nil
	case tea.KeyMsg:
		return v.key(msg)
	}
	return v, nil
}

func (v workers) key(msg tea.KeyMsg) (workers, tea.Cmd) {
	b, a := v.c.match(msg, ScopeWorkers)
	if c, moved := moveCursor(a, v.cursor, len(v.rows), v.tableHeight()); moved {
		v.cursor = c
		if w := v.selected(); w != nil {
			v.selID = w.ID
		}
		v.offset = scroll(v.cursor, v.offset, v.tableHeight(), len(v.rows))
		v.formatDetailLog()
		return v, v.fetchHistory(false)
	}
	switch a {
	case actPrev, actNext:
		if v.snap == nil || len(v.snap.Apps) == 0 {
			return v, nil
		}
		i := slices.IndexFunc(v.snap.Apps, func(x control.App) bool { return x.Name == v.app })
		if a == actPrev {
			i--
		} else {
			i++
		}
		i = (i + len(v.snap.Apps)) % len(v.snap.Apps)
		v.setApp(v.snap.Apps[i].Name)
		return v, v.fetchHistory(true)
	case actSort:
		v.sortBy = (v.sortBy + 1) % len(workerSorts)
		v.desc = v.sortBy != 0 // biggest first, except for ids
		v.format()
	case actSortReverse:
		v.desc = !v.desc
		v.format()
	case actEnter:
		v.detail = !v.detail
		v.offset = scroll(v.cursor, v.offset, v.tableHeight(), len(v.rows))
		v.formatDetailLog()
		return v, v.fetchHistory(true)
	case actBack:
		if v.detail {
			v.detail = false
			v.offset = scroll(v.cursor, v.offset, v.tableHeight(), len(v.rows))
			return v, nil
		}
		if v.filter != "" {
			return v, func() tea.Msg { return clearFilterMsg{} }
		}
	case actRestart:
		if w := v.selected(); w != nil {
			return v, restartCmd(v.c, v.app, w.ID)
		}
	case actReload:
		if v.app != "" {
			return v, reloadCmd(v.c, v.app)
		}
	case actScaleUp, actScaleDown:
		if app := v.findApp(); app != nil {
			return v, scaleCmd(v.c, b, a, app)
		}
	case actLogs:
		if v.app != "" {
			app := v.app
			return v, func() tea.Msg { return openLogsMsg{source: app} }
		}
	}
	return v, nil
}

func (v workers) View() string {
	x := newBox(v.h)
	c, st := v.c, &v.c.styles
	a := v.findApp()
	if a == nil {
		x.line(st.Muted.Render("no apps"))
		return x.String()
	}
	x.line(v.appLine(a))
	if a.LoadError != "" {
		// Why the app cannot start: the traceback's last line.
		x.line(truncate(st.Bad.Render("✗ "+firstLine(a.LoadError)), v.w))
	}
	x.line("  " + st.Header.Render(v.header))
	th := v.tableHeight()
	c.renderRows(x, v.rows, v.cursor, v.offset, th)
	if len(v.rows) == 0 {
		msg := "no workers"
		if v.filter != "" {
			msg = "no worker matches " + strconv.Quote(v.filter)
		}
		x.line("  " + st.Muted.Render(msg))
	}
	if v.detail {
		for x.n < v.h-v.detailHeight() {
			x.line("")
		}
		v.viewDetail(x)
	}
	return x.String()
}

// appLine is the table's title: which app, its totals, the sort.
func (v *workers) appLine(a *control.App) string {
	st := &v.c.styles
	pos := ""
	if v.snap != nil && len(v.snap.Apps) > 1 {
		i := slices.IndexFunc(v.snap.Apps, func(x control.App) bool { return x.Name == a.Name })
		pos = st.Muted.Render(" ("+strconv.Itoa(i+1)+"/"+strconv.Itoa(len(v.snap.Apps))+")") + st.Muted.Render(" ←→")
	}
	sep := st.Muted.Render(" · ")
	line := st.Accent.Render(a.Name) + pos + sep + v.c.stateStyle(a.State).Render(stateText(a.State)) + sep +
		strconv.Itoa(len(a.Workers)) + "/" + strconv.Itoa(a.Desired) + " workers" + sep +
		strconv.Itoa(a.Busy) + " busy" + sep +
		strconv.Itoa(a.Restarts) + " restarts (" + strconv.Itoa(a.Unstable) + " crashes)" + sep +
		"lq " + strconv.FormatUint(uint64(a.ListenQueue), 10) + sep +
		st.Muted.Render("sort "+workerSorts[v.sortBy].name)
	if v.filter != "" {
		line += sep + st.Info.Render("filter "+strconv.Quote(v.filter))
	}
	return truncate(line, v.w)
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		// A traceback's last line says what went wrong.
		return strings.TrimSpace(s[i+1:])
	}
	return s
}

// clearFilterMsg asks the root to clear the active view's filter.
type clearFilterMsg struct{}
