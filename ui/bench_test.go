package ui

import (
	"testing"

	"github.com/stackctl/stackctl/ui/uitest"
)

// benchModel is the heaviest screen: 200 workers on a 160×48 terminal with
// the detail pane open over a full log ring.
func benchModel(b *testing.B, view string) Model {
	m := newTestModel(b, nil, testOptions("dark", "truecolor"), 160, 48)
	snap := uitest.Demo(200)
	m = deliver(b, m, snap, nil)
	m = update(b, m, key(view))
	m = deliver(b, m, snap, uitest.LogLines("blog", 5000, 200))
	if view == "2" {
		m = update(b, m, key("enter"))
		for range 50 {
			m = update(b, m, key("j"))
		}
	}
	return m
}

// BenchmarkViewWorkers200 is a frame of the Workers view: 200 workers,
// detail pane with the selected worker's log lines.
func BenchmarkViewWorkers200(b *testing.B) {
	m := benchModel(b, "2")
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		_ = m.View()
	}
}

// BenchmarkViewLogsFull is a frame of the Logs view with a full ring.
func BenchmarkViewLogsFull(b *testing.B) {
	m := benchModel(b, "4")
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		_ = m.View()
	}
}

// BenchmarkViewLogsWrapFiltered is the Logs view wrapped and filtered.
func BenchmarkViewLogsWrapFiltered(b *testing.B) {
	m := benchModel(b, "4")
	m = keys(b, m, "w", "/", "G", "E", "T", "enter")
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		_ = m.View()
	}
}

// BenchmarkViewOverview200 is a frame of the Overview.
func BenchmarkViewOverview200(b *testing.B) {
	m := benchModel(b, "1")
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		_ = m.View()
	}
}

// BenchmarkSnapshot200 is the cost of one delivery: a new snapshot of 200
// workers sorted and formatted in every view.
func BenchmarkSnapshot200(b *testing.B) {
	m := benchModel(b, "2")
	snap := uitest.Demo(200)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		m = update(b, m, feedMsg{snap: snap})
	}
}
