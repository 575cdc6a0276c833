package ui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
	"github.com/stackctl/stackctl/themes"
)

// Options configure a console. The zero value is a console on the terminal
// with the default theme.
type Options struct {
	// Theme is a theme's name (themes.Names); "" is the default.
	Theme string
	// ThemeDir holds user theme files (NAME.toml); "" for none. A broken
	// file does not stop the console: the error shows in the status line.
	ThemeDir string
	// Color is "auto" (or ""), "none" (no colour: bold and reverse video
	// only, what NO_COLOR gets), "16", "256" or "truecolor". "auto"
	// honours NO_COLOR.
	Color string
	// ConfirmQuit asks before quitting: set it when this console started
	// the stack, because quitting stops it.
	ConfirmQuit bool

	// Input and Output default to the terminal. Tests set both.
	Input  io.Reader
	Output io.Writer
	// NoAltScreen draws inline instead of on the alternate screen.
	NoAltScreen bool
	// WithoutSignalHandler leaves SIGINT/SIGTERM to the caller (who then
	// cancels ctx); by default SIGTERM quits the console without asking.
	WithoutSignalHandler bool

	// Interval is the snapshot interval asked of the stream (default
	// 500ms); RenderInterval the least time between two renders caused by
	// data (default 250ms). Keys always render at once.
	Interval       time.Duration
	RenderInterval time.Duration
	// LogLines is how many lines of the followed log the console keeps
	// (default 5000).
	LogLines int
	// CommandTimeout bounds each command sent to the stack (default 10s).
	CommandTimeout time.Duration
	// Editor is the command that edits the configuration; default
	// $VISUAL, then $EDITOR, then vi. It may carry arguments ("code -w").
	Editor string

	// Now is the clock (default time.Now) and Location the time zone of
	// timestamps (default time.Local); tests fix both.
	Now      func() time.Time
	Location *time.Location

	// OnPanic is called when one of the console's goroutines panicked,
	// after the terminal was restored and before Run returns the
	// *PanicError: a place to log the stack, or to stop the stack.
	OnPanic func(*PanicError)
	// Started, if set, is called once the console owns the terminal, with
	// a function that stops the console and gives the terminal back at
	// once (cooked mode, main screen, cursor shown). It is for crash paths
	// outside the console, such as a recover in the stack's goroutines
	// before the process exits; it is safe from any goroutine, and a no-op
	// once Run has returned.
	Started func(restore func())
}

