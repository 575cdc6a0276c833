package appserver

import "time"

// Respawn policy. A worker that exits unplanned is respawned at once; only
// repeated crashes back off, so one crash costs nothing and a crash loop
// cannot eat the machine. A loop is workers dying without doing any work: a
// worker that completed a request before it died (killed by an operator or
// the OOM killer, or an app that crashes now and then) proved the app works
// and is replaced at once — backing it off would leave the app without
// workers exactly when they are being lost. An app that cannot even import
// backs off harder: each try costs an interpreter start-up, and the
// traceback will not change until someone changes the code.
const (
	// healthyRun: a worker that served this long before dying counts as a
	// fresh crash, not part of a loop.
	healthyRun   = 10 * time.Second
	crashBase    = 100 * time.Millisecond
	crashMax     = 30 * time.Second
	loadFailBase = time.Second
	loadFailMax  = time.Minute
)

// respawnDelay returns how long to wait before respawning a slot whose
// worker died unplanned, and the slot's new count of consecutive failures.
// ran is how long the worker lived and served how many requests it
// completed; loadFailed means it never imported the app.
func respawnDelay(prevFailures int, ran time.Duration, served uint64, loadFailed bool) (time.Duration, int) {
	if loadFailed {
		n := prevFailures + 1
		return backoff(loadFailBase, loadFailMax, n-1), n
	}
	if ran >= healthyRun || served > 0 {
		return 0, 1
	}
	n := prevFailures + 1
	if n == 1 {
		return 0, n
	}
	return backoff(crashBase, crashMax, n-2), n
}

func backoff(base, max time.Duration, exp int) time.Duration {
	d := base
	for i := 0; i < exp; i++ {
		d *= 2
		if d >= max {
			return max
		}
	}
	return d
}

// overdue returns the oldest request of a worker that has run past timeout
// (0 = off), or -1.
func overdue(cores []core, now time.Time, timeout time.Duration) int {
	if timeout <= 0 {
		return -1
	}
	oldest := -1
	for i, c := range cores {
		if c.busy && now.Sub(c.since) > timeout && (oldest < 0 || c.since.Before(cores[oldest].since)) {
			oldest = i
		}
	}
	return oldest
}

// overRSS reports whether a worker's memory calls for recycling (max 0 = off).
func overRSS(rss uint64, max int64) bool {
	return max > 0 && rss > uint64(max)
}
