package logs

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultCapacity is the number of lines a Buffer keeps when it is given a
// capacity <= 0.
const DefaultCapacity = 10000

// ErrClosed is returned by operations on a closed Buffer, Store or
// Subscription, and by Subscription.Next once its subscription has ended.
var ErrClosed = errors.New("logs: closed")

// Buffer holds the log of one source: a ring of its last lines in memory and,
// optionally, a file that receives every line.
//
// All methods are safe for concurrent use. Append never waits for readers
// (Tail, Since, Subscriptions): they hold the Buffer's lock only to copy
// lines out, never while waiting. With a file, Append may wait for the disk.
type Buffer struct {
	source   string
	capacity int
	id       uint64

	mu     sync.Mutex
	path   string        // the file's path, "" for none; see PrepareFile
	ring   []Line        // grows up to capacity, then wraps: Seq s lives at ring[(s-1)%capacity]
	last   uint64        // Seq of the newest line, 0 when none
	wake   chan struct{} // non-nil while a Subscription waits; closed by the next Append or Close
	closed bool

	// sink is nil when the Buffer has no file. Lock order: mu, then sink.mu.
	// Append takes sink.mu before releasing mu, so lines reach the file in
	// Seq order while readers are not held up by the disk write.
	sink *fileSink
}

// Buffer identities: distinct within a process and, through the clock at
// start, across restarts of it, so that a reader can tell that Seq numbers
// restarted.
var (
	idBase = uint64(time.Now().UnixNano())
	nextID atomic.Uint64
)

// ID identifies the buffer: a follower that sees it change knows that Seq
// numbers start again (another buffer now holds the source's lines, or the
// process restarted).
func (b *Buffer) ID() uint64 { return b.id }

// NewBuffer returns a Buffer for source keeping the last capacity lines
// (DefaultCapacity if capacity <= 0). If path is not empty, every appended
// line is also written to the file at path, opened in append mode (created
// with mode 0644, parent directories 0755, as needed), and a flusher
// goroutine runs until Close.
func NewBuffer(source string, capacity int, path string) (*Buffer, error) {
	if capacity <= 0 {
		capacity = DefaultCapacity
	}
	b := &Buffer{
		source:   source,
		path:     path,
		capacity: capacity,
		id:       idBase + nextID.Add(1),
		ring:     make([]Line, 0, min(capacity, 256)),
	}
	if path != "" {
		s, err := openSink(path)
		if err != nil {
			return nil, fmt.Errorf("logs: source %q: %w", source, err)
		}
		b.sink = s
	}
	return b, nil
}

// Source returns the source name the Buffer was created with.
func (b *Buffer) Source() string { return b.source }

// Path returns the Buffer's file path, "" when it has no file.
func (b *Buffer) Path() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.path
}

// fileSink returns the current sink, nil without a file.
func (b *Buffer) fileSink() *fileSink {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sink
}

// FileSwitch is a file opened for a Buffer and not yet in use: Commit
// moves the Buffer's lines to it, Cancel closes it. It lets a caller that
// changes several things open every file first and change nothing when one
// fails (a configuration reload).
type FileSwitch struct {
	b    *Buffer
	path string
	sink *fileSink // nil for path ""
}

// PrepareFile opens path (append mode, 0644, parent directories created)
// for the Buffer's lines from the Commit of the returned switch on; path ""
// means no file. Nothing changes until Commit.
func (b *Buffer) PrepareFile(path string) (*FileSwitch, error) {
	sw := &FileSwitch{b: b, path: path}
	if path != "" {
		s, err := openSink(path)
		if err != nil {
			return nil, fmt.Errorf("logs: source %q: %w", b.source, err)
		}
		sw.sink = s
	}
	return sw, nil
}

// Commit makes the Buffer write every line appended from now on to the
// switch's file, and flushes and closes the file it wrote to before
// (returning that file's error, if any). Seq numbers and the lines in
// memory go on: followers see one stream. After Close it closes the new
// file and returns ErrClosed.
func (sw *FileSwitch) Commit() error {
	b := sw.b
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		sw.Cancel()
		return ErrClosed
	}
	old := b.sink
	b.sink, b.path = sw.sink, sw.path
	b.mu.Unlock()
	// An Append that took old's lock before the swap writes before this
	// close, which waits for that lock.
	if old != nil {
		if err := old.close(); err != nil {
			return fmt.Errorf("logs: source %q: %w", b.source, err)
		}
	}
	return nil
}

// Cancel closes the switch's file unused.
func (sw *FileSwitch) Cancel() {
	if sw.sink != nil {
		sw.sink.close()
	}
}

// Capacity returns the most lines the Buffer keeps in memory.
func (b *Buffer) Capacity() int { return b.capacity }

// Last returns the Seq of the newest line, 0 when no line was appended.
func (b *Buffer) Last() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.last
}

