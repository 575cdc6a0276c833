package ui

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"
	"github.com/stackctl/stackctl/runtime/control"
	"github.com/stackctl/stackctl/ui/uitest"
)

// startStack starts the fake stack with the demo snapshot.
func startStack(t testing.TB, workers int) *uitest.Stack {
	t.Helper()
	s, err := uitest.Start(uitest.Demo(workers), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// demoModel is a model over the fake stack with the demo snapshot
// delivered, plain text so assertions read the screen.
func demoModel(t testing.TB, s *uitest.Stack, opts Options, w, h int) Model {
	t.Helper()
	var b Backend
	if s != nil {
		b = s.Client()
	}
	m := newTestModel(t, b, opts, w, h)
	return deliver(t, m, uitest.Demo(8), nil)
}

func screen(m Model) string { return ansi.Strip(m.View()) }

// selectedLine is the screen line with the selection marker.
func selectedLine(t testing.TB, m Model) string {
	t.Helper()
	for _, l := range strings.Split(screen(m), "\n") {
		if strings.HasPrefix(l, "› ") {
			return l
		}
	}
	t.Fatalf("no selected line in:\n%s", screen(m))
	return ""
}

func requireCalls(t testing.TB, s *uitest.Stack, want ...string) {
	t.Helper()
	if got := s.Calls(); !slices.Equal(got, want) {
		t.Fatalf("calls = %q, want %q", got, want)
	}
}

func requireScreen(t testing.TB, m Model, want ...string) {
	t.Helper()
	sc := screen(m)
	for _, w := range want {
		if !strings.Contains(sc, w) {
			t.Fatalf("screen lacks %q:\n%s", w, sc)
		}
	}
}

func TestViewsFillTheScreenExactly(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {160, 48}, {40, 10}} {
		m := demoModel(t, nil, testOptions("dark", "256"), size[0], size[1])
		for _, v := range []string{"1", "2", "3", "4", "5", "?"} {
			m = update(t, m, key(v))
			lines := strings.Split(m.View(), "\n")
			if len(lines) != size[1] {
				t.Errorf("%dx%d view %s: %d lines", size[0], size[1], v, len(lines))
			}
			for i, l := range lines {
				if w := ansi.StringWidth(l); w > size[0] {
					t.Errorf("%dx%d view %s line %d is %d wide: %q", size[0], size[1], v, i, w, ansi.Strip(l))
				}
			}
			if v == "?" {
				m = update(t, m, key("?"))
			}
		}
	}
}

func TestViewSwitching(t *testing.T) {
	m := demoModel(t, nil, testOptions("dark", "plain"), 80, 24)
	for _, tc := range []struct {
		key  string
		want int
	}{{"2", viewWorkers}, {"tab", viewUpstreams}, {"tab", viewLogs}, {"5", viewConfig}, {"tab", viewOverview}, {"shift+tab", viewConfig}, {"1", viewOverview}} {
		m = update(t, m, key(tc.key))
		if m.active != tc.want {
			t.Fatalf("after %s: view %d, want %d", tc.key, m.active, tc.want)
		}
		requireScreen(t, m, "["+itoaView(tc.want)+"]")
	}
}

func itoaView(v int) string { return string(rune('1'+v)) + " " + viewNames[v] }

func TestOverviewNavigatesAndActs(t *testing.T) {
	s := startStack(t, 8)
	m := demoModel(t, s, testOptions("dark", "plain"), 80, 24)
	requireScreen(t, m, "proxy", "127.0.0.1:8080", "req/s", "p99", "errors", "blog", "● running", "8/8",
		"✗ crash-loop", "least_conn", "◐ 1 drain", "✗ 1 down", "chain reload started")
	if !strings.Contains(selectedLine(t, m), "blog") {
		t.Fatal("the first app is not selected")
	}
	m = keys(t, m, "j")
	if !strings.Contains(selectedLine(t, m), "api") {
		t.Fatalf("j did not move to api: %q", selectedLine(t, m))
	}
	m = keys(t, m, "R", "+")
	requireCalls(t, s, "reload api", "scale api 4")
	requireScreen(t, m, "✓ app api: scaling to 4 workers")
	m = keys(t, m, "enter")
	if m.active != viewWorkers || m.workers.app != "api" {
		t.Fatalf("enter: view %d app %q", m.active, m.workers.app)
	}
	m = keys(t, m, "1", "l")
	if m.active != viewLogs || m.logs.source != "api" {
		t.Fatalf("l: view %d source %q", m.active, m.logs.source)
	}
	// The app selected in one view is the app of the other.
	m = keys(t, m, "1", "j", "2")
	if m.workers.app != "legacy" {
		t.Fatalf("2 after selecting legacy shows %q", m.workers.app)
	}
	m = keys(t, m, "left", "1")
	if !strings.Contains(selectedLine(t, m), "api") {
		t.Fatalf("overview selection %q after ← in Workers", selectedLine(t, m))
	}
}

func TestScaleToZeroAsks(t *testing.T) {
	s := startStack(t, 8)
	m := demoModel(t, s, testOptions("dark", "plain"), 80, 24)
	snap := uitest.Demo(8)
	snap.Apps[0].Desired = 1
	m = deliver(t, m, snap, nil)
	m = keys(t, m, "-")
	requireScreen(t, m, "Scale blog to 0 workers? That stops the app.")
	m = keys(t, m, "n")
	requireCalls(t, s)
	requireScreen(t, m, "✓ cancelled")
	m = keys(t, m, "-", "y")
	requireCalls(t, s, "scale blog 0")
}

func TestWorkersSortKeepsSelectionByID(t *testing.T) {
	s := startStack(t, 8)
	m := demoModel(t, s, testOptions("dark", "plain"), 160, 48)
	m = keys(t, m, "2", "j", "j") // worker 3
	if m.workers.selID != 3 {
		t.Fatalf("selected %d", m.workers.selID)
	}
	before := m.workers.cursor
	m = keys(t, m, "s") // by req/s, descending
	if m.workers.selID != 3 || m.workers.cursor == before {
		t.Fatalf("after sort: selected %d at row %d (was row %d)", m.workers.selID, m.workers.cursor, before)
	}
	if !strings.Contains(selectedLine(t, m), "40039") {
		t.Fatalf("selection lost: %q", selectedLine(t, m))
	}
	requireScreen(t, m, "REQ/S▼", "sort req/s")
	// Worker 3's rate changes so it moves in the order; it stays selected.
	snap := uitest.Demo(8)
	snap.Apps[0].Workers[2].RPS = 999
	m = deliver(t, m, snap, nil)
	if m.workers.cursor != 0 || m.workers.selID != 3 {
		t.Fatalf("after re-sort: cursor %d selected %d", m.workers.cursor, m.workers.selID)
	}
	m = keys(t, m, "S")
	if m.workers.cursor != 7 || m.workers.selID != 3 {
		t.Fatalf("after reverse: cursor %d selected %d", m.workers.cursor, m.workers.selID)
	}
	m = keys(t, m, "r")
	requireCalls(t, s, "restart blog 3")
	requireScreen(t, m, "✓ worker blog/3: graceful restart started")
}

func TestWorkersDetailShowsHistoryAndLog(t *testing.T) {
	s := startStack(t, 8)
	s.SetHistory("blog", 2, control.History{RPS: []float64{1, 2, 3, 4}, P99Ms: []float64{10, 20}, RSS: []float64{40 << 20}})
	m := demoModel(t, s, testOptions("dark", "plain"), 120, 40)
	m = keys(t, m, "2")
	m = deliver(t, m, uitest.Demo(8), uitest.LogLines("blog", 100, 8))
	m = keys(t, m, "j", "enter")
	requireScreen(t, m, "worker 2 · pid 40026", "▃▅▆█    4.0", "4.0", "p99", "40.0Mi", "last exit: memory limit (256MiB)")
	var logLines []string
	for _, l := range strings.Split(screen(m), "\n") {
		if strings.Contains(l, "INFO") || strings.Contains(l, "WARNING") || strings.Contains(l, "Traceback") {
			logLines = append(logLines, l)
		}
	}
	if len(logLines) == 0 {
		t.Fatalf("no log lines in the detail pane:\n%s", screen(m))
	}
	for _, l := range logLines {
		if !strings.Contains(l, "[2]") {
			t.Errorf("detail shows another worker's line: %q", l)
		}
	}
	m = keys(t, m, "esc")
	if m.workers.detail {
		t.Fatal("esc did not close the detail pane")
	}
}

func TestWorkersFilterAndApps(t *testing.T) {
	m := demoModel(t, nil, testOptions("dark", "plain"), 120, 30)
	m = keys(t, m, "2", "/", "b", "u", "s", "y")
	requireScreen(t, m, "/ busy")
	if len(m.workers.rows) != 2 {
		t.Fatalf("%d rows match busy", len(m.workers.rows))
	}
	m = keys(t, m, "enter")
	requireScreen(t, m, `filter "busy"`)
	m = keys(t, m, "esc")
	if m.workers.filter != "" || len(m.workers.rows) != 8 {
		t.Fatalf("esc left filter %q with %d rows", m.workers.filter, len(m.workers.rows))
	}
	m = keys(t, m, "right")
	requireScreen(t, m, "api (2/3)", "POST /v1/orders (+1)", "◌ backoff")
	m = keys(t, m, "right")
	requireScreen(t, m, "legacy (3/3)", "ModuleNotFoundError: No module named 'flask_sqlalchemy'")
}

func TestWorkersRendersOnlyVisibleRows(t *testing.T) {
	m := newTestModel(t, nil, testOptions("dark", "plain"), 80, 24)
	m = deliver(t, m, uitest.Demo(200), nil)
	m = keys(t, m, "2", "G")
	if m.workers.selID != 200 {
		t.Fatalf("G selected %d", m.workers.selID)
	}
	sel := selectedLine(t, m)
	if !strings.Contains(sel, "200") {
		t.Fatalf("selected row %q", sel)
	}
	if n := strings.Count(screen(m), "\n") + 1; n != 24 {
		t.Fatalf("%d lines", n)
	}
}

func TestUpstreamsDrainAndDown(t *testing.T) {
	s := startStack(t, 8)
	m := demoModel(t, s, testOptions("dark", "plain"), 80, 24)
	m = keys(t, m, "3")
	requireScreen(t, m, "blog · least_conn · 4 servers", "app:blog", "● up", "◐ drain", "✗ down", "✗ unhealthy", "connect: conn", "200 OK in 2.1ms")
	if !strings.Contains(selectedLine(t, m), "app:blog") {
		t.Fatalf("selected %q", selectedLine(t, m))
	}
	m = keys(t, m, "d")      // up -> drain
	m = keys(t, m, "j", "d") // drain -> up
	m = keys(t, m, "j", "D") // down -> up, no question
	m = keys(t, m, "j", "D") // unhealthy -> down: asks
	requireScreen(t, m, "Mark 10.0.0.7:3031 down?")
	m = keys(t, m, "y")
	m = keys(t, m, "j")
	if !strings.Contains(selectedLine(t, m), "app:api") {
		t.Fatalf("j skipped to %q, want the next group's server", selectedLine(t, m))
	}
	requireCalls(t, s, "state blog app:blog drain", "state blog 10.0.0.5:3031 up", "state blog 10.0.0.6:3031 up", "state blog 10.0.0.7:3031 down")
}

func TestLogsFollowScrollFilter(t *testing.T) {
	m := demoModel(t, nil, testOptions("dark", "plain"), 100, 20)
	m = keys(t, m, "4")
	m = deliver(t, m, uitest.Demo(8), uitest.LogLines("blog", 300, 8))
	requireScreen(t, m, "source blog", "follow on", "300/300 lines", "09:26:52.000 [4] ! Traceback")
	last := func() string {
		ls := strings.Split(screen(m), "\n")
		return ls[len(ls)-3]
	}
	if !strings.Contains(last(), "09:26:52.000 [4]") {
		t.Fatalf("bottom line %q", last())
	}
	// Scrolling up stops following; new lines do not move the screen.
	m = keys(t, m, "k", "k")
	requireScreen(t, m, "follow off", "2 below")
	bottom := last()
	more := uitest.LogLines("blog", 310, 8)[300:]
	for i := range more {
		more[i].Seq += 1000
	}
	m = deliver(t, m, uitest.Demo(8), more)
	if last() != bottom {
		t.Fatalf("screen moved while not following: %q -> %q", bottom, last())
	}
	m = keys(t, m, "G")
	requireScreen(t, m, "follow on")
	// Text filter and worker filter.
	m = keys(t, m, "/", "T", "r", "a", "c", "e", "enter", "]", "]")
	requireScreen(t, m, `filter "trace"`, "worker 2")
	for _, l := range strings.Split(screen(m), "\n")[3:] {
		if l == "" || strings.HasPrefix(l, "✓") || strings.Contains(l, "quit") {
			continue
		}
		if !strings.Contains(l, "[2]") || !strings.Contains(l, "Traceback") {
			t.Fatalf("line %q passes the filters", l)
		}
	}
	m = keys(t, m, "esc")
	if m.logs.filter != "" || m.logs.worker != 0 {
		t.Fatalf("esc left filter %q worker %d", m.logs.filter, m.logs.worker)
	}
	// Timestamps off, wrap on.
	m = keys(t, m, "T", "w")
	requireScreen(t, m, "time off", "wrap on")
	if strings.Contains(screen(m), "09:26:") {
		t.Fatal("timestamps still shown")
	}
	// Sources cycle through the apps, access and events.
	m = keys(t, m, "right", "right", "right", "right")
	if m.logs.source != sourceEvents || m.store.source != sourceEvents {
		t.Fatalf("source %q, store %q", m.logs.source, m.store.source)
	}
}

func TestConfigEditValidateDiffApply(t *testing.T) {
	s := startStack(t, 8)
	m := demoModel(t, s, testOptions("dark", "plain"), 100, 30)
	edit := "sed -i s/workers\\ =\\ 8/workers\\ =\\ 12/"
	m.c.editor = []string{"sh", "-c", edit + ` "$0"`}
	m.c.exec = runNow
	m = keys(t, m, "5")
	requireScreen(t, m, "running config", "/etc/stackctl/stackctl.toml", `name = "blog"`)
	m = keys(t, m, "e")
	requireScreen(t, m, "✓ edited config is valid", "-workers = 8", "+workers = 12", "@@ -")
	m = keys(t, m, "a")
	requireCalls(t, s, "validate", "apply", "validate")
	requireScreen(t, m, "✓ configuration applied", "✓ configuration replaced", "workers = 12")

	// An invalid edit shows the errors with file:line and keeps the running config.
	m.c.editor = []string{"sh", "-c", `echo "this is not toml" >> "$0"`}
	m = keys(t, m, "e")
	requireScreen(t, m, "✗ edited config has 1 error", `stackctl.toml:23: expected key = value, got "this is not toml"`, "+this is not toml")
	m = keys(t, m, "a")
	requireScreen(t, m, "the edited config has errors")
	m = keys(t, m, "esc")
	requireScreen(t, m, "running config", "edit discarded")
	if got := s.ConfigText().Text; !strings.Contains(got, "workers = 12") || strings.Contains(got, "not toml") {
		t.Fatalf("running config changed: %q", got)
	}
}

// runNow runs an editor in place of tea.ExecProcess (no terminal to hand
// over in a unit test).
func runNow(c *exec.Cmd, fn tea.ExecCallback) tea.Cmd {
	return func() tea.Msg { return fn(c.Run()) }
}

func TestConfigUnchangedEdit(t *testing.T) {
	s := startStack(t, 8)
	m := demoModel(t, s, testOptions("dark", "plain"), 100, 30)
	m.c.editor = []string{"true"}
	m.c.exec = runNow
	m = keys(t, m, "5", "e")
	requireScreen(t, m, "✓ config unchanged")
	entries, _ := os.ReadDir(os.TempDir())
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "edit-") && strings.HasSuffix(e.Name(), "stackctl.toml") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}

