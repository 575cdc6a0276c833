package appserver

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// scoreboardSlot is the size of one thread's slot; the layout is written by
// the worker (see Loop in stackctl_worker.py):
//
//	0   u64 seq    odd while a request runs; written last when one starts
//	8   u64 start  CLOCK_MONOTONIC nanoseconds when it started
//	16  u16 len
//	18  the request line "METHOD URI", len bytes
//
// A worker updates its slots with plain memory writes, so knowing what every
// thread is doing costs no system call per request: the master reads the
// slots when it checks timeouts or takes a snapshot. (A status-pipe record
// per request cost the master ~10 µs of CPU per request, measured.)
const scoreboardSlot = 256

// scoreboard is one worker's shared memory.
type scoreboard struct {
	file *os.File // handed to the worker
	mem  []byte   // the master's read-only mapping
}

func newScoreboard(threads int) (*scoreboard, error) {
	size := threads * scoreboardSlot
	fd, err := unix.MemfdCreate("stackctl-scoreboard", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("scoreboard: %w", err)
	}
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("scoreboard: %w", err)
	}
	mem, err := unix.Mmap(fd, 0, size, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("scoreboard: %w", err)
	}
	return &scoreboard{file: os.NewFile(uintptr(fd), "scoreboard"), mem: mem}, nil
}

// close unmaps the memory. The caller guarantees no reader is active (the
// App reads it under its mutex and closes it under the same).
func (s *scoreboard) close() {
	if s == nil {
		return
	}
	if s.mem != nil {
		unix.Munmap(s.mem)
		s.mem = nil
	}
	s.file.Close()
}

func (s *scoreboard) load(off int) uint64 {
	return atomic.LoadUint64((*uint64)(unsafe.Pointer(&s.mem[off])))
}

// threads reads every slot into cores (one per thread). A slot being
// rewritten while it is read is read again; a request that ends meanwhile
// reads as idle.
func (s *scoreboard) read(cores []core) {
	if s == nil || s.mem == nil {
		return
	}
	now := monotonicNow()
	wall := time.Now()
	for i := range cores {
		off := i * scoreboardSlot
		if off+scoreboardSlot > len(s.mem) {
			break
		}
		cores[i] = core{}
		for try := 0; try < 3; try++ {
			seq := s.load(off)
			if seq&1 == 0 {
				break
			}
			start := s.load(off + 8)
			n := int(binary.LittleEndian.Uint16(s.mem[off+16:]))
			if n > scoreboardSlot-18 {
				n = scoreboardSlot - 18
			}
			line := string(s.mem[off+18 : off+18+n])
			if s.load(off) != seq {
				continue
			}
			age := time.Duration(now - int64(start))
			if age < 0 {
				age = 0
			}
			cores[i] = core{busy: true, since: wall.Add(-age), request: line}
			break
		}
	}
}

func monotonicNow() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}
