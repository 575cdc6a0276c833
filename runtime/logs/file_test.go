package logs

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLineString(t *testing.T) {
	at := time.Date(2024, 5, 1, 12, 0, 0, 123e6, time.UTC)
	tests := []struct {
		line Line
		want string
	}{
		{Line{Time: at, Worker: 3, Stream: StreamStderr, Text: "boom"}, "2024-05-01T12:00:00.123Z stderr[3] boom"},
		{Line{Time: at, Stream: StreamMaster, Text: "spawned worker 1"}, "2024-05-01T12:00:00.123Z master spawned worker 1"},
		{Line{Time: at, Stream: StreamEvent, Text: ""}, "2024-05-01T12:00:00.123Z event "},
		{Line{Time: at, Text: "no stream"}, "2024-05-01T12:00:00.123Z - no stream"},
		{Line{Time: at.In(time.FixedZone("", 2*3600)), Worker: 12, Stream: StreamStdout, Text: "hi"}, "2024-05-01T14:00:00.123+02:00 stdout[12] hi"},
		{Line{Time: at, Stream: StreamAccess, Text: `127.0.0.1 - - [01/May/2024:12:00:00 +0000] "GET / HTTP/1.1" 200 5`},
			`127.0.0.1 - - [01/May/2024:12:00:00 +0000] "GET / HTTP/1.1" 200 5`},
	}
	for _, tt := range tests {
		if got := tt.line.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

// TestFileGetsEveryLine checks that the file holds each appended line, as
// Line.String formats it, even past the ring's capacity.
func TestFileGetsEveryLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new", "dir", "app.log") // parents are created
	b := mustBuffer(t, "app", 3, path)
	var want []string
	for i := 0; i < 1000; i++ {
		stream := []string{StreamStdout, StreamStderr, StreamMaster, StreamAccess}[i%4]
		l := b.Append(i%5, stream, strings.Repeat("y", i))
		want = append(want, l.String())
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n"); !slices.Equal(got, want) {
		t.Errorf("file has %d lines, want %d (first difference at %d)", len(got), len(want), firstDiff(got, want))
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm&0o600 != 0o600 || perm&0o111 != 0 || perm&^0o644 != 0 {
		t.Errorf("file mode %v, want 0644 (less the umask)", perm)
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestFileFlushedPeriodically appends one line and neither flushes nor
// closes: the flusher must write it out soon (FlushInterval).
func TestFileFlushedPeriodically(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	b := mustBuffer(t, "app", 10, path)
	b.Append(1, StreamStdout, "hello")
	deadline := time.Now().Add(5 * time.Second) // generous; expected within 200ms
	for {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(string(data), " stdout[1] hello\n") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("line not in the file after 5s: %q", data)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFlush(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	b := mustBuffer(t, "app", 10, path)
	b.Append(0, StreamEvent, "now")
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := fileTexts(t, path); !slices.Equal(got, []string{"now"}) {
		t.Errorf("file after Flush = %q", got)
	}
	b.Close()
	if err := b.Flush(); !errors.Is(err, ErrClosed) {
		t.Errorf("Flush after Close = %v, want ErrClosed", err)
	}
	noFile := mustBuffer(t, "app", 10, "")
	if err := noFile.Flush(); err != nil {
		t.Errorf("Flush without a file = %v", err)
	}
}

// TestReopen does what logrotate does: move the file away, signal, and
// expect new lines in a new file at the path while the old file keeps the
// old lines (including those appended between the move and Reopen).
func TestReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	rotated := path + ".1"
	b := mustBuffer(t, "app", 10, path)
	b.Append(1, StreamStdout, "a")
	b.Append(1, StreamStdout, "b")
	if err := os.Rename(path, rotated); err != nil {
		t.Fatal(err)
	}
	b.Append(1, StreamStdout, "c") // still goes to the renamed file
	if err := b.Reopen(); err != nil {
		t.Fatal(err)
	}
	b.Append(2, StreamStderr, "d")
	b.Append(2, StreamStderr, "e")
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if got := fileTexts(t, rotated); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("rotated file = %q, want a b c", got)
	}
	if got := fileTexts(t, path); !slices.Equal(got, []string{"d", "e"}) {
		t.Errorf("new file = %q, want d e", got)
	}
	if err := b.Reopen(); !errors.Is(err, ErrClosed) {
		t.Errorf("Reopen after Close = %v, want ErrClosed", err)
	}
}

// TestReopenAppends checks that Reopen appends to an existing file rather
// than truncating it.
func TestReopenAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	b := mustBuffer(t, "app", 10, path)
	b.Append(0, StreamStdout, "one")
	if err := b.Reopen(); err != nil {
		t.Fatal(err)
	}
	b.Append(0, StreamStdout, "two")
	b.Close()
	b2 := mustBuffer(t, "app", 10, path)
	b2.Append(0, StreamStdout, "three")
	b2.Close()
	if got := fileTexts(t, path); !slices.Equal(got, []string{"one", "two", "three"}) {
		t.Errorf("file = %q", got)
	}
}

// TestReopenFailure: while the path cannot be opened, lines still reach
// memory; a later successful Reopen resumes writing.
func TestReopenFailure(t *testing.T) {
	base := runtime.NumGoroutine()
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	b, err := NewBuffer("app", 10, path)
	if err != nil {
		t.Fatal(err)
	}
	b.Append(0, StreamStdout, "kept")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(path, 0o755); err != nil { // a directory now blocks the path
		t.Fatal(err)
	}
	if err := b.Reopen(); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Reopen onto a directory = %v, want an error naming the path", err)
	}
	if l := b.Append(0, StreamStdout, "memory only"); l.Seq != 2 {
		t.Fatalf("Append while the file is unavailable: Seq %d, want 2", l.Seq)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := b.Reopen(); err != nil {
		t.Fatal(err)
	}
	b.Append(0, StreamStdout, "back")
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if got := fileTexts(t, path); !slices.Equal(got, []string{"back"}) {
		t.Errorf("file = %q, want back", got)
	}
	if got := fileTexts(t, path+".1"); !slices.Equal(got, []string{"kept"}) {
		t.Errorf("rotated file = %q, want kept", got)
	}
	checkGoroutines(t, base)
}

func TestNewBufferBadPath(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	base := runtime.NumGoroutine()
	_, err := NewBuffer("app", 10, filepath.Join(blocker, "app.log")) // parent is a file
	if err == nil || !strings.Contains(err.Error(), `"app"`) {
		t.Fatalf("NewBuffer = %v, want an error naming the source", err)
	}
	checkGoroutines(t, base)
}

// TestCloseStopsFlusher: a Buffer with a file starts one goroutine, Close
// stops it.
func TestCloseStopsFlusher(t *testing.T) {
	base := runtime.NumGoroutine()
	b, err := NewBuffer("app", 10, filepath.Join(t.TempDir(), "app.log"))
	if err != nil {
		t.Fatal(err)
	}
	b.Append(0, StreamStdout, "x")
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	checkGoroutines(t, base)
}

func TestReopenWithoutFile(t *testing.T) {
	b := mustBuffer(t, "app", 10, "")
	if err := b.Reopen(); err != nil {
		t.Errorf("Reopen without a file = %v", err)
	}
}

// A Buffer moves to another file in two steps: PrepareFile opens it and
// changes nothing (a path that cannot be opened is an error and the Buffer
// goes on as it was); Commit switches every later line to it, closes the
// old file and keeps Seq going. Cancel and Commit after Close leave no
// flusher behind.
func TestPrepareFile(t *testing.T) {
	base := runtime.NumGoroutine()
	dir := t.TempDir()
	first, second := filepath.Join(dir, "a.log"), filepath.Join(dir, "sub", "b.log")
	b := mustBuffer(t, "access", 10, first)
	b.Append(0, StreamAccess, "one")

	blocker := filepath.Join(dir, "file")
	os.WriteFile(blocker, nil, 0o644)
	if _, err := b.PrepareFile(filepath.Join(blocker, "x.log")); err == nil {
		t.Fatal("PrepareFile under a regular file: no error")
	}
	sw, err := b.PrepareFile(second)
	if err != nil {
		t.Fatal(err)
	}
	b.Append(0, StreamAccess, "two") // not switched yet
	if b.Path() != first {
		t.Fatalf("Path before Commit: %q", b.Path())
	}
	if err := sw.Commit(); err != nil {
		t.Fatal(err)
	}
	b.Append(0, StreamAccess, "three")
	if b.Path() != second {
		t.Fatalf("Path after Commit: %q", b.Path())
	}
	if got := seqsOf(b.Tail(10)); !slices.Equal(got, []uint64{1, 2, 3}) {
		t.Fatalf("Seq across the switch: %v", got)
	}
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(first)
	c, _ := os.ReadFile(second)
	if string(a) != "one\ntwo\n" || string(c) != "three\n" {
		t.Fatalf("old file %q, new file %q", a, c)
	}

	// Back to no file at all, then a switch prepared and cancelled.
	sw, _ = b.PrepareFile("")
	if err := sw.Commit(); err != nil || b.Path() != "" {
		t.Fatalf("to no file: %v, path %q", err, b.Path())
	}
	sw, err = b.PrepareFile(first)
	if err != nil {
		t.Fatal(err)
	}
	sw.Cancel()
	b.Append(0, StreamAccess, "four")
	if a, _ := os.ReadFile(first); string(a) != "one\ntwo\n" {
		t.Fatalf("a cancelled switch wrote: %q", a)
	}

	sw, err = b.PrepareFile(first)
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	if err := sw.Commit(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Commit after Close: %v, want ErrClosed", err)
	}
	checkGoroutines(t, base)
}