func (o *Options) defaults() {
	if o.Interval <= 0 {
		o.Interval = 500 * time.Millisecond
	}
	if o.RenderInterval <= 0 {
		o.RenderInterval = 250 * time.Millisecond
	}
	if o.LogLines <= 0 {
		o.LogLines = 5000
	}
	if o.CommandTimeout <= 0 {
		o.CommandTimeout = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Location == nil {
		o.Location = time.Local
	}
	if o.Editor == "" {
		o.Editor = os.Getenv("VISUAL")
	}
	if o.Editor == "" {
		o.Editor = os.Getenv("EDITOR")
	}
	if o.Editor == "" {
		o.Editor = "vi"
	}
}

// New builds the console's model for b. ctx bounds everything the console
// starts; Close (or Run) stops it. The error is for options that cannot
// work (an unknown theme, a bad colour mode); a broken theme file is only
// reported in the status line.
func New(ctx context.Context, b Backend, opts Options) (Model, error) {
	opts.defaults()
	out := opts.Output
	if out == nil {
		out = os.Stdout
	}
	set := themes.NewSet()
	themeErr := set.LoadDir(opts.ThemeDir)
	th, err := set.Get(opts.Theme)
	if err != nil {
		return Model{}, err
	}
	r := lipgloss.NewRenderer(out)
	noColor := false
	switch strings.ToLower(opts.Color) {
	case "", "auto":
		if os.Getenv("NO_COLOR") != "" {
			noColor = true
			// termenv maps NO_COLOR to no escapes at all, which would also
			// drop the reverse video that shows the selection.
			if termenv.NewOutput(out).ColorProfile() != termenv.Ascii {
				r.SetColorProfile(termenv.ANSI)
			}
		}
	case "none", "never", "no":
		noColor = true
		r.SetColorProfile(termenv.ANSI)
	case "16":
		r.SetColorProfile(termenv.ANSI)
	case "256":
		r.SetColorProfile(termenv.ANSI256)
	case "truecolor", "24bit":
		r.SetColorProfile(termenv.TrueColor)
	case "plain":
		// No escape codes at all: text screenshots.
		r.SetColorProfile(termenv.Ascii)
	default:
		return Model{}, fmt.Errorf("unknown colour mode %q (want auto, none, 16, 256 or truecolor)", opts.Color)
	}
	if noColor {
		th, _ = themes.Builtin(themes.MonoName)
	}

	sup := newSupervisor(ctx)
	c := &common{
		renderer:    r,
		keys:        newKeymap(),
		now:         opts.Now,
		loc:         opts.Location,
		ctx:         sup.ctx,
		backend:     b,
		timeout:     opts.CommandTimeout,
		confirmQuit: opts.ConfirmQuit,
		noColor:     noColor,
		editor:      strings.Fields(opts.Editor),
		exec:        tea.ExecProcess,
	}
	events := &eventLog{}
	store := newLogStore(opts.LogLines)
	in := textinput.New()
	in.Prompt = "/ "
	in.Placeholder = "filter"
	// A blinking cursor would re-render the whole screen twice a second.
	in.Cursor.SetMode(cursor.CursorStatic)
	m := Model{
		c:         c,
		sup:       sup,
		feed:      newFeed(b, sup, opts.Interval, opts.RenderInterval, opts.LogLines),
		themes:    set,
		events:    events,
		store:     store,
		overview:  newOverview(c, events),
		workers:   newWorkers(c, store),
		upstreams: newUpstreams(c),
		logs:      newLogs(c, store),
		config:    newConfig(c),
		input:     in,
	}
	m.setTheme(th)
	// A terminal reports its size at once; other outputs (a pipe, a test)
	// never do, so start at the classic size.
	m.resize(80, 24)
	if themeErr != nil {
		m.status = statusMsg{text: "themes: " + strings.ReplaceAll(themeErr.Error(), "\n", "; ")}
	}
	return m, nil
}

// Run runs the console until the user quits or ctx is cancelled, and
// returns once every goroutine it started has stopped and the terminal is
// restored. Quitting and cancellation return nil; a panic in one of the
// console's goroutines returns a *PanicError (after Options.OnPanic).
func Run(ctx context.Context, b Backend, opts Options) error {
	m, err := New(ctx, b, opts)
	if err != nil {
		return err
	}
	defer m.Close()
	// Cancellation is not handed to Bubble Tea (tea.WithContext): it kills
	// the program without waiting for its input reader, which then lingers.
	// A watcher quits it gracefully instead.
	var popts []tea.ProgramOption
	if !opts.NoAltScreen {
		popts = append(popts, tea.WithAltScreen())
	}
	if opts.Input != nil {
		popts = append(popts, tea.WithInput(opts.Input))
	}
	if opts.Output != nil {
		popts = append(popts, tea.WithOutput(opts.Output))
	}
	if opts.WithoutSignalHandler {
		popts = append(popts, tea.WithoutSignalHandler())
	}
	p := tea.NewProgram(m, popts...)
	out := opts.Output
	if out == nil {
		out = os.Stdout
	}
	guard := newRestorer(opts.Input, out)
	guard.quit = p.Quit
	defer guard.disarm()
	if opts.Started != nil {
		opts.Started(guard.restore)
	}
	ran := make(chan struct{})
	var watcher sync.WaitGroup
	watcher.Add(1)
	go func() {
		defer watcher.Done()
		select {
		case <-ran:
			return
		case <-ctx.Done():
		case <-m.sup.dead: // a panic in a reader: Run reports it
		}
		p.Quit()
		// Should the event loop be wedged, kill it (the terminal is still
		// restored; only the input reader may linger).
		t := time.NewTimer(2 * time.Second)
		defer t.Stop()
		select {
		case <-ran:
		case <-t.C:
			p.Kill()
		}
	}()
	_, err = p.Run()
	guard.disarm()
	close(ran)
	watcher.Wait()
	m.Close()
	if pe := m.sup.panicked(); pe != nil {
		if opts.OnPanic != nil {
			opts.OnPanic(pe)
		}
		return pe
	}
	switch {
	case err == nil:
		return nil
	case guard.fired:
		return nil // the caller took the terminal back
	case errors.Is(err, tea.ErrInterrupted):
		return nil // ^C when stdin is not a terminal
	case errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil && !errors.Is(err, tea.ErrProgramPanic):
		return nil // the caller cancelled
	}
	return err
}
