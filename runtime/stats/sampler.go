package stats

import (
	"sync"
	"time"
)

// DefaultFDEvery is how often, in samples of a process, a Sampler counts
// its open file descriptors unless told otherwise.
const DefaultFDEvery = 5

// ProcStat is one sample of one process.
type ProcStat struct {
	PID int32
	// StartTime is when the process started. Together with PID it names
	// one process: a PID reused by a new process has a new StartTime. On
	// Linux it is derived from the boot time, so it is accurate to about a
	// second; it is zero if unknown.
	StartTime time.Time
	// CPUTime is the user plus system CPU time the process has used.
	CPUTime time.Duration
	// CPUPercent is the CPU used between the previous sample of this
	// process and this one, as a percentage of one core (a process busy on
	// two cores reads 200). It is 0 on the first sample of a process. It
	// is current load, not the lifetime average.
	CPUPercent float64
	// RSS is the resident set size in bytes.
	RSS uint64
	// VMS is the virtual memory size in bytes.
	VMS uint64
	// Threads is the number of threads (1 for a single-threaded process).
	Threads int32
	// FDs is the number of open file descriptors as of the last count (see
	// SamplerOptions.FDEvery), or -1 if they were never counted (disabled,
	// or not permitted).
	FDs int32
}

// SamplerOptions configure a Sampler. The zero value is the default.
type SamplerOptions struct {
	// FDEvery: count open file descriptors on the first sample of each
	// process and then on every FDEvery-th sample, reporting the last
	// count in between (counting means reading a directory, the most
	// costly part of a sample on kernels before 6.2). 0 means
	// DefaultFDEvery, 1 every sample, negative never.
	FDEvery int
	// Gopsutil selects the portable gopsutil reader even where the /proc
	// fast path is available (for comparisons and tests). Using gopsutil
	// turns on its process-wide boot-time cache
	// (process.EnableBootTimeCache).
	Gopsutil bool
}

// Sampler samples many processes by PID, keeping per-process state between
// calls so that CPU usage is measured over the interval between samples.
// It is meant to be driven by one ticker in the owner of the PIDs (the app
// server): it starts no goroutines and needs no Close. Concurrent calls are
// safe and serialised.
//
// On Linux it reads /proc/PID/stat once per process (and counts fds at a
// slower cadence); elsewhere, or when /proc is not readable, it uses
// gopsutil.
//
// The zero value is a Sampler with default options.
type Sampler struct {
	mu      sync.Mutex
	be      procBackend
	fdEvery int
	round   uint64
	procs   map[int32]*procState
	raw     rawStat // scratch for the backend (an escaping local would allocate)
}

// procState is what a Sampler remembers about one process between samples.
type procState struct {
	pid      int32
	round    uint64 // last round this PID was asked for
	primed   bool   // cpu and when hold a previous sample
	start    uint64 // identity of the process incarnation (backend-specific)
	cpu      time.Duration
	when     time.Time
	fds      int32
	fdWait   int // samples to go before the next fd count
	statPath string
	fdPath   string
	backend  any // backend-private state (gopsutil: *process.Process)
}

// rawStat is what a backend reads for one process.
type rawStat struct {
	start     uint64 // identity of this incarnation; 0 if the backend cannot tell
	startTime time.Time
	cpu       time.Duration
	when      time.Time // when cpu was read (monotonic clock)
	rss, vms  uint64
	threads   int32
}

// procBackend reads processes. Implementations are used by one goroutine
// at a time (under Sampler.mu).
type procBackend interface {
	name() string
	// read samples st.pid into out. Any error means the process cannot be
	// sampled now (most often: it is gone); the Sampler drops it.
	read(st *procState, out *rawStat) error
	// countFDs counts the open file descriptors of st.pid.
	countFDs(st *procState) (int32, error)
	// reset forgets backend-private state of st (the PID now names a new
	// process).
	reset(st *procState)
}

// NewSampler returns a Sampler with the given options.
func NewSampler(opts SamplerOptions) *Sampler {
	s := &Sampler{}
	s.init(nil, opts)
	return s
}

