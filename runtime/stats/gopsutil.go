package stats

import (
	"errors"
	"time"

	"github.com/shirou/gopsutil/v3/process"
)

var errNoMemory = errors.New("stats: process has no memory (exited)")

// gopsutilBackend is the portable reader. It keeps one *process.Process per
// PID across samples. It costs several file reads per process on Linux
// (stat, statm, status), which is why Linux uses procfsBackend.
type gopsutilBackend struct{}

func newGopsutilBackend() procBackend {
	// Without the cache gopsutil v3 reads /proc/stat and /proc/uptime for
	// the boot time on every CPU-times call (gopsutil#1283).
	process.EnableBootTimeCache(true)
	return gopsutilBackend{}
}

func (gopsutilBackend) name() string { return "gopsutil" }

func (gopsutilBackend) reset(st *procState) { st.backend = nil }

func (gopsutilBackend) read(st *procState, out *rawStat) error {
	p, _ := st.backend.(*process.Process)
	if p == nil {
		np, err := process.NewProcess(st.pid)
		if err != nil {
			return err
		}
		p = np
		st.backend = p
	}
	times, err := p.Times()
	if err != nil {
		return err
	}
	out.when = time.Now()
	mem, err := p.MemoryInfo()
	if err != nil {
		return err
	}
	if mem.VMS == 0 {
		// A zombie (exited, not reaped yet) has no address space; a live
		// user process always has one.
		return errNoMemory
	}
	// CreateTime is read once by NewProcess and cached by gopsutil, so it
	// cannot reveal a reused PID; the Sampler falls back on CPU time going
	// backwards for that.
	if ct, err := p.CreateTime(); err == nil && ct > 0 {
		out.start = uint64(ct)
		out.startTime = time.UnixMilli(ct)
	}
	out.cpu = time.Duration((times.User + times.System) * float64(time.Second))
	out.rss, out.vms = mem.RSS, mem.VMS
	if n, err := p.NumThreads(); err == nil {
		out.threads = n
	}
	return nil
}

func (gopsutilBackend) countFDs(st *procState) (int32, error) {
	p, _ := st.backend.(*process.Process)
	if p == nil {
		return -1, process.ErrorProcessNotRunning
	}
	return p.NumFDs()
}
