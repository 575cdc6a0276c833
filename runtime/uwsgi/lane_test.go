package uwsgi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fakeWorker answers uwsgi requests on one end of a socket pair the way a
// stackctl worker does on a lane: in order, each response framed. What it
// does with each request is decided by act, keyed by PATH_INFO.
type fakeWorker struct {
	conn net.Conn
	act  func(path string, w *bufio.Writer) (stop bool)
	seen chan string // the paths it started, in order
	done chan struct{}
}

func startFake(t *testing.T, act func(path string, w *bufio.Writer) bool) (*Lane, *fakeWorker) {
	t.Helper()
	// A real socket pair: requests queue in the kernel's buffer while the
	// worker is busy, as on a lane (net.Pipe would block the writer).
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, b := fileConn(t, fds[0]), fileConn(t, fds[1])
	fw := &fakeWorker{conn: b, act: act, seen: make(chan string, 100), done: make(chan struct{})}
	go fw.run()
	l := NewLane(a)
	t.Cleanup(func() {
		l.Close()
		b.Close()
		<-fw.done
	})
	return l, fw
}

func fileConn(t *testing.T, fd int) net.Conn {
	f := os.NewFile(uintptr(fd), "lane")
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (fw *fakeWorker) run() {
	defer close(fw.done)
	br := bufio.NewReader(fw.conn)
	bw := bufio.NewWriter(fw.conn)
	for {
		p, err := ReadPacket(br, 0)
		if err != nil {
			return
		}
		path, _ := p.Vars.Get("PATH_INFO")
		fw.seen <- path
		if fw.act(path, bw) {
			fw.conn.Close()
			return
		}
		bw.Flush()
	}
}

func ok(body string) func(w *bufio.Writer) {
	return func(w *bufio.Writer) {
		fmt.Fprintf(w, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	}
}

func request(path string) []byte {
	b, _ := AppendPacket(nil, 0, 0, VarsOf("REQUEST_METHOD", "GET", "PATH_INFO", path))
	return b
}

func get(ctx context.Context, l *Lane, path string) (string, error) {
	resp, err := l.Do(ctx, request(path), nil, false)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// TestLanePipelinedInOrder: requests written back to back get their own
// answers, in order, whatever the framing.
func TestLanePipelinedInOrder(t *testing.T) {
	l, _ := startFake(t, func(path string, w *bufio.Writer) bool {
		if strings.HasPrefix(path, "/chunked") {
			fmt.Fprintf(w, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\n%s\r\n0\r\n\r\n", path[len(path)-2:])
			return false
		}
		ok(path)(w)
		return false
	})
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			path := fmt.Sprintf("/r%02d", i)
			want := path
			if i%3 == 0 {
				path = fmt.Sprintf("/chunked%02d", i)
				want = fmt.Sprintf("abc%02d", i)
			}
			got, err := get(context.Background(), l, path)
			if err != nil || got != want {
				errs <- fmt.Errorf("%s: got %q, %v", path, got, err)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if l.Pending() != 0 {
		t.Errorf("Pending = %d after every answer", l.Pending())
	}
}

// TestLaneWorkerDeath: when the worker dies running a request, that request
// (the oldest unanswered) may have started; the ones written behind it did
// not, and are safe to resend whatever their method.
func TestLaneWorkerDeath(t *testing.T) {
	release := make(chan struct{})
	l, fw := startFake(t, func(path string, w *bufio.Writer) bool {
		if path == "/die" {
			<-release
			return true // dies without answering
		}
		ok("fine")(w)
		return false
	})
	ctx := context.Background()
	if got, err := get(ctx, l, "/first"); err != nil || got != "fine" {
		t.Fatalf("first: %q %v", got, err)
	}
	type result struct {
		path string
		err  error
	}
	results := make(chan result, 3)
	go func() { _, err := get(ctx, l, "/die"); results <- result{"/die", err} }()
	<-fw.seen
	<-fw.seen // /die started
	for _, p := range []string{"/behind1", "/behind2"} {
		go func() { _, err := get(ctx, l, p); results <- result{p, err} }()
	}
	for l.Pending() < 3 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	for i := 0; i < 3; i++ {
		r := <-results
		switch r.path {
		case "/die":
			if !errors.Is(r.err, ErrMaybeStarted) {
				t.Errorf("the request the worker died in: %v, want ErrMaybeStarted", r.err)
			}
		default:
			if !errors.Is(r.err, ErrNotStarted) {
				t.Errorf("%s, queued behind it: %v, want ErrNotStarted", r.path, r.err)
			}
		}
	}
	if _, err := get(ctx, l, "/after"); !errors.Is(err, ErrNotStarted) {
		t.Errorf("a request on a broken lane: %v, want ErrNotStarted", err)
	}
}

// TestLaneAbandon: a caller that gives up waiting leaves the lane usable;
// its answer is read and discarded when it comes.
func TestLaneAbandon(t *testing.T) {
	slow := make(chan struct{})
	l, _ := startFake(t, func(path string, w *bufio.Writer) bool {
		if path == "/slow" {
			<-slow
		}
		ok(path)(w)
		return false
	})
	go get(context.Background(), l, "/slow")
	for l.Pending() < 1 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := get(ctx, l, "/abandoned"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("abandoned request: %v", err)
	}
	close(slow)
	got, err := get(context.Background(), l, "/next")
	if err != nil || got != "/next" {
		t.Fatalf("the request after an abandoned one got %q, %v (the abandoned answer must be skipped)", got, err)
	}
}

// TestLaneAbortedBody: a worker that fails mid-body marks the chunked body
// aborted; the caller sees ErrAborted and the lane stays in step.
func TestLaneAbortedBody(t *testing.T) {
	l, _ := startFake(t, func(path string, w *bufio.Writer) bool {
		if path == "/fail" {
			io.WriteString(w, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\npart\r\n0;stackctl-abort\r\n\r\n")
			return false
		}
		ok("fine")(w)
		return false
	})
	got, err := get(context.Background(), l, "/fail")
	if !errors.Is(err, ErrAborted) || got != "part" {
		t.Fatalf("aborted body: %q %v", got, err)
	}
	if got, err := get(context.Background(), l, "/ok"); err != nil || got != "fine" {
		t.Fatalf("after an aborted body: %q %v", got, err)
	}
}

// TestLaneDrain: a draining lane refuses new requests with ErrNotStarted
// (a dispatcher racing the drain resends them) and returns once the ones it
// has are answered.
func TestLaneDrain(t *testing.T) {
	slow := make(chan struct{})
	l, _ := startFake(t, func(path string, w *bufio.Writer) bool {
		<-slow
		ok(path)(w)
		return false
	})
	answered := make(chan error, 1)
	go func() { _, err := get(context.Background(), l, "/in-flight"); answered <- err }()
	for l.Pending() < 1 {
		time.Sleep(time.Millisecond)
	}
	drained := make(chan error, 1)
	go func() { drained <- l.Drain(context.Background()) }()
	for !l.Draining() {
		time.Sleep(time.Millisecond)
	}
	if _, err := get(context.Background(), l, "/new"); !errors.Is(err, ErrNotStarted) {
		t.Errorf("a request on a draining lane: %v, want ErrNotStarted", err)
	}
	select {
	case <-drained:
		t.Fatal("Drain returned with a request still unanswered")
	case <-time.After(50 * time.Millisecond):
	}
	close(slow)
	if err := <-answered; err != nil {
		t.Errorf("the in-flight request: %v", err)
	}
	if err := <-drained; err != nil {
		t.Errorf("Drain: %v", err)
	}
}

// TestLaneBadResponse: a response the lane cannot frame breaks the lane.
func TestLaneBadResponse(t *testing.T) {
	for _, bad := range []string{
		"garbage\r\n\r\n",
		"HTTP/1.1 200 OK\r\n\r\nno framing",
		"HTTP/1.1 200 OK\r\nContent-Length: -4\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
	} {
		l, _ := startFake(t, func(path string, w *bufio.Writer) bool {
			io.WriteString(w, bad)
			return false
		})
		_, err := get(context.Background(), l, "/x")
		if err == nil {
			t.Errorf("response %q: no error", bad)
		}
		if _, err := get(context.Background(), l, "/y"); !errors.Is(err, ErrNotStarted) {
			t.Errorf("after response %q the lane still takes requests: %v", bad, err)
		}
	}
}

// TestLaneOldestAge: the age of the oldest unanswered request, read without
// the lane's lock, follows the head of the queue; Failed follows Done.
func TestLaneOldestAge(t *testing.T) {
	release := map[string]chan struct{}{"/slow1": make(chan struct{}), "/slow2": make(chan struct{})}
	l, fw := startFake(t, func(path string, w *bufio.Writer) bool {
		if ch := release[path]; ch != nil {
			<-ch
		}
		ok(path)(w)
		return false
	})
	if age := l.OldestAge(time.Now()); age != 0 || l.Failed() {
		t.Fatalf("a new lane: OldestAge %v, Failed %v", age, l.Failed())
	}
	answered := make(chan string, 2)
	send := func(path string) time.Time {
		before := time.Now()
		go func() {
			got, err := get(context.Background(), l, path)
			if err != nil {
				got = err.Error()
			}
			answered <- got
		}()
		return before
	}
	before1 := send("/slow1")
	if p := <-fw.seen; p != "/slow1" {
		t.Fatalf("worker saw %q", p)
	}
	before2 := send("/slow2")
	for l.Pending() != 2 {
		time.Sleep(time.Millisecond)
	}
	now := time.Now()
	if age := l.OldestAge(now); age <= 0 || age > now.Sub(before1) || age < now.Sub(before2) {
		t.Errorf("two queued: OldestAge %v, want slow1's (sent between %v and %v ago)", age, now.Sub(before1), now.Sub(before2))
	}
	close(release["/slow1"])
	if got := <-answered; got != "/slow1" {
		t.Fatalf("answer %q", got)
	}
	<-fw.seen
	now = time.Now()
	if age := l.OldestAge(now); age <= 0 || age > now.Sub(before2) {
		t.Errorf("slow1 answered: OldestAge %v, want slow2's (at most %v)", age, now.Sub(before2))
	}
	close(release["/slow2"])
	if got := <-answered; got != "/slow2" {
		t.Fatalf("answer %q", got)
	}
	if age := l.OldestAge(time.Now()); age != 0 {
		t.Errorf("all answered: OldestAge %v, want 0", age)
	}
	l.Close()
	<-l.Done()
	if !l.Failed() {
		t.Error("closed lane: Failed is false")
	}
}
