package http1

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestKeepAliveOneConnection(t *testing.T) {
	var mu sync.Mutex
	states := map[http.ConnState]int{}
	s := &Server{ConnState: func(_ net.Conn, st http.ConnState) {
		mu.Lock()
		states[st]++
		mu.Unlock()
	}}
	ts := start(t, s, http.HandlerFunc(echoHandler))
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	for i := 0; i < 20; i++ {
		resp, err := client.Get(ts.url(fmt.Sprintf("/k%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.HasPrefix(string(b), fmt.Sprintf("GET /k%d HTTP/1.1", i)) {
			t.Fatalf("got %q", b)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if states[http.StateNew] != 1 || states[http.StateActive] != 20 || states[http.StateIdle] < 19 {
		t.Fatalf("conn states %v, want 1 new, 20 active, >= 19 idle", states)
	}
}

func TestPipelining(t *testing.T) {
	ts := start(t, nil, http.HandlerFunc(echoHandler))
	c := ts.dial(t)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	// Three requests, one with a body, in one write.
	io.WriteString(c, "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"+
		"POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"+
		"GET /3 HTTP/1.1\r\nHost: a\r\n\r\n")
	br := bufio.NewReader(c)
	for i, want := range []string{"GET /1 ", `POST /2 HTTP/1.1 host=a cl=3 te=[] close=false uri=/2 body="abc"`, "GET /3 "} {
		resp, body := readResponse(t, br, "GET")
		if resp.StatusCode != 200 || !strings.HasPrefix(body, want) {
			t.Fatalf("response %d: %d %q, want prefix %q", i, resp.StatusCode, body, want)
		}
	}
}

func TestHTTP10(t *testing.T) {
	ts := start(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stream" {
			for i := 0; i < 3; i++ {
				w.Write(bytes.Repeat([]byte("x"), 6000)) // beyond the buffer: length unknown
			}
			return
		}
		io.WriteString(w, "hi")
	}))
	t.Run("close by default", func(t *testing.T) {
		raw := ts.rawExchange(t, "GET / HTTP/1.0\r\n\r\n", 5*time.Second)
		resp, body := parseRaw(t, raw, "GET")
		if !strings.HasPrefix(raw, "HTTP/1.0 200 OK\r\n") || body != "hi" || resp.ContentLength != 2 {
			t.Fatalf("got %q", raw)
		}
	})
	t.Run("keep-alive", func(t *testing.T) {
		c := ts.dial(t)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		br := bufio.NewReader(c)
		for i := 0; i < 2; i++ {
			io.WriteString(c, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
			resp, body := readResponse(t, br, "GET")
			if body != "hi" || resp.Header.Get("Connection") != "keep-alive" {
				t.Fatalf("round %d: %v %q", i, resp.Header, body)
			}
		}
	})
	t.Run("close delimited", func(t *testing.T) {
		raw := ts.rawExchange(t, "GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 5*time.Second)
		resp, body := parseRaw(t, raw, "GET")
		if len(body) != 18000 || resp.ContentLength != -1 || len(resp.TransferEncoding) != 0 {
			t.Fatalf("got %d bytes, header %v", len(body), resp.Header)
		}
	})
}

func TestExpectContinue(t *testing.T) {
	ts := start(t, &Server{MaxBodyBytes: 100}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/reject" {
			http.Error(w, "no", http.StatusForbidden) // never reads the body
			return
		}
		echoHandler(w, r)
	}))
	t.Run("sent on first read", func(t *testing.T) {
		c := ts.dial(t)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
		br := bufio.NewReader(c)
		line, err := br.ReadString('\n')
		if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
			t.Fatalf("got %q %v", line, err)
		}
		br.ReadString('\n')
		io.WriteString(c, "hello")
		resp, body := readResponse(t, br, "POST")
		if resp.StatusCode != 200 || !strings.Contains(body, `body="hello"`) {
			t.Fatalf("got %d %q", resp.StatusCode, body)
		}
	})
	t.Run("not sent when unread", func(t *testing.T) {
		c := ts.dial(t)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "POST /reject HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
		raw, _ := io.ReadAll(c)
		resp, _ := parseRaw(t, string(raw), "POST")
		if resp.StatusCode != 403 || !resp.Close || strings.Contains(string(raw), "100 Continue") {
			t.Fatalf("got %q", raw)
		}
	})
	t.Run("net/http client", func(t *testing.T) {
		tr := &http.Transport{ExpectContinueTimeout: 5 * time.Second}
		defer tr.CloseIdleConnections()
		req, _ := http.NewRequest("PUT", ts.url("/x"), strings.NewReader("payload"))
		req.Header.Set("Expect", "100-continue")
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), `body="payload"`) {
			t.Fatalf("got %q", b)
		}
	})
}

