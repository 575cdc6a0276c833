package http1

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// diffHandler exercises what handlers rely on: the request as parsed, and
// the framing and headers the server adds to responses.
func diffHandler(dir string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "body error", http.StatusBadRequest)
			return
		}
		keys := make([]string, 0, len(r.Header))
		for k := range r.Header {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "method=%s proto=%s %d.%d\n", r.Method, r.Proto, r.ProtoMajor, r.ProtoMinor)
		u := r.URL
		fmt.Fprintf(w, "url scheme=%q host=%q path=%q rawpath=%q rawquery=%q force=%v opaque=%q\n",
			u.Scheme, u.Host, u.Path, u.RawPath, u.RawQuery, u.ForceQuery, u.Opaque)
		fmt.Fprintf(w, "host=%q uri=%q cl=%d te=%v close=%v\n", r.Host, r.RequestURI, r.ContentLength, r.TransferEncoding, r.Close)
		for _, k := range keys {
			fmt.Fprintf(w, "h %s=%q\n", k, r.Header[k])
		}
		fmt.Fprintf(w, "body=%q\n", body)
	})
	mux.HandleFunc("/status/{code}", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.PathValue("code"))
		w.WriteHeader(code)
		io.WriteString(w, "status body")
	})
	mux.HandleFunc("/sniff", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "<!DOCTYPE html><html><body>hi</body></html>")
	})
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		for i := 0; i < 30; i++ {
			w.Write([]byte(strings.Repeat(strconv.Itoa(i%10), 1000)))
		}
	})
	mux.HandleFunc("/flushed", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "one")
		w.(http.Flusher).Flush()
		io.WriteString(w, "two")
	})
	mux.HandleFunc("/length", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "9")
		io.WriteString(w, "123456789")
	})
	mux.HandleFunc("/empty", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/target?x=1", http.StatusFound)
	})
	mux.HandleFunc("/error", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "nope", http.StatusTeapot)
	})
	mux.HandleFunc("/close", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		io.WriteString(w, "bye")
	})
	mux.HandleFunc("/trailer", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Checksum")
		io.WriteString(w, "data")
		w.Header().Set("X-Checksum", "abc")
	})
	mux.Handle("/files/", http.StripPrefix("/files/", http.FileServer(http.Dir(dir))))
	return mux
}

