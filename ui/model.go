package ui

import (
	"strconv"
	"strings"

	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"
	"github.com/stackctl/stackctl/runtime/control"
	"github.com/stackctl/stackctl/themes"
)

// The views, in tab order.
const (
	viewOverview = iota
	viewWorkers
	viewUpstreams
	viewLogs
	viewConfig
	numViews
)

var viewNames = [numViews]string{"Overview", "Workers", "Upstreams", "Logs", "Config"}

var viewScopes = [numViews]Scope{ScopeOverview, ScopeWorkers, ScopeUpstreams, ScopeLogs, ScopeConfig}

// chrome is the screen's frame around the view: 2 lines above (title bar,
// tabs), 2 below (status line, help bar).
const chrome = 4

// Model is the console's root model. It owns the shared state, routes keys
// (global ones first, then the active view's) and data (to the views that
// show it), and frames the active view.
type Model struct {
	c      *common
	sup    *supervisor
	feed   *feed
	themes *themes.Set
	theme  string

	active    int
	overview  overview
	workers   workers
	upstreams upstreams
	logs      logs
	config    config

	snap   *control.Snapshot
	events *eventLog
	store  *logStore
	conn   connState

	status    statusMsg
	ask       *askMsg
	help      bool
	filtering bool
	input     textinput.Model

	// The frame's lines that change only with size, view or theme.
	tabsLine string
	helpLine string
}

var _ tea.Model = Model{}

// Init starts the stream reader and the feed's first wait. (No window
// title: in Bubble Tea v1 setting one from a Cmd races with the renderer.)
func (m Model) Init() tea.Cmd {
	m.feed.start()
	return m.feed.wait()
}

// Close stops the goroutines the console started and waits for them. Run
// calls it; tests driving a Model themselves call it too.
func (m Model) Close() { m.sup.stop() }

// Update routes a message: sizes and data to every view that shows them,
// keys to the pending question, the filter input, the global bindings or
// the active view, in that order. It never blocks and never sends to the
// program.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.resize(msg.Width, msg.Height)
		return m, nil
	case feedMsg:
		cmd := m.applyFeed(msg)
		return m, tea.Batch(cmd, m.feed.wait())
	case tea.KeyMsg:
		return m.key(msg)
	case resultMsg:
		switch {
		case msg.err != nil:
			m.status = statusMsg{text: msg.what + ": " + msg.err.Error()}
		case msg.res.Message != "":
			m.status = statusMsg{ok: msg.res.OK, text: msg.res.Message}
		default:
			m.status = statusMsg{ok: msg.res.OK, text: msg.what + ": done"}
		}
	case statusMsg:
		m.status = msg
	case askMsg:
		m.ask = &msg
	case openWorkersMsg:
		m.workers.setApp(msg.app)
		return m, m.switchTo(viewWorkers)
	case openLogsMsg:
		m.logs.setSource(msg.source)
		return m, m.switchTo(viewLogs)
	case clearFilterMsg:
		m.setFilter("")
		m.input.SetValue("")
	case historyMsg:
		var cmd tea.Cmd
		m.workers, cmd = m.workers.Update(msg)
		return m, cmd
	case configMsg, editedMsg, validatedMsg, appliedMsg:
		var cmd tea.Cmd
		m.config, cmd = m.config.Update(msg)
		return m, cmd
	}
	return m, nil
}

// applyFeed folds a delivery into the views. This is where rows are sorted
// and formatted, a few times a second at most.
func (m *Model) applyFeed(msg feedMsg) tea.Cmd {
	if msg.conn != nil {
		m.conn = *msg.conn
	}
	m.events.lost += msg.lostEvents
	var cmd tea.Cmd
	if msg.snap != nil {
		first := m.snap == nil
		m.snap = msg.snap
		m.events.add(msg.snap.Events)
		m.overview.setSnapshot(msg.snap)
		m.workers.setSnapshot(msg.snap)
		m.upstreams.setSnapshot(msg.snap)
		m.logs.setSnapshot(msg.snap)
		if first {
			m.syncFollow()
		}
		if m.active == viewWorkers {
			cmd = m.workers.fetchHistory(false)
		}
	}
	m.events.add(msg.events)
	if m.store.add(msg.logGen, msg.logs, msg.logLost) {
		m.logs.sync()
		m.workers.formatDetailLog()
	}
	return cmd
}

func (m *Model) resize(w, h int) {
	m.c.width, m.c.height = w, h
	bw, bh := w, max(1, h-chrome)
	m.overview.SetSize(bw, bh)
	m.workers.SetSize(bw, bh)
	m.upstreams.SetSize(bw, bh)
	m.logs.SetSize(bw, bh)
	m.config.SetSize(bw, bh)
	m.input.Width = max(10, w-12)
	m.frame()
}

// frame rebuilds the cached tab line and help bar.
func (m *Model) frame() {
	st := &m.c.styles
	var b strings.Builder
	for i, name := range viewNames {
		label := strconv.Itoa(i+1) + " " + name
		if i == m.active {
			// The brackets mark the tab without colour too.
			b.WriteString(st.TabOn.Render("[" + label + "]"))
		} else {
			b.WriteString(st.Tab.Render(" " + label + " "))
		}
		b.WriteByte(' ')
	}
	right := st.Muted.Render("theme " + m.theme)
	m.tabsLine = padStyled(b.String(), max(0, m.c.width-ansi.StringWidth(right))) + right
	m.tabsLine = truncate(m.tabsLine, m.c.width)
	m.helpLine = m.c.helpBar(viewScopes[m.active], m.c.width)
}

