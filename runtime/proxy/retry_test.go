package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stackctl/stackctl/runtime/uwsgi"
)

func TestRetryable(t *testing.T) {
	notSent := &upError{err: errors.New("refused"), sent: false}
	sent := &upError{err: errors.New("reset"), sent: true}
	cases := []struct {
		method  string
		err     *upError
		nonIdem bool
		want    bool
	}{
		{"GET", sent, false, true},
		{"HEAD", sent, false, true},
		{"OPTIONS", sent, false, true},
		{"PUT", sent, false, true},
		{"DELETE", sent, false, true},
		{"POST", sent, false, false},
		{"PATCH", sent, false, false},
		{"POST", sent, true, true},     // retry_non_idempotent
		{"POST", notSent, false, true}, // never reached the app: always safe
		{"PATCH", notSent, false, true},
	}
	for _, c := range cases {
		if got := retryable(c.method, c.err, c.nonIdem); got != c.want {
			t.Errorf("retryable(%s, sent=%v, non_idempotent=%v) = %v, want %v", c.method, c.err.sent, c.nonIdem, got, c.want)
		}
	}
}

func TestClassify(t *testing.T) {
	dialErr := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	cases := []struct {
		name                  string
		err                   error
		sentIn                bool
		sent, timeout, health bool
	}{
		{"connection refused", dialErr, true, false, false, true},
		{"dial timeout", &net.OpError{Op: "dial", Err: os.ErrDeadlineExceeded}, true, false, true, true},
		{"reset after sending", fmt.Errorf("read: %w", syscall.ECONNRESET), true, true, false, true},
		{"read timeout", fmt.Errorf("read: %w", os.ErrDeadlineExceeded), true, true, true, true},
		{"lane: not started", fmt.Errorf("%w (worker died)", uwsgi.ErrNotStarted), true, false, false, false},
		{"lane: maybe started", fmt.Errorf("%w: EOF", uwsgi.ErrMaybeStarted), true, true, false, false},
		{"client went away", context.Canceled, true, true, false, false},
		{"deadline", context.DeadlineExceeded, true, true, true, true},
	}
	for _, c := range cases {
		e := classify(c.err, c.sentIn)
		if e.sent != c.sent || e.timeout != c.timeout || e.health != c.health {
			t.Errorf("%s: sent=%v timeout=%v health=%v, want %v %v %v", c.name, e.sent, e.timeout, e.health, c.sent, c.timeout, c.health)
		}
	}
	if failStatus(classify(context.DeadlineExceeded, true)) != 504 || failStatus(classify(dialErr, false)) != 502 || failStatus(nil) != 502 {
		t.Error("failStatus: want 504 for timeouts, 502 otherwise")
	}
}

func TestBudget(t *testing.T) {
	t0 := time.Now()
	b := budget{start: t0, maxTry: 3}
	n := 0
	for b.another(t0) {
		b.tries++
		n++
	}
	if n != 3 {
		t.Errorf("%d tries, want 3", n)
	}
	b = budget{start: t0, maxTry: 10, timeout: time.Second}
	if !b.another(t0.Add(5 * time.Second)) {
		t.Error("the first try must always start")
	}
	b.tries = 1
	if !b.another(t0.Add(500 * time.Millisecond)) {
		t.Error("a retry within try_timeout refused")
	}
	if b.another(t0.Add(time.Second)) {
		t.Error("a retry after try_timeout allowed")
	}
}
