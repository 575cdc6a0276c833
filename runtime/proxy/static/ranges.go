package static

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
)

// byteRange is the half-open interval [start, end) of a file.
type byteRange struct{ start, end int64 }

func (b byteRange) contentRange(size int64) string {
	return fmt.Sprintf("bytes %d-%d/%d", b.start, b.end-1, size)
}

// What parseRanges concluded.
const (
	rangesIgnore        = iota // answer 200 with the whole file
	rangesOK                   // answer 206
	rangesUnsatisfiable        // answer 416
)

// parseRanges parses a Range header value for a file of size bytes exactly
// as nginx's range filter does, so that both answer the same:
//   - not "bytes=" (any case) followed by something: ignored;
//   - a syntax error anywhere, or no range inside the file: 416 (RFC 9110
//     allows ignoring an invalid Range instead; nginx does not, nor do we);
//   - ranges starting beyond the end are dropped, ends beyond it clipped;
//   - a range starting at 0 of an empty file, ranges adding up to more than
//     the file, or more than maxRanges ranges: the whole file (200).
//
// Overlapping ranges are neither merged nor refused, as in nginx.
func parseRanges(v string, size int64) ([]byteRange, int) {
	if len(v) < 7 || !strings.EqualFold(v[:6], "bytes=") {
		return nil, rangesIgnore
	}
	p := v[6:]
	i := 0
	skipSpaces := func() {
		for i < len(p) && p[i] == ' ' {
			i++
		}
	}
	number := func() (int64, bool) {
		if i >= len(p) || p[i] < '0' || p[i] > '9' {
			return 0, false
		}
		var n int64
		for ; i < len(p) && '0' <= p[i] && p[i] <= '9'; i++ {
			d := int64(p[i] - '0')
			if n > (math.MaxInt64-d)/10 {
				return 0, false
			}
			n = n*10 + d
		}
		return n, true
	}

	var out []byteRange
	var total int64
	for {
		var start, end int64
		var ok bool
		skipSpaces()
		openEnded := false
		if i < len(p) && p[i] == '-' { // suffix: the last N bytes
			i++
			if end, ok = number(); !ok {
				return nil, rangesUnsatisfiable
			}
			start, end = max(size-end, 0), size
		} else {
			if start, ok = number(); !ok {
				return nil, rangesUnsatisfiable
			}
			skipSpaces()
			if i >= len(p) || p[i] != '-' {
				return nil, rangesUnsatisfiable
			}
			i++
			skipSpaces()
			if i >= len(p) || p[i] == ',' {
				end, openEnded = size, true
			} else if end, ok = number(); !ok {
				return nil, rangesUnsatisfiable
			}
			if !openEnded {
				end = min(end, size-1) + 1
			}
		}
		if !openEnded {
			skipSpaces()
			if i < len(p) && p[i] != ',' {
				return nil, rangesUnsatisfiable
			}
		}
		switch {
		case start < end:
			out = append(out, byteRange{start, end})
			total += end - start
			if len(out) > maxRanges {
				return nil, rangesIgnore
			}
		case start == 0:
			return nil, rangesIgnore // e.g. "0-" of an empty file
		}
		if i >= len(p) {
			break
		}
		i++ // the comma
	}
	if len(out) == 0 {
		return nil, rangesUnsatisfiable
	}
	if total > size {
		return nil, rangesIgnore
	}
	return out, rangesOK
}

// sendRanges writes a 206 response: one range as such, several as
// multipart/byteranges in nginx's layout. f is the open file when rp has no
// body in memory.
func sendRanges(w http.ResponseWriter, r *http.Request, ctype string, rp *rep, f *os.File, ranges []byteRange) {
	hdr := w.Header()
	size := rp.size()
	if len(ranges) == 1 {
		br := ranges[0]
		hdr["Content-Type"] = []string{ctype}
		hdr["Content-Range"] = []string{br.contentRange(size)}
		hdr["Content-Length"] = []string{strconv.FormatInt(br.end-br.start, 10)}
		w.WriteHeader(http.StatusPartialContent)
		if r.Method != http.MethodHead {
			copyRange(w, rp, f, br)
		}
		return
	}

	// nginx's boundary is a 20-digit counter; a random one of the same
	// shape cannot be predicted by whoever wrote the file.
	boundary := fmt.Sprintf("%020d", rand.Uint64())
	heads := make([]string, len(ranges))
	length := int64(0)
	for i, br := range ranges {
		heads[i] = "\r\n--" + boundary + "\r\nContent-Type: " + ctype + "\r\nContent-Range: " + br.contentRange(size) + "\r\n\r\n"
		length += int64(len(heads[i])) + br.end - br.start
	}
	tail := "\r\n--" + boundary + "--\r\n"
	length += int64(len(tail))
	hdr["Content-Type"] = []string{"multipart/byteranges; boundary=" + boundary}
	hdr["Content-Length"] = []string{strconv.FormatInt(length, 10)}
	w.WriteHeader(http.StatusPartialContent)
	if r.Method == http.MethodHead {
		return
	}
	for i, br := range ranges {
		if _, err := io.WriteString(w, heads[i]); err != nil {
			return
		}
		if copyRange(w, rp, f, br) != nil {
			return
		}
	}
	io.WriteString(w, tail)
}

// copyRange writes one range of the file, from memory or from f.
func copyRange(w io.Writer, rp *rep, f *os.File, br byteRange) error {
	if rp.body != nil {
		_, err := w.Write(rp.body[br.start:br.end])
		return err
	}
	// A section, not a Seek: f may be shared with concurrent requests.
	_, err := io.Copy(w, io.NewSectionReader(f, br.start, br.end-br.start))
	return err
}