func (m *Model) switchTo(v int) tea.Cmd {
	if v == m.active {
		return nil
	}
	m.active, m.help = v, false
	m.closeFilter()
	m.frame()
	m.syncFollow()
	switch v {
	case viewConfig:
		return m.config.load(false)
	case viewWorkers:
		return m.workers.fetchHistory(true)
	}
	return nil
}

// The Overview's selected app and the Workers view's app are one choice:
// selecting an app in one shows it in the other.
func (m *Model) linkApps(from int) {
	switch from {
	case viewOverview:
		if m.overview.sel != "" && m.overview.sel != m.workers.app {
			m.workers.setApp(m.overview.sel)
		}
	case viewWorkers:
		if m.workers.app != "" && m.workers.app != m.overview.sel {
			m.overview.sel = m.workers.app
			m.overview.reselect()
		}
	}
}

// syncFollow points the log reader at what the active view shows: the Logs
// view's source, or the Workers view's app (for its detail pane). Other
// views leave it where it is, so hopping between views costs nothing.
func (m *Model) syncFollow() {
	want := ""
	switch m.active {
	case viewLogs:
		want = m.logs.source
	case viewWorkers:
		want = m.workers.app
	}
	if want == "" || want == m.store.source {
		return
	}
	gen := m.feed.follow(want)
	m.store.reset(want, gen)
	m.logs.sync()
	m.workers.formatDetailLog()
}

func (m Model) key(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	// A pending question takes the next key: y runs it, anything else
	// cancels. (A second ctrl+c confirms quitting, as terminals expect.)
	if m.ask != nil {
		ask := m.ask
		m.ask = nil
		if s := msg.String(); s == "y" || s == "Y" || (s == "ctrl+c" && m.isQuit(ask)) {
			return m, ask.yes
		}
		m.status = statusMsg{ok: true, text: "cancelled"}
		return m, nil
	}
	if m.filtering {
		return m.filterKey(msg)
	}
	scope := viewScopes[m.active]
	b := m.c.keys.match(msg.String(), scope)
	if m.help && (msg.String() == "esc" || msg.String() == "?") {
		m.help = false
		return m, nil
	}
	if b != nil && b.Scope&ScopeGlobal != 0 {
		return m.global(b, msg)
	}
	if b != nil && b.act == actFilter {
		m.openFilter()
		return m, nil
	}
	var cmd tea.Cmd
	switch m.active {
	case viewOverview:
		m.overview, cmd = m.overview.Update(msg)
	case viewWorkers:
		m.workers, cmd = m.workers.Update(msg)
	case viewUpstreams:
		m.upstreams, cmd = m.upstreams.Update(msg)
	case viewLogs:
		m.logs, cmd = m.logs.Update(msg)
	case viewConfig:
		m.config, cmd = m.config.Update(msg)
	}
	m.linkApps(m.active)
	m.syncFollow()
	return m, cmd
}

// isQuit reports whether a question is the quit confirmation.
func (m *Model) isQuit(a *askMsg) bool {
	return a.question == keyTable[0].Confirm
}

func (m Model) global(b *Binding, msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	switch b.act {
	case actQuit:
		// Quitting a console that started the stack stops the stack.
		return m, m.c.confirm(b, m.c.confirmQuit, "", tea.Quit)
	case actHelp:
		m.help = !m.help
	case actView:
		n, _ := strconv.Atoi(msg.String())
		return m, m.switchTo(n - 1)
	case actNextView:
		return m, m.switchTo((m.active + 1) % numViews)
	case actPrevView:
		return m, m.switchTo((m.active + numViews - 1) % numViews)
	case actTheme:
		if m.c.noColor {
			m.status = statusMsg{ok: true, text: "colours are off (NO_COLOR or --color=none)"}
			return m, nil
		}
		t := m.themes.Next(m.theme)
		m.setTheme(t)
		m.status = statusMsg{ok: true, text: "theme " + t.Name}
	}
	return m, nil
}

// setTheme switches styles and re-formats everything that cached colours.
func (m *Model) setTheme(t themes.Theme) {
	m.theme = t.Name
	m.c.styles = themes.NewStyles(t, m.c.renderer)
	m.c.stateCells = nil
	m.input.PromptStyle = m.c.styles.Accent
	m.input.Cursor.Style = m.c.styles.Accent
	if m.c.width > 0 {
		m.resize(m.c.width, m.c.height)
	}
}

// Filtering: `/` opens a text input in the status line; the filter applies
// as it is typed; enter keeps it, esc clears it.

func (m *Model) openFilter() {
	cur := ""
	switch m.active {
	case viewWorkers:
		cur = m.workers.filter
	case viewUpstreams:
		cur = m.upstreams.filter
	case viewLogs:
		cur = m.logs.filter
	}
	m.input.SetValue(cur)
	m.input.CursorEnd()
	m.input.Focus()
	m.filtering = true
}

func (m *Model) closeFilter() {
	m.filtering = false
	m.input.Blur()
}

func (m *Model) setFilter(f string) {
	switch m.active {
	case viewWorkers:
		m.workers.setFilter(f)
	case viewUpstreams:
		m.upstreams.setFilter(f)
	case viewLogs:
		m.logs.setFilter(f)
	}
}

func (m Model) filterKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	switch msg.String() {
	case "enter":
		m.closeFilter()
		return m, nil
	case "esc":
		m.closeFilter()
		m.input.SetValue("")
		m.setFilter("")
		return m, nil
	case "ctrl+c":
		m.closeFilter()
		return m.global(&keyTable[0], msg)
	}
	var cmd tea.Cmd
	m.input, cmd = m.input.Update(msg)
	m.setFilter(m.input.Value())
	return m, cmd
}
