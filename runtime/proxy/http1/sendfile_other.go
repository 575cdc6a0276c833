//go:build !linux

package http1

import "syscall"

const canSendfile = false

func (c *conn) sendfile(syscall.RawConn, *int64, int64) (int64, error) { return 0, nil }

func (c *conn) sendMore(b []byte) error { return c.write(b) }
