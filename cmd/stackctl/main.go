// Command stackctl runs a Python web stack — a proxy in front of WSGI app
// workers — from one configuration file, and operates it.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/stackctl/stackctl/runtime/config"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// exitError carries a process exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func main() {
	// STACKCTL_CPUPROFILE=FILE writes a Go CPU profile of the whole run
	// (for benchmarks: go tool pprof stackctl FILE). Kept out of the flags:
	// it is a developer's tool, not an operator's.
	if path := os.Getenv("STACKCTL_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "stackctl: STACKCTL_CPUPROFILE:", err)
			os.Exit(1)
		}
		defer f.Close()
	}
	root := newRoot()
	// ^C ends a `logs -f` or `events -f` cleanly; serve installs its own
	// handlers for a graceful stop.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := root.ExecuteContext(ctx)
	stop()
	pprof.StopCPUProfile()
	if err == nil {
		return
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintln(os.Stderr, ee.err)
		}
		os.Exit(ee.code)
	}
	fmt.Fprintln(os.Stderr, "stackctl:", err)
	if isUsage(err) {
		os.Exit(2)
	}
	os.Exit(1)
}

// usageError marks a mistake in the command line (exit code 2).
type usageError struct{ error }

func isUsage(err error) bool {
	var u *usageError
	return errors.As(err, &u)
}

func newRoot() *cobra.Command {
	var cfgFile string
	root := &cobra.Command{
		Use:   "stackctl",
		Short: "nginx + uWSGI in one binary, with a live console",
		Long: `stackctl runs a Python web stack from one configuration file: a proxy
(static files, routes, load balancing, health checks) in front of a master
supervising Python WSGI worker processes, and lets you operate it.

Run in a terminal it starts the stack and opens the console; quitting the
console stops the stack. With no configuration file (no -c and no
./stackctl.toml) it runs an embedded demo stack.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runConsole(cmd, cfgFile)
		},
	}
	root.PersistentFlags().StringVarP(&cfgFile, "config", "c", "", "configuration file (default ./stackctl.toml, else the embedded demo)")
	root.PersistentFlags().StringVar(&themeFlag, "theme", "", "console theme: dark, light, high-contrast, colorblind, mono, or a user theme (default: [console] theme)")
	root.PersistentFlags().StringVar(&socketFlag, "socket", "", "control socket of a running stack (default: the one of the configuration)")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return &usageError{err} })
	root.AddCommand(newServe(&cfgFile), newCheck(&cfgFile), newVersion(),
		newStatus(&cfgFile), newRestart(&cfgFile), newReload(&cfgFile), newScale(&cfgFile),
		newServerState(&cfgFile, "drain", "drain", "Stop sending new requests to an upstream server; requests in flight finish"),
		newServerState(&cfgFile, "undrain", "up", "Send requests to a drained or downed upstream server again"),
		newLogs(&cfgFile), newEvents(&cfgFile), newAttach(&cfgFile))
	return root
}

// loadConfig loads -c FILE, else ./stackctl.toml, else the embedded demo
// (written under the demo's run directory).
func loadConfig(file string) (*config.Config, error) {
	if file != "" {
		return config.Load(file)
	}
	if _, err := os.Stat("stackctl.toml"); err == nil {
		return config.Load("stackctl.toml")
	}
	return config.Demo(config.DemoDir())
}

func newVersion() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintln(cmd.OutOrStdout(), "stackctl", version)
			return nil
		},
	}
}

func newCheck(cfgFile *string) *cobra.Command {
	return &cobra.Command{
		Use:   "check",
		Short: "Validate a configuration file, like nginx -t",
		Long: `check loads and validates a configuration without starting anything. It
exits 0 when the file is valid, or 1 and prints every problem as
FILE:LINE: key: what is wrong.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(*cfgFile)
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			name := cfg.File
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (%d apps)\n", name, len(cfg.Apps))
			return nil
		},
	}
}
