package control

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/stackctl/stackctl/runtime/logs"
	"github.com/stackctl/stackctl/runtime/stats"
)

// Backend is what the control server needs from a running stack.
type Backend interface {
	Snapshot() *Snapshot
	WorkerHistory(app string, id int) (History, error)
	RestartWorker(ctx context.Context, app string, id int) (string, error)
	ReloadApp(ctx context.Context, app string) (string, error)
	Scale(ctx context.Context, app string, workers int) (string, error)
	SetServerState(upstream, server, state string) (string, error)
	SetWeight(upstream, server string, weight int) (string, error)
	ConfigText() ConfigText
	ValidateConfig(text []byte) []ConfigError
	// ApplyConfig applies a configuration text, or reloads the file when
	// text is empty. Invalid configurations change nothing.
	ApplyConfig(ctx context.Context, text []byte) ApplyResult
	// Log returns the log buffer of a source (an app, "access"), if any.
	Log(source string) (*logs.Buffer, bool)
	Events() *stats.Events
	// Record adds an event (a command's outcome) to the event log.
	Record(e stats.Event)
}

// Server serves the control API on a unix socket.
type Server struct {
	backend  Backend
	socket   string
	ln       net.Listener
	srv      *http.Server
	cancel   context.CancelFunc // ends every request's context: streams stop
	done     chan struct{}
	streamWG sync.WaitGroup
}

// Listen creates the control socket (mode 0600; a stale socket file is
// replaced, a live one is an error) and starts serving. Connections from
// another user are refused even if the socket's mode is widened.
func Listen(socket string, b Backend) (*Server, error) {
	if err := os.MkdirAll(filepath.Dir(socket), 0o700); err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if _, err := os.Stat(socket); err == nil {
		if c, err := net.DialTimeout("unix", socket, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("control socket %s: another stackctl is running", socket)
		}
		os.Remove(socket)
	}
	ln, err := net.Listen("unix", socket)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(socket, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	base, cancel := context.WithCancel(context.Background())
	s := &Server{backend: b, socket: socket, ln: &peerCheckListener{ln.(*net.UnixListener)}, cancel: cancel, done: make(chan struct{})}
	s.srv = &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	go func() {
		defer close(s.done)
		s.srv.Serve(s.ln)
	}()
	return s, nil
}

// Socket is the path the server listens on.
func (s *Server) Socket() string { return s.socket }

// Close stops the server: streams end, the socket file is removed.
func (s *Server) Close() error {
	s.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.srv.Close()
	}
	<-s.done
	s.streamWG.Wait()
	os.Remove(s.socket)
	return nil
}

// peerCheckListener refuses connections from other users (SO_PEERCRED):
// the socket's 0600 mode is the first guard, this the second.
type peerCheckListener struct{ *net.UnixListener }

func (l *peerCheckListener) Accept() (net.Conn, error) {
	for {
		c, err := l.UnixListener.AcceptUnix()
		if err != nil {
			return nil, err
		}
		if allowedPeer(c) {
			return c, nil
		}
		c.Close()
	}
}

