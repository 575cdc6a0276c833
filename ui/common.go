package ui

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/stackctl/stackctl/runtime/control"
	"github.com/stackctl/stackctl/themes"
)

// common is the state every view shares: the size of the screen, the
// styles of the current theme, the keymap, the clock and the backend. The
// root model owns it and is the only one to change it (in Update); views
// hold a pointer and read it. Cmds read only the fields that never change
// after New (ctx, backend, timeout).
type common struct {
	width, height int // the whole terminal
	styles        themes.Styles
	renderer      *lipgloss.Renderer
	keys          *keymap
	now           func() time.Time
	loc           *time.Location

	ctx         context.Context
	backend     Backend
	timeout     time.Duration
	confirmQuit bool
	noColor     bool // NO_COLOR or --color=none: themes cannot add colour
	editor      []string
	tempDir     string
	// exec hands the terminal to a program (tea.ExecProcess; tests replace it).
	exec func(*exec.Cmd, tea.ExecCallback) tea.Cmd

	// stateCells caches styled state cells ("● idle" padded to its
	// column): a table has few distinct ones, and lipgloss's Render costs
	// microseconds. Emptied with each theme.
	stateCells map[string]string
}

// stateCell styles a state cell, from the cache when it can.
func (c *common) stateCell(state, cell string) string {
	k := state + "\x00" + cell
	if s, ok := c.stateCells[k]; ok {
		return s
	}
	if c.stateCells == nil || len(c.stateCells) > 256 {
		c.stateCells = map[string]string{}
	}
	s := c.stateStyle(state).Render(cell)
	c.stateCells[k] = s
	return s
}

// resultMsg is the outcome of a command, for the status line.
type resultMsg struct {
	what string
	res  control.Result
	err  error
}

// askMsg asks the user to confirm before running yes.
type askMsg struct {
	question string
	yes      tea.Cmd
}

// run returns a Cmd calling the backend with the command timeout, its
// result reported as a resultMsg.
func (c *common) run(what string, f func(ctx context.Context) (control.Result, error)) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(c.ctx, c.timeout)
		defer cancel()
		r, err := f(ctx)
		return resultMsg{what: what, res: r, err: err}
	}
}

// confirm runs cmd, first asking b's question about target when ask is set
// (the binding table holds the question; the view decides the case).
func (c *common) confirm(b *Binding, ask bool, target string, cmd tea.Cmd) tea.Cmd {
	if !ask && !b.Dangerous {
		return cmd
	}
	q := b.Confirm
	if strings.Contains(q, "%s") {
		q = fmt.Sprintf(q, target)
	}
	return func() tea.Msg { return askMsg{question: q, yes: cmd} }
}

// match looks a key up in the keymap for a view.
func (c *common) match(msg tea.KeyMsg, scope Scope) (*Binding, action) {
	b := c.keys.match(msg.String(), scope)
	if b == nil {
		return nil, actNone
	}
	return b, b.act
}

// clock returns the current time for ages and uptimes: the snapshot's time
// when there is one (so a frozen snapshot is self-consistent), else now.
func (c *common) clock(s *control.Snapshot) time.Time {
	if s != nil && !s.Time.IsZero() {
		return s.Time
	}
	return c.now()
}

// stateStyle picks the style of a state word, so that every view colours a
// state the same way. The word itself is always shown too.
func (c *common) stateStyle(state string) lipgloss.Style {
	s := &c.styles
	switch state {
	case "idle", "up", "running", "ok", "healthy":
		return s.Good
	case "busy":
		return s.Busy
	case "starting", "stopping", "drain", "draining", "backoff", "reloading":
		return s.Warn
	case "down", "unhealthy", "crash-loop", "dead", "failed", "error":
		return s.Bad
	default:
		return s.Text
	}
}

// stateGlyph gives each state a shape, so state reads without colour.
func stateGlyph(state string) string {
	switch state {
	case "idle", "up", "running", "healthy":
		return "●"
	case "busy":
		return "◆"
	case "starting", "backoff", "reloading":
		return "◌"
	case "stopping", "drain", "draining":
		return "◐"
	case "down", "unhealthy", "crash-loop", "dead", "failed":
		return "✗"
	default:
		return "·"
	}
}

// stateText is a state as shown: glyph and word.
func stateText(state string) string { return stateGlyph(state) + " " + state }

// rule draws a horizontal separator, optionally titled.
func (c *common) rule(title string, w int) string {
	if title == "" {
		return c.styles.Rule.Render(strings.Repeat("─", max(0, w)))
	}
	t := " " + title + " "
	n := w - 2 - lipgloss.Width(t)
	if n < 0 {
		return c.styles.Accent.Render(truncate(t, w))
	}
	return c.styles.Rule.Render("──") + c.styles.Accent.Render(t) + c.styles.Rule.Render(strings.Repeat("─", n))
}
