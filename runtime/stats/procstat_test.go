package stats

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// statLine builds a /proc/PID/stat line with the given comm and fields
// 3..52, where fields maps a field number to its text (others are "0").
func statLine(comm string, fields map[int]string) string {
	parts := []string{"1234", "(" + comm + ")"}
	for f := 3; f <= 52; f++ {
		v, ok := fields[f]
		if !ok {
			v = "0"
		}
		parts = append(parts, v)
	}
	return strings.Join(parts, " ") + "\n"
}

func TestParseStat(t *testing.T) {
	std := map[int]string{3: "S", 14: "1500", 15: "250", 20: "7", 22: "987654", 23: "123456789", 24: "2048"}
	want := statFields{state: 'S', utime: 1500, stime: 250, threads: 7, startTicks: 987654, vsize: 123456789, rssPages: 2048}
	tests := []struct {
		name string
		comm string
	}{
		{"plain", "python3"},
		{"spaces", "uwsgi worker 1"},
		{"parentheses", "a) b (c"},
		{"looks like fields", ") R 1 2 3 4 5 6 7 8 9 10 11 12"},
		{"empty", ""},
		{"trailing paren", "x)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStat([]byte(statLine(tc.comm, std)))
			if err != nil || got != want {
				t.Fatalf("parseStat = %+v, %v; want %+v", got, err, want)
			}
		})
	}

	// A real line from this kernel generation, for good measure.
	real := "4242 (sleep) S 4200 4242 4200 34816 4242 4194304 110 0 0 0 3 1 0 0 20 0 1 0 37415 8646656 240 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
	got, err := parseStat([]byte(real))
	if err != nil {
		t.Fatal(err)
	}
	if w := (statFields{state: 'S', utime: 3, stime: 1, threads: 1, startTicks: 37415, vsize: 8646656, rssPages: 240}); got != w {
		t.Fatalf("real line: %+v, want %+v", got, w)
	}
	// rss is printed signed; a negative value reads as 0 instead of failing.
	neg := map[int]string{3: "R", 24: "-3"}
	if got, err := parseStat([]byte(statLine("x", neg))); err != nil || got.rssPages != 0 {
		t.Fatalf("negative rss: %+v, %v", got, err)
	}
}

func TestParseStatRejects(t *testing.T) {
	good := statLine("ok", map[int]string{3: "S"})
	tests := map[string]string{
		"empty":            "",
		"no parentheses":   "1234 python 3 S 1 2 3",
		"no open paren":    "1234 python) S 1 2 3",
		"truncated":        good[:strings.Index(good, ")")+30],
		"ends at paren":    "1 (x)",
		"not a number":     statLine("x", map[int]string{3: "S", 14: "12a"}),
		"overflow":         statLine("x", map[int]string{3: "S", 23: "99999999999999999999999"}),
		"double space":     strings.Replace(good, "S 0", "S  0", 1),
		"bad negative rss": statLine("x", map[int]string{3: "S", 24: "-"}),
	}
	for name, line := range tests {
		t.Run(name, func(t *testing.T) {
			if got, err := parseStat([]byte(line)); !errors.Is(err, errStatFormat) {
				t.Fatalf("parseStat(%q) = %+v, %v; want errStatFormat", line, got, err)
			}
		})
	}
}

func TestParseDecimal(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0", 0, true},
		{"18446744073709551615", 1<<64 - 1, true},
		{"18446744073709551616", 0, false},
		{"", 0, false},
		{"+1", 0, false},
		{"1 ", 0, false},
	} {
		got, err := parseDecimal([]byte(tc.in))
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseDecimal(%q) = %d, %v", tc.in, got, err)
		}
	}
}

func TestParseStatDoesNotAllocate(t *testing.T) {
	line := []byte(statLine("worker (1)", map[int]string{3: "R", 14: "12", 24: "99"}))
	if n := testing.AllocsPerRun(100, func() { _, _ = parseStat(line) }); n != 0 {
		t.Fatalf("parseStat allocates %v times", n)
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte(statLine("python3", map[int]string{3: "S", 14: "5"})))
	f.Add([]byte(statLine("a) (b", nil)))
	f.Add([]byte("1 ()"))
	f.Add([]byte(")"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := parseStat(b) // must not panic
		if err == nil && !bytes.Contains(b, []byte(")")) {
			t.Fatalf("accepted a line without ')': %q -> %+v", b, got)
		}
	})
}
