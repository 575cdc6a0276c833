package ui

import (
	"bytes"
	"context"
	"errors"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stackctl/stackctl/runtime/control"
)

// syncBuffer is an output the test reads while the program writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var goroutineHeader = regexp.MustCompile(`^goroutine (\d+) `)

// goroutines returns the live goroutines' stacks by id.
func goroutines() map[int]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := map[int]string{}
	for _, g := range strings.Split(string(buf), "\n\n") {
		if m := goroutineHeader.FindStringSubmatch(g); m != nil {
			id, _ := strconv.Atoi(m[1])
			out[id] = g
		}
	}
	return out
}

// requireNoLeak fails if a goroutine started after before still runs code
// of the console or of Bubble Tea.
func requireNoLeak(t testing.TB, before map[int]string) {
	t.Helper()
	var leaked []string
	deadline := time.Now().Add(3 * time.Second)
	for {
		leaked = leaked[:0]
		for id, g := range goroutines() {
			if _, old := before[id]; old {
				continue
			}
			if strings.Contains(g, "github.com/stackctl/stackctl/ui.") || strings.Contains(g, "github.com/charmbracelet/bubbletea") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(leaked) > 0 {
		t.Fatalf("%d goroutines left behind:\n\n%s", len(leaked), strings.Join(leaked, "\n\n"))
	}
}

// runConsole runs Run in the background on pipes and returns a way to type
// and the result.
func runConsole(t *testing.T, ctx context.Context, b Backend, opts Options) (out *syncBuffer, typeKeys func(string), done chan error) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	out = &syncBuffer{}
	opts.Input, opts.Output = r, out
	opts.RenderInterval = 20 * time.Millisecond
	opts.Interval = 100 * time.Millisecond
	done = make(chan error, 1)
	go func() { done <- Run(ctx, b, opts) }()
	return out, func(s string) { w.Write([]byte(s)) }, done
}

func wait(t *testing.T, done chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
		return nil
	}
}

func TestRunQuitsAndLeavesNothingBehind(t *testing.T) {
	s := startStack(t, 8)
	s.FillLogs("blog", 50, 8)
	before := goroutines()
	out, typeKeys, done := runConsole(t, t.Context(), s.Client(), testOptions("dark", "plain"))
	waitFor(t, "the overview", func() bool { return strings.Contains(out.String(), "legacy") })
	typeKeys("2") // Workers: the log reader follows blog
	waitFor(t, "the workers", func() bool { return strings.Contains(out.String(), "40104") })
	typeKeys("q")
	if err := wait(t, done); err != nil {
		t.Fatalf("Run = %v", err)
	}
	requireNoLeak(t, before)
}

func TestRunStopsOnCancel(t *testing.T) {
	s := startStack(t, 8)
	before := goroutines()
	ctx, cancel := context.WithCancel(t.Context())
	out, _, done := runConsole(t, ctx, s.Client(), testOptions("dark", "plain"))
	waitFor(t, "the overview", func() bool { return strings.Contains(out.String(), "legacy") })
	cancel()
	if err := wait(t, done); err != nil {
		t.Fatalf("Run = %v", err)
	}
	requireNoLeak(t, before)
	// The terminal was given back: alternate screen left, cursor shown.
	if o := out.String(); !strings.Contains(o, "\x1b[?1049l") || !strings.Contains(o, "\x1b[?25h") {
		t.Fatalf("terminal not restored: %q", o[max(0, len(o)-80):])
	}
}

// panickyBackend panics in the log reader's goroutine.
type panickyBackend struct{ Backend }

func (panickyBackend) Logs(context.Context, string, int, bool) (*control.Follow[control.LogBatch], error) {
	panic("boom")
}

func TestRunRecoversPanicsInItsGoroutines(t *testing.T) {
	s := startStack(t, 8)
	before := goroutines()
	var hooked *PanicError
	opts := testOptions("dark", "plain")
	opts.OnPanic = func(p *PanicError) { hooked = p }
	out, typeKeys, done := runConsole(t, t.Context(), panickyBackend{s.Client()}, opts)
	waitFor(t, "the overview", func() bool { return strings.Contains(out.String(), "legacy") })
	typeKeys("4") // the Logs view starts a log reader, which panics
	err := wait(t, done)
	var pe *PanicError
	if !errors.As(err, &pe) || pe.Value != "boom" || !strings.Contains(pe.Goroutine, "log reader") || len(pe.Stack) == 0 {
		t.Fatalf("Run = %v", err)
	}
	if hooked != pe {
		t.Fatal("OnPanic was not called with the panic")
	}
	if o := out.String(); !strings.Contains(o, "\x1b[?1049l") || !strings.Contains(o, "\x1b[?25h") {
		t.Fatal("terminal not restored after the panic")
	}
	requireNoLeak(t, before)
}

