package ui

import (
	"io"
	"os"
	"sync"

	"github.com/charmbracelet/x/term"
)

// resetSequences leave every mode the console turns on: bracketed paste,
// mouse reporting, the hidden cursor, the alternate screen.
const resetSequences = "\x1b[?2004l\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x1b[?25h\x1b[?1049l"

// restorer gives the terminal back as it was before the console took it,
// once, from any goroutine. Bubble Tea restores the terminal itself when
// the console ends; this is for crash paths elsewhere in the process (a
// panic in the stack the console started), where Run will not get the
// chance: Options.Started hands it out.
type restorer struct {
	once  sync.Once
	fired bool // restore ran (read after Run's program ended)
	out   io.Writer
	fd    uintptr
	state *term.State
	quit  func() // asks the program to end (it restores the terminal too)
}

func newRestorer(in io.Reader, out io.Writer) *restorer {
	r := &restorer{out: out}
	if in == nil {
		in = os.Stdin
	}
	if f, ok := in.(*os.File); ok && term.IsTerminal(f.Fd()) {
		if st, err := term.GetState(f.Fd()); err == nil {
			r.fd, r.state = f.Fd(), st
		}
	}
	return r
}

// restore stops the program and puts the terminal back now.
func (r *restorer) restore() {
	r.once.Do(func() {
		r.fired = true
		if r.quit != nil {
			// Not p.Kill: a killed program does not wait for its input
			// reader, which then races with its own shutdown. The quit is
			// sent from a goroutine that ends as soon as the program takes
			// it or has ended, so restore never waits on the event loop.
			go r.quit()
		}
		io.WriteString(r.out, resetSequences)
		if r.state != nil {
			term.Restore(r.fd, r.state)
		}
	})
}

// disarm makes restore a no-op: the console has ended and Bubble Tea has
// restored the terminal already.
func (r *restorer) disarm() { r.once.Do(func() {}) }
