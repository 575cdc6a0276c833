package appserver

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/stackctl/stackctl/runtime/config"
	"github.com/stackctl/stackctl/runtime/stats"
	"github.com/stackctl/stackctl/runtime/uwsgi"
	"golang.org/x/sys/unix"
)

// Status record types written by the Python worker (see stackctl_worker.py).
const (
	recReady    = 'R'
	recLoadErr  = 'E'
	recFinished = 'F'
	recLimit    = 'L'
	recMessage  = 'M'
)

// worker is one Python process serving an app. Fields below mu are guarded
// by the owning App's mu.
type worker struct {
	app   *App
	id    int    // slot id, 1..N; a replacement takes the id of the worker it replaces
	seq   uint64 // spawn sequence number, unique per server
	cmd   *exec.Cmd
	pid   int
	spec  spawnSpec
	lanes []*uwsgi.Lane
	board *scoreboard // closed by handleExit, under the app's mu

	started time.Time
	ready   chan struct{} // closed on the ready record
	exited  chan struct{} // closed after the exit was handled
	// readerDone is closed when the status pipe reached EOF, so every
	// record, the load error above all, is seen before the exit is handled.
	readerDone chan struct{}
	outputDone sync.WaitGroup

	latency stats.Histogram

	// guarded by app.mu
	state      WorkerState
	readyAt    time.Time
	stopReason string // why the master stopped or killed it; "" for a crash
	replaced   bool   // the slot no longer counts on it: do not respawn it
	recycling  bool   // a replacement is on its way
	loadError  string
	cores      []core // what each thread runs, as of the last read of board
	requests   uint64
	exceptions uint64
	bytesSent  uint64
	busyTime   time.Duration
	exitDesc   string
	sample     stats.ProcStat
}

type core struct {
	busy    bool
	since   time.Time
	request string
}

// spawnSpec is everything a worker is started from: a copy of the app's
// settings at spawn time, so a chain reload can change them one worker at a
// time.
type spawnSpec struct {
	cfg      config.App
	listener *os.File
	script   string
	speedups string // the compiled C speedups to load, or ""
}

// WorkerState is what a worker is doing.
type WorkerState string

// Worker states.
const (
	StateStarting WorkerState = "starting" // spawned, importing the app
	StateIdle     WorkerState = "idle"     // ready, no request running
	StateBusy     WorkerState = "busy"     // ready, running at least one request (snapshots only)
	StateStopping WorkerState = "stopping" // told to stop; finishing what it has
)

// start launches the worker process. The child gets the listening socket,
// the status pipe and one lane per thread as inherited descriptors; it is in
// its own process group (the terminal's ^C is the master's business) and is
// killed by the kernel if the master dies.
func (w *worker) start() (err error) {
	cfg := &w.spec.cfg
	statusR, statusW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("status pipe: %w", err)
	}
	growPipe(statusR)
	outR, outW, err := os.Pipe()
	if err != nil {
		statusR.Close()
		statusW.Close()
		return fmt.Errorf("stdout pipe: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		statusR.Close()
		statusW.Close()
		outR.Close()
		outW.Close()
		return fmt.Errorf("stderr pipe: %w", err)
	}
	growPipe(outR)
	growPipe(errR)
	childFiles := []*os.File{statusW, outW, errW}
	parentFiles := []*os.File{statusR, outR, errR}
	defer func() {
		for _, f := range childFiles {
			f.Close()
		}
		if err != nil {
			for _, f := range parentFiles {
				f.Close()
			}
			for _, l := range w.lanes {
				l.Close()
			}
			w.lanes = nil
		}
	}()

	board, err := newScoreboard(cfg.Threads)
	if err != nil {
		return err
	}
	w.board = board
	defer func() {
		if err != nil {
			board.close()
			w.board = nil
		}
	}()
	extra := []*os.File{w.spec.listener, statusW, board.file}
	laneFDs := make([]string, 0, cfg.Threads)
	for i := 0; i < cfg.Threads; i++ {
		fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("lane socketpair: %w", err)
		}
		parent := os.NewFile(uintptr(fds[0]), "lane")
		child := os.NewFile(uintptr(fds[1]), "lane-child")
		childFiles = append(childFiles, child)
		conn, err := net.FileConn(parent)
		parent.Close()
		if err != nil {
			return fmt.Errorf("lane conn: %w", err)
		}
		lane := uwsgi.NewLane(conn)
		lane.Tag = LaneTag{App: cfg.Name, Worker: w.id, Thread: i}
		w.lanes = append(w.lanes, lane)
		laneFDs = append(laneFDs, strconv.Itoa(3+len(extra)))
		extra = append(extra, child)
	}

	mod := cfg.Module
	if !strings.Contains(mod, ":") {
		mod += ":application"
	}
	cmd := exec.Command(cfg.Python, w.spec.script)
	cmd.Dir = cfg.Chdir
	cmd.Env = os.Environ()
	if w.spec.speedups != "" {
		cmd.Env = append(cmd.Env, "STACKCTL_SPEEDUPS="+w.spec.speedups)
		if cfg.Speedups == config.SpeedupsRequired {
			cmd.Env = append(cmd.Env, "STACKCTL_SPEEDUPS_REQUIRED=1")
		}
	}
	for k, v := range cfg.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env,
		"PYTHONUNBUFFERED=1",
		"STACKCTL_APP="+cfg.Name,
		"STACKCTL_WORKER_ID="+strconv.Itoa(w.id),
		"STACKCTL_MODULE="+mod,
		"STACKCTL_CHDIR="+cfg.Chdir,
		"STACKCTL_PYTHONPATH="+strings.Join(cfg.PythonPath, string(os.PathListSeparator)),
		"STACKCTL_THREADS="+strconv.Itoa(cfg.Threads),
		"STACKCTL_MAX_REQUESTS="+strconv.Itoa(cfg.MaxRequests),
		"STACKCTL_BUFFER_SIZE="+strconv.FormatInt(int64(cfg.BufferSize), 10),
		"STACKCTL_LISTEN_FD=3",
		"STACKCTL_STATUS_FD=4",
		"STACKCTL_SCOREBOARD_FD=5",
		"STACKCTL_LANE_FDS="+strings.Join(laneFDs, ","),
	)
	cmd.ExtraFiles = extra
	cmd.Stdin = nil
	cmd.Stdout = outW
	cmd.Stderr = errW
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", cfg.Python, err)
	}
	w.cmd = cmd
	w.pid = cmd.Process.Pid
	w.started = time.Now()

	w.outputDone.Add(2)
	go w.capture(outR, "stdout")
	go w.capture(errR, "stderr")
	go w.readStatus(statusR)
	go w.wait()
	return nil
}

