//go:build chaos

package chaos

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

const (
	// loadClients is the number of concurrent clients of every scenario: a
	// handful, so the load stays bounded on a 2-core machine shared with
	// other work, yet every worker of a 4-worker app is kept busy.
	loadClients = 8
	// requestTimeout bounds one request; a request slower than this is a
	// failure (the proxy's own timeouts are longer, so it never fires first
	// unless the stack is stuck).
	requestTimeout = 30 * time.Second
	// errorPause keeps a client from spinning while nothing listens (the
	// SIGKILL scenario); it delays the next request, it hides no failure.
	errorPause = 10 * time.Millisecond
)

// load is a steady, bounded load of GETs on one HTTP address: loadClients
// clients, each in a closed loop on one kept-alive connection. Every non-2xx
// answer and every socket error is a failure. It does not use net/http's
// Transport on purpose: that one silently resends an idempotent request
// whose kept-alive connection died, which would hide exactly the failures
// this suite looks for.
type load struct {
	stop chan struct{}
	wg   sync.WaitGroup

	mu       sync.Mutex
	requests int
	failures int
	lat      []time.Duration
	samples  map[string]int // failure description -> count
	bodies   map[string]int // 2xx body ("TAG PID") -> count
}

// loadResult is what a load measured.
type loadResult struct {
	Requests, Failures int
	P50, P99, Max      time.Duration
	Samples            map[string]int
	Bodies             map[string]int
	lat                []time.Duration // sorted
}

// startLoad starts the clients on http://addr+path.
func startLoad(addr, path string) *load {
	l := &load{stop: make(chan struct{}), samples: map[string]int{}, bodies: map[string]int{}}
	for i := 0; i < loadClients; i++ {
		l.wg.Add(1)
		go l.client(addr, path)
	}
	return l
}

func (l *load) client(addr, path string) {
	defer l.wg.Done()
	c := &httpClient{addr: addr, req: []byte("GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nUser-Agent: stackctl-chaos\r\n\r\n")}
	defer c.close()
	for {
		select {
		case <-l.stop:
			return
		default:
		}
		start := time.Now()
		status, body, err := c.get()
		d := time.Since(start)
		l.mu.Lock()
		l.requests++
		l.lat = append(l.lat, d)
		switch {
		case err != nil:
			l.failures++
			l.samples[err.Error()]++
		case status/100 != 2:
			l.failures++
			l.samples[fmt.Sprintf("status %d: %.80q", status, body)]++
		default:
			l.bodies[string(body)]++
		}
		l.mu.Unlock()
		if err != nil {
			time.Sleep(errorPause)
		}
	}
}

// snapshot returns what was measured so far without stopping.
func (l *load) snapshot() loadResult {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := loadResult{Requests: l.requests, Failures: l.failures, Samples: map[string]int{}, Bodies: map[string]int{}}
	for k, v := range l.samples {
		r.Samples[k] = v
	}
	for k, v := range l.bodies {
		r.Bodies[k] = v
	}
	r.setLatencies(append([]time.Duration(nil), l.lat...))
	return r
}

func (r *loadResult) setLatencies(lat []time.Duration) {
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	r.lat = lat
	r.P50, r.P99 = percentile(lat, 0.50), percentile(lat, 0.99)
	if len(lat) > 0 {
		r.Max = lat[len(lat)-1]
	}
}

// runLoad runs a load for d and returns what it measured.
func runLoad(addr, path string, d time.Duration) loadResult {
	l := startLoad(addr, path)
	time.Sleep(d)
	return l.finish()
}

// merge pools several runs into one result (percentiles over all requests).
func merge(rs ...loadResult) loadResult {
	m := loadResult{Samples: map[string]int{}, Bodies: map[string]int{}}
	var lat []time.Duration
	for _, r := range rs {
		m.Requests += r.Requests
		m.Failures += r.Failures
		for k, v := range r.Samples {
			m.Samples[k] += v
		}
		for k, v := range r.Bodies {
			m.Bodies[k] += v
		}
		lat = append(lat, r.lat...)
	}
	m.setLatencies(lat)
	return m
}

