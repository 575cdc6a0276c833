package logs

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// Well-known sources besides app names.
const (
	SourceAccess = "access" // the proxy's access log
	SourceEvents = "events" // the supervisor's events
)

// Store holds the Buffers of all sources, created on first use, each with
// the same capacity and, when the Store has a directory, a file
// <dir>/<source>.log. All methods are safe for concurrent use.
type Store struct {
	dir      string
	capacity int

	mu     sync.Mutex
	bufs   map[string]*Buffer
	closed bool
}

// NewStore returns a Store whose Buffers keep capacity lines each
// (DefaultCapacity if capacity <= 0) and write to files in dir; dir "" means
// no files. Nothing is created on disk until a Buffer is.
func NewStore(dir string, capacity int) *Store {
	if capacity <= 0 {
		capacity = DefaultCapacity
	}
	return &Store{dir: dir, capacity: capacity, bufs: make(map[string]*Buffer)}
}

// Path returns the file path of source's log, "" when the Store has no
// directory.
func (s *Store) Path(source string) string {
	if s.dir == "" {
		return ""
	}
	return filepath.Join(s.dir, source+".log")
}

// Buffer returns the Buffer of source, creating it (and opening its file)
// on first use. source must be usable as a file name: not empty, not "." or
// "..", without '/', '\\' or NUL. After Close it returns ErrClosed.
func (s *Store) Buffer(source string) (*Buffer, error) {
	if err := checkSource(source); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if b, ok := s.bufs[source]; ok {
		return b, nil
	}
	b, err := NewBuffer(source, s.capacity, s.Path(source))
	if err != nil {
		return nil, err
	}
	s.bufs[source] = b
	return b, nil
}

// Lookup returns the Buffer of source if it exists, without creating it.
func (s *Store) Lookup(source string) (*Buffer, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.bufs[source]
	return b, ok
}

func checkSource(source string) error {
	if source == "" || source == "." || source == ".." || strings.ContainsAny(source, "/\\\x00") {
		return fmt.Errorf("logs: invalid source name %q", source)
	}
	return nil
}

// Sources returns the names of the existing Buffers, sorted.
func (s *Store) Sources() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.bufs))
	for name := range s.bufs {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// ReopenAll reopens the file of every Buffer (see Buffer.Reopen), for
// logrotate's SIGUSR1. It tries them all and returns their errors joined.
func (s *Store) ReopenAll() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	var errs []error
	for _, b := range s.bufs {
		errs = append(errs, b.Reopen())
	}
	return errors.Join(errs...)
}

// Remove closes the Buffer of source (see Buffer.Close) and forgets it; its
// file stays on disk. A later Buffer(source) starts a new Buffer, with Seq
// from 1, appending to the same file. Removing an unknown source does
// nothing.
func (s *Store) Remove(source string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.bufs[source]
	if !ok {
		return nil
	}
	delete(s.bufs, source)
	// Closed under the lock: a new Buffer for source cannot write to the
	// file before this one has flushed its last lines to it.
	return b.Close()
}

// Close closes every Buffer and returns their errors joined; later calls to
// Buffer and ReopenAll return ErrClosed. Calling Close again returns nil.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	for _, b := range s.bufs {
		errs = append(errs, b.Close())
	}
	return errors.Join(errs...)
}