func TestChunkedUpload(t *testing.T) {
	ts := start(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		fmt.Fprintf(w, "%d %x %v %d", n, h.Sum(nil), r.TransferEncoding, r.ContentLength)
	}))
	payload := make([]byte, 3<<20+17)
	rand.New(rand.NewSource(1)).Read(payload)
	want := fmt.Sprintf("%d %x [chunked] -1", len(payload), sha256.Sum256(payload))

	// Raw, with chunks of every size from 1 byte up, on one connection twice.
	c := ts.dial(t)
	c.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(c)
	for round := 0; round < 2; round++ {
		go func() {
			bw := bufio.NewWriter(c)
			fmt.Fprintf(bw, "POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
			rest := payload
			for size := 1; len(rest) > 0; size = size*3 + 1 {
				n := min(size, len(rest))
				fmt.Fprintf(bw, "%x\r\n", n)
				bw.Write(rest[:n])
				bw.WriteString("\r\n")
				rest = rest[n:]
			}
			bw.WriteString("0\r\nX-Trailer: ignored\r\n\r\n")
			bw.Flush()
		}()
		resp, body := readResponse(t, br, "POST")
		if resp.StatusCode != 200 || body != want {
			t.Fatalf("round %d: %d %q, want %q", round, resp.StatusCode, body, want)
		}
	}
	// net/http's client chunks an unknown-length body.
	resp, err := http.Post(ts.url("/u"), "application/octet-stream", io.MultiReader(bytes.NewReader(payload)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != want {
		t.Fatalf("net/http client: %q", b)
	}
}

func TestHEAD(t *testing.T) {
	ts := start(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			w.Header().Set("Content-Length", "100000")
			w.Write(make([]byte, 100000))
			return
		}
		io.WriteString(w, "hello head")
	}))
	c := ts.dial(t)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	io.WriteString(c, "HEAD / HTTP/1.1\r\nHost: a\r\n\r\nHEAD /big HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")
	resp, body := readResponse(t, br, "HEAD")
	if resp.ContentLength != 10 || body != "" || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Fatalf("HEAD: %v %q", resp.Header, body)
	}
	resp, body = readResponse(t, br, "HEAD")
	if resp.ContentLength != 100000 || body != "" {
		t.Fatalf("HEAD /big: %v %q", resp.Header, body)
	}
	// Had a body been written, the GET would not parse.
	resp, body = readResponse(t, br, "GET")
	if body != "hello head" {
		t.Fatalf("GET after HEAD: %q", body)
	}
}

func TestNoBodyStatuses(t *testing.T) {
	var writeErr atomic.Value
	ts := start(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.URL.Path[1:])
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", "5")
		w.WriteHeader(code)
		_, err := w.Write([]byte("hello"))
		writeErr.Store(fmt.Sprint(err))
	}))
	c := ts.dial(t)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	for _, code := range []int{204, 304} {
		fmt.Fprintf(c, "GET /%d HTTP/1.1\r\nHost: a\r\n\r\n", code)
		resp, body := readResponse(t, br, "GET")
		if resp.StatusCode != code || body != "" || resp.Header.Get("Content-Length") != "" || len(resp.TransferEncoding) != 0 {
			t.Fatalf("%d: %v %q", code, resp.Header, body)
		}
		if code == 304 && resp.Header.Get("Content-Type") != "" {
			t.Errorf("304 with Content-Type")
		}
		if writeErr.Load() != http.ErrBodyNotAllowed.Error() {
			t.Errorf("%d: Write returned %v", code, writeErr.Load())
		}
	}
	// The connection is still in sync.
	io.WriteString(c, "GET /200 HTTP/1.1\r\nHost: a\r\n\r\n")
	if _, body := readResponse(t, br, "GET"); body != "hello" {
		t.Fatalf("after 204/304: %q", body)
	}
}

