package http1

import (
	"testing"
	"time"
)

func TestIdleRelease(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tests := []struct {
		name  string
		steps []struct {
			at    time.Duration
			count uint64
		}
		want int // releases
	}{
		{"a burst, then quiet: one release", steps(0, 0, 1, 5000, 2, 5000, 4, 5000, 10, 5000), 1},
		{"a small burst is not worth a collection", steps(0, 0, 1, 500, 4, 500), 0},
		{"still busy: no release", steps(0, 0, 1, 5000, 2, 10000, 3, 15000, 4, 20000), 0},
		{"quiet, but not for long enough", steps(0, 0, 1, 5000, 2, 5000), 0},
		{"two bursts close together: one release", steps(0, 0, 1, 5000, 4, 5000, 5, 9000, 8, 9000), 1},
		{"two bursts far apart: two releases", steps(0, 0, 1, 5000, 4, 5000, 40, 9000, 43, 9000), 2},
		{"the second of two close bursts is released once the interval has passed", steps(0, 0, 1, 5000, 4, 5000, 5, 9000, 8, 9000, 13, 9000, 15, 9000), 2},
	}
	for _, tt := range tests {
		n := 0
		r := idleRelease{free: func() { n++ }}
		for _, s := range tt.steps {
			r.check(t0.Add(s.at), s.count)
		}
		if n != tt.want {
			t.Errorf("%s: %d releases, want %d", tt.name, n, tt.want)
		}
	}
}

// steps builds (seconds, count) pairs.
func steps(v ...uint64) []struct {
	at    time.Duration
	count uint64
} {
	var out []struct {
		at    time.Duration
		count uint64
	}
	for i := 0; i+1 < len(v); i += 2 {
		out = append(out, struct {
			at    time.Duration
			count uint64
		}{time.Duration(v[i]) * time.Second, v[i+1]})
	}
	return out
}
