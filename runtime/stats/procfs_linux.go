//go:build linux

package stats

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"strconv"
	"syscall"
	"time"
)

// userHZ is the unit of the CPU and start times in /proc/PID/stat:
// USER_HZ, what sysconf(_SC_CLK_TCK) returns. The kernel fixes it at 100
// for userspace on every architecture Go supports on Linux (it differs
// from the kernel's internal HZ, which is not visible here), so it is a
// constant rather than a cgo call.
const userHZ = 100

var errExited = errors.New("stats: process has exited")

// procfsBackend reads /proc/PID/stat: one open, one read, one close per
// process for CPU times, memory, threads and start time.
type procfsBackend struct {
	root     string
	bootTime time.Time // zero if unknown
	pageSize uint64
	buf      []byte // reused for every stat file
	dirent   []byte // reused for counting fds on old kernels
}

// newProcfsBackend returns the /proc reader, or nil if /proc does not work
// here (not mounted, or hidden).
func newProcfsBackend() procBackend {
	b := &procfsBackend{
		root:     "/proc",
		pageSize: uint64(os.Getpagesize()),
		buf:      make([]byte, 1024),
		dirent:   make([]byte, 8192),
	}
	var raw rawStat
	if err := b.read(&procState{pid: int32(os.Getpid())}, &raw); err != nil {
		return nil
	}
	b.bootTime = readBootTime(b.root + "/stat")
	return b
}

func (b *procfsBackend) name() string { return "procfs" }

func (b *procfsBackend) reset(*procState) {}

func (b *procfsBackend) read(st *procState, out *rawStat) error {
	if st.statPath == "" {
		st.statPath = b.root + "/" + strconv.Itoa(int(st.pid)) + "/stat"
	}
	n, err := readSmallFile(st.statPath, &b.buf)
	if err != nil {
		return err
	}
	out.when = time.Now()
	f, err := parseStat(b.buf[:n])
	if err != nil {
		return err
	}
	switch f.state {
	case 'Z', 'X', 'x': // exited, not reaped yet (or being reaped)
		return errExited
	}
	out.start = f.startTicks
	if !b.bootTime.IsZero() {
		out.startTime = b.bootTime.Add(ticksToDuration(f.startTicks))
	}
	out.cpu = ticksToDuration(f.utime + f.stime)
	out.vms = f.vsize
	out.rss = f.rssPages * b.pageSize
	out.threads = int32(min(f.threads, 1<<31-1))
	return nil
}

func ticksToDuration(t uint64) time.Duration {
	return time.Duration(t) * (time.Second / userHZ)
}

// countFDs counts the entries of /proc/PID/fd. Since Linux 6.2 the size of
// that directory is the number of open fds, which costs one stat; older
// kernels report 0 and the directory is read instead.
func (b *procfsBackend) countFDs(st *procState) (int32, error) {
	if st.fdPath == "" {
		st.fdPath = b.root + "/" + strconv.Itoa(int(st.pid)) + "/fd"
	}
	var sb syscall.Stat_t
	if err := syscall.Stat(st.fdPath, &sb); err != nil {
		return -1, err
	}
	if sb.Size > 0 {
		return int32(min(sb.Size, 1<<31-1)), nil
	}
	return countDirEntries(st.fdPath, b.dirent)
}

// countDirEntries counts the entries of a directory other than . and ..
// without allocating, using buf for the raw directory records.
func countDirEntries(path string, buf []byte) (int32, error) {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	defer syscall.Close(fd)
	var count int32
	for {
		n, err := syscall.ReadDirent(fd, buf)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return -1, err
		}
		if n <= 0 {
			return count, nil
		}
		// struct linux_dirent64: ino u64, off u64, reclen u16, type u8, name.
		for rec := buf[:n]; len(rec) >= 20; {
			reclen := int(binary.NativeEndian.Uint16(rec[16:18]))
			if reclen < 20 || reclen > len(rec) {
				return -1, errors.New("stats: malformed directory entry")
			}
			name := rec[19:reclen]
			if k := bytes.IndexByte(name, 0); k >= 0 {
				name = name[:k]
			}
			if string(name) != "." && string(name) != ".." {
				count++
			}
			rec = rec[reclen:]
		}
	}
}

// readSmallFile reads a whole (small, /proc) file into *buf, growing it if
// needed, and returns the number of bytes read.
func readSmallFile(path string, buf *[]byte) (int, error) {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer syscall.Close(fd)
	n := 0
	for {
		if n == len(*buf) {
			*buf = append(*buf, make([]byte, len(*buf))...)
		}
		m, err := syscall.Read(fd, (*buf)[n:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return 0, err
		}
		if m <= 0 {
			return n, nil
		}
		n += m
		if (*buf)[n-1] == '\n' {
			return n, nil // /proc/PID/stat is one line: done without a read that returns 0
		}
	}
}

// readBootTime returns the boot time from the btime line of /proc/stat, or
// the zero time.
func readBootTime(path string) time.Time {
	data, err := os.ReadFile(path)
	if err != nil {
		return time.Time{}
	}
	for line := range bytes.SplitSeq(data, []byte{'\n'}) {
		if v, ok := bytes.CutPrefix(line, []byte("btime ")); ok {
			if sec, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64); err == nil && sec > 0 {
				return time.Unix(sec, 0)
			}
		}
	}
	return time.Time{}
}
