package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/stackctl/stackctl/runtime/config"
	"github.com/stackctl/stackctl/runtime/control"
)

// socketFlag is --socket, shared by every command that talks to a running
// stack.
var socketFlag string

// client finds the control socket: --socket, else the one of -c FILE, else
// of ./stackctl.toml, else of the embedded demo.
func client(cfgFile string) (*control.Client, error) {
	if socketFlag != "" {
		return control.NewClient(socketFlag), nil
	}
	file := cfgFile
	if file == "" {
		if _, err := os.Stat("stackctl.toml"); err == nil {
			file = "stackctl.toml"
		} else {
			file = filepath.Join(config.DemoDir(), "stackctl.toml")
			if _, err := os.Stat(file); err != nil {
				return control.NewClient(filepath.Join(config.DefaultRunDir(file), "control.sock")), nil
			}
		}
	}
	sock, err := config.ControlSocket(file)
	if err != nil {
		return nil, err
	}
	return control.NewClient(sock), nil
}

func opsContext(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return context.WithTimeout(cmd.Context(), 5*time.Minute)
}

// result prints a command's outcome; a failed one exits 1.
func result(cmd *cobra.Command, r control.Result, err error) error {
	if err != nil {
		return &exitError{code: 1, err: fmt.Errorf("stackctl: %w", err)}
	}
	if !r.OK {
		return &exitError{code: 1, err: fmt.Errorf("stackctl: %s", r.Message)}
	}
	fmt.Fprintln(cmd.OutOrStdout(), r.Message)
	return nil
}

func newStatus(cfgFile *string) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "status",
		Short: "Show the running stack: proxy, apps, workers, upstreams",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := client(*cfgFile)
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			defer cl.Close()
			ctx, cancel := opsContext(cmd)
			defer cancel()
			snap, err := cl.Snapshot(ctx)
			if err != nil {
				return &exitError{code: 1, err: fmt.Errorf("stackctl: %w", err)}
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(snap)
			}
			printStatus(cmd.OutOrStdout(), snap)
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the whole snapshot as JSON (schema: docs/status.md)")
	return c
}