func TestQuit(t *testing.T) {
	m := demoModel(t, nil, testOptions("dark", "plain"), 80, 24)
	_, cmd := m.Update(key("q"))
	if msg := cmd(); msg != tea.Quit() {
		t.Fatalf("q without a stack to stop: %T", msg)
	}
	opts := testOptions("dark", "plain")
	opts.ConfirmQuit = true
	m = demoModel(t, nil, opts, 80, 24)
	m = keys(t, m, "q")
	requireScreen(t, m, "Quit? This console started the stack; quitting stops it.", "y yes")
	m = keys(t, m, "x")
	requireScreen(t, m, "✓ cancelled")
	asking := keys(t, m, "q")
	_, cmd = asking.Update(key("y"))
	if cmd == nil || cmd() != tea.Quit() {
		t.Fatal("y did not quit")
	}
	// ^C twice quits too.
	asking = keys(t, m, "ctrl+c")
	_, cmd = asking.Update(key("ctrl+c"))
	if cmd == nil || cmd() != tea.Quit() {
		t.Fatal("^C ^C did not quit")
	}
}

func TestThemesCycleAndNoColor(t *testing.T) {
	m := demoModel(t, nil, testOptions("dark", "256"), 80, 24)
	var seen []string
	for range 4 {
		m = keys(t, m, "t")
		seen = append(seen, m.theme)
	}
	if strings.Join(seen, ",") != "light,high-contrast,colorblind,dark" {
		t.Fatalf("cycle %v", seen)
	}
	dark := m.View()
	m = keys(t, m, "t")
	if m.View() == dark {
		t.Fatal("the light theme renders like the dark one")
	}

	m = demoModel(t, nil, testOptions("dark", "none"), 80, 24)
	if m.theme != "mono" {
		t.Fatalf("--color=none theme %q", m.theme)
	}
	m = keys(t, m, "t")
	requireScreen(t, m, "colours are off")
	v := m.View()
	if strings.Contains(v, "38;5;") || strings.Contains(v, "38;2;") {
		t.Fatal("colour codes with colours off")
	}
	// The selection is still visible: reverse video and a marker.
	for _, l := range strings.Split(v, "\n") {
		if strings.HasPrefix(ansi.Strip(l), "› ") {
			if !strings.Contains(l, "\x1b[7;1m") && !strings.Contains(l, "\x1b[1;7m") && !strings.Contains(l, ";7m") {
				t.Fatalf("selected line not reversed: %q", l)
			}
			return
		}
	}
	t.Fatal("no selected line")
}