// Append records one line and returns it with its Seq and Time set. It never
// waits for readers: a Subscription that has not read the lines it overwrites
// learns of them as lost. With a file, the line is also written to the file
// (buffered); Append then waits only for the disk.
//
// text is stored as given and should not end with a line terminator; a text
// holding newlines is kept as one Line but shows as several lines in the
// file. Capture splits very long lines; direct callers should keep lines
// short, as memory use is about capacity times line size.
//
// After Close, Append records nothing and returns a Line whose Seq is 0.
func (b *Buffer) Append(worker int, stream, text string) Line {
	b.mu.Lock()
	l := Line{Time: time.Now(), Source: b.source, Worker: worker, Stream: stream, Text: text}
	if b.closed {
		b.mu.Unlock()
		return l
	}
	b.last++
	l.Seq = b.last
	if len(b.ring) < b.capacity {
		b.ring = append(b.ring, l)
	} else {
		b.ring[(l.Seq-1)%uint64(b.capacity)] = l
	}
	if b.wake != nil {
		close(b.wake)
		b.wake = nil
	}
	sink := b.sink // PrepareFile's Commit may swap it once mu is released
	if sink == nil {
		b.mu.Unlock()
		return l
	}
	sink.mu.Lock()
	b.mu.Unlock()
	sink.writeLocked(l)
	sink.mu.Unlock()
	return l
}

// Tail returns the last n lines in memory, oldest first: fewer when fewer
// are kept, nil when n <= 0 or the Buffer is empty.
func (b *Buffer) Tail(n int) []Line {
	b.mu.Lock()
	defer b.mu.Unlock()
	n = min(n, len(b.ring))
	if n <= 0 {
		return nil
	}
	out := make([]Line, n)
	b.copyLocked(out, b.last-uint64(n)+1)
	return out
}

// Since returns the lines with Seq > seq still in memory, oldest first, at
// most limit of them (no limit when limit <= 0), so that a caller can page
// forward by passing the last Seq it got. lost is the number of lines with
// Seq > seq that were overwritten before they could be returned; the first
// line returned has Seq seq+lost+1. When seq >= Last(), Since returns nil, 0.
func (b *Buffer) Since(seq uint64, limit int) (lines []Line, lost uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sinceLocked(seq, limit)
}

func (b *Buffer) sinceLocked(seq uint64, limit int) ([]Line, uint64) {
	if seq >= b.last {
		return nil, 0
	}
	from := seq + 1
	var lost uint64
	if oldest := b.last - uint64(len(b.ring)) + 1; from < oldest {
		lost = oldest - from
		from = oldest
	}
	n := b.last - from + 1
	if limit > 0 && uint64(limit) < n {
		n = uint64(limit)
	}
	out := make([]Line, n)
	b.copyLocked(out, from)
	return out, lost
}

// copyLocked fills dst with the lines from Seq from on; they must be in the
// ring.
func (b *Buffer) copyLocked(dst []Line, from uint64) {
	start := int((from - 1) % uint64(b.capacity))
	k := copy(dst, b.ring[start:])
	copy(dst[k:], b.ring)
}

// Follow returns a Subscription that first delivers the last backlog lines in
// memory (none when backlog <= 0) and then every line appended after them,
// as long as it keeps up. The Subscription ends when ctx is done, when it is
// closed, or when the Buffer is closed. Close it when done with it to release
// its hold on ctx.
func (b *Buffer) Follow(ctx context.Context, backlog int) *Subscription {
	s := &Subscription{b: b, done: make(chan struct{})}
	b.mu.Lock()
	backlog = max(0, min(backlog, len(b.ring)))
	s.last = b.last - uint64(backlog)
	b.mu.Unlock()
	s.stop = context.AfterFunc(ctx, s.end)
	return s
}

// waitChanLocked returns a channel that is closed by the next Append or by
// Close.
func (b *Buffer) waitChanLocked() <-chan struct{} {
	if b.wake == nil {
		b.wake = make(chan struct{})
	}
	return b.wake
}

// Flush writes the lines buffered for the file to it. It returns the first
// file error met since the previous Flush, Reopen or the opening, if any
// (lines written while the file failed are lost to the file, not to memory).
// Without a file it returns nil; after Close, ErrClosed.
func (b *Buffer) Flush() error {
	sink := b.fileSink()
	if sink == nil {
		return nil
	}
	if err := sink.flush(); err != nil {
		return fmt.Errorf("logs: source %q: %w", b.source, err)
	}
	return nil
}

// Reopen flushes and closes the file, then opens the same path again (append
// mode, 0644, parent directories created), so that lines appended from now on
// go to the file now at the path: call it after logrotate moved the file
// (SIGUSR1). Lines appended before Reopen stay in the old file. If the path
// cannot be opened, the error is returned and lines are not written to any
// file until a later Reopen succeeds. Without a file Reopen does nothing;
// after Close it returns ErrClosed.
func (b *Buffer) Reopen() error {
	sink := b.fileSink()
	if sink == nil {
		return nil
	}
	if err := sink.reopen(); err != nil {
		return fmt.Errorf("logs: source %q: %w", b.source, err)
	}
	return nil
}

// Close ends the Buffer: subscriptions get the lines they have not read yet
// and then ErrClosed, later Appends record nothing, the file is flushed and
// closed and its flusher goroutine has stopped when Close returns. Lines in
// memory stay readable with Tail and Since. Close returns the first file
// error since the last Flush or Reopen, if any; calling it again returns nil.
func (b *Buffer) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	if b.wake != nil {
		close(b.wake)
		b.wake = nil
	}
	sink := b.sink
	b.mu.Unlock()
	if sink == nil {
		return nil
	}
	if err := sink.close(); err != nil {
		return fmt.Errorf("logs: source %q: %w", b.source, err)
	}
	return nil
}
