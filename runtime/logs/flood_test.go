package logs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestFlood writes 50k lines/s for 1.5 s into an os.Pipe read by Capture,
// with a slow follower. The file must hold every line exactly once and in
// order, the follower must account for every line (read or reported lost),
// and the heap must stay bounded by the ring, not by the number of lines.
func TestFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("flood takes seconds")
	}
	const (
		rate     = 50000 // lines per second
		duration = 1500 * time.Millisecond
		tick     = 10 * time.Millisecond
		perTick  = int(rate * tick / time.Second)
		ticks    = int(duration / tick)
		total    = perTick * ticks
		capacity = 10000
	)
	pad := strings.Repeat("p", 500) // ~0.5 KiB lines: 75k of them would be ~40 MiB live
	text := func(i int) string { return fmt.Sprintf("line %08d %s", i, pad) }

	base := runtime.NumGoroutine()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heapBase := ms.HeapAlloc

	path := filepath.Join(t.TempDir(), "flood.log")
	b, err := NewBuffer("flood", capacity, path)
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}

	// Producer: a worker printing at the target rate.
	go func() {
		defer w.Close()
		start := time.Now()
		var buf []byte
		n := 0
		for i := 0; i < ticks; i++ {
			buf = buf[:0]
			for j := 0; j < perTick; j++ {
				n++
				buf = fmt.Appendf(buf, "%s\n", text(n))
			}
			if _, err := w.Write(buf); err != nil {
				t.Errorf("pipe write: %v", err)
				return
			}
			time.Sleep(time.Until(start.Add(time.Duration(i+1) * tick)))
		}
	}()
	captured := make(chan error, 1)
	go func() {
		captured <- Capture(r, b, 1, StreamStdout)
		r.Close()
	}()

	// A slow follower: reads a batch, then dawdles.
	type followResult struct {
		read, lost uint64
		err        error
	}
	followed := make(chan followResult, 1)
	sub := b.Follow(context.Background(), 0)
	go func() {
		var res followResult
		var last uint64
		for {
			lines, lost, err := sub.Next(context.Background())
			if err != nil {
				if !errors.Is(err, ErrClosed) {
					res.err = err
				}
				followed <- res
				return
			}
			if lines[0].Seq != last+lost+1 {
				res.err = fmt.Errorf("batch starts at %d after %d with %d lost", lines[0].Seq, last, lost)
			}
			for i, l := range lines {
				if l.Seq != lines[0].Seq+uint64(i) || !strings.HasPrefix(l.Text, fmt.Sprintf("line %08d ", l.Seq)) {
					res.err = fmt.Errorf("line %d holds %.20q", l.Seq, l.Text)
				}
			}
			last = lines[len(lines)-1].Seq
			res.read += uint64(len(lines))
			res.lost += lost
			time.Sleep(50 * time.Millisecond)
		}
	}()

	// Heap sampler.
	var peak uint64
	stopSampling := make(chan struct{})
	var sampling sync.WaitGroup
	sampling.Add(1)
	go func() {
		defer sampling.Done()
		tk := time.NewTicker(50 * time.Millisecond)
		defer tk.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
			select {
			case <-stopSampling:
				return
			case <-tk.C:
			}
		}
	}()

	select {
	case err := <-captured:
		if err != nil {
			t.Fatalf("Capture: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("Capture did not finish")
	}
	close(stopSampling)
	sampling.Wait()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	live := int64(ms.HeapAlloc) - int64(heapBase)

	if got := b.Last(); got != uint64(total) {
		t.Fatalf("appended %d lines, want %d", got, total)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	var res followResult
	select {
	case res = <-followed:
	case <-time.After(10 * time.Second):
		t.Fatal("follower not ended by Close")
	}
	sub.Close()
	if res.err != nil {
		t.Error(res.err)
	}
	if res.read+res.lost != uint64(total) {
		t.Errorf("follower read %d + lost %d, want %d", res.read, res.lost, total)
	}
	t.Logf("follower read %d lines, lost %d; heap peak %.1f MiB, live growth %.1f MiB",
		res.read, res.lost, float64(peak)/(1<<20), float64(live)/(1<<20))
	if peak > 64<<20 {
		t.Errorf("heap peaked at %.1f MiB, want < 64 MiB", float64(peak)/(1<<20))
	}
	if live > 24<<20 { // the ring is ~6 MiB; keeping every line would be ~40 MiB
		t.Errorf("live heap grew by %.1f MiB, want < 24 MiB", float64(live)/(1<<20))
	}

	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		if got := sc.Text(); !strings.HasSuffix(got, " stdout[1] "+text(n)) {
			t.Fatalf("file line %d = %.60q..., want line %d", n, got, n)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n != total {
		t.Fatalf("file has %d lines, want %d", n, total)
	}
	checkGoroutines(t, base)
}