func printStatus(w io.Writer, s *control.Snapshot) {
	fmt.Fprintf(w, "stackctl %s  %s  up %s\n", s.Version, s.Config, time.Since(s.StartedAt).Round(time.Second))
	if s.Proxy.Enabled {
		fmt.Fprintf(w, "proxy  %s  %.0f req/s  p99 %.1f ms  active %d  requests %d\n", strings.Join(s.Proxy.Listen, " "), s.Proxy.RPS, s.Proxy.P99Ms, s.Proxy.Active, s.Proxy.Requests)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nAPP\tSTATE\tWORKERS\tBUSY\tREQ/S\tP99 MS\tRSS\tREQUESTS\tRESTARTS")
	for _, a := range s.Apps {
		fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%d\t%.1f\t%.1f\t%s\t%d\t%d\n", a.Name, a.State, live(a.Workers), a.Desired, a.Busy, a.RPS, a.P99Ms, size(a.RSSBytes), a.Requests, a.Restarts)
	}
	tw.Flush()
	for _, a := range s.Apps {
		fmt.Fprintf(w, "\n%s (%s, %s)\n", a.Name, a.Module, a.Socket)
		if a.LoadError != "" {
			fmt.Fprintf(w, "  failed to load:\n    %s\n", strings.ReplaceAll(strings.TrimSpace(a.LoadError), "\n", "\n    "))
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  ID\tPID\tSTATE\tREQUESTS\tREQ/S\tAVG MS\tRSS\tCPU%\tRESTARTS\tLAST EXIT\tCURRENT")
		for _, wk := range a.Workers {
			cur := ""
			if len(wk.Current) > 0 {
				cur = fmt.Sprintf("%s (%s)", wk.Current[0].Request, time.Since(wk.Current[0].Since).Round(time.Millisecond))
			}
			fmt.Fprintf(tw, "  %d\t%d\t%s\t%d\t%.1f\t%.1f\t%s\t%.1f\t%d\t%s\t%s\n", wk.ID, wk.PID, wk.State, wk.Requests, wk.RPS, wk.AvgMs, size(wk.RSSBytes), wk.CPUPercent, wk.Restarts, wk.LastExit, cur)
		}
		tw.Flush()
	}
	for _, u := range s.Upstreams {
		fmt.Fprintf(w, "\nupstream %s (%s)\n", u.Name, u.Balance)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  SERVER\tSTATE\tWEIGHT\tACTIVE\tREQUESTS\tFAILS\tP99 MS\tLAST CHECK")
		for _, sv := range u.Servers {
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%d\t%d\t%.1f\t%s\n", sv.Address, sv.State, sv.Weight, sv.Active, sv.Requests, sv.Fails, sv.P99Ms, sv.LastCheck)
		}
		tw.Flush()
	}
}

func live(ws []control.Worker) int {
	n := 0
	for _, w := range ws {
		if w.PID != 0 && w.State != "stopping" {
			n++
		}
	}
	return n
}

func size(b uint64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.1fGiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.0fMiB", float64(b)/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.0fKiB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%dB", b)
}

func newRestart(cfgFile *string) *cobra.Command {
	return &cobra.Command{
		Use:   "restart APP[/WORKER]",
		Short: "Gracefully restart one worker, or every worker of an app one at a time",
		Long: `restart replaces a worker gracefully: the replacement starts first and the
old worker stops only once the replacement is ready, so no request is lost.
APP alone restarts every worker of the app, one at a time (a chain reload).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := client(*cfgFile)
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			defer cl.Close()
			ctx, cancel := opsContext(cmd)
			defer cancel()
			app, worker, found := strings.Cut(args[0], "/")
			if !found {
				r, err := cl.ReloadApp(ctx, app)
				return result(cmd, r, err)
			}
			id, err := strconv.Atoi(worker)
			if err != nil {
				return &usageError{fmt.Errorf("worker must be a number: %q", worker)}
			}
			r, err := cl.RestartWorker(ctx, app, id)
			return result(cmd, r, err)
		},
	}
}

func newReload(cfgFile *string) *cobra.Command {
	return &cobra.Command{
		Use:   "reload [APP]",
		Short: "Reload the configuration file (like SIGHUP), or chain-reload one app",
		Long: `reload with no argument reloads the configuration file and applies the
difference: new apps start, removed ones stop, changed ones chain-reload or
scale, unchanged ones are untouched. A file with errors changes nothing and
its errors are printed as FILE:LINE: key: what is wrong. reload APP
chain-reloads one app (its code may have changed).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := client(*cfgFile)
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			defer cl.Close()
			ctx, cancel := opsContext(cmd)
			defer cancel()
			if len(args) == 1 {
				r, err := cl.ReloadApp(ctx, args[0])
				return result(cmd, r, err)
			}
			r, err := cl.ApplyConfig(ctx, "")
			if err != nil {
				return &exitError{code: 1, err: fmt.Errorf("stackctl: %w", err)}
			}
			return applyResult(cmd, r)
		},
	}
}

func applyResult(cmd *cobra.Command, r control.ApplyResult) error {
	out := cmd.OutOrStdout()
	if !r.OK {
		var lines []string
		for _, e := range r.Errors {
			lines = append(lines, (&config.Error{File: e.File, Line: e.Line, Key: e.Key, Msg: e.Msg}).Error())
		}
		if len(lines) == 0 {
			lines = append(lines, r.Message)
		} else {
			lines = append(lines, r.Message)
		}
		return &exitError{code: 1, err: errors.New(strings.Join(lines, "\n"))}
	}
	fmt.Fprintln(out, r.Message)
	for _, c := range r.Changes {
		fmt.Fprintln(out, "  "+c)
	}
	return nil
}

