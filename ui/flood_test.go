package ui

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestLogFlood pushes 50,000 lines through the fake stack's log follow (the
// real control server and client) while the console follows that log, and
// checks that memory stays within the ring, that the reader never waits
// for the UI, and that Update stays fast.
func TestLogFlood(t *testing.T) {
	const lines, ringSize = 50_000, 5000
	s := startStack(t, 8)
	opts := testOptions("dark", "plain")
	opts.LogLines = ringSize
	opts.RenderInterval = 50 * time.Millisecond
	m := newTestModel(t, s.Client(), opts, 160, 48)
	m.Init() // starts the stream reader; its wait is driven below
	m = keys(t, m, "4")
	m = deliver(t, m, demoSnapshot(), nil) // Logs: follow "blog"
	if m.store.source != "blog" {
		t.Fatalf("following %q", m.store.source)
	}

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	// Phase 1: the UI is stalled (a slow terminal) while the stack writes
	// the whole flood. The reader keeps up anyway: everything is read, the
	// mailbox keeps the newest ringSize lines and counts the rest as lost.
	text := strings.Repeat("x", 80)
	b := s.Buffer("blog")
	start := time.Now()
	for i := range lines {
		b.Append(i%8+1, "stdout", text)
	}
	t.Logf("the stack wrote %d lines in %v", lines, time.Since(start))
	waitFor(t, "the reader to read the flood", func() bool {
		m.feed.mu.Lock()
		defer m.feed.mu.Unlock()
		return m.feed.logs.len() > 0 && m.feed.logs.at(m.feed.logs.next()-1).Seq == lines
	})
	m.feed.mu.Lock()
	pending, lost := m.feed.logs.len(), m.feed.logLost
	m.feed.mu.Unlock()
	if pending > ringSize || uint64(pending)+lost < lines {
		t.Fatalf("mailbox holds %d lines, %d lost; want at most %d held and all accounted for", pending, lost, ringSize)
	}

	// Phase 2: the UI catches up in one delivery, then another flood
	// arrives while it keeps taking deliveries.
	var worst, total time.Duration
	updates := 0
	deliver := func() {
		msg := m.feed.wait()()
		t0 := time.Now()
		nm, _ := m.Update(msg)
		d := time.Since(t0)
		m = nm.(Model)
		worst, total = max(worst, d), total+d
		updates++
	}
	deliver()
	go func() {
		for i := range lines {
			b.Append(i%8+1, "stderr", text)
		}
	}()
	waitFor(t, "the second flood", func() bool {
		deliver()
		r := m.store.ring
		return r.len() > 0 && r.at(r.next()-1).Seq == 2*lines
	})
	if n := m.store.ring.len(); n != ringSize {
		t.Fatalf("ring holds %d lines, want %d", n, ringSize)
	}
	if got := uint64(m.store.ring.len()) + m.store.lost; got != 2*lines {
		t.Fatalf("held + lost = %d, want %d", got, 2*lines)
	}
	requireScreen(t, m, "5000/5000 lines", "lost")

	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d deliveries, Update worst %v, mean %v; heap grew %d KiB", updates, worst, total/time.Duration(updates), grew>>10)
	// Two rings of 5000 lines (the console's and the mailbox's) of ~200
	// bytes, and the fake stack's own ring of 10,000: a few MiB. A leak of
	// the flood would be 100,000 lines.
	if grew > 16<<20 {
		t.Fatalf("heap grew by %d MiB", grew>>20)
	}
	if worst > 100*time.Millisecond {
		t.Fatalf("an Update took %v", worst)
	}
	// Keys stay instant during the flood.
	t0 := time.Now()
	m = update(t, m, key("k"))
	if d := time.Since(t0); d > 20*time.Millisecond {
		t.Fatalf("a key took %v", d)
	}
}
