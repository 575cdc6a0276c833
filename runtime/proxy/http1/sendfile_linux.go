//go:build linux

package http1

import (
	"syscall"

	"golang.org/x/sys/unix"
)

const canSendfile = true

// sendfile sends up to limit bytes from the file behind frc, from its
// current offset (which it advances, as io.Copy would), with sendfile(2).
// Each call sends at most maxWriteStep bytes under its own WriteTimeout.
func (c *conn) sendfile(frc syscall.RawConn, limit int64) (int64, error) {
	s := c.srv
	rc := c.rawConn()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	var written int64
	var err error
	ferr := frc.Read(func(infd uintptr) bool {
		for written < limit {
			chunk := int(min(limit-written, maxWriteStep))
			if !c.setW(phaseWrite, s.now()+s.ms(s.cfg.writeTimeout)) {
				err = c.writeTimedOut()
				return true
			}
			var n int
			var serr error
			werr := rc.Write(func(outfd uintptr) bool {
				for {
					n, serr = unix.Sendfile(int(outfd), int(infd), nil, chunk)
					if serr != unix.EINTR {
						break
					}
				}
				return serr != unix.EAGAIN
			})
			if !c.setW(phaseNone, 0) {
				err = c.writeTimedOut()
				return true
			}
			if werr != nil {
				err = werr
				return true
			}
			if serr != nil {
				err = serr
				return true
			}
			if n <= 0 {
				return true // the file ended early
			}
			written += int64(n)
		}
		return true
	})
	if err == nil {
		err = ferr
	}
	return written, err
}