func TestInformational(t *testing.T) {
	ts := start(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		io.WriteString(w, "final")
	}))
	raw := ts.rawExchange(t, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 5*time.Second)
	if !strings.HasPrefix(raw, "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\n") || !strings.HasSuffix(raw, "final") {
		t.Fatalf("got %q", raw)
	}
	raw = ts.rawExchange(t, "GET / HTTP/1.0\r\n\r\n", 5*time.Second)
	if !strings.HasPrefix(raw, "HTTP/1.0 200 OK\r\n") {
		t.Fatalf("1xx sent to HTTP/1.0: %q", raw)
	}
}

func TestAutoFraming(t *testing.T) {
	ts := start(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		parts, _ := strconv.Atoi(r.URL.Query().Get("parts"))
		for i := 0; i < parts; i++ {
			w.Write(bytes.Repeat([]byte{byte('a' + i%26)}, n))
		}
	}))
	cases := []struct {
		n, parts int
		cl       bool
	}{
		{0, 0, true},     // empty: Content-Length: 0
		{13, 1, true},    // the hello case
		{1000, 5, true},  // several small writes that fit
		{7000, 1, true},  // fits the buffer
		{9000, 1, false}, // one write larger than the buffer
		{3000, 10, false},
		{100, 2000, false}, // many small chunks
	}
	for _, tc := range cases {
		resp, err := http.Get(ts.url(fmt.Sprintf("/?n=%d&parts=%d", tc.n, tc.parts)))
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || len(b) != tc.n*tc.parts {
			t.Fatalf("%+v: %d bytes, %v", tc, len(b), err)
		}
		for i := 0; i < tc.parts; i++ {
			if b[i*tc.n] != byte('a'+i%26) || b[(i+1)*tc.n-1] != byte('a'+i%26) {
				t.Fatalf("%+v: part %d corrupted", tc, i)
			}
		}
		if gotCL := resp.ContentLength >= 0; gotCL != tc.cl || !tc.cl && resp.TransferEncoding[0] != "chunked" {
			t.Errorf("%+v: ContentLength %d TE %v", tc, resp.ContentLength, resp.TransferEncoding)
		}
	}
}

func TestLargeStreamedResponse(t *testing.T) {
	const size = 8 << 20
	ts := start(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rng := rand.New(rand.NewSource(7))
		buf := make([]byte, 1500)
		for sent := 0; sent < size; {
			n := min(rng.Intn(len(buf))+1, size-sent)
			rng.Read(buf[:n])
			w.Write(buf[:n])
			sent += n
		}
	}))
	want := sha256.New()
	rng := rand.New(rand.NewSource(7))
	buf := make([]byte, 1500)
	for sent := 0; sent < size; {
		n := min(rng.Intn(len(buf))+1, size-sent)
		rng.Read(buf[:n])
		want.Write(buf[:n])
		sent += n
	}
	resp, err := http.Get(ts.url("/"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got := sha256.New()
	n, err := io.Copy(got, resp.Body)
	if err != nil || n != size || !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Fatalf("got %d bytes (%v), hash match %v", n, err, bytes.Equal(got.Sum(nil), want.Sum(nil)))
	}
}

func TestFlush(t *testing.T) {
	step := make(chan struct{})
	ts := start(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first")
		w.(http.Flusher).Flush()
		<-step
		io.WriteString(w, "second")
	}))
	resp, err := http.Get(ts.url("/"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 5)
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "first" {
		t.Fatalf("before the handler finished: %q %v", buf, err)
	}
	close(step)
	rest, _ := io.ReadAll(resp.Body)
	if string(rest) != "second" {
		t.Fatalf("rest %q", rest)
	}
}

func TestHijack(t *testing.T) {
	done := make(chan struct{})
	ts := start(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		if _, err := w.Write([]byte("x")); err != http.ErrHijacked {
			t.Errorf("Write after Hijack: %v", err)
		}
		go func() {
			defer close(done)
			defer conn.Close()
			brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
			brw.Flush()
			// Echo lines, including the one the client sent with the request.
			for {
				line, err := brw.ReadString('\n')
				if err != nil {
					return
				}
				brw.WriteString("echo: " + line)
				brw.Flush()
			}
		}()
	}))
	c := ts.dial(t)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nearly\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("%v %v", resp, err)
	}
	for _, want := range []string{"early", "late"} {
		if want == "late" {
			io.WriteString(c, "late\n")
		}
		line, err := br.ReadString('\n')
		if err != nil || line != "echo: "+want+"\n" {
			t.Fatalf("got %q %v", line, err)
		}
	}
	c.Close()
	<-done
	if st := ts.Stats(); st.Conns != 0 {
		t.Errorf("hijacked connection still tracked: %+v", st)
	}
}

