// Package logs captures the stack's log lines: one bounded in-memory ring per
// source (an app's name, "access" for the proxy access log, "events" for the
// supervisor's events), an optional append-only file per source, and follow
// subscriptions that never slow a producer down.
//
// Contracts, in one place:
//
//   - Memory is bounded: a Buffer keeps at most its capacity of lines; a
//     Subscription keeps nothing but its position. A reader that falls behind
//     loses the oldest lines and is told how many (sequence gaps), it never
//     makes a producer wait.
//   - Files lose nothing: every line appended to a Buffer with a file is
//     written to it, in Seq order, through a buffered writer flushed at least
//     every FlushInterval and on Close. When the disk is slower than the
//     producers, Append waits for the disk (and Capture, in turn, stops
//     draining the worker's pipe): that is the back-pressure uWSGI's logto
//     and nginx's access_log apply too.
//   - Every goroutine the package starts (one flusher per file) is stopped by
//     Close.
package logs
