package http1

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/peertest"
)

// TestWrkCompare runs wrk against this engine, net/http and nginx on the
// same machine, scenarios alternated round by round (absolute numbers
// drift; ratios measured side by side are what mean something):
//
//	HTTP1_WRK=1 go test -run WrkCompare -v ./runtime/proxy/http1/
//
// HTTP1_WRK_ROUNDS (default 3) and HTTP1_WRK_DURATION (default 5s) tune it.
func TestWrkCompare(t *testing.T) {
	if os.Getenv("HTTP1_WRK") == "" {
		t.Skip("set HTTP1_WRK=1 to run the wrk comparison")
	}
	if raceEnabled {
		t.Skip("not under -race")
	}
	wrk := peertest.Require(t, "wrk", "wrk")
	rounds, _ := strconv.Atoi(os.Getenv("HTTP1_WRK_ROUNDS"))
	if rounds <= 0 {
		rounds = 3
	}
	dur := os.Getenv("HTTP1_WRK_DURATION")
	if dur == "" {
		dur = "5s"
	}

	// cpu returns the CPU time used so far by the scenario's server.
	type scenario struct {
		name, url string
		cpu       func() time.Duration
	}
	self := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	var scenarios []scenario
	for _, h := range []struct {
		name string
		h    http.HandlerFunc
	}{{"hello", helloHandler}, {"static13", static13}} {
		ours := start(t, nil, h.h)
		scenarios = append(scenarios, scenario{"http1 " + h.name, ours.url("/hello.txt"), self})
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		std := &http.Server{Handler: h.h}
		go std.Serve(l)
		defer std.Close()
		scenarios = append(scenarios, scenario{"net/http " + h.name, "http://" + l.Addr().String() + "/hello.txt", self})
	}
	if _, err := exec.LookPath("nginx"); err == nil || fileExists("/usr/sbin/nginx") {
		ng := peertest.StartNginx(t, `server {
    listen 127.0.0.1:{{PORT}};
    root {{DIR}}/www;
}`)
		os.MkdirAll(filepath.Join(ng.Dir, "www"), 0o755)
		os.WriteFile(filepath.Join(ng.Dir, "www", "hello.txt"), hello13, 0o644)
		master := ng.Cmd.Process.Pid
		scenarios = append(scenarios, scenario{"nginx 13 B file", "http://" + ng.Addr + "/hello.txt", func() time.Duration {
			return childrenCPU(master)
		}})
	}

	run := func(url, d string) (float64, string, float64) {
		out, err := exec.Command(wrk, "-t2", "-c64", "-d"+d, "--latency", url).CombinedOutput()
		if err != nil {
			t.Fatalf("wrk %s: %v\n%s", url, err, out)
		}
		if strings.Contains(string(out), "Non-2xx") {
			t.Errorf("wrk %s: non-2xx responses:\n%s", url, out)
		}
		if m := regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`).FindSubmatch(out); m != nil {
			// Timeouts (2 s) happen when the machine is overloaded by others;
			// connection errors would be ours.
			if string(m[1]) != "0" || string(m[2]) != "0" || string(m[3]) != "0" {
				t.Errorf("wrk %s: socket errors:\n%s", url, out)
			} else {
				t.Logf("wrk %s: %s timeouts (machine busy?)", url, m[4])
			}
		}
		m := regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`).FindSubmatch(out)
		p99 := regexp.MustCompile(`(?m)^\s+99%\s+(\S+)`).FindSubmatch(out)
		total := regexp.MustCompile(`(\d+) requests in`).FindSubmatch(out)
		if m == nil || p99 == nil || total == nil {
			t.Fatalf("wrk output:\n%s", out)
		}
		rps, _ := strconv.ParseFloat(string(m[1]), 64)
		n, _ := strconv.ParseFloat(string(total[1]), 64)
		return rps, string(p99[1]), n
	}
	for _, sc := range scenarios {
		run(sc.url, "1s") // warm-up
	}
	results := map[string][]float64{}
	p99s := map[string][]string{}
	cpu := map[string]time.Duration{}
	reqs := map[string]float64{}
	for r := 0; r < rounds; r++ {
		for _, sc := range scenarios {
			c0 := sc.cpu()
			rps, p99, n := run(sc.url, dur)
			cpu[sc.name] += sc.cpu() - c0
			reqs[sc.name] += n
			results[sc.name] = append(results[sc.name], rps)
			p99s[sc.name] = append(p99s[sc.name], p99)
			time.Sleep(200 * time.Millisecond)
		}
	}
	median := func(v []float64) float64 {
		v = slices.Clone(v)
		slices.Sort(v)
		return v[len(v)/2]
	}
	// On a shared machine the best round is the one least disturbed; the
	// median says how it goes under the same disturbance.
	ref := median(results["nginx 13 B file"])
	refBest := slices.Max(append([]float64{0}, results["nginx 13 B file"]...))
	var b strings.Builder
	fmt.Fprintf(&b, "wrk -t2 -c64 -d%s, %d rounds alternated, req/s median and best:\n", dur, rounds)
	for _, sc := range scenarios {
		m, best := median(results[sc.name]), slices.Max(results[sc.name])
		fmt.Fprintf(&b, "  %-18s median %7.0f", sc.name, m)
		if ref > 0 {
			fmt.Fprintf(&b, " (%.2fx nginx)", m/ref)
		}
		fmt.Fprintf(&b, "  best %7.0f", best)
		if refBest > 0 {
			fmt.Fprintf(&b, " (%.2fx nginx)", best/refBest)
		}
		// Server CPU per request barely depends on what else the machine
		// runs: the steadiest figure here.
		fmt.Fprintf(&b, "  server CPU %.1f µs/req", float64(cpu[sc.name].Microseconds())/reqs[sc.name])
		fmt.Fprintf(&b, "  p99 %v  rounds %.0f\n", p99s[sc.name], results[sc.name])
	}
	t.Log(b.String())
}

// childrenCPU is the CPU time of the processes whose parent is pid (nginx's
// workers), from /proc.
func childrenCPU(pid int) time.Duration {
	var total time.Duration
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		b, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		// Fields after the command (which may contain spaces): state ppid ...
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if len(f) < 13 || f[1] != strconv.Itoa(pid) {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		total += time.Duration(ut+st) * (time.Second / 100) // USER_HZ
	}
	return total
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
