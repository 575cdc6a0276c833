package ui

import (
	"context"
	"time"

	"github.com/stackctl/stackctl/runtime/control"
)

// Backend is what the console needs of a running stack: the subset of the
// control API it uses. *control.Client satisfies it, so the console works
// the same against a stack it started and one it attached to; tests hand it
// a fake (ui/uitest).
type Backend interface {
	// Stream subscribes to snapshots (one per interval) and events.
	Stream(ctx context.Context, interval time.Duration) (*control.Follow[control.StreamMessage], error)
	// Logs returns the last n lines of a source (an app, "access" or
	// "events") and, with follow, keeps streaming.
	Logs(ctx context.Context, source string, n int, follow bool) (*control.Follow[control.LogBatch], error)
	WorkerHistory(ctx context.Context, app string, id int) (control.History, error)
	RestartWorker(ctx context.Context, app string, id int) (control.Result, error)
	ReloadApp(ctx context.Context, app string) (control.Result, error)
	Scale(ctx context.Context, app string, workers int) (control.Result, error)
	SetServerState(ctx context.Context, upstream, server, state string) (control.Result, error)
	Config(ctx context.Context) (control.ConfigText, error)
	ValidateConfig(ctx context.Context, text string) (control.ValidateResult, error)
	ApplyConfig(ctx context.Context, text string) (control.ApplyResult, error)
}

var _ Backend = (*control.Client)(nil)