// LaneTag identifies the worker thread a lane leads to.
type LaneTag struct {
	App    string
	Worker int
	Thread int
}

func growPipe(f *os.File) {
	// Best effort: a bigger pipe (1 MiB, Linux's default maximum) absorbs
	// bursts of records or output, so a busy worker does not wait for the
	// master to read.
	if raw, err := f.SyscallConn(); err == nil {
		raw.Control(func(fd uintptr) {
			syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_SETPIPE_SZ, 1<<20)
		})
	}
}

func (w *worker) capture(r *os.File, stream string) {
	defer w.outputDone.Done()
	defer r.Close()
	w.app.srv.output(w.app.name, w.id, stream, r)
}

// readStatus reads the worker's status records until EOF. The worker
// batches them, so a busy worker wakes this goroutine a few times a second.
func (w *worker) readStatus(f *os.File) {
	defer close(w.readerDone)
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	var hdr [3]byte
	payload := make([]byte, 0, 4096)
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return
		}
		n := int(binary.LittleEndian.Uint16(hdr[1:]))
		if cap(payload) < n {
			payload = make([]byte, n)
		}
		payload = payload[:n]
		if _, err := io.ReadFull(br, payload); err != nil {
			return
		}
		w.app.record(w, hdr[0], payload)
	}
}

// wait reaps the process and hands its exit to the app.
func (w *worker) wait() {
	err := w.cmd.Wait()
	<-w.readerDone
	// Output pipes may be held open by the app's own children; give them a
	// moment, not forever.
	done := make(chan struct{})
	go func() { w.outputDone.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Second):
	}
	for _, l := range w.lanes {
		l.Close()
	}
	w.app.handleExit(w, describeExit(w.cmd.ProcessState, err))
	close(w.exited)
}

func describeExit(ps *os.ProcessState, err error) string {
	if ps == nil {
		return fmt.Sprintf("wait: %v", err)
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return "killed by " + unix.SignalName(ws.Signal())
	}
	return "exited with code " + strconv.Itoa(ps.ExitCode())
}

// signal sends sig to the worker process (not its group: the app's own
// children are the app's business).
func (w *worker) signal(sig syscall.Signal) {
	if w.cmd != nil && w.cmd.Process != nil {
		w.cmd.Process.Signal(sig)
	}
}

// parseFinished decodes an F record: thread, status, bytes, microseconds,
// flags.
func parseFinished(p []byte) (thread int, status int, nbytes uint64, dur time.Duration, raised bool, err error) {
	if len(p) != 16 {
		return 0, 0, 0, 0, false, fmt.Errorf("finished record of %d bytes", len(p))
	}
	return int(p[0]), int(binary.LittleEndian.Uint16(p[1:3])), binary.LittleEndian.Uint64(p[3:11]),
		time.Duration(binary.LittleEndian.Uint32(p[11:15])) * time.Microsecond, p[15]&1 != 0, nil
}

type readyInfo struct {
	PID      int    `json:"pid"`
	Python   string `json:"python"`
	Speedups bool   `json:"speedups"` // the C speedups are loaded
}

func parseReady(p []byte) (readyInfo, error) {
	var ri readyInfo
	if err := json.Unmarshal(p, &ri); err != nil {
		return ri, errors.New("malformed ready record")
	}
	return ri, nil
}
