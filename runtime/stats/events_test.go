package stats

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

func seqs(es []Event) []uint64 {
	out := make([]uint64, len(es))
	for i, e := range es {
		out[i] = e.Seq
	}
	return out
}

func addN(l *Events, n int) {
	for i := range n {
		l.Add(Event{Kind: KindWorkerSpawned, Source: "app", Worker: i + 1})
	}
}

func TestEventsRecent(t *testing.T) {
	tests := []struct {
		name     string
		capacity int
		added    int
		n        int
		want     string
	}{
		{"empty", 5, 0, 3, "[]"},
		{"fewer than asked", 5, 2, 3, "[1 2]"},
		{"last n", 5, 4, 2, "[3 4]"},
		{"ring keeps the newest", 3, 7, 10, "[5 6 7]"},
		{"n zero", 3, 2, 0, "[]"},
		{"n negative", 3, 2, -1, "[]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := NewEvents(tc.capacity)
			addN(l, tc.added)
			if got := fmt.Sprint(seqs(l.Recent(tc.n))); got != tc.want {
				t.Fatalf("Recent(%d) seqs = %s, want %s", tc.n, got, tc.want)
			}
		})
	}
}

func TestEventsAddStampsAndCopies(t *testing.T) {
	l := NewEvents(0)
	if l.Cap() != DefaultEventsCapacity {
		t.Fatalf("Cap = %d, want %d", l.Cap(), DefaultEventsCapacity)
	}
	fields := map[string]string{"pid": "42"}
	before := time.Now()
	seq := l.Add(Event{Kind: KindWorkerExited, Source: "blog", Worker: 2, Message: "exit status 1", Fields: fields})
	fields["pid"] = "changed" // the caller reuses its map
	explicit := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	l.Add(Event{Kind: KindConfigApplied, Time: explicit})

	got := l.Recent(2)
	if seq != 1 || got[0].Seq != 1 || got[1].Seq != 2 {
		t.Fatalf("seqs = %d, %v; want 1, [1 2]", seq, seqs(got))
	}
	if got[0].Time.Before(before) || time.Since(got[0].Time) > time.Minute {
		t.Fatalf("Add did not stamp the time: %v", got[0].Time)
	}
	if !got[1].Time.Equal(explicit) {
		t.Fatalf("Add replaced an explicit time: %v", got[1].Time)
	}
	if got[0].Fields["pid"] != "42" {
		t.Fatalf("stored Fields changed with the caller's map: %v", got[0].Fields)
	}
	if got[0].Kind != KindWorkerExited || got[0].Source != "blog" || got[0].Worker != 2 || got[0].Message != "exit status 1" {
		t.Fatalf("event not stored as given: %+v", got[0])
	}
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestSubscriptionDeliversInOrder(t *testing.T) {
	l := NewEvents(100)
	addN(l, 3)
	sub := l.Subscribe(2) // backlog: events 2 and 3
	defer sub.Close()

	got, lost, err := sub.Next(ctxTimeout(t, 10*time.Second))
	if err != nil || lost != 0 || fmt.Sprint(seqs(got)) != "[2 3]" {
		t.Fatalf("backlog: %v, lost %d, %v; want [2 3]", seqs(got), lost, err)
	}

	// A blocked Next wakes for an event added later.
	done := make(chan []Event)
	go func() {
		es, _, _ := sub.Next(ctxTimeout(t, 10*time.Second))
		done <- es
	}()
	time.Sleep(20 * time.Millisecond) // let Next block (not required for correctness)
	l.Add(Event{Kind: KindHealthChanged, Source: "up"})
	select {
	case es := <-done:
		if fmt.Sprint(seqs(es)) != "[4]" || es[0].Kind != KindHealthChanged {
			t.Fatalf("live event: %+v", es)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Next did not wake for a new event")
	}

	// Batches: everything pending comes at once.
	addN(l, 5)
	got, _, err = sub.Next(ctxTimeout(t, 10*time.Second))
	if err != nil || fmt.Sprint(seqs(got)) != "[5 6 7 8 9]" {
		t.Fatalf("batch: %v, %v", seqs(got), err)
	}
}

func TestSubscribeBacklog(t *testing.T) {
	tests := []struct {
		backlog  int
		want     string
		wantLost uint64
	}{
		{0, "[10]", 0}, // only what comes after Subscribe
		{-5, "[10]", 0},
		{3, "[7 8 9 10]", 0},
		{4, "[6 7 8 9 10]", 0},
		// Clamped to what the ring holds (5..9), and event 10 then
		// overwrites event 5 before the subscriber reads.
		{100, "[6 7 8 9 10]", 1},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.backlog), func(t *testing.T) {
			l := NewEvents(5)
			addN(l, 9)
			sub := l.Subscribe(tc.backlog)
			defer sub.Close()
			l.Add(Event{Kind: "x"})
			got, lost, err := sub.Next(ctxTimeout(t, 10*time.Second))
			if err != nil || lost != tc.wantLost || fmt.Sprint(seqs(got)) != tc.want {
				t.Fatalf("got %v lost %d err %v, want %s lost %d", seqs(got), lost, err, tc.want, tc.wantLost)
			}
		})
	}
}