// finish stops the clients (each finishes its request in flight) and
// returns the totals.
func (l *load) finish() loadResult {
	close(l.stop)
	l.wg.Wait()
	return l.snapshot()
}

// percentile of sorted durations, nearest rank.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*q+0.999999) - 1
	if i < 0 {
		i = 0
	}
	return sorted[min(i, len(sorted)-1)]
}

// minus returns the counts of r that were not yet in before: what a load
// measured between two snapshots (latencies excepted).
func (r loadResult) minus(before loadResult) loadResult {
	d := loadResult{Requests: r.Requests - before.Requests, Failures: r.Failures - before.Failures, Samples: map[string]int{}, Bodies: map[string]int{}}
	for k, v := range r.Samples {
		if n := v - before.Samples[k]; n > 0 {
			d.Samples[k] = n
		}
	}
	for k, v := range r.Bodies {
		if n := v - before.Bodies[k]; n > 0 {
			d.Bodies[k] = n
		}
	}
	return d
}

// byTag sums the 2xx answers by the first word of their body (the app's
// TAG: which server answered).
func (r loadResult) byTag() map[string]int {
	m := map[string]int{}
	for body, n := range r.Bodies {
		tag, _, _ := strings.Cut(body, " ")
		m[tag] += n
	}
	return m
}

// mostByOneWorker is the most 2xx answers one worker gave (bodies are
// "TAG PID").
func (r loadResult) mostByOneWorker() int {
	most := 0
	for _, n := range r.Bodies {
		most = max(most, n)
	}
	return most
}

// String is a one-line summary for the test log.
func (r loadResult) String() string {
	return fmt.Sprintf("%d requests, %d failed, p50 %s, p99 %s, max %s, %d distinct workers answered",
		r.Requests, r.Failures, ms(r.P50), ms(r.P99), ms(r.Max), len(r.Bodies))
}

// failureSamples lists the distinct failures, most frequent first.
func (r loadResult) failureSamples() string {
	type kv struct {
		k string
		v int
	}
	var s []kv
	for k, v := range r.Samples {
		s = append(s, kv{k, v})
	}
	sort.Slice(s, func(i, j int) bool { return s[i].v > s[j].v })
	var b strings.Builder
	for i, e := range s {
		if i == 10 {
			fmt.Fprintf(&b, "\n  ... %d more kinds", len(s)-10)
			break
		}
		fmt.Fprintf(&b, "\n  %6d × %s", e.v, e.k)
	}
	return b.String()
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d)/1e6) }

// httpClient is one HTTP/1.1 client connection, kept alive across
// requests, reopened only after an error or a `Connection: close`.
type httpClient struct {
	addr   string
	req    []byte
	conn   net.Conn
	br     *bufio.Reader
	served int // responses read on conn
}

// get sends the request and reads the whole response. An error says what
// failed and whether the connection had served requests before, so a
// closed kept-alive connection is told apart from a refused one.
func (c *httpClient) get() (int, []byte, error) {
	if c.conn == nil {
		conn, err := net.DialTimeout("tcp", c.addr, 5*time.Second)
		if err != nil {
			return 0, nil, fmt.Errorf("dial: %v", cleanErr(err))
		}
		c.conn, c.br, c.served = conn, bufio.NewReader(conn), 0
	}
	c.conn.SetDeadline(time.Now().Add(requestTimeout))
	if _, err := c.conn.Write(c.req); err != nil {
		return 0, nil, c.fail("write", err)
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return 0, nil, c.fail("read response head", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, nil, c.fail("read response body", err)
	}
	c.served++
	if resp.Close {
		c.close() // the server said so: not an error
	}
	return resp.StatusCode, body, nil
}

func (c *httpClient) fail(what string, err error) error {
	where := "a new connection"
	if c.served > 0 {
		where = "a kept-alive connection"
	}
	c.close()
	return fmt.Errorf("%s on %s: %v", what, where, cleanErr(err))
}

func (c *httpClient) close() {
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}

// cleanErr drops the addresses from a net error so equal failures group
// together in the samples.
func cleanErr(err error) error {
	if oe, ok := err.(*net.OpError); ok {
		return oe.Err
	}
	return err
}