func TestNoColorEnv(t *testing.T) {
	t.Setenv("NO_COLOR", "1")
	m := demoModel(t, nil, testOptions("dark", ""), 80, 24)
	if m.theme != "mono" || !m.c.noColor {
		t.Fatalf("NO_COLOR: theme %q", m.theme)
	}
}

func TestUserThemeFiles(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(dir+"/ocean.toml", []byte("[colors]\naccent = \"#0077be\"\n"), 0o644)
	os.WriteFile(dir+"/broken.toml", []byte("[colors]\nacent = \"#0077be\"\n"), 0o644)
	opts := testOptions("ocean", "truecolor")
	opts.ThemeDir = dir
	m := demoModel(t, nil, opts, 80, 24)
	if m.theme != "ocean" {
		t.Fatalf("theme %q", m.theme)
	}
	if want := "themes: " + dir + "/broken.toml:2: colors.acent: unknown colour name"; !strings.HasPrefix(m.status.text, want) {
		t.Fatalf("status %q, want %q", m.status.text, want)
	}
	if !strings.Contains(m.View(), "38;2;0;119;190") {
		t.Fatal("the user's accent colour is not used")
	}
	if _, err := New(t.Context(), nil, Options{Theme: "nope"}); err == nil || !strings.Contains(err.Error(), `unknown theme "nope"`) {
		t.Fatalf("unknown theme: %v", err)
	}
}

func TestDisconnectedShowsInTitle(t *testing.T) {
	m := demoModel(t, nil, testOptions("dark", "plain"), 120, 24)
	m = update(t, m, feedMsg{conn: &connState{err: "no stackctl is running"}})
	requireScreen(t, m, "✗ disconnected: no stackctl is running", "blog")
	m = update(t, m, feedMsg{conn: &connState{ok: true}})
	requireScreen(t, m, "● live")
}

func TestHistoryAnswersForAnotherWorkerAreDropped(t *testing.T) {
	m := demoModel(t, nil, testOptions("dark", "plain"), 120, 40)
	m = keys(t, m, "2")
	m.workers.detail = true
	m.workers.histFor, m.workers.histGen = "blog/1", 5
	m = update(t, m, historyMsg{key: "blog/1", gen: 4, hist: control.History{RPS: []float64{9}}})
	if len(m.workers.hist.RPS) != 0 {
		t.Fatal("a stale history answer was kept")
	}
	m = update(t, m, historyMsg{key: "blog/1", gen: 5, hist: control.History{RPS: []float64{9}}})
	if len(m.workers.hist.RPS) != 1 {
		t.Fatal("the current history answer was dropped")
	}
}

var _ = time.Second
