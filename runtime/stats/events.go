package stats

import (
	"context"
	"errors"
	"maps"
	"sync"
	"time"
)

// Event kinds the app server, proxy and supervisor emit. Kind is an open
// set: these are the ones the console knows how to present.
const (
	KindWorkerSpawned  = "worker.spawned"
	KindWorkerExited   = "worker.exited"
	KindWorkerRecycled = "worker.recycled"
	KindHealthChanged  = "health.changed"
	KindConfigApplied  = "config.applied"
	KindConfigRejected = "config.rejected"
)

// DefaultEventsCapacity is the number of events an Events log keeps unless
// told otherwise.
const DefaultEventsCapacity = 1000

// ErrClosed is returned by Subscription.Next once the log or the
// subscription is closed and every event due to the subscription has been
// delivered.
var ErrClosed = errors.New("stats: events closed")

// Event is one thing that happened in the stack.
type Event struct {
	Seq     uint64            // position in the log, assigned by Add: 1, 2, 3, ...
	Time    time.Time         // when it happened; Add sets time.Now() if zero
	Kind    string            // what happened, e.g. KindWorkerSpawned
	Source  string            // the app or upstream it happened to
	Worker  int               // the worker's id within Source; 0 when not about one worker
	Message string            // a human-readable line, e.g. "max requests (5000) reached"
	Fields  map[string]string // structured details (pid, reason, exit status, ...); read-only once added
}

// Events is a bounded in-memory log of the most recent events with
// subscriptions. Adding never blocks on readers: a subscriber that falls
// more than Cap() events behind loses the oldest ones and is told how many
// it lost. Events starts no goroutines.
//
// The zero value is an empty log of DefaultEventsCapacity events.
type Events struct {
	mu       sync.Mutex
	buf      []Event // event with Seq q is at buf[(q-1)%len(buf)]
	next     uint64  // Seq of the next event added
	wake     chan struct{}
	waiting  bool // a subscriber holds wake: close it on the next Add
	closed   bool
	closeSeq uint64 // next at Close: events from here on go to no subscription
}

// NewEvents returns an empty log keeping the last capacity events;
// capacity <= 0 means DefaultEventsCapacity.
func NewEvents(capacity int) *Events {
	l := &Events{}
	l.init(capacity)
	return l
}

// init sets up an empty log; l.mu must be held or l not yet shared.
func (l *Events) init(capacity int) {
	if capacity <= 0 {
		capacity = DefaultEventsCapacity
	}
	l.buf = make([]Event, capacity)
	l.next = 1
	l.wake = make(chan struct{})
}

// lock locks l, setting up a zero-value log on first use.
func (l *Events) lock() {
	l.mu.Lock()
	if l.buf == nil {
		l.init(0)
	}
}

// Cap returns the number of events the log keeps.
func (l *Events) Cap() int {
	l.lock()
	defer l.mu.Unlock()
	return len(l.buf)
}

// Add appends e to the log and returns its sequence number. It sets e.Seq,
// sets e.Time to time.Now() if it is zero, and stores a copy of e.Fields,
// so the caller may reuse its map. Add never blocks on subscribers. After
// Close the event is still kept (Recent returns it) but no subscription
// receives it.
func (l *Events) Add(e Event) uint64 {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	if e.Fields != nil {
		e.Fields = maps.Clone(e.Fields)
	}
	l.lock()
	defer l.mu.Unlock()
	e.Seq = l.next
	l.buf[(e.Seq-1)%uint64(len(l.buf))] = e
	l.next++
	if l.waiting && !l.closed {
		close(l.wake)
		l.wake = make(chan struct{})
		l.waiting = false
	}
	return e.Seq
}

// Recent returns up to n of the most recent events, oldest first and
// newest last. The events share their Fields maps with the log: treat
// them as read-only.
func (l *Events) Recent(n int) []Event {
	l.lock()
	defer l.mu.Unlock()
	if n <= 0 {
		return nil
	}
	from := max(l.oldest(), l.next-min(uint64(n), l.next))
	return l.copyRange(from, l.next)
}

// Subscribe returns a subscription that first delivers up to backlog of
// the most recent events already in the log (0 for none) and then every
// event added after, in order, with no gap between the two.
//
// A subscription holds no goroutine and costs the producer nothing; it
// only needs Close to unblock a pending Next early.
func (l *Events) Subscribe(backlog int) *Subscription {
	l.lock()
	defer l.mu.Unlock()
	from := l.next
	if backlog > 0 {
		from = max(l.oldest(), l.next-min(uint64(backlog), l.next-1))
	}
	return &Subscription{l: l, next: from, done: make(chan struct{})}
}

// Close ends all subscriptions: each Next returns the events added before
// Close that it has not delivered yet and then ErrClosed. Close is
// idempotent.
func (l *Events) Close() {
	l.lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.closed = true
	l.closeSeq = l.next
	close(l.wake)
}

// oldest returns the Seq of the oldest event still in the ring (== next if
// the log is empty). l.mu must be held.
func (l *Events) oldest() uint64 {
	if l.next-1 <= uint64(len(l.buf)) {
		return 1
	}
	return l.next - uint64(len(l.buf))
}

// copyRange copies the events with Seq in [from, to). l.mu must be held and
// the range must be within the ring.
func (l *Events) copyRange(from, to uint64) []Event {
	if from >= to {
		return nil
	}
	out := make([]Event, 0, to-from)
	for q := from; q < to; q++ {
		out = append(out, l.buf[(q-1)%uint64(len(l.buf))])
	}
	return out
}

// Subscription is a reader's cursor into an Events log. Next may be called
// from one goroutine at a time; Close from any goroutine.
type Subscription struct {
	l         *Events
	next      uint64 // Seq of the next event to deliver; guarded by l.mu
	done      chan struct{}
	closeOnce sync.Once
}

// Next blocks until there are events the subscription has not delivered,
// then returns all of them (at most the log's capacity), oldest first.
// lost is the number of events that were overwritten before this
// subscription could read them, since the previous call; it is reported
// with the batch that follows the gap.
//
// Next returns ctx.Err() when ctx ends first, and ErrClosed after the
// subscription or the log was closed (events added to the log before its
// Close are delivered first). Returned events share their Fields maps with
// the log: treat them as read-only.
func (s *Subscription) Next(ctx context.Context) (events []Event, lost uint64, err error) {
	l := s.l
	if l == nil || s.done == nil {
		return nil, 0, ErrClosed // not made by Subscribe
	}
	for {
		select {
		case <-s.done:
			return nil, 0, ErrClosed
		default:
		}
		l.mu.Lock()
		if oldest := l.oldest(); s.next < oldest {
			lost = oldest - s.next
			s.next = oldest
		}
		end := l.next
		if l.closed {
			end = l.closeSeq
		}
		if s.next < end {
			events = l.copyRange(s.next, end)
			s.next = end
			l.mu.Unlock()
			return events, lost, nil
		}
		if l.closed {
			l.mu.Unlock()
			return nil, lost, ErrClosed
		}
		wake := l.wake
		l.waiting = true
		l.mu.Unlock()

		select {
		case <-wake:
		case <-s.done:
			return nil, 0, ErrClosed
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		}
	}
}

// Close ends the subscription: a pending or later Next returns ErrClosed.
// It is idempotent.
func (s *Subscription) Close() {
	s.closeOnce.Do(func() {
		if s.done != nil {
			close(s.done)
		}
	})
}
