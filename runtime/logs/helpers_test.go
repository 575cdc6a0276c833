package logs

import (
	"bufio"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// checkGoroutines fails t unless the number of goroutines comes back to at
// most base within a few seconds (goroutines take a moment to exit).
func checkGoroutines(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= base {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines left, want <= %d:\n%s", n, base, buf)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// seqsOf returns the Seq of each line.
func seqsOf(lines []Line) []uint64 {
	out := make([]uint64, len(lines))
	for i, l := range lines {
		out[i] = l.Seq
	}
	return out
}

// seqRange returns first..last, or nil when first is 0.
func seqRange(first, last uint64) []uint64 {
	if first == 0 {
		return nil
	}
	var out []uint64
	for s := first; s <= last; s++ {
		out = append(out, s)
	}
	return out
}

// fileTexts returns the Text part of each line of the file at path, written
// in the "time stream[worker] text" format.
func fileTexts(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 1<<20)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), " ", 3)
		if len(parts) != 3 {
			t.Fatalf("%s: malformed line %q", path, sc.Text())
		}
		out = append(out, parts[2])
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func mustBuffer(t *testing.T, source string, capacity int, path string) *Buffer {
	t.Helper()
	b, err := NewBuffer(source, capacity, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}
