package ui

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stackctl/stackctl/runtime/control"
)

func lines(from, n int) []control.LogLine {
	out := make([]control.LogLine, n)
	for i := range out {
		out[i] = control.LogLine{Seq: uint64(from + i), Text: strconv.Itoa(from + i)}
	}
	return out
}

func TestLogRingKeepsTheLastLines(t *testing.T) {
	r := newLogRing(4)
	if d := r.push(lines(1, 3)); d != 0 || r.len() != 3 {
		t.Fatalf("dropped %d, len %d", d, r.len())
	}
	if d := r.push(lines(4, 3)); d != 2 {
		t.Fatalf("dropped %d", d)
	}
	if r.first() != 2 || r.next() != 6 || r.at(2).Text != "3" || r.at(5).Text != "6" {
		t.Fatalf("first %d next %d", r.first(), r.next())
	}
	// A batch bigger than the ring keeps its tail.
	if d := r.push(lines(7, 10)); d != 10 {
		t.Fatalf("dropped %d", d)
	}
	if r.at(r.first()).Text != "13" || r.at(r.next()-1).Text != "16" {
		t.Fatalf("kept %s..%s", r.at(r.first()).Text, r.at(r.next()-1).Text)
	}
	got := r.drain()
	if len(got) != 4 || got[0].Text != "13" || r.len() != 0 {
		t.Fatalf("drain = %v", got)
	}
}

func TestLogRingBoundsLineSize(t *testing.T) {
	r := newLogRing(2)
	r.push([]control.LogLine{{Text: strings.Repeat("x", 100_000)}})
	if n := len(r.at(r.first()).Text); n != maxLineBytes {
		t.Fatalf("kept %d bytes", n)
	}
}

func TestLogStoreDropsOtherGenerations(t *testing.T) {
	s := newLogStore(10)
	s.reset("blog", 2)
	if s.add(1, lines(1, 3), 0) {
		t.Fatal("lines of an old source were added")
	}
	if !s.add(2, lines(1, 12), 5) || s.ring.len() != 10 || s.lost != 7 {
		t.Fatalf("len %d lost %d", s.ring.len(), s.lost)
	}
}
