package ui

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest"
	"github.com/stackctl/stackctl/ui/uitest"
)

// goldenView is how to reach a view and what shows it is ready.
type goldenView struct {
	name  string
	keys  string
	ready string // text of the view once its data arrived
}

var goldenViews = []goldenView{
	{"overview", "", "legacy"},
	{"workers", "2", "40104"},
	{"upstreams", "3", "round_robin"},
	{"logs", "4T", "WARNING slow query: SELECT * FROM posts WHERE id = 199"}, // T: the fake's log times are wall-clock
	{"config", "5", "least_conn"},
	{"help", "2?", "reverse the sort"},
}

// TestGoldenViews runs the console as a program (teatest) against the fake
// stack through the real control client and server, reaches each view, and
// compares the final frame with testdata/TestGoldenViews/THEME/WxH/VIEW.golden
// (256 colours, so the escape codes are stable; `go test -update` rewrites).
func TestGoldenViews(t *testing.T) {
	for _, theme := range []string{"dark", "colorblind"} {
		for _, size := range [][2]int{{80, 24}, {160, 48}} {
			for _, v := range goldenViews {
				t.Run(fmt.Sprintf("%s/%dx%d/%s", theme, size[0], size[1], v.name), func(t *testing.T) {
					frame := runGolden(t, testOptions(theme, "256"), size[0], size[1], v)
					golden.RequireEqual(t, []byte(frame))
				})
			}
		}
	}
}

// TestGoldenMono is the NO_COLOR look: no colour codes, and the selection
// still shows by reverse video and the marker.
func TestGoldenMono(t *testing.T) {
	frame := runGolden(t, testOptions("dark", "none"), 80, 24, goldenViews[1])
	if strings.Contains(frame, "38;5") || !strings.Contains(frame, "7m") {
		t.Fatal("mono frame has colours or no reverse video")
	}
	golden.RequireEqual(t, []byte(frame))
}

func runGolden(t *testing.T, opts Options, w, h int, v goldenView) string {
	t.Helper()
	s := startStack(t, 8)
	s.FillLogs("blog", 200, 8)
	opts.RenderInterval = 10 * time.Millisecond
	opts.Interval = 50 * time.Millisecond
	m, err := New(context.Background(), s.Client(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(w, h))
	waitOutput(t, tm, "legacy")
	if v.keys != "" {
		for _, k := range v.keys {
			tm.Type(string(k))
		}
		waitOutput(t, tm, v.ready)
	}
	if err := tm.Quit(); err != nil {
		t.Fatal(err)
	}
	fm := tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second)).(Model)
	return fm.View()
}

func waitOutput(t *testing.T, tm *teatest.TestModel, want string) {
	t.Helper()
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool {
		return bytes.Contains(b, []byte(want)) || strings.Contains(ansi.Strip(string(b)), want)
	}, teatest.WithDuration(10*time.Second), teatest.WithCheckInterval(5*time.Millisecond))
}

// TestScreenshots renders the Overview and the Workers view (with a
// worker's detail pane open) as plain text at 100×30 from the demo data,
// for the README: testdata/TestScreenshots/*.golden.
func TestScreenshots(t *testing.T) {
	s := startStack(t, 8)
	m := demoModel(t, s, testOptions("dark", "plain"), 100, 30)
	t.Run("overview", func(t *testing.T) {
		golden.RequireEqual(t, []byte(m.View()))
	})
	t.Run("workers", func(t *testing.T) {
		m := keys(t, m, "2")
		m = deliver(t, m, uitest.Demo(8), uitest.LogLines("blog", 400, 8))
		m = keys(t, m, "j", "j", "enter")
		golden.RequireEqual(t, []byte(m.View()))
	})
}
