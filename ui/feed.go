package ui

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/stackctl/stackctl/runtime/control"
)

// The feed is how data reaches the console without ever blocking the stack
// or flooding Bubble Tea with messages:
//
//   - reader goroutines (one on the control stream, one on the followed log)
//     read as fast as the stack writes and fold what they read into a
//     mailbox: the latest snapshot replaces the previous one, events and log
//     lines go into bounded buffers that drop the oldest when the console
//     falls behind (counted, and shown as "lost");
//   - one Cmd waits for the mailbox to be non-empty, then for the render
//     interval to pass since the last delivery, and returns everything as a
//     single feedMsg. Update re-arms it. So data costs at most a few renders
//     a second, however fast it arrives, and keypresses stay instant.
//
// Nothing here calls Program.Send.

// maxPendingEvents bounds events waiting in the mailbox.
const maxPendingEvents = 500

// feedMsg is one coalesced delivery.
type feedMsg struct {
	snap       *control.Snapshot // nil when none arrived
	events     []control.Event
	lostEvents uint64
	logGen     int
	logs       []control.LogLine
	logLost    uint64
	conn       *connState // non-nil when the connection state changed
}

// connState is the state of the control stream.
type connState struct {
	ok  bool
	err string
}

// follower is what the readers need of a control.Follow.
type follower[T any] interface {
	Next() (T, error)
	Close() error
}

type feed struct {
	backend  Backend
	sup      *supervisor
	interval time.Duration // asked of the stream
	gap      time.Duration // minimum time between deliveries
	logCap   int

	signal chan struct{} // capacity 1: "the mailbox has something"

	mu         sync.Mutex
	snap       *control.Snapshot
	events     []control.Event
	lostEvents uint64
	conn       *connState // a change not yet delivered
	online     bool
	logGen     int
	logs       *logRing
	logLost    uint64
	logSeq     uint64 // the last line's Seq, to skip lines a reconnect resends
	logBuffer  uint64 // the buffer logSeq counts in (control.LogBatch.Buffer)
	lastTake   time.Time

	// Touched only from Update.
	logCancel context.CancelFunc
	started   bool
}

func newFeed(b Backend, sup *supervisor, interval, gap time.Duration, logCap int) *feed {
	return &feed{
		backend:  b,
		sup:      sup,
		interval: interval,
		gap:      gap,
		logCap:   logCap,
		signal:   make(chan struct{}, 1),
		logs:     newLogRing(logCap),
	}
}

func (f *feed) notify() {
	select {
	case f.signal <- struct{}{}:
	default:
	}
}

// wait returns the Cmd that delivers the next feedMsg. Exactly one is
// outstanding at a time: Init starts it and Update re-arms it.
func (f *feed) wait() tea.Cmd {
	return func() tea.Msg {
		ctx := f.sup.ctx
		select {
		case <-ctx.Done():
			return nil
		case <-f.signal:
		}
		f.mu.Lock()
		d := f.gap - time.Since(f.lastTake)
		f.mu.Unlock()
		if d > 0 {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
		}
		return f.take()
	}
}

// take empties the mailbox into a feedMsg.
func (f *feed) take() feedMsg {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastTake = time.Now()
	m := feedMsg{
		snap:       f.snap,
		events:     f.events,
		lostEvents: f.lostEvents,
		conn:       f.conn,
		logGen:     f.logGen,
		logLost:    f.logLost,
	}
	if f.logs.len() > 0 {
		m.logs = f.logs.drain()
	}
	f.snap, f.events, f.lostEvents, f.conn, f.logLost = nil, nil, 0, nil, 0
	return m
}

// start starts the stream reader.
func (f *feed) start() {
	f.started = true
	f.sup.Go("stream reader", f.readStream)
}

func (f *feed) setConn(ok bool, err error) {
	f.mu.Lock()
	c := &connState{ok: ok}
	if err != nil {
		c.err = err.Error()
	}
	f.conn, f.online = c, ok
	f.mu.Unlock()
	f.notify()
}

