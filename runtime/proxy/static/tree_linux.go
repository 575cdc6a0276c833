package static

import (
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// beneath is how openat2 resolves request paths: never above the base
// directory, never through /proc magic links.
var beneath = unix.OpenHow{
	Flags:   unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NONBLOCK | unix.O_NOCTTY,
	Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS,
}

// openat2Works probes openat2 once, on the root itself.
func openat2Works(dir *os.File) bool {
	fd, err := unix.Openat2(int(dir.Fd()), ".", &beneath)
	runtime.KeepAlive(dir)
	if err != nil {
		return false // ENOSYS before Linux 5.6, EPERM under some seccomp filters
	}
	unix.Close(fd)
	return true
}

// openBeneath opens rel below dir with openat2 and returns it with its
// stat. It costs four system calls (openat2, fstat, fcntl to leave
// non-blocking mode, and the F_GETFL os.NewFile makes), the same as
// os.Open plus Stat; os.Root needs one openat per path element on top.
func openBeneath(dir *os.File, rel string) (*os.File, stat, error) {
	var fd int
	var err error
	for range 3 {
		fd, err = unix.Openat2(int(dir.Fd()), rel, &beneath)
		// EAGAIN: a concurrent rename or mount made the kernel unsure that
		// the resolution stayed beneath; it asks for a retry.
		if err != unix.EAGAIN && err != unix.EINTR {
			break
		}
	}
	runtime.KeepAlive(dir)
	if err != nil {
		return nil, stat{}, &os.PathError{Op: "openat2", Path: rel, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, stat{}, &os.PathError{Op: "fstat", Path: rel, Err: err}
	}
	s := stat{
		id: fileID{
			dev:     uint64(st.Dev),
			ino:     uint64(st.Ino),
			size:    st.Size,
			mtimeNs: st.Mtim.Nano(),
		},
		mtime: st.Mtim.Sec,
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		// Blocking mode for the reader: sendfile and read on a regular file
		// never wait anyway, and os.NewFile then leaves the poller alone.
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFL, unix.O_RDONLY); err != nil {
			unix.Close(fd)
			return nil, stat{}, &os.PathError{Op: "fcntl", Path: rel, Err: err}
		}
	case unix.S_IFDIR:
		s.mode = os.ModeDir
	default:
		s.mode = os.ModeIrregular
	}
	return os.NewFile(uintptr(fd), rel), s, nil
}
