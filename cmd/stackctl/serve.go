package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/stackctl/stackctl/runtime/stack"
	"github.com/stackctl/stackctl/runtime/stats"
)

func newServe(cfgFile *string) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run the stack headless until SIGTERM or SIGINT",
		Long: `serve runs the stack in the foreground without the console, for systemd
and containers. Signals: SIGTERM/SIGINT stop gracefully (workers finish
the requests in flight), SIGHUP reloads the configuration file (a file with
errors changes nothing), SIGUSR1 reopens log files.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runServe(cmd, *cfgFile)
		},
	}
}

func runServe(cmd *cobra.Command, cfgFile string) error {
	cfg, err := loadConfig(cfgFile)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	log := newLogger(cmd.ErrOrStderr())
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1, syscall.SIGHUP)
	defer signal.Stop(sigs)

	ctx := context.Background()
	st, err := stack.Start(ctx, cfg, stack.Options{Version: version, OnEvent: func(e stats.Event) {
		log.Info(e.Message, "event", e.Kind, "source", e.Source)
	}})
	if err != nil {
		return &exitError{code: 1, err: fmt.Errorf("stackctl: %w", err)}
	}
	log.Info("stackctl started", "config", cfg.File, "run_dir", cfg.RunDir, "control", cfg.Control.Socket, "version", version)
	var changed <-chan struct{}
	if cfg.Watch {
		w, err := watchFile(cfg.File)
		if err != nil {
			log.Warn("watch: not watching the configuration file", "err", err)
		} else {
			defer w.Close()
			changed = w.changed
		}
	}
	for _, a := range cfg.Apps {
		log.Info("app", "name", a.Name, "socket", a.Socket, "workers", a.Workers)
	}
	reload := func(why string) {
		log.Info("reloading the configuration", "why", why)
		rctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		if _, err := st.ReloadFile(rctx); err != nil {
			log.Error("configuration not applied; the stack runs as it was", "err", err)
		}
	}
	for {
		var sig os.Signal
		select {
		case sig = <-sigs:
		case <-changed:
			reload("the file changed")
			continue
		}
		switch sig {
		case syscall.SIGUSR1:
			if err := st.ReopenLogs(); err != nil {
				log.Error("reopen logs", "err", err)
			} else {
				log.Info("log files reopened")
			}
		case syscall.SIGHUP:
			reload("SIGHUP")
		default:
			log.Info("stopping", "signal", sig.String())
			stopCtx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			err := st.Stop(stopCtx)
			cancel()
			if err != nil {
				return &exitError{code: 1, err: fmt.Errorf("stackctl: stop: %w", err)}
			}
			log.Info("stopped")
			return nil
		}
	}
}

func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}
