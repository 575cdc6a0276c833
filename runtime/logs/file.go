package logs

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// FlushInterval is the longest a line appended to a Buffer with a file waits
// in memory before it is written to the file.
const FlushInterval = 200 * time.Millisecond

// fileBufSize is the size of the file's write buffer; a full buffer is
// written out by the Append that fills it.
const fileBufSize = 64 << 10

// fileSink is a Buffer's file: a buffered writer and the goroutine that
// flushes it every FlushInterval.
type fileSink struct {
	path string

	mu      sync.Mutex
	f       *os.File // nil after a failed reopen, or once closed
	w       *bufio.Writer
	scratch []byte // the line being formatted
	err     error  // first error since the last flush, reopen or close returned it
	closed  bool

	stop chan struct{} // closed by close to stop the flusher
	done chan struct{} // closed by the flusher when it returns
}

// openFile opens path for appending, creating it (0644) and its parent
// directories (0755) as needed.
func openFile(path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create log directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log file: %w", err)
	}
	return f, nil
}

// openSink opens path and starts the flusher.
func openSink(path string) (*fileSink, error) {
	f, err := openFile(path)
	if err != nil {
		return nil, err
	}
	s := &fileSink{
		path: path,
		f:    f,
		w:    bufio.NewWriterSize(f, fileBufSize),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	go s.run()
	return s, nil
}

// run flushes the writer every FlushInterval until stop is closed.
func (s *fileSink) run() {
	defer close(s.done)
	t := time.NewTicker(FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.mu.Lock()
			s.flushLocked()
			s.mu.Unlock()
		}
	}
}

// writeLocked writes l and a newline to the writer. With no open file the
// line is dropped. On a write error the error is kept for the next flush or
// close to report and the writer is reset, dropping what it held, so that
// later lines are tried again (bufio.Writer errors are otherwise sticky).
func (s *fileSink) writeLocked(l Line) {
	if s.f == nil {
		return
	}
	s.scratch = append(l.appendText(s.scratch[:0]), '\n')
	if _, err := s.w.Write(s.scratch); err != nil {
		s.failLocked(fmt.Errorf("write %s: %w", s.path, err))
	}
	if cap(s.scratch) > fileBufSize {
		s.scratch = nil // do not keep the memory of one huge line
	}
}

func (s *fileSink) flushLocked() {
	if s.f == nil || s.w.Buffered() == 0 {
		return
	}
	if err := s.w.Flush(); err != nil {
		s.failLocked(fmt.Errorf("flush %s: %w", s.path, err))
	}
}

func (s *fileSink) failLocked(err error) {
	if s.err == nil {
		s.err = err
	}
	s.w.Reset(s.f)
}

// takeErrLocked returns the kept error and forgets it.
func (s *fileSink) takeErrLocked() error {
	err := s.err
	s.err = nil
	return err
}

func (s *fileSink) flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.flushLocked()
	return s.takeErrLocked()
}

// reopen flushes and closes the current file and opens the path again.
func (s *fileSink) reopen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.flushLocked()
	if s.f != nil {
		if err := s.f.Close(); err != nil && s.err == nil {
			s.err = fmt.Errorf("close %s: %w", s.path, err)
		}
		s.f = nil
	}
	errOld := s.takeErrLocked()
	f, err := openFile(s.path)
	if err != nil {
		return errors.Join(errOld, err)
	}
	s.f = f
	s.w.Reset(f)
	return errOld
}

// close stops the flusher, then flushes and closes the file.
func (s *fileSink) close() error {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.flushLocked()
	if s.f != nil {
		if err := s.f.Close(); err != nil && s.err == nil {
			s.err = fmt.Errorf("close %s: %w", s.path, err)
		}
		s.f = nil
	}
	return s.takeErrLocked()
}
