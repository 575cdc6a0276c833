package logs

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// MaxLineBytes is the longest Text Capture puts in one Line. A longer run of
// bytes without a newline is split into several Lines of at most MaxLineBytes
// bytes each (cut before a UTF-8 sequence rather than through it when the
// bytes are UTF-8), so that memory stays bounded whatever a worker prints.
const MaxLineBytes = 64 << 10

// Capture reads r (a worker's stdout or stderr pipe) until EOF and appends
// each line to b tagged with worker and stream. Lines end at "\n"; a
// trailing "\r" is trimmed too ("\r\n"). A final line without a newline is
// appended at EOF. Lines longer than MaxLineBytes are split.
//
// Capture keeps reading after b is closed (the lines are dropped), so that a
// worker never blocks on a full pipe because its log was removed; it waits
// for b's file when the disk is slower than the worker. It returns nil at
// EOF, or the read error (wrapped) after appending what it had read.
func Capture(r io.Reader, b *Buffer, worker int, stream string) error {
	c := capturer{b: b, worker: worker, stream: stream}
	br := bufio.NewReaderSize(r, 32<<10)
	for {
		frag, err := br.ReadSlice('\n')
		switch {
		case err == nil:
			c.endLine(frag[:len(frag)-1])
		case errors.Is(err, bufio.ErrBufferFull):
			c.partial(frag)
		default:
			c.partial(frag)
			if len(c.pending) > 0 {
				c.endLine(nil)
			}
			if err == io.EOF {
				return nil
			}
			return fmt.Errorf("logs: capture %s of %q worker %d: %w", stream, b.Source(), worker, err)
		}
	}
}

// capturer assembles lines from the fragments bufio.Reader.ReadSlice returns.
type capturer struct {
	b      *Buffer
	worker int
	stream string

	pending []byte // start of the current line, at most MaxLineBytes+1 bytes between calls
	split   bool   // part of the current line was already appended
}

// partial adds bytes of a line whose end has not been read yet and appends
// full pieces while more than MaxLineBytes+1 bytes wait: the extra byte may
// be the "\r" of a "\r\n" that will be trimmed.
func (c *capturer) partial(p []byte) {
	c.pending = append(c.pending, p...)
	for len(c.pending) > MaxLineBytes+1 {
		n := cutPoint(c.pending)
		c.emit(c.pending[:n])
		c.pending = c.pending[:copy(c.pending, c.pending[n:])]
		c.split = true
	}
}

// endLine completes the current line with p (its last bytes, without "\n").
func (c *capturer) endLine(p []byte) {
	if len(c.pending) > 0 {
		c.pending = append(c.pending, p...)
		p = c.pending
	}
	p = bytes.TrimSuffix(p, []byte{'\r'})
	for len(p) > MaxLineBytes {
		n := cutPoint(p)
		c.emit(p[:n])
		p = p[n:]
		c.split = true
	}
	// An empty rest after split pieces is the end of a line whose length was
	// a multiple of the cut, not an empty line of its own.
	if len(p) > 0 || !c.split {
		c.emit(p)
	}
	c.pending = c.pending[:0]
	c.split = false
	if cap(c.pending) > 2*MaxLineBytes+64<<10 {
		c.pending = nil
	}
}

func (c *capturer) emit(p []byte) {
	c.b.Append(c.worker, c.stream, string(p))
}

// cutPoint returns where to cut p, which is longer than MaxLineBytes: at
// MaxLineBytes, or up to 3 bytes earlier so as not to cut through a UTF-8
// sequence.
func cutPoint(p []byte) int {
	for n := MaxLineBytes; n > MaxLineBytes-utf8.UTFMax; n-- {
		if utf8.RuneStart(p[n]) {
			return n
		}
	}
	return MaxLineBytes
}
