package logs

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
)

func TestAppendTagsLines(t *testing.T) {
	b := mustBuffer(t, "blog", 4, "")
	l1 := b.Append(3, StreamStderr, "boom")
	l2 := b.Append(0, StreamMaster, "spawned")
	if l1.Seq != 1 || l2.Seq != 2 {
		t.Fatalf("Seq = %d, %d; want 1, 2", l1.Seq, l2.Seq)
	}
	want := Line{Seq: 1, Time: l1.Time, Source: "blog", Worker: 3, Stream: StreamStderr, Text: "boom"}
	if l1 != want {
		t.Errorf("Append = %+v, want %+v", l1, want)
	}
	if l1.Time.IsZero() || l2.Time.Before(l1.Time) {
		t.Errorf("times %v, %v: want set and non-decreasing", l1.Time, l2.Time)
	}
	if got := b.Tail(2); !slices.Equal(got, []Line{l1, l2}) {
		t.Errorf("Tail(2) = %+v, want the appended lines", got)
	}
	if got := b.Last(); got != 2 {
		t.Errorf("Last = %d, want 2", got)
	}
}

// TestRing checks Tail and Since, before and after the ring wraps.
func TestRing(t *testing.T) {
	tests := []struct {
		name        string
		capacity    int
		appended    int
		op          string // "tail" (arg = n) or "since" (arg = seq, max)
		arg, max    int
		first, last uint64 // Seqs expected, 0, 0 for none
		lost        uint64
	}{
		{"empty tail", 5, 0, "tail", 3, 0, 0, 0, 0},
		{"empty since", 5, 0, "since", 0, 0, 0, 0, 0},
		{"tail zero", 5, 3, "tail", 0, 0, 0, 0, 0},
		{"tail negative", 5, 3, "tail", -1, 0, 0, 0, 0},
		{"tail more than kept", 5, 3, "tail", 10, 0, 1, 3, 0},
		{"tail some", 5, 5, "tail", 2, 0, 4, 5, 0},
		{"tail wrapped all", 5, 12, "tail", 5, 0, 8, 12, 0},
		{"tail wrapped more", 5, 12, "tail", 50, 0, 8, 12, 0},
		{"tail wrapped some", 5, 12, "tail", 3, 0, 10, 12, 0},
		{"tail wrapped exactly twice", 5, 10, "tail", 5, 0, 6, 10, 0},
		{"capacity 1", 1, 3, "tail", 2, 0, 3, 3, 0},
		{"since start", 5, 3, "since", 0, 0, 1, 3, 0},
		{"since middle", 5, 5, "since", 2, 0, 3, 5, 0},
		{"since newest", 5, 5, "since", 5, 0, 0, 0, 0},
		{"since future", 5, 5, "since", 100, 0, 0, 0, 0},
		{"since max", 5, 5, "since", 1, 2, 2, 3, 0},
		{"since wrapped lost", 5, 12, "since", 0, 0, 8, 12, 7},
		{"since wrapped partly lost", 5, 12, "since", 4, 0, 8, 12, 3},
		{"since wrapped just kept", 5, 12, "since", 7, 0, 8, 12, 0},
		{"since wrapped in ring", 5, 12, "since", 9, 2, 10, 11, 0},
		{"since wrapped lost then max", 5, 12, "since", 0, 2, 8, 9, 7},
		{"since capacity 1 lost", 1, 3, "since", 1, 0, 3, 3, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := mustBuffer(t, "app", tt.capacity, "")
			for i := 1; i <= tt.appended; i++ {
				b.Append(i%3, StreamStdout, strconv.Itoa(i))
			}
			var got []Line
			var lost uint64
			switch tt.op {
			case "tail":
				got = b.Tail(tt.arg)
			case "since":
				got, lost = b.Since(uint64(tt.arg), tt.max)
			}
			if want := seqRange(tt.first, tt.last); !slices.Equal(seqsOf(got), want) {
				t.Errorf("Seqs = %v, want %v", seqsOf(got), want)
			}
			if lost != tt.lost {
				t.Errorf("lost = %d, want %d", lost, tt.lost)
			}
			for _, l := range got {
				if l.Text != strconv.FormatUint(l.Seq, 10) || l.Worker != int(l.Seq%3) || l.Source != "app" {
					t.Errorf("line %+v does not hold what was appended with its Seq", l)
				}
			}
			if len(b.ring) > tt.capacity {
				t.Errorf("ring holds %d lines, capacity %d", len(b.ring), tt.capacity)
			}
		})
	}
}

// TestSincePaging pages through a wrapped ring with Since and checks that
// lines plus lost account for every Seq exactly once.
func TestSincePaging(t *testing.T) {
	b := mustBuffer(t, "app", 100, "")
	var seq, lostTotal uint64
	var got []uint64
	for round := 0; round < 20; round++ {
		for i := 0; i < 37*round; i++ {
			b.Append(0, StreamStdout, "x")
		}
		lines, lost := b.Since(seq, 30)
		if len(lines) > 0 && lines[0].Seq != seq+lost+1 {
			t.Fatalf("first Seq %d after %d with lost %d", lines[0].Seq, seq, lost)
		}
		lostTotal += lost
		got = append(got, seqsOf(lines)...)
		if len(lines) > 0 {
			seq = lines[len(lines)-1].Seq
		}
	}
	for {
		lines, lost := b.Since(seq, 30)
		lostTotal += lost
		if len(lines) == 0 {
			break
		}
		got = append(got, seqsOf(lines)...)
		seq = lines[len(lines)-1].Seq
	}
	if !slices.IsSorted(got) || uint64(len(got))+lostTotal != b.Last() {
		t.Errorf("got %d lines + %d lost, want %d in order", len(got), lostTotal, b.Last())
	}
}

func TestDefaultCapacity(t *testing.T) {
	b := mustBuffer(t, "app", 0, "")
	if b.Capacity() != DefaultCapacity {
		t.Errorf("Capacity = %d, want %d", b.Capacity(), DefaultCapacity)
	}
	for i := 0; i < DefaultCapacity+10; i++ {
		b.Append(0, StreamStdout, "x")
	}
	if n := len(b.Tail(2 * DefaultCapacity)); n != DefaultCapacity {
		t.Errorf("kept %d lines, want %d", n, DefaultCapacity)
	}
}

func TestAppendAfterClose(t *testing.T) {
	b := mustBuffer(t, "app", 10, "")
	b.Append(0, StreamStdout, "before")
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if l := b.Append(0, StreamStdout, "after"); l.Seq != 0 {
		t.Errorf("Append after Close: Seq = %d, want 0", l.Seq)
	}
	if got := b.Tail(10); len(got) != 1 || got[0].Text != "before" {
		t.Errorf("Tail after Close = %+v, want the line appended before", got)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
}

func ExampleBuffer_Since() {
	b, _ := NewBuffer("blog", 3, "")
	defer b.Close()
	for i := 1; i <= 5; i++ {
		b.Append(1, StreamStdout, fmt.Sprint("line ", i))
	}
	lines, lost := b.Since(0, 0)
	fmt.Println("lost", lost)
	for _, l := range lines {
		fmt.Println(l.Seq, l.Text)
	}
	// Output:
	// lost 2
	// 3 line 3
	// 4 line 4
	// 5 line 5
}