func TestSendfile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "big")
	data := make([]byte, 10<<20+3)
	rand.New(rand.NewSource(3)).Read(data)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int64
	testHookSendfile = func(n int64) { calls.Add(1) }
	t.Cleanup(func() { testHookSendfile = nil }) // after the server's shutdown
	ts := start(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Open(path)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		switch r.URL.Path {
		case "/servecontent": // *io.LimitedReader around the file, ranges too
			http.ServeContent(w, r, "big", time.Time{}, f)
		case "/copy": // os.File.WriteTo hands io.Copy a wrapper, not *os.File
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
			io.Copy(w, f)
		}
	}))
	for _, path := range []string{"/servecontent", "/copy"} {
		calls.Store(0)
		resp, err := http.Get(ts.url(path))
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !bytes.Equal(b, data) {
			t.Fatalf("%s: %d bytes, %v, identical %v", path, len(b), err, bytes.Equal(b, data))
		}
		if canSendfile && calls.Load() == 0 {
			t.Errorf("%s: sendfile not used", path)
		}
	}
	// A range: the sendfile path honours the offset and the length.
	req, _ := http.NewRequest("GET", ts.url("/servecontent"), nil)
	req.Header.Set("Range", "bytes=1000000-1999999")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 206 || !bytes.Equal(b, data[1000000:2000000]) {
		t.Fatalf("range: %d, %d bytes", resp.StatusCode, len(b))
	}
}

// Sections of one shared file (how the static handler sends files it
// keeps open) go by sendfile at their own offsets: concurrent requests do
// not disturb each other, and the file's own offset never moves.
func TestSendfileSections(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "big")
	data := make([]byte, 3<<20)
	rand.New(rand.NewSource(4)).Read(data)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	shared, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer shared.Close()
	var calls atomic.Int64
	testHookSendfile = func(n int64) { calls.Add(1) }
	t.Cleanup(func() { testHookSendfile = nil })
	ts := start(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		off, _ := strconv.ParseInt(r.URL.Query().Get("off"), 10, 64)
		n, _ := strconv.ParseInt(r.URL.Query().Get("n"), 10, 64)
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		if r.URL.Query().Get("typed") != "" {
			w.Header().Set("Content-Type", "application/octet-stream")
		}
		io.Copy(w, io.NewSectionReader(shared, off, n))
	}))
	type req struct{ off, n int }
	reqs := []req{{0, len(data)}, {1 << 20, 1 << 20}, {12345, 700000}, {len(data) - 10, 10}, {5, 0}}
	var wg sync.WaitGroup
	for round := range 4 {
		for _, rq := range reqs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				typed := ""
				if round%2 == 0 {
					typed = "&typed=1" // else the head sniffs the first 512 bytes first
				}
				resp, err := http.Get(ts.url(fmt.Sprintf("/?off=%d&n=%d%s", rq.off, rq.n, typed)))
				if err != nil {
					t.Error(err)
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || !bytes.Equal(b, data[rq.off:rq.off+rq.n]) {
					t.Errorf("section %d+%d: %d bytes, %v", rq.off, rq.n, len(b), err)
				}
			}()
		}
	}
	wg.Wait()
	if canSendfile && calls.Load() == 0 {
		t.Error("sendfile not used")
	}
	if pos, _ := shared.Seek(0, io.SeekCurrent); pos != 0 {
		t.Errorf("the shared file's offset moved to %d", pos)
	}
}

