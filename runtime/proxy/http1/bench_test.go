package http1

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// static13 answers like a static file server does for a 13-byte file.
func static13(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h["Content-Type"] = []string{"text/plain; charset=utf-8"}
	h["Content-Length"] = []string{"13"}
	h["Last-Modified"] = []string{"Tue, 24 Nov 2026 10:00:00 GMT"}
	h["Etag"] = []string{`"6925b1a0-d"`}
	h["Accept-Ranges"] = []string{"bytes"}
	w.Write(hello13)
}

var hello13 = []byte("Hello, World!")

type benchServer struct {
	name  string
	start func(b *testing.B, h http.Handler) string
}

var benchServers = []benchServer{
	{"http1", func(b *testing.B, h http.Handler) string {
		return start(b, nil, h).addr
	}},
	{"nethttp", func(b *testing.B, h http.Handler) string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		s := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 75 * time.Second}
		go s.Serve(l)
		b.Cleanup(func() { s.Close() })
		return l.Addr().String()
	}},
}

// BenchmarkServe measures a keep-alive request/response over loopback
// with a client loop that allocates nothing, so allocs/op are the
// server's. Run with -cpu 2 to match the target machine.
func BenchmarkServe(b *testing.B) {
	handlers := []struct {
		name string
		h    http.HandlerFunc
	}{{"hello", helloHandler}, {"static13", static13}}
	for _, hc := range handlers {
		for _, bs := range benchServers {
			b.Run(hc.name+"/"+bs.name, func(b *testing.B) {
				addr := bs.start(b, hc.h)
				req := []byte("GET /hello.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
				b.ReportAllocs()
				b.SetParallelism(16)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					c, err := net.Dial("tcp", addr)
					if err != nil {
						b.Error(err)
						return
					}
					defer c.Close()
					br := bufio.NewReaderSize(c, 4096)
					for pb.Next() {
						if _, err := c.Write(req); err != nil {
							b.Error(err)
							return
						}
						if err := discardResponse(br); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}

// discardResponse reads one Content-Length-framed response.
func discardResponse(br *bufio.Reader) error {
	cl := -1
	for first := true; ; first = false {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if first {
			if !bytes.HasPrefix(line, []byte("HTTP/1.1 200")) {
				return errBadStatus
			}
			continue
		}
		if len(line) <= 2 {
			break
		}
		if len(line) > 16 && (line[0] == 'C' || line[0] == 'c') && bytes.EqualFold(line[:15], []byte("Content-Length:")) {
			n, err := strconv.Atoi(string(bytes.TrimSpace(line[15:])))
			if err != nil {
				return err
			}
			cl = n
		}
	}
	if cl < 0 {
		return errBadStatus
	}
	_, err := br.Discard(cl)
	return err
}

var errBadStatus = &httpError{0, "unexpected response"}
