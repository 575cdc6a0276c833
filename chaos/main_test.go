//go:build chaos

package chaos

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// binary is the stackctl under test, built once by TestMain.
var binary string

// TestMain builds the binary the way users get it (no race detector unless
// CHAOS_RACE=1: it would slow the stack down several times and make the
// latency figures meaningless).
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "stackctl-chaos")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "stackctl")
	args := []string{"build", "-o", binary}
	if os.Getenv("CHAOS_RACE") != "" {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "github.com/stackctl/stackctl/cmd/stackctl")...)
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build stackctl: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// report collects one row per scenario: stackctl's figures and, for
// scenarios 1–4, nginx + uWSGI's beside them.
type report struct {
	mu   sync.Mutex
	rows map[int]*row
}

type row struct {
	scenario string
	stackctl *loadResult
	baseline *loadResult
	notes    []string
}

func newReport() *report { return &report{rows: map[int]*row{}} }

func (r *report) row(n int, scenario string) *row {
	if r.rows[n] == nil {
		r.rows[n] = &row{scenario: scenario}
	}
	return r.rows[n]
}

// stackctl records stackctl's result of scenario n.
func (r *report) stackctl(n int, scenario string, res loadResult, note string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.row(n, scenario)
	w.stackctl = &res
	if note != "" {
		w.notes = append(w.notes, "stackctl: "+note)
	}
}

// baseline records nginx + uWSGI's result of scenario n.
func (r *report) baseline(n int, scenario string, res loadResult, note string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.row(n, scenario)
	w.baseline = &res
	if note != "" {
		w.notes = append(w.notes, "nginx+uWSGI: "+note)
	}
}

// markdown renders the table.
func (r *report) markdown() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "stackctl chaos suite, %s, %d CPUs, %d keep-alive clients in a closed loop (GET through the proxy)\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), runtime.NumCPU(), loadClients)
	b.WriteString("| # | scenario | stackctl requests | failed | p99 | nginx+uWSGI requests | failed | p99 | notes |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---|\n")
	var ns []int
	for n := range r.rows {
		ns = append(ns, n)
	}
	sort.Ints(ns)
	for _, n := range ns {
		w := r.rows[n]
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %s |\n", n, w.scenario, cells(w.stackctl), cells(w.baseline), strings.Join(w.notes, "; "))
	}
	return b.String()
}

func cells(r *loadResult) string {
	if r == nil {
		return "– | – | –"
	}
	return fmt.Sprintf("%d | %d | %s", r.Requests, r.Failures, ms(r.P99))
}

// publish logs the table and writes it to $CHAOS_REPORT if set.
func (r *report) publish(t *testing.T) {
	md := r.markdown()
	t.Log("\n" + md)
	if path := os.Getenv("CHAOS_REPORT"); path != "" {
		if err := os.WriteFile(path, []byte(md), 0o644); err != nil {
			t.Errorf("CHAOS_REPORT: %v", err)
		}
	}
}
