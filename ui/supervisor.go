package ui

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
)

// PanicError is what Run returns when one of the console's goroutines
// panicked. The terminal has been restored by then.
type PanicError struct {
	Goroutine string // which of the console's goroutines
	Value     any
	Stack     []byte
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("console: panic in %s: %v", e.Goroutine, e.Value)
}

// supervisor owns the goroutines the console starts itself (the stream and
// log readers). Each one stops when ctx is cancelled, and a panic in one is
// caught, recorded, and signalled on dead, which makes Run quit the program
// and so restore the terminal: Bubble Tea does that for panics in Update,
// View and Cmds, but not in goroutines it does not know about
// (bubbletea#1127).
type supervisor struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	dead   chan struct{} // closed by the first panic

	mu  sync.Mutex
	err *PanicError
}

func newSupervisor(parent context.Context) *supervisor {
	ctx, cancel := context.WithCancel(parent)
	return &supervisor{ctx: ctx, cancel: cancel, dead: make(chan struct{})}
}

// Go runs f on a new goroutine owned by the supervisor.
func (s *supervisor) Go(name string, f func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer s.recover(name)
		f()
	}()
}

func (s *supervisor) recover(name string) {
	r := recover()
	if r == nil {
		return
	}
	s.mu.Lock()
	first := s.err == nil
	if first {
		s.err = &PanicError{Goroutine: name, Value: r, Stack: debug.Stack()}
	}
	s.mu.Unlock()
	s.cancel()
	if first {
		close(s.dead)
	}
}

// panicked returns the first recorded panic, or nil.
func (s *supervisor) panicked() *PanicError {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// stop cancels every goroutine and waits for them to return.
func (s *supervisor) stop() {
	s.cancel()
	s.wg.Wait()
}
