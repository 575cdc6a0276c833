package logs

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestFollowInOrder(t *testing.T) {
	const n = 20000
	b := mustBuffer(t, "app", n, "") // room for all: nothing may be lost
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sub := b.Follow(ctx, 0)
	defer sub.Close()

	go func() {
		for i := 1; i <= n; i++ {
			b.Append(i%4, StreamStdout, fmt.Sprint(i))
			if i%1000 == 0 {
				runtime.Gosched()
			}
		}
	}()
	var next uint64 = 1
	for next <= n {
		lines, lost, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("Next after %d lines: %v", next-1, err)
		}
		if lost != 0 {
			t.Fatalf("lost %d lines with a ring that holds all", lost)
		}
		for _, l := range lines {
			if l.Seq != next || l.Text != fmt.Sprint(next) {
				t.Fatalf("got line %d %q, want %d", l.Seq, l.Text, next)
			}
			next++
		}
	}
}

func TestFollowBacklog(t *testing.T) {
	tests := []struct {
		backlog     int
		first, last uint64
	}{
		{backlog: 0},
		{backlog: -1},
		{backlog: 3, first: 8, last: 10},
		{backlog: 10, first: 1, last: 10},
		{backlog: 100, first: 1, last: 10}, // more than appended
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.backlog), func(t *testing.T) {
			b := mustBuffer(t, "app", 20, "")
			for i := 0; i < 10; i++ {
				b.Append(0, StreamStdout, "old")
			}
			sub := b.Follow(context.Background(), tt.backlog)
			defer sub.Close()
			if tt.first != 0 {
				lines, lost, err := sub.Next(context.Background())
				if err != nil || lost != 0 || !slices.Equal(seqsOf(lines), seqRange(tt.first, tt.last)) {
					t.Fatalf("backlog Next = %v, %d, %v; want %v, 0, nil", seqsOf(lines), lost, err, seqRange(tt.first, tt.last))
				}
			}
			b.Append(0, StreamStdout, "new")
			lines, lost, err := sub.Next(context.Background())
			if err != nil || lost != 0 || len(lines) != 1 || lines[0].Text != "new" {
				t.Fatalf("Next = %+v, %d, %v; want the new line", lines, lost, err)
			}
		})
	}
}

func TestFollowBacklogOfWrappedRing(t *testing.T) {
	b := mustBuffer(t, "app", 5, "")
	for i := 0; i < 12; i++ {
		b.Append(0, StreamStdout, "x")
	}
	sub := b.Follow(context.Background(), 50)
	defer sub.Close()
	lines, lost, err := sub.Next(context.Background())
	if err != nil || lost != 0 || !slices.Equal(seqsOf(lines), seqRange(8, 12)) {
		t.Fatalf("Next = %v, %d, %v; want 8..12, lost 0", seqsOf(lines), lost, err)
	}
}

// TestStalledFollowerNeverBlocksProducer appends 100k lines while a
// subscription does not read, then checks that it learns how many it lost
// and gets the newest lines.
func TestStalledFollowerNeverBlocksProducer(t *testing.T) {
	const capacity, n = 1000, 100000
	b := mustBuffer(t, "app", capacity, "")
	sub := b.Follow(context.Background(), 0)
	defer sub.Close()

	// A second follower is blocked inside Next, woken, and then never called
	// again: it must not hold the producer either.
	blocked := b.Follow(context.Background(), 0)
	defer blocked.Close()
	nextDone := make(chan struct{})
	go func() {
		defer close(nextDone)
		blocked.Next(context.Background())
	}()

	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 1; i <= n; i++ {
			b.Append(1, StreamStdout, "x")
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second): // generous: it takes milliseconds
		t.Fatal("producer blocked by a follower that does not read")
	}
	<-nextDone

	lines, lost, err := sub.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if lost != n-capacity || len(lines) == 0 || lines[0].Seq != n-capacity+1 {
		t.Fatalf("first Next after stall: lost %d, first Seq %v; want lost %d, first Seq %d",
			lost, seqsOf(lines[:min(1, len(lines))]), n-capacity, n-capacity+1)
	}
	got := len(lines)
	for got < capacity {
		lines, lost, err = sub.Next(context.Background())
		if err != nil || lost != 0 {
			t.Fatalf("Next = %d lines, lost %d, %v", len(lines), lost, err)
		}
		got += len(lines)
	}
	if got != capacity || sub.last != n {
		t.Errorf("read %d lines up to Seq %d, want %d up to %d", got, sub.last, capacity, n)
	}
}

