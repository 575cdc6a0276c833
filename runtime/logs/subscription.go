package logs

import (
	"context"
	"sync"
)

// maxBatch is the most lines one Subscription.Next returns.
const maxBatch = 1024

// Subscription follows a Buffer. It holds only its position (the Seq of the
// last line it delivered): lines are read from the Buffer's ring, so a
// Subscription costs the producers nothing and a slow reader loses the lines
// the ring has overwritten, counted in Next's lost.
type Subscription struct {
	b    *Buffer
	last uint64 // Seq of the last line delivered; guarded by b.mu

	done    chan struct{} // closed by end
	endOnce sync.Once
	stop    func() bool // unregisters the Follow context's AfterFunc; set before Follow returns
}

// Next waits until there are lines the Subscription has not delivered and
// returns them, oldest first, at most 1024 at a time. lost is the number of
// lines appended after the previous batch (or after the backlog's start) that
// the Buffer overwrote before this reader got to them; the newest lines are
// always the ones still delivered.
//
// Next returns ctx.Err() when ctx is done first (the Subscription stays
// usable), and ErrClosed once the Subscription has ended: right away after
// Close or the end of Follow's context, and after the remaining unread lines
// when the Buffer was closed. Calls may come from any goroutine; concurrent
// calls get disjoint batches.
func (s *Subscription) Next(ctx context.Context) (lines []Line, lost uint64, err error) {
	b := s.b
	for {
		select {
		case <-s.done:
			return nil, 0, ErrClosed
		default:
		}
		b.mu.Lock()
		lines, lost = b.sinceLocked(s.last, maxBatch)
		if len(lines) > 0 {
			s.last = lines[len(lines)-1].Seq
			b.mu.Unlock()
			return lines, lost, nil
		}
		if b.closed {
			b.mu.Unlock()
			return nil, 0, ErrClosed
		}
		wake := b.waitChanLocked()
		b.mu.Unlock()

		select {
		case <-wake:
		case <-s.done:
			return nil, 0, ErrClosed
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		}
	}
}

// Close ends the Subscription: a pending or later Next returns ErrClosed.
// It is idempotent and never blocks.
func (s *Subscription) Close() {
	s.end()
	s.stop()
}

// end closes done once. It is what Follow's context triggers, and does not
// touch stop, which Follow may still be setting then.
func (s *Subscription) end() {
	s.endOnce.Do(func() { close(s.done) })
}