func TestHandlerPanic(t *testing.T) {
	ts := start(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/before":
			w.Header().Set("X-Lost", "1")
			panic("boom before")
		case "/after":
			w.Header().Set("Content-Length", "100")
			io.WriteString(w, "partial")
			w.(http.Flusher).Flush()
			panic("boom after")
		case "/abort":
			panic(http.ErrAbortHandler)
		}
	}))
	raw := ts.rawExchange(t, "GET /before HTTP/1.1\r\nHost: a\r\n\r\n", 5*time.Second)
	resp, _ := parseRaw(t, raw, "GET")
	if resp.StatusCode != 500 || !resp.Close || resp.Header.Get("X-Lost") != "" {
		t.Fatalf("panic before writing: %q", raw)
	}
	raw = ts.rawExchange(t, "GET /after HTTP/1.1\r\nHost: a\r\n\r\n", 5*time.Second)
	if !strings.HasSuffix(raw, "partial") {
		t.Fatalf("panic after writing: connection not cut after what was sent: %q", raw)
	}
	raw = ts.rawExchange(t, "GET /abort HTTP/1.1\r\nHost: a\r\n\r\n", 5*time.Second)
	if raw != "" {
		t.Fatalf("ErrAbortHandler: %q", raw)
	}
	logs := ts.logs.String()
	if !strings.Contains(logs, "boom before") || !strings.Contains(logs, "boom after") || strings.Contains(logs, "abort") {
		t.Errorf("log: %s", logs)
	}
	if st := ts.Stats(); st.Panics != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestContextCancellation(t *testing.T) {
	cancelled := make(chan error, 1)
	started := make(chan struct{})
	var returned context.Context
	ts := start(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/quick" {
			returned = r.Context()
			return
		}
		// A child context, as a proxy's transport makes: it must see the
		// hang-up too.
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		close(started)
		<-ctx.Done()
		cancelled <- ctx.Err()
	}))
	c := ts.dial(t)
	io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
	<-started
	c.Close()
	select {
	case err := <-cancelled:
		if err != context.Canceled {
			t.Fatalf("child context: %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("handler's context not cancelled when the client went away")
	}
	raw := ts.rawExchange(t, "GET /quick HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 5*time.Second)
	if returned == nil || returned.Err() != context.Canceled || raw == "" {
		t.Fatalf("context after the handler returned: %v", returned)
	}
	if returned.Value(http.LocalAddrContextKey).(net.Addr).String() != ts.addr {
		t.Errorf("LocalAddrContextKey: %v", returned.Value(http.LocalAddrContextKey))
	}
}

func TestContextAfterFunc(t *testing.T) {
	ran := make(chan struct{})
	ts := start(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		context.AfterFunc(r.Context(), func() { close(ran) })
		stop := context.AfterFunc(r.Context(), func() { t.Error("stopped AfterFunc ran") })
		if !stop() {
			t.Error("stop reported false")
		}
	}))
	ts.rawExchange(t, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 5*time.Second)
	select {
	case <-ran:
	case <-time.After(3 * time.Second):
		t.Fatal("AfterFunc did not run when the handler returned")
	}
}

