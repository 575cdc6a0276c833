package appserver

import "time"

// Event is something that happened to an app or a worker: the stack turns
// these into its event log, the console shows them.
type Event struct {
	Time    time.Time
	Kind    string
	App     string
	Worker  int // slot id; 0 for app-level events
	PID     int
	Message string
}

// Event kinds.
const (
	EventAppStarted = "app.started"
	EventAppStopped = "app.stopped"
	EventSpawned    = "worker.spawned"
	EventReady      = "worker.ready"
	EventExited     = "worker.exited"  // a stop the master asked for
	EventCrashed    = "worker.crashed" // an exit nobody asked for
	EventRecycled   = "worker.recycled"
	EventReload     = "app.reload"
	EventScaled     = "app.scaled"
	EventError      = "app.error"
)
