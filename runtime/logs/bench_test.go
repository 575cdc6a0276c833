package logs

import (
	"context"
	"io"
	"path/filepath"
	"testing"
)

func BenchmarkAppend(b *testing.B) {
	const text = "GET /api/items?page=2 200 1532 bytes in 3 msecs"
	run := func(b *testing.B, path string, follow bool) {
		buf, err := NewBuffer("bench", DefaultCapacity, path)
		if err != nil {
			b.Fatal(err)
		}
		defer buf.Close()
		if follow {
			sub := buf.Follow(context.Background(), 0)
			defer sub.Close()
			go func() {
				for {
					if _, _, err := sub.Next(context.Background()); err != nil {
						return
					}
				}
			}()
		}
		b.ReportAllocs()
		for b.Loop() {
			buf.Append(1, StreamStdout, text)
		}
	}
	b.Run("memory", func(b *testing.B) { run(b, "", false) })
	b.Run("file", func(b *testing.B) { run(b, filepath.Join(b.TempDir(), "bench.log"), false) })
	b.Run("memory+follower", func(b *testing.B) { run(b, "", true) })
	b.Run("file+follower", func(b *testing.B) { run(b, filepath.Join(b.TempDir(), "bench.log"), true) })
}

func BenchmarkCapture(b *testing.B) {
	buf, err := NewBuffer("bench", DefaultCapacity, "")
	if err != nil {
		b.Fatal(err)
	}
	defer buf.Close()
	line := []byte("GET /api/items?page=2 200 1532 bytes in 3 msecs\n")
	r := &repeatReader{line: line}
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	r.left = b.N
	b.ResetTimer()
	if err := Capture(r, buf, 1, StreamStdout); err != nil {
		b.Fatal(err)
	}
}

// repeatReader yields line left times.
type repeatReader struct {
	line []byte
	left int
	off  int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) && r.left > 0 {
		c := copy(p[n:], r.line[r.off:])
		n += c
		r.off += c
		if r.off == len(r.line) {
			r.off = 0
			r.left--
		}
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}