func TestRunReconnects(t *testing.T) {
	s := startStack(t, 8)
	cli := control.NewClient(s.Client().Socket() + ".missing")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	out, _, done := runConsole(t, ctx, cli, testOptions("dark", "plain"))
	waitFor(t, "the disconnected state", func() bool { return strings.Contains(out.String(), "disconnected: no stackctl is running") })
	cancel()
	if err := wait(t, done); err != nil {
		t.Fatalf("Run = %v", err)
	}
}

// TestFeedCoalesces floods the stream with events and checks that the
// console gets at most one delivery per render interval, carrying all.
func TestFeedCoalesces(t *testing.T) {
	s := startStack(t, 8)
	sup := newSupervisor(t.Context())
	defer sup.stop()
	f := newFeed(s.Client(), sup, 50*time.Millisecond, 100*time.Millisecond, 100)
	f.start()
	stop := make(chan struct{})
	var produced sync.WaitGroup
	produced.Add(1)
	go func() {
		defer produced.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			s.Events().Add(statsEvent(i))
		}
	}()
	start := time.Now()
	var msgs, events int
	for time.Since(start) < time.Second {
		m, ok := f.wait()().(feedMsg)
		if !ok {
			t.Fatal("feed ended")
		}
		msgs++
		events += len(m.events) + int(m.lostEvents)
	}
	close(stop)
	produced.Wait()
	if msgs > 12 {
		t.Fatalf("%d deliveries in a second with a 100ms render interval", msgs)
	}
	if events < 1000 {
		t.Fatalf("only %d events delivered", events)
	}
	t.Logf("%d deliveries carried %d events", msgs, events)
}

func TestStartedHookRestoresTheTerminal(t *testing.T) {
	s := startStack(t, 8)
	var restore func()
	opts := testOptions("dark", "plain")
	opts.Started = func(r func()) { restore = r }
	out, _, done := runConsole(t, t.Context(), s.Client(), opts)
	waitFor(t, "the overview", func() bool { return strings.Contains(out.String(), "legacy") })
	restore() // as a crash path elsewhere in the process would
	if o := out.String(); !strings.HasSuffix(o, resetSequences) && !strings.Contains(o, resetSequences) {
		t.Fatal("restore did not reset the terminal")
	}
	if err := wait(t, done); err != nil {
		t.Fatalf("Run = %v", err)
	}
	restore() // a no-op now
}

// TestFeedLogsAcrossBuffers: after a reconnect the backlog repeats lines
// already shown and is skipped by Seq — but lines from another buffer (a
// reload moved the access log, stackctl restarted) start at Seq 1 again and
// must all be shown.
func TestFeedLogsAcrossBuffers(t *testing.T) {
	sup := newSupervisor(t.Context())
	defer sup.stop()
	f := newFeed(nil, sup, time.Second, time.Second, 100)
	gen := f.follow("access")
	batch := func(buffer uint64, texts ...string) control.LogBatch {
		b := control.LogBatch{Buffer: buffer}
		for i, s := range texts {
			b.Lines = append(b.Lines, control.LogLine{Seq: uint64(i + 1), Text: s})
		}
		return b
	}
	texts := func() []string {
		var out []string
		for _, l := range f.take().logs {
			out = append(out, l.Text)
		}
		return out
	}
	f.foldLogs(gen, batch(7, "a", "b", "c"))
	if got := texts(); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("first batch: %q", got)
	}
	f.foldLogs(gen, batch(7, "a", "b", "c", "d")) // a reconnect's backlog
	if got := texts(); !slices.Equal(got, []string{"d"}) {
		t.Fatalf("after a reconnect to the same buffer: %q, want only the new line", got)
	}
	f.foldLogs(gen, batch(9, "x", "y")) // another buffer: Seq restarted
	if got := texts(); !slices.Equal(got, []string{"x", "y"}) {
		t.Fatalf("from a new buffer: %q, want every line", got)
	}
}