func TestResponseController(t *testing.T) {
	ts := start(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if err := rc.SetWriteDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Errorf("SetWriteDeadline: %v", err)
		}
		if err := rc.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Errorf("SetReadDeadline: %v", err)
		}
		if err := rc.EnableFullDuplex(); err != nil {
			t.Errorf("EnableFullDuplex: %v", err)
		}
		io.WriteString(w, "head ")
		if err := rc.Flush(); err != nil {
			t.Errorf("Flush: %v", err)
		}
		// Full duplex: the body is still there after the response began.
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("reading body after flush: %v", err)
		}
		w.Write(b)
	}))
	resp, err := http.Post(ts.url("/"), "text/plain", strings.NewReader("duplex body"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "head duplex body" {
		t.Fatalf("got %q", b)
	}
	// The deadlines the handler set do not outlive its request.
	time.Sleep(10 * time.Millisecond)
	resp, err = http.Post(ts.url("/"), "text/plain", strings.NewReader("again"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

func TestBodyLimit(t *testing.T) {
	ts := start(t, &Server{MaxBodyBytes: 10}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" && !SetMaxBodyBytes(r, 1<<20) {
			t.Error("SetMaxBodyBytes refused")
		}
		if r.URL.Path == "/tiny" {
			SetMaxBodyBytes(r, 3)
		}
		b, err := io.ReadAll(r.Body)
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			if r.URL.Path == "/own" {
				http.Error(w, "custom too large", 413)
			}
			return
		}
		fmt.Fprintf(w, "%d", len(b))
	}))
	post := func(path, body string) (int, string) {
		resp, err := http.Post(ts.url(path), "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct {
		path, body string
		code       int
		want       string
	}{
		{"/", "0123456789", 200, "10"},
		{"/", "0123456789a", 413, "Request Entity Too Large\n"},
		{"/big", strings.Repeat("x", 5000), 200, "5000"},
		{"/tiny", "abcd", 413, "Request Entity Too Large\n"},
		{"/own", "0123456789abc", 413, "custom too large\n"},
	} {
		code, body := post(tc.path, tc.body)
		if code != tc.code || body != tc.want {
			t.Errorf("%s %d bytes: %d %q, want %d %q", tc.path, len(tc.body), code, body, tc.code, tc.want)
		}
	}
}

func TestMaxConns(t *testing.T) {
	release := make(chan struct{})
	ts := start(t, &Server{MaxConns: 2}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
	}))
	defer close(release)
	for i := 0; i < 2; i++ {
		c := ts.dial(t)
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	}
	waitFor(t, "2 active", 3*time.Second, func() bool { return ts.Stats().Active == 2 })
	raw := ts.rawExchange(t, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 5*time.Second)
	resp, _ := parseRaw(t, raw, "GET")
	if resp.StatusCode != 503 || !resp.Close {
		t.Fatalf("over MaxConns: %q", raw)
	}
	if st := ts.Stats(); st.Rejected != 1 || st.Conns != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestIdleTimeout(t *testing.T) {
	ts := start(t, &Server{IdleTimeout: 300 * time.Millisecond}, http.HandlerFunc(helloHandler))
	c := ts.dial(t)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	br := bufio.NewReader(c)
	readResponse(t, br, "GET")
	t0 := time.Now()
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: %v, want EOF", err)
	}
	if d := time.Since(t0); d < 200*time.Millisecond || d > 2*time.Second {
		t.Fatalf("closed after %v, want about 300ms", d)
	}
}

// After the busy period an idle connection parks in the poller: no
// goroutine, no buffers. It must still answer, and still time out.
func TestParkedConnections(t *testing.T) {
	ts := start(t, &Server{IdleTimeout: 3 * time.Second}, http.HandlerFunc(echoHandler))
	waitFor(t, "server start", time.Second, func() bool { ts.mu.Lock(); defer ts.mu.Unlock(); return ts.bgStarted })
	if ts.poller == nil {
		t.Skip("no poller on this platform")
	}
	const n = 50
	conns := make([]net.Conn, n)
	readers := make([]*bufio.Reader, n)
	for i := range conns {
		conns[i] = ts.dial(t)
		conns[i].SetDeadline(time.Now().Add(20 * time.Second))
		readers[i] = bufio.NewReader(conns[i])
		io.WriteString(conns[i], "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
		readResponse(t, readers[i], "GET")
	}
	waitFor(t, "parked connections", 5*time.Second, func() bool { return ts.Stats().Parked == n })
	// Woken by a request, including one split across two writes and a
	// pipelined pair.
	for i, c := range conns {
		switch i % 3 {
		case 0:
			io.WriteString(c, "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi")
		case 1:
			io.WriteString(c, "GET /s HTTP/1.1\r\n")
			time.Sleep(time.Millisecond)
			io.WriteString(c, "Host: a\r\n\r\n")
		case 2:
			io.WriteString(c, "GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n")
		}
	}
	for i := range conns {
		resp, body := readResponse(t, readers[i], "GET")
		if resp.StatusCode != 200 {
			t.Fatalf("conn %d after parking: %d %q", i, resp.StatusCode, body)
		}
		if i%3 == 2 {
			if _, body := readResponse(t, readers[i], "GET"); !strings.HasPrefix(body, "GET /b") {
				t.Fatalf("pipelined after parking: %q", body)
			}
		}
	}
	// Parked again, a client hang-up is noticed.
	waitFor(t, "parked again", 5*time.Second, func() bool { return ts.Stats().Parked == n })
	conns[0].Close()
	waitFor(t, "hang-up noticed", 3*time.Second, func() bool { return ts.Stats().Conns == n-1 })
	// And the idle timeout closes the rest.
	waitFor(t, "idle timeout of parked connections", 6*time.Second, func() bool { return ts.Stats().Conns == 0 })
	if _, err := readers[1].ReadByte(); err != io.EOF {
		t.Fatalf("parked connection after idle timeout: %v", err)
	}
}

func TestWriteTimeout(t *testing.T) {
	ts := start(t, &Server{WriteTimeout: 300 * time.Millisecond}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 1<<20)
		for i := 0; i < 64; i++ {
			if _, err := w.Write(buf); err != nil {
				return
			}
		}
	}))
	c := ts.dial(t)
	c.(*net.TCPConn).SetReadBuffer(4096)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	// Never read: the server must give up.
	waitFor(t, "request", 5*time.Second, func() bool { return ts.Stats().Requests == 1 })
	waitFor(t, "write timeout", 5*time.Second, func() bool { return ts.Stats().Conns == 0 })
	if ts.Stats().Timeouts == 0 {
		t.Errorf("stats %+v", ts.Stats())
	}
}

