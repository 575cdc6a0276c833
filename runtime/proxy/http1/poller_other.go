//go:build !linux

package http1

import "errors"

// poller is Linux-only; elsewhere idle connections keep a goroutine
// blocked on a one-byte read, and hang-ups are noticed on the next read.
type poller struct{}

const (
	parkOK = iota
	parkFlagged
	parkFailed
)

var errNoPoller = errors.New("http1: no poller on this platform")

func newPoller(*Server) (*poller, error)          { return nil, errNoPoller }
func (p *poller) run()                            {}
func (p *poller) park(*conn, int64) int           { return parkFailed }
func (p *poller) arm(*conn, *reqCtx)              {}
func (p *poller) forget(*conn)                    {}
func (p *poller) expire(c *conn, w uint64, k int) {}
func (p *poller) close()                          {}
