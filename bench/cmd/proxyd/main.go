// Command proxyd runs stackctl's proxy (and the [[app]]s it routes to) from
// a config file, without the rest of the stack: a bench-only front door
// until `stackctl serve` wires the proxy. SIGHUP reloads the config,
// SIGUSR1 reopens log files, SIGUSR2 starts/stops a CPU profile, SIGWINCH
// runs a GC and returns free memory to the OS (for steady-state RSS
// figures: an idle process never collects, so buffers pooled during a
// burst stay resident until the runtime's 2-minute forced GC),
// SIGINT/SIGTERM stop gracefully.
//
// Usage: go run ./bench/cmd/proxyd -config stackctl.toml [-cpuprofile FILE]
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/stackctl/stackctl/runtime/appserver"
	"github.com/stackctl/stackctl/runtime/config"
	"github.com/stackctl/stackctl/runtime/logs"
	"github.com/stackctl/stackctl/runtime/proxy"
)

func main() {
	path := flag.String("config", "stackctl.toml", "config file")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile (from SIGUSR2 to the next SIGUSR2)")
	flag.Parse()
	if err := run(*path, *cpuprofile); err != nil {
		fmt.Fprintln(os.Stderr, "proxyd:", err)
		os.Exit(1)
	}
}

func run(path, cpuprofile string) error {
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.RunDir, 0o755); err != nil {
		return err
	}
	store := logs.NewStore(filepath.Join(cfg.RunDir, "logs"), 1000)
	defer store.Close()
	srv, err := appserver.New(appserver.Options{RunDir: cfg.RunDir, Logs: store})
	if err != nil {
		return err
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		srv.Close(ctx)
	}()
	for _, ac := range cfg.Apps {
		a, err := srv.AddApp(ac)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		err = a.WaitReady(ctx)
		cancel()
		if err != nil {
			return err
		}
	}
	p, err := proxy.New(cfg, proxy.Options{
		Apps: func(name string) proxy.LaneSource {
			if a := srv.App(name); a != nil {
				return a
			}
			return nil
		},
		Logs:   store,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return err
	}
	fmt.Println("proxyd: listening on", p.Addrs())
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH)
	profiling := false
	for s := range sig {
		switch s {
		case syscall.SIGHUP:
			next, err := config.Load(path)
			if err == nil {
				err = p.Apply(next)
			}
			fmt.Fprintln(os.Stderr, "proxyd: reload:", err)
		case syscall.SIGWINCH:
			runtime.GC() // sync.Pool drops its objects on the second collection
			debug.FreeOSMemory()
		case syscall.SIGUSR1:
			store.ReopenAll()
		case syscall.SIGUSR2:
			if cpuprofile == "" {
				continue
			}
			if profiling {
				pprof.StopCPUProfile()
				profiling = false
				fmt.Fprintln(os.Stderr, "proxyd: profile written to", cpuprofile)
				continue
			}
			f, err := os.Create(cpuprofile)
			if err == nil {
				err = pprof.StartCPUProfile(f)
			}
			profiling = err == nil
		default:
			if profiling {
				pprof.StopCPUProfile()
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return p.Close(ctx)
		}
	}
	return nil
}