func TestResponseTrailers(t *testing.T) {
	ts := start(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Sum")
		io.WriteString(w, "body")
		w.Header().Set("X-Sum", "42")
		w.Header().Set(http.TrailerPrefix+"X-Late", "yes")
	}))
	resp, err := http.Get(ts.url("/"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "body" || resp.Trailer.Get("X-Sum") != "42" || resp.Trailer.Get("X-Late") != "yes" {
		t.Fatalf("body %q trailer %v", b, resp.Trailer)
	}
}

func TestResponseHeaderSanitized(t *testing.T) {
	ts := start(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["X-Split"] = []string{"a\r\nSet-Cookie: evil=1"}
		w.Header()["Bad Name"] = []string{"x"}
		w.Header()["Content-Type"] = nil // suppresses sniffing, like net/http
		w.Header().Set("Date", "handler date")
		io.WriteString(w, "<html>")
	}))
	raw := ts.rawExchange(t, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 5*time.Second)
	resp, _ := parseRaw(t, raw, "GET")
	if resp.Header.Get("Set-Cookie") != "" || resp.Header.Get("X-Split") != "a  Set-Cookie: evil=1" ||
		strings.Contains(raw, "Bad Name") || resp.Header.Get("Content-Type") != "" || resp.Header.Get("Date") != "handler date" {
		t.Fatalf("got %q", raw)
	}
	if resp.Header.Get("Server") != "" {
		t.Errorf("Server header leaked")
	}
}

func TestUnreadBodyKeepsConnection(t *testing.T) {
	ts := start(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ignored the body")
	}))
	c := ts.dial(t)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	// A small unread body is discarded and the connection reused.
	fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n%s", strings.Repeat("z", 1000))
	if resp, _ := readResponse(t, br, "POST"); resp.Close {
		t.Fatal("small unread body closed the connection")
	}
	// A large one is not read: the connection closes after the response.
	fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n", 10<<20)
	go c.Write(make([]byte, 1<<20))
	if resp, _ := readResponse(t, br, "POST"); !resp.Close {
		t.Fatal("large unread body did not close the connection")
	}
}

