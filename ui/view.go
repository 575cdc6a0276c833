package ui

import (
	"strconv"
	"strings"

	"github.com/charmbracelet/x/ansi"
)

// View frames the active view: title bar, tabs, the view (or the key
// help), status line, help bar. Everything costly was formatted when its
// data arrived; this only joins strings.
func (m Model) View() string {
	if m.c.width == 0 {
		return "" // before the first WindowSizeMsg
	}
	var b strings.Builder
	b.Grow(m.c.width * m.c.height * 2)
	b.WriteString(m.titleBar())
	b.WriteByte('\n')
	b.WriteString(m.tabsLine)
	b.WriteByte('\n')
	if m.help {
		b.WriteString(m.c.fullHelp(viewScopes[m.active], m.c.width, max(1, m.c.height-chrome)))
	} else {
		switch m.active {
		case viewOverview:
			b.WriteString(m.overview.View())
		case viewWorkers:
			b.WriteString(m.workers.View())
		case viewUpstreams:
			b.WriteString(m.upstreams.View())
		case viewLogs:
			b.WriteString(m.logs.View())
		case viewConfig:
			b.WriteString(m.config.View())
		}
	}
	b.WriteByte('\n')
	b.WriteString(m.statusLine())
	b.WriteByte('\n')
	b.WriteString(m.helpLine)
	return b.String()
}

// titleBar is the top line: what is running, whether the console is
// connected to it, and the proxy's pulse.
func (m *Model) titleBar() string {
	st := &m.c.styles
	var parts []string
	parts = append(parts, "stackctl")
	s := m.snap
	if s != nil && s.Version != "" {
		parts[0] += " " + s.Version
	}
	switch {
	case m.conn.ok:
		parts = append(parts, "● live")
	case m.conn.err != "":
		parts = append(parts, "✗ disconnected: "+m.conn.err)
	default:
		parts = append(parts, "◌ connecting")
	}
	if s != nil {
		if s.Config != "" {
			parts = append(parts, baseName(s.Config))
		}
		if !s.StartedAt.IsZero() {
			parts = append(parts, "up "+fmtDur(s.Time.Sub(s.StartedAt)))
		}
		if s.Proxy.Enabled {
			parts = append(parts, fmtRate(s.Proxy.RPS)+" req/s", "p99 "+fmtMs(s.Proxy.P99Ms)+" ms")
		}
		var lq uint32
		for _, a := range s.Apps {
			lq += a.ListenQueue
		}
		parts = append(parts, "lq "+strconv.FormatUint(uint64(lq), 10))
	}
	line := " " + strings.Join(parts, " │ ")
	return st.TitleBar.Render(fit(line, m.c.width))
}

// statusLine shows, by priority: a question, the filter being typed, the
// last command's outcome.
func (m *Model) statusLine() string {
	st := &m.c.styles
	switch {
	case m.ask != nil:
		return truncate(st.Prompt.Render(" "+m.ask.question+" ")+" "+st.Key.Render("y")+st.KeyDesc.Render(" yes · any other key: no"), m.c.width)
	case m.filtering:
		return truncate(m.input.View(), m.c.width)
	case m.status.text == "":
		return ""
	case m.status.ok:
		return truncate(st.StatusOK.Render("✓ ")+m.status.text, m.c.width)
	default:
		return truncate(st.StatusErr.Render("✗ ")+m.status.text, m.c.width)
	}
}

// helpBar renders the bar for a scope: the view's bindings on the left, as
// many as fit, and the global ones (quit, help) always on the right.
func (c *common) helpBar(scope Scope, width int) string {
	item := func(k *Binding) (string, int) {
		return c.styles.Key.Render(k.Key) + " " + c.styles.KeyDesc.Render(k.Desc), ansi.StringWidth(k.Key) + 1 + ansi.StringWidth(k.Desc)
	}
	var right []string
	rw := 0
	var own []*Binding
	for _, k := range c.keys.bar(scope) {
		if k.Scope&scope != 0 {
			own = append(own, k)
			continue
		}
		s, n := item(k)
		right = append(right, s)
		rw += n + 2
	}
	var b strings.Builder
	used := 0
	for _, k := range own {
		s, n := item(k)
		if used > 0 {
			n += 2
		}
		if used+n+rw > width {
			break
		}
		if used > 0 {
			b.WriteString("  ")
		}
		b.WriteString(s)
		used += n
	}
	if rw > width {
		return truncate(b.String(), width)
	}
	b.WriteString(strings.Repeat(" ", max(0, width-used-rw+2)))
	b.WriteString(strings.Join(right, "  "))
	return b.String()
}

// fullHelp is the `?` screen: every binding of the view and the global
// ones, in two columns when they do not fit in one.
func (c *common) fullHelp(scope Scope, width, height int) string {
	var entries []string
	add := func(title string, pick func(b *Binding) bool) {
		entries = append(entries, c.styles.Accent.Render(title))
		for i := range keyTable {
			k := &keyTable[i]
			if !pick(k) {
				continue
			}
			desc := k.Desc
			switch {
			case k.Dangerous:
				desc += c.styles.Warn.Render(" (asks)")
			case k.ConfirmWhen != "":
				desc += c.styles.Warn.Render(" (asks " + k.ConfirmWhen + ")")
			}
			entries = append(entries, c.styles.Key.Render(fit(k.Key, 10))+" "+desc)
		}
	}
	add(scope.String()+" keys", func(b *Binding) bool { return b.Scope&scope != 0 })
	add("everywhere", func(b *Binding) bool { return b.Scope&ScopeGlobal != 0 })
	x := newBox(height)
	cols := 1
	if len(entries) > height && width >= 80 {
		cols = 2
	}
	per := (len(entries) + cols - 1) / cols
	colW := width / cols
	for r := 0; r < per && !x.full(); r++ {
		var line string
		for col := range cols {
			i := col*per + r
			if i >= len(entries) {
				break
			}
			cell := truncate(entries[i], colW-2)
			if col < cols-1 {
				cell = padStyled(cell, colW)
			}
			line += cell
		}
		x.line(" " + line)
	}
	return x.String()
}
