package logs

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
)

// chunkReader returns at most n bytes per Read.
type chunkReader struct {
	r io.Reader
	n int
}

func (c chunkReader) Read(p []byte) (int, error) {
	return c.r.Read(p[:min(len(p), c.n)])
}

func TestCapture(t *testing.T) {
	const L = MaxLineBytes
	x := func(n int) string { return strings.Repeat("x", n) }
	tests := []struct {
		name  string
		input string
		want  []string
	}{
		{"empty", "", nil},
		{"lines", "a\nb\n", []string{"a", "b"}},
		{"crlf", "a\r\nb\r\n", []string{"a", "b"}},
		{"partial last line", "a\nb", []string{"a", "b"}},
		{"partial last line with cr", "a\r\nb\r", []string{"a", "b"}},
		{"empty lines", "\n\r\n\n", []string{"", "", ""}},
		{"inner cr kept", "a\rb\n", []string{"a\rb"}},
		{"only cr at eof", "a\n\r", []string{"a", ""}},
		{"max line", x(L) + "\n", []string{x(L)}},
		{"max line crlf", x(L) + "\r\n", []string{x(L)}},
		{"max line no newline", x(L), []string{x(L)}},
		{"one over", x(L+1) + "\n", []string{x(L), "x"}},
		{"one over crlf", x(L+1) + "\r\n", []string{x(L), "x"}},
		{"two max", x(2*L) + "\n" + "y\n", []string{x(L), x(L), "y"}},
		{"two max crlf", x(2*L) + "\r\n" + "y\r\n", []string{x(L), x(L), "y"}},
		{"long no newline", x(150 << 10), []string{x(L), x(L), x(150<<10 - 2*L)}},
		{"cr after max is content", x(L) + "\ry\n", []string{x(L), "\ry"}},
		{"utf8 not cut", x(L-1) + "é\n", []string{x(L - 1), "é"}},
		{"utf8 4 bytes not cut", x(L-2) + "😀z\n", []string{x(L - 2), "😀z"}},
		{"invalid utf8 cut at max", strings.Repeat("\x80", L+5) + "\n", []string{strings.Repeat("\x80", L), strings.Repeat("\x80", 5)}},
	}
	readers := []struct {
		name string
		wrap func(io.Reader) io.Reader
	}{
		{"whole", func(r io.Reader) io.Reader { return r }},
		{"one byte", iotest.OneByteReader},
		{"half", iotest.HalfReader},
		{"chunks of 7", func(r io.Reader) io.Reader { return chunkReader{r, 7} }},
		{"chunks of L+1", func(r io.Reader) io.Reader { return chunkReader{r, L + 1} }},
	}
	for _, tt := range tests {
		for _, rd := range readers {
			t.Run(tt.name+"/"+rd.name, func(t *testing.T) {
				b := mustBuffer(t, "app", 100, "")
				if err := Capture(rd.wrap(strings.NewReader(tt.input)), b, 2, StreamStderr); err != nil {
					t.Fatalf("Capture = %v", err)
				}
				var got []string
				for _, l := range b.Tail(100) {
					got = append(got, l.Text)
				}
				if !slices.Equal(got, tt.want) {
					t.Errorf("lines = %s, want %s", describe(got), describe(tt.want))
				}
			})
		}
	}
}

// describe summarises lines too long to print.
func describe(lines []string) string {
	var parts []string
	for _, l := range lines {
		if len(l) > 20 {
			parts = append(parts, fmt.Sprintf("%.10q...(%d bytes)", l, len(l)))
		} else {
			parts = append(parts, strconv.Quote(l))
		}
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func TestCaptureTags(t *testing.T) {
	b := mustBuffer(t, "blog", 10, "")
	if err := Capture(strings.NewReader("one\ntwo\n"), b, 7, StreamStdout); err != nil {
		t.Fatal(err)
	}
	for _, l := range b.Tail(10) {
		if l.Source != "blog" || l.Worker != 7 || l.Stream != StreamStdout {
			t.Errorf("line %+v not tagged blog/7/stdout", l)
		}
	}
}

func TestCaptureReadError(t *testing.T) {
	boom := errors.New("boom")
	b := mustBuffer(t, "app", 10, "")
	r := io.MultiReader(strings.NewReader("abc\npar"), iotest.ErrReader(boom))
	err := Capture(r, b, 1, StreamStderr)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), `"app"`) {
		t.Fatalf("Capture = %v, want boom wrapped with the source", err)
	}
	var got []string
	for _, l := range b.Tail(10) {
		got = append(got, l.Text)
	}
	if !slices.Equal(got, []string{"abc", "par"}) {
		t.Errorf("lines = %q, want abc, par", got)
	}
}

// TestCaptureDrainsAfterClose: a closed Buffer must not make Capture stop
// reading (a worker would block on its full pipe).
func TestCaptureDrainsAfterClose(t *testing.T) {
	b := mustBuffer(t, "app", 10, "")
	b.Close()
	r := strings.NewReader(strings.Repeat("line\n", 100000))
	if err := Capture(r, b, 1, StreamStdout); err != nil {
		t.Fatal(err)
	}
	if r.Len() != 0 {
		t.Errorf("%d bytes left unread", r.Len())
	}
	if n := len(b.Tail(10)); n != 0 {
		t.Errorf("%d lines recorded in a closed Buffer", n)
	}
}