// Without the poller (other platforms, wrapped conns), an idle connection
// drops its buffers and waits in a small goroutine; it must still wake,
// time out and shut down like a parked one.
func TestColdConnectionsWithoutPoller(t *testing.T) {
	s := &Server{IdleTimeout: 2500 * time.Millisecond}
	s.noPoller = true
	ts := start(t, s, http.HandlerFunc(echoHandler))
	const n = 10
	conns := make([]net.Conn, n)
	readers := make([]*bufio.Reader, n)
	for i := range conns {
		conns[i] = ts.dial(t)
		conns[i].SetDeadline(time.Now().Add(20 * time.Second))
		readers[i] = bufio.NewReader(conns[i])
		io.WriteString(conns[i], "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
		readResponse(t, readers[i], "GET")
	}
	waitFor(t, "cold connections", 5*time.Second, func() bool {
		ts.mu.Lock()
		defer ts.mu.Unlock()
		cold := 0
		for _, c := range ts.conns {
			if phaseOf(c.rstate.Load()) == phaseCold {
				cold++
			}
		}
		return cold == n
	})
	for i, c := range conns[:n/2] {
		io.WriteString(c, "POST /cold HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nwake")
		if resp, body := readResponse(t, readers[i], "POST"); resp.StatusCode != 200 || !strings.Contains(body, `body="wake"`) {
			t.Fatalf("cold connection %d: %d %q", i, resp.StatusCode, body)
		}
	}
	// The untouched half hits the idle timeout.
	for i := n / 2; i < n; i++ {
		if _, err := readers[i].ReadByte(); err != io.EOF {
			t.Fatalf("cold connection %d after idle timeout: %v", i, err)
		}
	}
}

// Requests arriving around the end of the busy period race the sweeper's
// kick, the parking and the poller's wake-up. Every one must be answered.
func TestIdleTransitionsStress(t *testing.T) {
	for _, noPoller := range []bool{false, true} {
		t.Run(fmt.Sprintf("noPoller=%v", noPoller), func(t *testing.T) {
			s := &Server{IdleTimeout: 10 * time.Second, testHot: 10 * time.Millisecond}
			s.noPoller = noPoller
			ts := start(t, s, http.HandlerFunc(echoHandler))
			const conns, rounds = 20, 30
			var wg sync.WaitGroup
			errs := make(chan error, conns)
			for i := 0; i < conns; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					rng := rand.New(rand.NewSource(int64(i)))
					c, err := net.Dial("tcp", ts.addr)
					if err != nil {
						errs <- err
						return
					}
					defer c.Close()
					c.SetDeadline(time.Now().Add(30 * time.Second))
					br := bufio.NewReader(c)
					for r := 0; r < rounds; r++ {
						time.Sleep(time.Duration(rng.Intn(25)) * time.Millisecond)
						n := 1 + r%2 // every other round, a pipelined pair
						var req strings.Builder
						for k := 0; k < n; k++ {
							fmt.Fprintf(&req, "POST /%d/%d/%d HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nok", i, r, k)
						}
						if _, err := io.WriteString(c, req.String()); err != nil {
							errs <- err
							return
						}
						for k := 0; k < n; k++ {
							resp, err := http.ReadResponse(br, nil)
							if err != nil {
								errs <- fmt.Errorf("conn %d round %d: %v", i, r, err)
								return
							}
							b, _ := io.ReadAll(resp.Body)
							if want := fmt.Sprintf("POST /%d/%d/%d ", i, r, k); !strings.HasPrefix(string(b), want) {
								errs <- fmt.Errorf("conn %d: got %q, want %q", i, b, want)
								return
							}
						}
					}
				}(i)
			}
			maxParked := 0
			stopSampling, sampled := make(chan struct{}), make(chan struct{})
			go func() {
				defer close(sampled)
				for {
					maxParked = max(maxParked, ts.Stats().Parked)
					select {
					case <-stopSampling:
						return
					case <-time.After(time.Millisecond):
					}
				}
			}()
			wg.Wait()
			close(stopSampling)
			<-sampled
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if !noPoller && ts.poller != nil && maxParked == 0 {
				t.Error("no connection ever parked: the stress missed its target")
			}
			t.Logf("most connections parked at once: %d", maxParked)
		})
	}
}

// Unix sockets get the same fast paths: parking and sendfile.
func TestUnixSocket(t *testing.T) {
	dir, err := os.MkdirTemp("", "h1")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "f")
	data := bytes.Repeat([]byte("0123456789abcdef"), 200000)
	os.WriteFile(file, data, 0o644)
	var calls atomic.Int64
	testHookSendfile = func(int64) { calls.Add(1) }
	t.Cleanup(func() { testHookSendfile = nil })

	s := &Server{IdleTimeout: 5 * time.Second, testHot: 50 * time.Millisecond, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, _ := os.Open(file)
		defer f.Close()
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		io.Copy(w, f)
	})}
	l, err := net.Listen("unix", filepath.Join(dir, "s"))
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(l) }()
	defer func() {
		s.Shutdown(context.Background())
		<-errc
	}()
	c, err := net.Dial("unix", filepath.Join(dir, "s"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	for i := 0; i < 2; i++ {
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
		resp, body := readResponse(t, br, "GET")
		if resp.StatusCode != 200 || body != string(data) {
			t.Fatalf("round %d: %d, %d bytes", i, resp.StatusCode, len(body))
		}
		if s.poller != nil {
			waitFor(t, "parked", 3*time.Second, func() bool { return s.Stats().Parked == 1 })
		}
	}
	if canSendfile && calls.Load() == 0 {
		t.Error("sendfile not used on a unix socket")
	}
}