func newScale(cfgFile *string) *cobra.Command {
	return &cobra.Command{
		Use:   "scale APP N",
		Short: "Set the number of workers of an app",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := strconv.Atoi(args[1])
			if err != nil || n < 1 {
				return &usageError{fmt.Errorf("N must be a positive number: %q", args[1])}
			}
			cl, err := client(*cfgFile)
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			defer cl.Close()
			ctx, cancel := opsContext(cmd)
			defer cancel()
			r, err := cl.Scale(ctx, args[0], n)
			return result(cmd, r, err)
		},
	}
}

func newServerState(cfgFile *string, use, state, short string) *cobra.Command {
	return &cobra.Command{
		Use:   use + " UPSTREAM SERVER",
		Short: short,
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := client(*cfgFile)
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			defer cl.Close()
			ctx, cancel := opsContext(cmd)
			defer cancel()
			r, err := cl.SetServerState(ctx, args[0], args[1], state)
			return result(cmd, r, err)
		},
	}
}

func newLogs(cfgFile *string) *cobra.Command {
	var (
		followNew bool
		n         int
	)
	c := &cobra.Command{
		Use:   "logs SOURCE",
		Short: "Print an app's log (worker output), the proxy's access log (access) or the events (events)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := client(*cfgFile)
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			defer cl.Close()
			f, err := cl.Logs(cmd.Context(), args[0], n, followNew)
			if err != nil {
				return &exitError{code: 1, err: fmt.Errorf("stackctl: %w", err)}
			}
			defer f.Close()
			out := cmd.OutOrStdout()
			for {
				b, err := f.Next()
				if err != nil {
					if errors.Is(err, io.EOF) || cmd.Context().Err() != nil {
						return nil
					}
					return &exitError{code: 1, err: fmt.Errorf("stackctl: %w", err)}
				}
				if b.Lost > 0 {
					fmt.Fprintf(out, "[... %d lines lost: reading too slowly]\n", b.Lost)
				}
				for _, l := range b.Lines {
					fmt.Fprintln(out, formatLine(l))
				}
			}
		},
	}
	c.Flags().BoolVarP(&followNew, "follow", "f", false, "keep printing new lines")
	c.Flags().IntVarP(&n, "lines", "n", 100, "how many recent lines to print first")
	return c
}

func formatLine(l control.LogLine) string {
	ts := l.Time.Local().Format("15:04:05.000")
	switch {
	case l.Stream == "access":
		return l.Text
	case l.Worker > 0:
		return fmt.Sprintf("%s %s[%d] %s", ts, l.Stream, l.Worker, l.Text)
	default:
		return fmt.Sprintf("%s %s %s", ts, l.Stream, l.Text)
	}
}

func newEvents(cfgFile *string) *cobra.Command {
	var (
		followNew bool
		n         int
	)
	c := &cobra.Command{
		Use:   "events",
		Short: "Print the stack's events: spawns, exits and why, recycling, health, config changes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := client(*cfgFile)
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			defer cl.Close()
			f, err := cl.Events(cmd.Context(), n, followNew)
			if err != nil {
				return &exitError{code: 1, err: fmt.Errorf("stackctl: %w", err)}
			}
			defer f.Close()
			out := cmd.OutOrStdout()
			for {
				b, err := f.Next()
				if err != nil {
					if errors.Is(err, io.EOF) || cmd.Context().Err() != nil {
						return nil
					}
					return &exitError{code: 1, err: fmt.Errorf("stackctl: %w", err)}
				}
				if b.Lost > 0 {
					fmt.Fprintf(out, "[... %d events lost: reading too slowly]\n", b.Lost)
				}
				for _, e := range b.Events {
					src := e.Source
					if e.Worker > 0 {
						src += "/" + strconv.Itoa(e.Worker)
					}
					fmt.Fprintf(out, "%s %-16s %-12s %s\n", e.Time.Local().Format("15:04:05.000"), e.Kind, src, e.Message)
				}
			}
		},
	}
	c.Flags().BoolVarP(&followNew, "follow", "f", false, "keep printing new events")
	c.Flags().IntVarP(&n, "lines", "n", 50, "how many recent events to print first")
	return c
}