// readStream reads the control stream until the console stops,
// reconnecting with backoff (the stack may be restarting, or not up yet
// for `stackctl attach`).
func (f *feed) readStream() {
	ctx := f.sup.ctx
	backoff := newBackoff()
	for ctx.Err() == nil {
		st, err := f.backend.Stream(ctx, f.interval)
		if err != nil {
			f.setConn(false, err)
			if !backoff.sleep(ctx) {
				return
			}
			continue
		}
		err = pump(ctx, st, func(m control.StreamMessage) {
			backoff.reset()
			f.foldStream(m)
		})
		if ctx.Err() != nil {
			return
		}
		f.setConn(false, err)
		if !backoff.sleep(ctx) {
			return
		}
	}
}

// pump reads a follow until it ends, handing each message to fold. It
// closes the follow when ctx is cancelled, which unblocks Next.
func pump[T any](ctx context.Context, st follower[T], fold func(T)) error {
	stop := context.AfterFunc(ctx, func() { st.Close() })
	defer stop()
	defer st.Close()
	for {
		m, err := st.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return errors.New("the stack closed the stream")
			}
			return err
		}
		fold(m)
	}
}

func (f *feed) foldStream(m control.StreamMessage) {
	f.mu.Lock()
	if !f.online {
		f.conn, f.online = &connState{ok: true}, true
	}
	if m.Snapshot != nil {
		f.snap = m.Snapshot
	}
	f.events = append(f.events, m.Events...)
	if n := len(f.events) - maxPendingEvents; n > 0 {
		f.events = append(f.events[:0:0], f.events[n:]...)
		f.lostEvents += uint64(n)
	}
	f.lostEvents += m.Lost
	f.mu.Unlock()
	f.notify()
}

// follow switches the log reader to source (called from Update). Lines of
// the previous source still in flight are dropped by generation.
func (f *feed) follow(source string) int {
	if f.logCancel != nil {
		f.logCancel()
	}
	f.mu.Lock()
	f.logGen++
	gen := f.logGen
	f.logs.reset()
	f.logLost = 0
	f.logSeq, f.logBuffer = 0, 0
	f.mu.Unlock()
	if !f.started {
		return gen // tests feed lines themselves
	}
	ctx, cancel := context.WithCancel(f.sup.ctx)
	f.logCancel = cancel
	f.sup.Go("log reader "+source, func() { f.readLogs(ctx, gen, source) })
	return gen
}

func (f *feed) readLogs(ctx context.Context, gen int, source string) {
	backoff := newBackoff()
	for ctx.Err() == nil {
		st, err := f.backend.Logs(ctx, source, f.logCap, true)
		if err == nil {
			err = pump(ctx, st, func(b control.LogBatch) {
				backoff.reset()
				f.foldLogs(gen, b)
			})
		}
		if ctx.Err() != nil {
			return
		}
		_ = err // the stream reader reports the connection; logs just retry
		if !backoff.sleep(ctx) {
			return
		}
	}
}

func (f *feed) foldLogs(gen int, b control.LogBatch) {
	f.mu.Lock()
	if gen != f.logGen {
		f.mu.Unlock()
		return
	}
	lines := b.Lines
	// After a reconnect the backlog repeats lines already delivered —
	// unless the lines now come from another buffer, whose Seq restarted.
	if b.Buffer != f.logBuffer {
		f.logSeq, f.logBuffer = 0, b.Buffer
	}
	skip := 0
	for skip < len(lines) && lines[skip].Seq != 0 && lines[skip].Seq <= f.logSeq {
		skip++
	}
	lines = lines[skip:]
	if len(lines) > 0 && lines[len(lines)-1].Seq != 0 {
		f.logSeq = lines[len(lines)-1].Seq
	}
	f.logLost += b.Lost + uint64(f.logs.push(lines))
	f.mu.Unlock()
	f.notify()
}

// backoff waits 250ms, doubling to 5s, between reconnections.
type backoff struct{ d time.Duration }

func newBackoff() *backoff { return &backoff{d: 250 * time.Millisecond} }

func (b *backoff) reset() { b.d = 250 * time.Millisecond }

func (b *backoff) sleep(ctx context.Context) bool {
	t := time.NewTimer(b.d)
	defer t.Stop()
	b.d = min(b.d*2, 5*time.Second)
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
