// Package ui is stackctl's terminal console: five views (Overview, Workers,
// Upstreams, Logs, Config) over a running stack, built with Bubble Tea and
// lipgloss.
//
// The console is a client of the control API only (see Backend): it works
// the same on a stack it started and on one it attached to, and it never
// imports the runtime packages that run the stack.
//
// Shape:
//
//   - Model is the root: it owns the shared state (common: size, styles,
//     keymap, clock, backend), routes keys (a pending question first, then
//     the filter input, then global keys, then the active view) and data
//     (feedMsg to the views that show it), and frames the active view.
//   - Each view is a typed component with SetSize, Update and View
//     (view_*.go). Views sort and format their rows when data arrives and
//     draw only the visible ones.
//   - Data arrives through the feed (feed.go): reader goroutines fold the
//     control stream and the followed log into a mailbox, and one re-armed
//     Cmd delivers it as a single message at most every RenderInterval.
//   - Key bindings are data (keys.go): one table drives dispatch, the help
//     bar, the `?` screen, confirmations and KeyTableMarkdown.
package ui
