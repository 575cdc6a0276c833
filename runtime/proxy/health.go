package proxy

import (
	"fmt"
	"time"
)

// Admin states an operator sets on a server.
const (
	AdminUp    = "up"    // takes requests
	AdminDrain = "drain" // takes no new requests; those in flight finish
	AdminDown  = "down"  // takes no requests
)

// Server states as reported: the admin state unless it is up, then the
// health verdicts.
const (
	StateUp        = "up"
	StateDrain     = "drain"
	StateDown      = "down"      // set down by the operator or the config
	StateUnhealthy = "unhealthy" // failed its active health checks
	StateFailed    = "failed"    // max_fails failures within fail_timeout (passive)
)

func validAdmin(s string) bool { return s == AdminUp || s == AdminDrain || s == AdminDown }

// passiveHealth is nginx's max_fails/fail_timeout: a server that failed
// maxFails times, each failure within failTimeout of the previous one, is
// "failed" and not used for failTimeout after its last failure. Then one
// request may probe it: success makes it whole again, failure takes it out
// for another failTimeout. As in nginx, a success does not forgive earlier
// failures still within the window (interleaved failures still add up).
// maxFails 0 disables it.
type passiveHealth struct {
	fails    int
	lastFail time.Time
}

// failure records a failed attempt at now. It reports whether the server
// just became failed.
func (h *passiveHealth) failure(now time.Time, maxFails int, failTimeout time.Duration) (wentDown bool) {
	if maxFails <= 0 {
		return false
	}
	if h.fails < maxFails && !h.lastFail.IsZero() && now.Sub(h.lastFail) > failTimeout {
		h.fails = 0 // the earlier failures are out of the window
	}
	wasDown := h.fails >= maxFails
	h.fails++
	h.lastFail = now
	return h.fails >= maxFails && !wasDown
}

// success records a good response at now. It reports whether a failed
// server is back.
func (h *passiveHealth) success(now time.Time, maxFails int, failTimeout time.Duration) (cameBack bool) {
	if h.fails == 0 {
		return false
	}
	if maxFails > 0 && h.fails >= maxFails {
		h.fails, h.lastFail = 0, time.Time{}
		return true
	}
	if now.Sub(h.lastFail) > failTimeout {
		h.fails, h.lastFail = 0, time.Time{}
	}
	return false
}

// failed reports whether the server is in the failed state.
func (h *passiveHealth) failed(maxFails int) bool { return maxFails > 0 && h.fails >= maxFails }

// downUntil is when a failed server may be probed (zero when it may now).
func (h *passiveHealth) downUntil(maxFails int, failTimeout time.Duration) time.Time {
	if !h.failed(maxFails) {
		return time.Time{}
	}
	return h.lastFail.Add(failTimeout)
}

// activeHealth is the verdict of active checks: fall consecutive failures
// make a healthy server unhealthy, rise consecutive successes make it
// healthy again. A server starts healthy (checks confirm, not admit).
type activeHealth struct {
	unhealthy bool
	run       int // consecutive results contrary to the current verdict
}

// observe records one check result and reports whether the verdict changed.
func (a *activeHealth) observe(ok bool, rise, fall int) (changed bool) {
	if ok != a.unhealthy {
		// The result agrees with the current verdict.
		a.run = 0
		return false
	}
	a.run++
	limit := fall
	if a.unhealthy {
		limit = rise
	}
	if a.run >= max(limit, 1) {
		a.unhealthy = !a.unhealthy
		a.run = 0
		return true
	}
	return false
}

// CheckResult is the outcome of one active health check.
type CheckResult struct {
	Time     time.Time     `json:"time"`
	OK       bool          `json:"ok"`
	Status   int           `json:"status,omitempty"`
	Error    string        `json:"error,omitempty"`
	Duration time.Duration `json:"duration"`
}

func (c CheckResult) String() string {
	if c.Error != "" {
		return c.Error
	}
	return fmt.Sprintf("status %d in %s", c.Status, c.Duration.Round(time.Millisecond))
}

// expectOK reports whether status passes a check expecting expect (0: any
// 2xx or 3xx).
func expectOK(status, expect int) bool {
	if expect == 0 {
		return status >= 200 && status < 400
	}
	return status == expect
}
