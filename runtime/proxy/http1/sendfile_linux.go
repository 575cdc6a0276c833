//go:build linux

package http1

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

const canSendfile = true

// sendfile sends up to limit bytes from the file behind frc with
// sendfile(2): from *off, which it advances, or with off nil from the
// file's current offset (which it advances, as io.Copy would). Each call
// sends at most maxWriteStep bytes under its own WriteTimeout.
func (c *conn) sendfile(frc syscall.RawConn, off *int64, limit int64) (int64, error) {
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
					n, serr = unix.Sendfile(int(outfd), int(infd), off, chunk)
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

// sendMore sends b flagged MSG_MORE on a TCP connection, so that the kernel
// holds it for the data of the next call; elsewhere it is a plain write.
func (c *conn) sendMore(b []byte) error {
	if _, tcp := c.rwc.LocalAddr().(*net.TCPAddr); !tcp {
		return c.write(b)
	}
	s := c.srv
	rc := c.rawConn()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for len(b) > 0 {
		if !c.setW(phaseWrite, s.now()+s.ms(s.cfg.writeTimeout)) {
			return c.writeTimedOut()
		}
		var n int
		var serr error
		werr := rc.Write(func(fd uintptr) bool {
			for {
				n, serr = unix.SendmsgN(int(fd), b, nil, nil, unix.MSG_MORE)
				if serr != unix.EINTR {
					break
				}
			}
			return serr != unix.EAGAIN
		})
		if !c.setW(phaseNone, 0) {
			return c.writeTimedOut()
		}
		if werr != nil {
			return werr
		}
		if serr != nil {
			return serr
		}
		b = b[n:]
	}
	return nil
}
