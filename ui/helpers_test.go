package ui

import (
	"context"
	"strconv"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/stackctl/stackctl/runtime/control"
	"github.com/stackctl/stackctl/runtime/stats"
	"github.com/stackctl/stackctl/ui/uitest"
)

// testOptions are deterministic options: fixed clock and zone, a fixed
// colour depth.
func testOptions(theme, color string) Options {
	return Options{
		Theme:    theme,
		Color:    color,
		Now:      func() time.Time { return uitest.Now },
		Location: time.UTC,
		Editor:   "true",
	}
}

// newTestModel is a model over b (nil for render-only tests) at w×h with
// the demo data fed in directly, no goroutines.
func newTestModel(t testing.TB, b Backend, opts Options, w, h int) Model {
	t.Helper()
	m, err := New(context.Background(), b, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	m = update(t, m, tea.WindowSizeMsg{Width: w, Height: h})
	return m
}

// deliver delivers a snapshot (and log lines of the followed source) the way
// the feed does.
func deliver(t testing.TB, m Model, snap *control.Snapshot, lines []control.LogLine) Model {
	t.Helper()
	return update(t, m, feedMsg{snap: snap, events: snap.Events, logGen: m.store.gen, logs: lines, conn: &connState{ok: true}})
}

// update runs one message through Update and returns the model; Cmds are
// dropped (tests that care use step).
func update(t testing.TB, m Model, msg tea.Msg) Model {
	t.Helper()
	nm, _ := m.Update(msg)
	return nm.(Model)
}

// step runs one message and then its Cmds, recursively, feeding their
// messages back — except the feed's wait, which would block.
func step(t testing.TB, m Model, msg tea.Msg) Model {
	t.Helper()
	nm, cmd := m.Update(msg)
	m = nm.(Model)
	for _, next := range runCmd(cmd) {
		m = step(t, m, next)
	}
	return m
}

func runCmd(cmd tea.Cmd) []tea.Msg {
	if cmd == nil {
		return nil
	}
	done := make(chan tea.Msg, 1)
	go func() { done <- cmd() }()
	var msg tea.Msg
	select {
	case msg = <-done:
	case <-time.After(2 * time.Second):
		return nil // a blocking Cmd (the feed's wait)
	}
	switch msg := msg.(type) {
	case nil:
		return nil
	case tea.BatchMsg:
		var out []tea.Msg
		for _, c := range msg {
			out = append(out, runCmd(c)...)
		}
		return out
	default:
		return []tea.Msg{msg}
	}
}

func key(s string) tea.KeyMsg {
	switch s {
	case "enter":
		return tea.KeyMsg{Type: tea.KeyEnter}
	case "esc":
		return tea.KeyMsg{Type: tea.KeyEsc}
	case "tab":
		return tea.KeyMsg{Type: tea.KeyTab}
	case "shift+tab":
		return tea.KeyMsg{Type: tea.KeyShiftTab}
	case "up":
		return tea.KeyMsg{Type: tea.KeyUp}
	case "down":
		return tea.KeyMsg{Type: tea.KeyDown}
	case "left":
		return tea.KeyMsg{Type: tea.KeyLeft}
	case "right":
		return tea.KeyMsg{Type: tea.KeyRight}
	case "ctrl+c":
		return tea.KeyMsg{Type: tea.KeyCtrlC}
	case "backspace":
		return tea.KeyMsg{Type: tea.KeyBackspace}
	}
	return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)}
}

func keys(t testing.TB, m Model, ks ...string) Model {
	t.Helper()
	for _, k := range ks {
		m = step(t, m, key(k))
	}
	return m
}

func statsEvent(i int) stats.Event {
	return stats.Event{Kind: "test", Source: "blog", Message: "event " + strconv.Itoa(i)}
}

func demoSnapshot() *control.Snapshot { return uitest.Demo(8) }
