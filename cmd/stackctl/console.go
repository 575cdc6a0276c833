package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/charmbracelet/x/term"
	"github.com/spf13/cobra"
	"github.com/stackctl/stackctl/runtime/control"
	"github.com/stackctl/stackctl/runtime/stack"
	"github.com/stackctl/stackctl/runtime/stats"
	"github.com/stackctl/stackctl/ui"
)

// themeFlag is --theme; "" uses the configuration's [console] theme.
var themeFlag string

// themeDir is where user theme files live.
func themeDir() string {
	if d := os.Getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "stackctl", "themes")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".config", "stackctl", "themes")
	}
	return ""
}

// runConsole starts the stack in this process and attaches the console to
// it through the control socket, the same path `stackctl attach` takes.
// Quitting (after a confirmation) stops the stack gracefully.
func runConsole(cmd *cobra.Command, cfgFile string) error {
	if !term.IsTerminal(os.Stdin.Fd()) || !term.IsTerminal(os.Stdout.Fd()) {
		// No terminal to draw on (a script, a pipe, a service): run headless.
		fmt.Fprintln(cmd.ErrOrStderr(), "stackctl: no terminal; running headless as `stackctl serve` would")
		return runServe(cmd, cfgFile)
	}
	cfg, err := loadConfig(cfgFile)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	// The screen is the console's: stackctl's own log goes to a file.
	if err := os.MkdirAll(cfg.RunDir, 0o755); err != nil {
		return &exitError{code: 1, err: err}
	}
	logPath := filepath.Join(cfg.RunDir, "stackctl.log")
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	defer lf.Close()
	log := newLogger(lf)
	st, err := stack.Start(cmd.Context(), cfg, stack.Options{Version: version, OnEvent: func(e stats.Event) {
		log.Info(e.Message, "event", e.Kind, "source", e.Source)
	}})
	if err != nil {
		return &exitError{code: 1, err: fmt.Errorf("stackctl: %w", err)}
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := st.Stop(ctx); err != nil {
			log.Error("stop", "err", err)
		}
	}
	defer stop()
	theme := themeFlag
	if theme == "" {
		theme = cfg.Console.Theme
	}
	c := control.NewClient(cfg.Control.Socket)
	defer c.Close()
	err = ui.Run(cmd.Context(), c, ui.Options{
		Theme:       theme,
		ThemeDir:    themeDir(),
		ConfirmQuit: true,
		OnPanic: func(p *ui.PanicError) {
			log.Error("console panic", "goroutine", p.Goroutine, "value", fmt.Sprint(p.Value), "stack", string(p.Stack))
			stop()
		},
	})
	stop()
	return consoleErr(err, logPath)
}

func consoleErr(err error, logPath string) error {
	if err == nil {
		return nil
	}
	var pe *ui.PanicError
	if errors.As(err, &pe) {
		return &exitError{code: 1, err: fmt.Errorf("stackctl: the console crashed (%v); the stack was stopped; details in %s", pe.Value, logPath)}
	}
	return &exitError{code: 1, err: fmt.Errorf("stackctl: %w", err)}
}

func newAttach(cfgFile *string) *cobra.Command {
	return &cobra.Command{
		Use:   "attach",
		Short: "Open the console on a running `stackctl serve`; quitting leaves the stack running",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := client(*cfgFile)
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Second)
			_, err = c.Snapshot(ctx)
			cancel()
			if err != nil {
				return &exitError{code: 1, err: fmt.Errorf("stackctl: %w", err)}
			}
			return consoleErr(ui.Run(cmd.Context(), c, ui.Options{Theme: themeFlag, ThemeDir: themeDir()}), "")
		},
	}
}