func TestNextWakesOnAppend(t *testing.T) {
	b := mustBuffer(t, "app", 10, "")
	sub := b.Follow(context.Background(), 0)
	defer sub.Close()
	type result struct {
		lines []Line
		err   error
	}
	res := make(chan result, 1)
	go func() {
		lines, _, err := sub.Next(context.Background())
		res <- result{lines, err}
	}()
	time.Sleep(20 * time.Millisecond) // let Next block (the test holds without it too)
	b.Append(2, StreamStderr, "hello")
	select {
	case r := <-res:
		if r.err != nil || len(r.lines) != 1 || r.lines[0].Text != "hello" {
			t.Fatalf("Next = %+v, %v", r.lines, r.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Next not woken by Append")
	}
}

func TestNextContextDone(t *testing.T) {
	b := mustBuffer(t, "app", 10, "")
	sub := b.Follow(context.Background(), 0)
	defer sub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, _, err := sub.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next = %v, want DeadlineExceeded", err)
	}
	// The subscription is still usable.
	b.Append(0, StreamStdout, "x")
	if lines, _, err := sub.Next(context.Background()); err != nil || len(lines) != 1 {
		t.Fatalf("Next after a timeout = %d lines, %v", len(lines), err)
	}
}

func TestSubscriptionEnds(t *testing.T) {
	tests := []struct {
		name string
		end  func(cancel context.CancelFunc, sub *Subscription)
	}{
		{"Close", func(_ context.CancelFunc, sub *Subscription) { sub.Close() }},
		{"Follow context", func(cancel context.CancelFunc, _ *Subscription) { cancel() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := runtime.NumGoroutine()
			b := mustBuffer(t, "app", 10, "")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			sub := b.Follow(ctx, 0)
			b.Append(0, StreamStdout, "unread") // ending does not wait for unread lines
			if _, _, err := sub.Next(context.Background()); err != nil {
				t.Fatal(err)
			}
			errc := make(chan error, 1)
			go func() {
				_, _, err := sub.Next(context.Background())
				errc <- err
			}()
			time.Sleep(20 * time.Millisecond)
			tt.end(cancel, sub)
			select {
			case err := <-errc:
				if !errors.Is(err, ErrClosed) {
					t.Fatalf("blocked Next = %v, want ErrClosed", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("blocked Next not ended")
			}
			b.Append(0, StreamStdout, "later")
			if _, _, err := sub.Next(context.Background()); !errors.Is(err, ErrClosed) {
				t.Fatalf("Next after end = %v, want ErrClosed", err)
			}
			sub.Close() // idempotent
			checkGoroutines(t, base)
		})
	}
}

func TestFollowWithDoneContext(t *testing.T) {
	b := mustBuffer(t, "app", 10, "")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	sub := b.Follow(ctx, 0)
	defer sub.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, _, err := sub.Next(context.Background())
		if errors.Is(err, ErrClosed) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Next = %v, want ErrClosed", err)
		}
	}
}

// TestBufferCloseEndsSubscriptions closes a Buffer with a file and several
// followers: each gets its unread lines, then ErrClosed, and no goroutine is
// left (the file's flusher included).
func TestBufferCloseEndsSubscriptions(t *testing.T) {
	base := runtime.NumGoroutine()
	b, err := NewBuffer("app", 100, filepath.Join(t.TempDir(), "app.log"))
	if err != nil {
		t.Fatal(err)
	}
	const followers = 4
	var wg sync.WaitGroup
	got := make([]int, followers)
	errs := make([]error, followers)
	started := make(chan struct{}, followers)
	for i := 0; i < followers; i++ {
		sub := b.Follow(context.Background(), 0)
		wg.Add(1)
		go func() {
			defer wg.Done()
			started <- struct{}{}
			for {
				lines, _, err := sub.Next(context.Background())
				if err != nil {
					errs[i] = err
					return
				}
				got[i] += len(lines)
			}
		}()
	}
	for i := 0; i < followers; i++ {
		<-started
	}
	// One subscription that never reads before Close gets its backlog after.
	lazy := b.Follow(context.Background(), 0)
	for i := 0; i < 10; i++ {
		b.Append(0, StreamStdout, "x")
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("followers not ended by Close")
	}
	for i := range followers {
		if !errors.Is(errs[i], ErrClosed) || got[i] != 10 {
			t.Errorf("follower %d: %d lines, %v; want 10, ErrClosed", i, got[i], errs[i])
		}
	}
	if lines, _, err := lazy.Next(context.Background()); err != nil || len(lines) != 10 {
		t.Errorf("unread lines after Close: %d, %v; want 10", len(lines), err)
	}
	if _, _, err := lazy.Next(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Next after the unread lines = %v, want ErrClosed", err)
	}
	if _, _, err := b.Follow(context.Background(), 5).Next(context.Background()); err != nil {
		t.Errorf("Follow after Close with backlog: %v, want the backlog", err)
	}
	if _, _, err := b.Follow(context.Background(), 0).Next(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Follow after Close: Next = %v, want ErrClosed", err)
	}
	checkGoroutines(t, base)
}
