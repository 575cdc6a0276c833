package appserver

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// socketTimeout bounds each read and write on a connection accepted from an
// app's shared socket. Linux copies it from the listening socket to every
// accepted one, so a client that sends half a packet and waits cannot pin a
// worker, at no per-request cost. (uWSGI's socket-timeout, default 4 s, plays
// the same role.)
const socketTimeout = 30 * time.Second

// openSocket opens an app's listening socket once; every worker inherits it.
// A unix socket file left by a dead stackctl is replaced; one that still has
// a listener is an error, never stolen.
func openSocket(network, addr string, backlog int, mode os.FileMode) (*os.File, error) {
	if network == "unix" {
		if err := os.MkdirAll(filepath.Dir(addr), 0o755); err != nil {
			return nil, err
		}
		if _, err := os.Stat(addr); err == nil {
			if c, err := net.DialTimeout("unix", addr, time.Second); err == nil {
				c.Close()
				return nil, fmt.Errorf("%s is in use by another process", addr)
			}
			if err := os.Remove(addr); err != nil {
				return nil, fmt.Errorf("remove stale socket: %w", err)
			}
		}
	}
	fd, err := listenFD(network, addr, backlog)
	if err != nil {
		return nil, err
	}
	if network == "unix" && mode != 0 {
		if err := os.Chmod(addr, mode); err != nil {
			syscall.Close(fd)
			return nil, fmt.Errorf("chmod socket: %w", err)
		}
	}
	tv := syscall.NsecToTimeval(socketTimeout.Nanoseconds())
	for _, opt := range []int{syscall.SO_RCVTIMEO, syscall.SO_SNDTIMEO} {
		if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, opt, &tv); err != nil {
			syscall.Close(fd)
			return nil, fmt.Errorf("set socket timeout: %w", err)
		}
	}
	return os.NewFile(uintptr(fd), network+":"+addr), nil
}

// listenFD creates a blocking listening socket with the given backlog (the
// net package would cap it at somaxconn silently and make it non-blocking).
func listenFD(network, addr string, backlog int) (int, error) {
	var (
		family int
		sa     syscall.Sockaddr
	)
	switch network {
	case "unix":
		family, sa = syscall.AF_UNIX, &syscall.SockaddrUnix{Name: addr}
	case "tcp":
		ta, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			return -1, err
		}
		if ip4 := ta.IP.To4(); ip4 != nil || ta.IP == nil {
			s := &syscall.SockaddrInet4{Port: ta.Port}
			if ip4 != nil {
				copy(s.Addr[:], ip4)
			}
			family, sa = syscall.AF_INET, s
		} else {
			s := &syscall.SockaddrInet6{Port: ta.Port}
			copy(s.Addr[:], ta.IP.To16())
			family, sa = syscall.AF_INET6, s
		}
	default:
		return -1, fmt.Errorf("unknown network %q", network)
	}
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	if family != syscall.AF_UNIX {
		if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
			syscall.Close(fd)
			return -1, err
		}
	}
	if err := syscall.Bind(fd, sa); err != nil {
		syscall.Close(fd)
		if errors.Is(err, syscall.EADDRINUSE) {
			return -1, fmt.Errorf("bind %s: address already in use", addr)
		}
		return -1, fmt.Errorf("bind %s: %w", addr, err)
	}
	if err := syscall.Listen(fd, backlog); err != nil {
		syscall.Close(fd)
		return -1, fmt.Errorf("listen %s: %w", addr, err)
	}
	return fd, nil
}

// listenQueue returns the number of connections waiting in a TCP listening
// socket's accept queue and the queue's size (uwsgitop's "lq"). Unix sockets
// report 0, 0: stock Linux does not expose their queue through TCP_INFO.
func listenQueue(f *os.File) (queued, max uint32) {
	raw, err := f.SyscallConn()
	if err != nil {
		return 0, 0
	}
	raw.Control(func(fd uintptr) {
		if ti, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
			queued, max = ti.Unacked, ti.Sacked
		}
	})
	return queued, max
}