func TestDifferentialNetHTTP(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.txt"), []byte("file contents, not very long\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "page.html"), []byte("<html><p>page</p></html>"), 0o644)
	mtime := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	os.Chtimes(filepath.Join(dir, "a.txt"), mtime, mtime)

	h := diffHandler(dir)
	ours := start(t, nil, h)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	std := &http.Server{Handler: h}
	go std.Serve(l)
	defer std.Close()
	stdAddr := l.Addr().String()

	raw := []string{
		"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
		"GET /path%20with%2Fslash?q=a+b&x=%zz HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /caf%C3%A9/x HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /a/../b/./c HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET //double//slash HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /q? HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /q?a?b=c HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /!$&'()*+,;=:@ HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /tilde~/dash-_.x HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /%41%2f HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET http://other.example:8080/abs?x=1 HTTP/1.1\r\nHost: a\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX-Multi: 1\r\nX-Multi: 2\r\nx-lower: v\r\nCOOKIE: a=1\r\nCookie: b=2\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nPragma: no-cache\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX-Spaces:   padded value  \r\nX-Empty:\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: \r\n\r\n",
		"POST /post HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world",
		"POST /post HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
		"POST /post HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
		"POST /post HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nX-T: v\r\n\r\n",
		"PUT /put HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
		"GET / HTTP/1.0\r\n\r\n",
		"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
		"GET /stream HTTP/1.0\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
		"GET /\r\n\r\n",
		"GET / HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nExpect: something\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n",
		"GET / HTTP/2.0\r\nHost: a\r\n\r\n",
	}
	for _, method := range []string{"GET", "HEAD"} {
		for _, path := range []string{"/sniff", "/stream", "/flushed", "/length", "/empty", "/redirect", "/error",
			"/close", "/trailer", "/status/200", "/status/201", "/status/204", "/status/304", "/status/404",
			"/status/299", "/status/599", "/files/a.txt", "/files/page.html", "/files/", "/files/missing", "/files"} {
			raw = append(raw, method+" "+path+" HTTP/1.1\r\nHost: a\r\n\r\n")
		}
	}
	raw = append(raw,
		"GET /files/a.txt HTTP/1.1\r\nHost: a\r\nIf-Modified-Since: "+mtime.Format(http.TimeFormat)+"\r\n\r\n",
		"GET /files/a.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=5-12\r\n\r\n",
		"GET /files/a.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=100-200\r\n\r\n",
	)
	for _, req := range raw {
		name := strings.SplitN(req, "\r\n", 2)[0]
		t.Run(name, func(t *testing.T) {
			method := strings.SplitN(req, " ", 2)[0]
			want := exchangeOne(t, stdAddr, req, method)
			got := exchangeOne(t, ours.addr, req, method)
			if got != want {
				t.Errorf("request %q\nnet/http: %s\nhttp1:    %s", req, want, got)
			}
		})
	}

	// And through net/http's client, keep-alive and all.
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, path := range []string{"/", "/sniff", "/stream", "/trailer", "/redirect", "/files/a.txt", "/status/204"} {
		for _, method := range []string{"GET", "POST", "HEAD"} {
			want := clientOne(t, client, method, "http://"+stdAddr+path)
			got := clientOne(t, client, method, ours.url(path))
			// The echo includes the port in Host.
			want = strings.ReplaceAll(want, stdAddr, "ADDR")
			got = strings.ReplaceAll(got, ours.addr, "ADDR")
			if got != want {
				t.Errorf("%s %s\nnet/http: %s\nhttp1:    %s", method, path, want, got)
			}
		}
	}
}

// exchangeOne sends req on a new connection and summarizes the response.
func exchangeOne(t *testing.T, addr, req, method string) string {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, req)
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
	if err != nil {
		return "no response: " + err.Error()
	}
	return summarize(resp)
}

func clientOne(t *testing.T, client *http.Client, method, url string) string {
	var body io.Reader
	if method == "POST" {
		body = strings.NewReader("client body")
	}
	req, _ := http.NewRequest(method, url, body)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return summarize(resp)
}

// summarize keeps what must match: status, body, framing, the headers
// handlers and clients look at. Date differs by nature; error bodies on
// rejected requests are the server's own words.
func summarize(resp *http.Response) string {
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	var s strings.Builder
	if resp.StatusCode >= 400 && resp.Header.Get("Date") == "" {
		// Rejected by the server itself: the status and the close are the
		// contract; net/http's error bodies are close-delimited, ours carry
		// a Content-Length, and the wording differs.
		fmt.Fprintf(&s, "%d close=%v (server error)", resp.StatusCode, resp.Close)
		return s.String()
	}
	fmt.Fprintf(&s, "%d close=%v cl=%d te=%v", resp.StatusCode, resp.Close, resp.ContentLength, resp.TransferEncoding)
	for _, k := range []string{"Content-Type", "Location", "Last-Modified", "Content-Range", "Accept-Ranges", "X-Content-Type-Options"} {
		if v := resp.Header.Values(k); len(v) > 0 {
			fmt.Fprintf(&s, " %s=%q", k, v)
		}
	}
	if resp.Header.Get("Date") == "" {
		s.WriteString(" NO-DATE")
	}
	fmt.Fprintf(&s, " body=%q", b)
	if err != nil {
		fmt.Fprintf(&s, " err=%v", err)
	}
	if len(resp.Trailer) > 0 {
		fmt.Fprintf(&s, " trailer=%v", resp.Trailer)
	}
	return s.String()
}