func TestSlowSubscriberLosesOldestAndIsTold(t *testing.T) {
	l := NewEvents(4)
	sub := l.Subscribe(0)
	defer sub.Close()
	// The producer never waits for the subscriber, however far behind.
	finished := make(chan struct{})
	go func() {
		addN(l, 10_000)
		close(finished)
	}()
	select {
	case <-finished:
	case <-time.After(30 * time.Second):
		t.Fatal("Add blocked on a subscriber that does not read")
	}
	got, lost, err := sub.Next(ctxTimeout(t, 10*time.Second))
	if err != nil || lost != 9996 || fmt.Sprint(seqs(got)) != "[9997 9998 9999 10000]" {
		t.Fatalf("got %v lost %d err %v; want the last 4 and 9996 lost", seqs(got), lost, err)
	}
	// The loss is reported once.
	l.Add(Event{Kind: "x"})
	if _, lost, _ = sub.Next(ctxTimeout(t, 10*time.Second)); lost != 0 {
		t.Fatalf("loss reported again: %d", lost)
	}
}

func TestSubscriptionContextCancel(t *testing.T) {
	l := NewEvents(4)
	sub := l.Subscribe(0)
	defer sub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, _, err := sub.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next with an expiring context = %v", err)
	}
	// The subscription still works afterwards.
	l.Add(Event{Kind: "x"})
	if es, _, err := sub.Next(ctxTimeout(t, 10*time.Second)); err != nil || len(es) != 1 {
		t.Fatalf("after a cancelled Next: %v, %v", es, err)
	}
}

// waitGoroutines waits until the goroutine count is back to at most n.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines left, want at most %d:\n%s", runtime.NumGoroutine(), n, buf)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestEventsCloseEndsSubscriptions(t *testing.T) {
	base := runtime.NumGoroutine()
	l := NewEvents(10)
	waiting := l.Subscribe(0)
	behind := l.Subscribe(0)

	errs := make(chan error, 1)
	go func() {
		_, _, err := waiting.Next(context.Background()) // no deadline: only Close can end it
		errs <- err
	}()
	time.Sleep(20 * time.Millisecond)
	addN(l, 1) // wakes the waiter with event 1... which it returns
	if err := <-errs; err != nil {
		t.Fatalf("first Next: %v", err)
	}
	go func() {
		_, _, err := waiting.Next(context.Background())
		errs <- err
	}()
	addN(l, 1) // event 2: the waiter may or may not see it before Close
	l.Close()
	l.Close() // idempotent
	select {
	case err := <-errs:
		if err != nil && !errors.Is(err, ErrClosed) {
			t.Fatalf("Next after Close = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end a blocked Next")
	}

	// Events added before Close are still delivered, then ErrClosed.
	got, _, err := behind.Next(context.Background())
	if err != nil || fmt.Sprint(seqs(got)) != "[1 2]" {
		t.Fatalf("pending events after Close: %v, %v", seqs(got), err)
	}
	l.Add(Event{Kind: "after close"})
	if _, _, err := behind.Next(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next once drained = %v, want ErrClosed", err)
	}
	if len(l.Recent(10)) != 3 {
		t.Fatal("an event added after Close is not in Recent")
	}
	if _, _, err := l.Subscribe(5).Next(context.Background()); err != nil {
		t.Fatalf("a subscription made after Close gets the backlog before Close: %v", err)
	}
	waitGoroutines(t, base)
}

func TestSubscriptionClose(t *testing.T) {
	base := runtime.NumGoroutine()
	l := NewEvents(10)
	sub := l.Subscribe(0)
	errs := make(chan error, 1)
	go func() {
		_, _, err := sub.Next(context.Background())
		errs <- err
	}()
	time.Sleep(20 * time.Millisecond)
	sub.Close()
	sub.Close()
	select {
	case err := <-errs:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Next after Subscription.Close = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Subscription.Close did not end a blocked Next")
	}
	addN(l, 1)
	if _, _, err := sub.Next(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next on a closed subscription = %v", err)
	}
	// Other subscriptions are unaffected.
	other := l.Subscribe(1)
	if es, _, err := other.Next(context.Background()); err != nil || len(es) != 1 {
		t.Fatalf("another subscription: %v, %v", es, err)
	}
	waitGoroutines(t, base)
}

func TestEventsManySubscribersConcurrent(t *testing.T) {
	l := NewEvents(64)
	const subs, events = 8, 2000
	results := make(chan string, subs)
	for range subs {
		sub := l.Subscribe(0)
		go func() {
			defer sub.Close()
			var want, lostTotal uint64 = 1, 0
			for {
				es, lost, err := sub.Next(context.Background())
				if err != nil {
					if want-1 != events {
						results <- fmt.Sprintf("ended at %d: %v", want-1, err)
						return
					}
					results <- fmt.Sprintf("ok lost=%d", lostTotal)
					return
				}
				lostTotal += lost
				want += lost
				for _, e := range es {
					if e.Seq != want {
						results <- fmt.Sprintf("seq %d, want %d", e.Seq, want)
						return
					}
					want++
				}
			}
		}()
	}
	for i := range events {
		l.Add(Event{Kind: "x", Worker: i})
	}
	l.Close()
	for range subs {
		select {
		case r := <-results:
			if !strings.HasPrefix(r, "ok") {
				t.Fatal(r)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("a subscriber did not finish")
		}
	}
}

func TestEventsZeroValues(t *testing.T) {
	var l Events
	if l.Cap() != DefaultEventsCapacity {
		t.Fatalf("zero Events Cap = %d", l.Cap())
	}
	sub := l.Subscribe(0)
	if seq := l.Add(Event{Kind: "x"}); seq != 1 {
		t.Fatalf("first Seq on a zero Events = %d", seq)
	}
	if es, _, err := sub.Next(ctxTimeout(t, 10*time.Second)); err != nil || len(es) != 1 {
		t.Fatalf("zero Events subscription: %v, %v", es, err)
	}
	l.Close()

	var s Subscription // not made by Subscribe: closed, never a panic
	if _, _, err := s.Next(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("zero Subscription Next = %v", err)
	}
	s.Close()
}
