package ui

import (
	"github.com/stackctl/stackctl/runtime/control"
)

// maxLineBytes bounds one log line in the console. The ring bounds the
// number of lines; this bounds their size, so memory has a ceiling however
// a worker writes.
const maxLineBytes = 4096

// logRing is a bounded ring of log lines addressed by logical index: the
// i-th line ever pushed keeps index i until it falls out, so views can hold
// positions (a scroll anchor, a list of filter matches) across pushes.
type logRing struct {
	buf   []control.LogLine
	start uint64 // index of the oldest line held
	end   uint64 // index the next line will get
}

func newLogRing(capacity int) *logRing {
	return &logRing{buf: make([]control.LogLine, capacity)}
}

func (r *logRing) len() int      { return int(r.end - r.start) }
func (r *logRing) first() uint64 { return r.start }
func (r *logRing) next() uint64  { return r.end }

// push appends lines, dropping the oldest when full, and returns how many
// lines were dropped.
func (r *logRing) push(lines []control.LogLine) (dropped int) {
	c := uint64(len(r.buf))
	if c == 0 {
		return len(lines)
	}
	if uint64(len(lines)) > c {
		dropped = len(lines) - int(c)
		r.start += uint64(dropped)
		r.end += uint64(dropped)
		lines = lines[dropped:]
	}
	for i := range lines {
		l := lines[i]
		if len(l.Text) > maxLineBytes {
			l.Text = l.Text[:maxLineBytes]
		}
		if r.end-r.start == c {
			r.start++ // the oldest line's slot is about to be reused
			dropped++
		}
		r.buf[r.end%c] = l
		r.end++
	}
	return dropped
}

// at returns the line with logical index i, which must be held.
func (r *logRing) at(i uint64) *control.LogLine {
	return &r.buf[i%uint64(len(r.buf))]
}

// has reports whether index i is still held.
func (r *logRing) has(i uint64) bool { return i >= r.start && i < r.end }

// drain returns the held lines in order and empties the ring (the mailbox
// hands its pending lines to the UI this way).
func (r *logRing) drain() []control.LogLine {
	out := make([]control.LogLine, 0, r.len())
	for i := r.start; i < r.end; i++ {
		out = append(out, *r.at(i))
		*r.at(i) = control.LogLine{}
	}
	r.start = r.end
	return out
}

// reset empties the ring and restarts indexes at zero.
func (r *logRing) reset() {
	clear(r.buf)
	r.start, r.end = 0, 0
}

// logStore is the console's copy of the followed log: the source, its ring,
// and how many lines were lost on the way (the stack's ring overran, or the
// console fell behind). The Logs view and the Workers detail pane read it.
type logStore struct {
	source string
	gen    int
	ring   *logRing
	lost   uint64
}

func newLogStore(capacity int) *logStore {
	return &logStore{ring: newLogRing(capacity)}
}

func (s *logStore) reset(source string, gen int) {
	s.source, s.gen, s.lost = source, gen, 0
	s.ring.reset()
}

// add appends lines of generation gen (lines of a previous source are
// dropped); it reports whether anything changed.
func (s *logStore) add(gen int, lines []control.LogLine, lost uint64) bool {
	if gen != s.gen || (len(lines) == 0 && lost == 0) {
		return false
	}
	for i := range lines {
		lines[i].Text = sanitize(lines[i].Text)
	}
	s.lost += lost + uint64(s.ring.push(lines))
	return true
}
