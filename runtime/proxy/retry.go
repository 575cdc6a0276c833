package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"

	"github.com/stackctl/stackctl/runtime/uwsgi"
)

// idempotent reports whether a request with this method may be sent twice
// (RFC 9110 §9.2.2): nginx's proxy_next_upstream retries only these unless
// told non_idempotent.
func idempotent(method string) bool {
	switch method {
	case "GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE":
		return true
	}
	return false
}

// upError is a failed attempt to get a response head from a server.
type upError struct {
	err error
	// sent: the request (or part of it) may have reached the application,
	// so resending it might run it twice.
	sent bool
	// timeout: the attempt ran out of time (504 rather than 502 if it is
	// the last).
	timeout bool
	// health: the failure says something about the server's health and
	// counts towards max_fails. A worker lane broken by a worker's death
	// does not: the app's other workers are fine.
	health bool
	// busy: no capacity (no worker lane within connect_timeout).
	busy bool
}

func (e *upError) Error() string { return e.err.Error() }
func (e *upError) Unwrap() error { return e.err }

// classify turns a transport error into an upError. sent says whether the
// request was (perhaps partly) written.
func classify(err error, sent bool) *upError {
	var ue *upError
	if errors.As(err, &ue) {
		return ue
	}
	e := &upError{err: err, sent: sent, health: true}
	switch {
	case errors.Is(err, uwsgi.ErrNotStarted):
		e.sent, e.health = false, false
	case errors.Is(err, uwsgi.ErrMaybeStarted):
		e.sent, e.health = true, false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		e.timeout = true
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		e.timeout = true
	}
	if errors.Is(err, context.Canceled) {
		e.health = false // the client went away; the server did nothing wrong
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		e.sent = false
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) {
		e.sent = false
	}
	return e
}

// retryable reports whether a request that failed with e may go to the next
// server: always when it never reached the application, else only for
// idempotent methods or when the upstream says retry_non_idempotent.
func retryable(method string, e *upError, nonIdempotent bool) bool {
	if !e.sent {
		return true
	}
	return idempotent(method) || nonIdempotent
}

// budget bounds the attempts of one request: at most tries of them, all
// started within timeout of the first (0: no limit).
type budget struct {
	start   time.Time
	tries   int
	maxTry  int
	timeout time.Duration
}

// another reports whether one more attempt may start at now.
func (b *budget) another(now time.Time) bool {
	if b.tries >= b.maxTry {
		return false
	}
	if b.timeout > 0 && b.tries > 0 && now.Sub(b.start) >= b.timeout {
		return false
	}
	return true
}

// failStatus is the status a client gets when the last attempt failed with
// e (nil: no server could be tried at all).
func failStatus(e *upError) int {
	if e != nil && e.timeout {
		return http.StatusGatewayTimeout
	}
	return http.StatusBadGateway
}

// errNoServer is why a request got no attempt: every server is down,
// draining, failed or unhealthy.
var errNoServer = errors.New("no live upstream server")

func noServer(upstream string) error {
	return fmt.Errorf("upstream %s: %w", upstream, errNoServer)
}