// newSampler returns a Sampler reading through be (tests).
func newSampler(be procBackend, opts SamplerOptions) *Sampler {
	s := &Sampler{}
	s.init(be, opts)
	return s
}

// init sets s up; s.mu must be held or s not yet shared. A nil be picks
// the best backend for opts.
func (s *Sampler) init(be procBackend, opts SamplerOptions) {
	if be == nil && !opts.Gopsutil {
		be = newProcfsBackend() // nil where /proc is not usable
	}
	if be == nil {
		be = newGopsutilBackend()
	}
	s.be = be
	s.fdEvery = opts.FDEvery
	if s.fdEvery == 0 {
		s.fdEvery = DefaultFDEvery
	}
	s.procs = make(map[int32]*procState)
}

// lock locks s, setting up a zero-value Sampler on first use.
func (s *Sampler) lock() {
	s.mu.Lock()
	if s.be == nil {
		s.init(nil, SamplerOptions{})
	}
}

// Backend names the reader in use: "procfs" or "gopsutil".
func (s *Sampler) Backend() string {
	s.lock()
	defer s.mu.Unlock()
	return s.be.name()
}

// Sample samples every process in pids and returns one ProcStat per
// process that could be read, in the order of pids. PIDs that do not name
// a live process (exited, or never existed), non-positive PIDs and
// duplicates are left out. State kept for PIDs not in pids, or gone, is
// dropped, so pass every PID of interest on every call.
//
// The returned slice is new and belongs to the caller; see AppendSample to
// reuse one.
func (s *Sampler) Sample(pids []int32) []ProcStat {
	return s.AppendSample(make([]ProcStat, 0, len(pids)), pids)
}

// AppendSample is like Sample but appends the results to dst and returns
// the extended slice, so that a caller sampling on a ticker can reuse one
// slice (pass dst[:0]).
func (s *Sampler) AppendSample(dst []ProcStat, pids []int32) []ProcStat {
	s.lock()
	defer s.mu.Unlock()
	s.round++
	for _, pid := range pids {
		if pid <= 0 {
			continue
		}
		st := s.procs[pid]
		if st == nil {
			st = &procState{pid: pid, fds: -1}
			s.procs[pid] = st
		} else if st.round == s.round {
			continue // duplicate PID in this call
		}
		st.round = s.round
		raw := &s.raw
		*raw = rawStat{}
		if err := s.be.read(st, raw); err != nil {
			delete(s.procs, pid)
			continue
		}
		if st.primed && (raw.start != st.start || raw.cpu < st.cpu) {
			// Another process now has this PID: a new start time, or CPU
			// time that went backwards. Start over; where the backend
			// could not tell the start times apart, its cached identity is
			// stale too, so read again.
			stale := raw.start == st.start
			s.be.reset(st)
			st.primed, st.fds, st.fdWait = false, -1, 0
			if stale {
				*raw = rawStat{}
				if err := s.be.read(st, raw); err != nil {
					delete(s.procs, pid)
					continue
				}
			}
		}
		dst = append(dst, s.update(st, raw))
	}
	for pid, st := range s.procs {
		if st.round != s.round {
			delete(s.procs, pid)
		}
	}
	return dst
}

// update folds a fresh reading of the same process into st and returns
// the sample.
func (s *Sampler) update(st *procState, raw *rawStat) ProcStat {
	out := ProcStat{
		PID:       st.pid,
		StartTime: raw.startTime,
		CPUTime:   raw.cpu,
		RSS:       raw.rss,
		VMS:       raw.vms,
		Threads:   raw.threads,
	}
	if st.primed {
		if dt := raw.when.Sub(st.when); dt > 0 {
			out.CPUPercent = 100 * (raw.cpu - st.cpu).Seconds() / dt.Seconds()
		}
	}
	st.primed, st.start, st.cpu, st.when = true, raw.start, raw.cpu, raw.when

	if s.fdEvery > 0 {
		if st.fdWait <= 0 {
			if n, err := s.be.countFDs(st); err == nil {
				st.fds = n
			} else {
				st.fds = -1
			}
			st.fdWait = s.fdEvery
		}
		st.fdWait--
	}
	out.FDs = st.fds
	return out
}
