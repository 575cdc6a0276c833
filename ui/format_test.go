package ui

import (
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
)

func TestFormatters(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{fmtCount(999), "999"},
		{fmtCount(12_345), "12.3k"},
		{fmtCount(4_500_000), "4.5M"},
		{fmtRate(0), "0"},
		{fmtRate(12.34), "12.3"},
		{fmtRate(1234.5), "1234"},
		{fmtMs(0), "-"},
		{fmtMs(0.421), "0.42"},
		{fmtMs(48.71), "48.7"},
		{fmtMs(3000), "3000"},
		{fmtBytes(512), "512B"},
		{fmtBytes(41 << 20), "41.0Mi"},
		{fmtBytes(300 << 20), "300Mi"},
		{fmtDur(850 * time.Millisecond), "850ms"},
		{fmtDur(2500 * time.Millisecond), "2.5s"},
		{fmtDur(184 * time.Second), "3m04s"},
		{fmtDur(2*time.Hour + 5*time.Minute), "2h05m"},
		{fmtDur(76 * time.Hour), "3d04h"},
		{fmtDur(-time.Second), "0ms"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestSparkline(t *testing.T) {
	if got := sparkline([]float64{0, 1, 2, 4, 8}, 5, 1); got != "▁▂▃▅█" {
		t.Errorf("sparkline = %q", got)
	}
	// Short history is right-aligned: time runs to the right edge.
	if got := sparkline([]float64{8}, 3, 1); got != "  █" {
		t.Errorf("short = %q", got)
	}
	// Only the last width points are drawn.
	if got := sparkline([]float64{100, 0, 0}, 2, 1); got != "▁▁" {
		t.Errorf("window = %q", got)
	}
	if got := sparklineRange([]float64{100, 104, 108}, 3); got != "▁▅█" {
		t.Errorf("range = %q", got)
	}
	if got := sparklineRange([]float64{1000, 1001}, 2); got != "▁▁" {
		t.Errorf("flat range = %q", got)
	}
	// A quiet series stays flat instead of being scaled up into noise.
	if got := sparkline([]float64{0.01, 0.02}, 2, 1); got != "▁▁" {
		t.Errorf("floor = %q", got)
	}
}

func TestFitAndTruncate(t *testing.T) {
	for _, tc := range []struct {
		s    string
		w    int
		want string
	}{
		{"abc", 5, "abc  "},
		{"abcdef", 4, "abc…"},
		{"● idle", 8, "● idle  "},
		{"◆ busyyyy", 5, "◆ bu…"},
		{"日本語", 5, "日本…"},
	} {
		got := fit(tc.s, tc.w)
		if got != tc.want || ansi.StringWidth(got) != tc.w {
			t.Errorf("fit(%q, %d) = %q (width %d), want %q", tc.s, tc.w, got, ansi.StringWidth(got), tc.want)
		}
	}
	if got := fitRight("42", 5); got != "   42" {
		t.Errorf("fitRight = %q", got)
	}
	styled := "\x1b[1mhello\x1b[0m world"
	if got := ansi.StringWidth(truncate(styled, 7)); got != 7 {
		t.Errorf("truncate styled width = %d", got)
	}
}

func TestSanitizeStripsControls(t *testing.T) {
	got := sanitize("a\tb\x1b[31mred\x1b[0m\rc\x07")
	if got != "a    bredc" {
		t.Errorf("sanitize = %q", got)
	}
	if s := "plain text"; sanitize(s) != s {
		t.Error("clean text changed")
	}
}

func TestLayoutColumnsDropsLowPriorityFirst(t *testing.T) {
	cols := []column{
		{title: "A", width: 10, prio: 0},
		{title: "FLEX", width: 8, flex: true, max: 20, prio: 1},
		{title: "B", width: 10, prio: 2},
		{title: "C", width: 10, prio: 0},
	}
	l := layoutColumns(cols, 2+10+1+10+1+8)
	if !l.show[0] || !l.show[1] || l.show[2] || !l.show[3] {
		t.Fatalf("show = %v", l.show)
	}
	l = layoutColumns(cols, 100)
	if !l.show[2] || l.widths[1] != 20 {
		t.Fatalf("wide: show %v widths %v", l.show, l.widths)
	}
	line, start, end := l.row(cols, []string{"a", "flex", "b", "c"}, 2)
	if line[start:end] != fit("b", 10) {
		t.Fatalf("span %d:%d of %q", start, end, line)
	}
	if !strings.HasPrefix(line, "a") {
		t.Fatalf("row = %q", line)
	}
}