func allowedPeer(c *net.UnixConn) bool {
	raw, err := c.SyscallConn()
	if err != nil {
		return false
	}
	var cred *syscall.Ucred
	var cerr error
	raw.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	})
	if cerr != nil || cred == nil {
		return false
	}
	return int(cred.Uid) == os.Getuid() || cred.Uid == 0
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/snapshot", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.backend.Snapshot())
	})
	mux.HandleFunc("GET /v1/stream", s.stream)
	mux.HandleFunc("GET /v1/logs/{source}", s.logs)
	mux.HandleFunc("GET /v1/events", s.events)
	mux.HandleFunc("GET /v1/apps/{app}/workers/{id}/history", func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.Atoi(r.PathValue("id"))
		if err != nil {
			writeError(w, http.StatusBadRequest, "worker id must be a number")
			return
		}
		h, err := s.backend.WorkerHistory(r.PathValue("app"), id)
		if err != nil {
			writeError(w, http.StatusNotFound, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, h)
	})
	mux.HandleFunc("POST /v1/apps/{app}/workers/{id}/restart", func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.Atoi(r.PathValue("id"))
		if err != nil {
			writeError(w, http.StatusBadRequest, "worker id must be a number")
			return
		}
		s.command(w, "restart", r.PathValue("app"), func() (string, error) {
			return s.backend.RestartWorker(r.Context(), r.PathValue("app"), id)
		})
	})
	mux.HandleFunc("POST /v1/apps/{app}/reload", func(w http.ResponseWriter, r *http.Request) {
		s.command(w, "reload", r.PathValue("app"), func() (string, error) {
			return s.backend.ReloadApp(r.Context(), r.PathValue("app"))
		})
	})
	mux.HandleFunc("POST /v1/apps/{app}/scale", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Workers *int `json:"workers"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&in); err != nil || in.Workers == nil {
			writeError(w, http.StatusBadRequest, `want {"workers": N}`)
			return
		}
		s.command(w, "scale", r.PathValue("app"), func() (string, error) {
			return s.backend.Scale(r.Context(), r.PathValue("app"), *in.Workers)
		})
	})
	mux.HandleFunc("POST /v1/upstreams/{u}/servers/{addr}/state", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			State string `json:"state"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&in); err != nil {
			writeError(w, http.StatusBadRequest, `want {"state": "up"|"drain"|"down"}`)
			return
		}
		s.command(w, "state", r.PathValue("u"), func() (string, error) {
			return s.backend.SetServerState(r.PathValue("u"), r.PathValue("addr"), in.State)
		})
	})
	mux.HandleFunc("POST /v1/upstreams/{u}/servers/{addr}/weight", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Weight *int `json:"weight"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&in); err != nil || in.Weight == nil {
			writeError(w, http.StatusBadRequest, `want {"weight": N}`)
			return
		}
		s.command(w, "weight", r.PathValue("u"), func() (string, error) {
			return s.backend.SetWeight(r.PathValue("u"), r.PathValue("addr"), *in.Weight)
		})
	})
	mux.HandleFunc("GET /v1/config", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.backend.ConfigText())
	})
	mux.HandleFunc("POST /v1/config/validate", func(w http.ResponseWriter, r *http.Request) {
		text, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		errs := s.backend.ValidateConfig(text)
		writeJSON(w, http.StatusOK, ValidateResult{OK: len(errs) == 0, Errors: errs})
	})
	mux.HandleFunc("POST /v1/config/apply", func(w http.ResponseWriter, r *http.Request) {
		text, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, s.backend.ApplyConfig(r.Context(), text))
	})
	return mux
}

// command runs one operation and answers with its Result; the outcome is
// also recorded in the event log.
func (s *Server) command(w http.ResponseWriter, what, source string, run func() (string, error)) {
	msg, err := run()
	if err != nil {
		s.backend.Record(stats.Event{Kind: "command.failed", Source: source, Message: fmt.Sprintf("%s failed: %v", what, err)})
		writeJSON(w, http.StatusOK, Result{OK: false, Message: err.Error()})
		return
	}
	s.backend.Record(stats.Event{Kind: "command", Source: source, Message: msg})
	writeJSON(w, http.StatusOK, Result{OK: true, Message: msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, Error{Error: msg})
}

// ndjson writes one message per line, flushed at once.
type ndjson struct {
	w   http.ResponseWriter
	enc *json.Encoder
	f   http.Flusher
}

func newNDJSON(w http.ResponseWriter) *ndjson {
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	f, _ := w.(http.Flusher)
	if f != nil {
		f.Flush() // the client learns the stream is open before anything happens
	}
	return &ndjson{w: w, enc: json.NewEncoder(w), f: f}
}

func (n *ndjson) send(v any) error {
	if err := n.enc.Encode(v); err != nil {
		return err
	}
	if n.f != nil {
		n.f.Flush()
	}
	return nil
}

func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	interval := time.Second
	if v := r.URL.Query().Get("interval"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 50*time.Millisecond {
			writeError(w, http.StatusBadRequest, "interval: a duration of at least 50ms")
			return
		}
		interval = d
	}
	s.streamWG.Add(1)
	defer s.streamWG.Done()
	out := newNDJSON(w)
	sub := s.backend.Events().Subscribe(0)
	defer sub.Close()
	ctx := r.Context()
	events := make(chan StreamMessage, 4)
	go func() {
		defer close(events)
		for {
			evs, lost, err := sub.Next(ctx)
			if err != nil {
				return
			}
			select {
			case events <- StreamMessage{Events: wireEvents(evs), Lost: lost}:
			case <-ctx.Done():
				return
			}
		}
	}()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	if out.send(StreamMessage{Snapshot: s.backend.Snapshot()}) != nil {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-events:
			if !ok {
				return
			}
			if out.send(m) != nil {
				return
			}
		case <-tick.C:
			if out.send(StreamMessage{Snapshot: s.backend.Snapshot()}) != nil {
				return
			}
		}
	}
}

func queryInt(r *http.Request, key string, def int) int {
	if v, err := strconv.Atoi(r.URL.Query().Get(key)); err == nil && v >= 0 {
		return v
	}
	return def
}

func (s *Server) logs(w http.ResponseWriter, r *http.Request) {
	source := r.PathValue("source")
	n := queryInt(r, "n", 100)
	follow := r.URL.Query().Get("follow") == "true" || r.URL.Query().Get("follow") == "1"
	if source == "events" {
		s.eventsAsLogs(w, r, n, follow)
		return
	}
	b, ok := s.backend.Log(source)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no log named %q", source))
		return
	}
	s.streamWG.Add(1)
	defer s.streamWG.Done()
	out := newNDJSON(w)
	if !follow {
		out.send(LogBatch{Lines: wireLines(b.Tail(n)), Buffer: b.ID()})
		return
	}
	sub := b.Follow(r.Context(), n)
	defer sub.Close()
	for {
		lines, lost, err := sub.Next(r.Context())
		if err != nil {
			return
		}
		if out.send(LogBatch{Lines: wireLines(lines), Lost: lost, Buffer: b.ID()}) != nil {
			return
		}
	}
}

func (s *Server) eventsAsLogs(w http.ResponseWriter, r *http.Request, n int, follow bool) {
	s.streamWG.Add(1)
	defer s.streamWG.Done()
	out := newNDJSON(w)
	toLines := func(evs []stats.Event) []LogLine {
		ls := make([]LogLine, len(evs))
		for i, e := range evs {
			ls[i] = LogLine{Seq: e.Seq, Time: e.Time, Source: e.Source, Worker: e.Worker, Stream: "event", Text: e.Message}
		}
		return ls
	}
	if !follow {
		out.send(LogBatch{Lines: toLines(s.backend.Events().Recent(n))})
		return
	}
	sub := s.backend.Events().Subscribe(n)
	defer sub.Close()
	for {
		evs, lost, err := sub.Next(r.Context())
		if err != nil {
			return
		}
		if out.send(LogBatch{Lines: toLines(evs), Lost: lost}) != nil {
			return
		}
	}
}

func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	n := queryInt(r, "n", 100)
	follow := r.URL.Query().Get("follow") == "true" || r.URL.Query().Get("follow") == "1"
	s.streamWG.Add(1)
	defer s.streamWG.Done()
	out := newNDJSON(w)
	if !follow {
		out.send(EventBatch{Events: wireEvents(s.backend.Events().Recent(n))})
		return
	}
	sub := s.backend.Events().Subscribe(n)
	defer sub.Close()
	for {
		evs, lost, err := sub.Next(r.Context())
		if err != nil {
			return
		}
		if out.send(EventBatch{Events: wireEvents(evs), Lost: lost}) != nil {
			return
		}
	}
}

// wireEvents converts events to their wire form.
func wireEvents(evs []stats.Event) []Event {
	out := make([]Event, len(evs))
	for i, e := range evs {
		out[i] = WireEvent(e)
	}
	return out
}

// WireEvent converts one event to its wire form.
func WireEvent(e stats.Event) Event {
	return Event{Seq: e.Seq, Time: e.Time, Kind: e.Kind, Source: e.Source, Worker: e.Worker, Message: e.Message, Fields: e.Fields}
}

func wireLines(ls []logs.Line) []LogLine {
	out := make([]LogLine, len(ls))
	for i, l := range ls {
		out[i] = LogLine{Seq: l.Seq, Time: l.Time, Source: l.Source, Worker: l.Worker, Stream: l.Stream, Text: l.Text}
	}
	return out
}
