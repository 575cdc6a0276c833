package uwsgi

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHeaderWorkedExample(t *testing.T) {
	// The worked example from the protocol notes: {REQUEST_METHOD: GET} is
	// 21 bytes of vars, so the header is 00 15 00 00.
	b, err := AppendPacket(nil, 0, 0, Vars{{"REQUEST_METHOD", "GET"}})
	if err != nil {
		t.Fatal(err)
	}
	want := append([]byte{0x00, 0x15, 0x00, 0x00, 0x0e, 0x00}, "REQUEST_METHOD\x03\x00GET"...)
	if !bytes.Equal(b, want) {
		t.Fatalf("encoded % x\nwant    % x", b, want)
	}
	h, err := ParseHeader(b)
	if err != nil || h != (Header{0, 21, 0}) {
		t.Fatalf("ParseHeader = %+v, %v", h, err)
	}
}

func TestRoundTrip(t *testing.T) {
	vars := Vars{
		{"REQUEST_METHOD", "POST"},
		{"QUERY_STRING", ""},
		{"PATH_INFO", "/caf\xc3\xa9"},
		{"HTTP_X_BIG", strings.Repeat("x", 60000)},
		{"CONTENT_LENGTH", "5"},
	}
	head, err := AppendPacket(nil, 0, 0, vars)
	if err != nil {
		t.Fatal(err)
	}
	stream := append(head, "hello"...)
	r := bytes.NewReader(stream)
	p, err := ReadPacket(r, MaxVarsSize)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Vars) != len(vars) {
		t.Fatalf("got %d vars", len(p.Vars))
	}
	for i := range vars {
		if p.Vars[i] != vars[i] {
			t.Errorf("var %d = %q, want %q", i, p.Vars[i].Key, vars[i].Key)
		}
	}
	n, err := p.ContentLength()
	if err != nil || n != 5 {
		t.Fatalf("ContentLength = %d, %v", n, err)
	}
	body, _ := io.ReadAll(r)
	if string(body) != "hello" {
		t.Fatalf("body left in stream = %q", body)
	}
}

func TestDecodeErrors(t *testing.T) {
	valid, _ := AppendPacket(nil, 0, 0, Vars{{"A", "1"}, {"B", "22"}})
	tests := []struct {
		name  string
		in    []byte
		limit int
		want  error
	}{
		{"empty stream", nil, 0, io.EOF},
		{"short header", []byte{0, 5}, 0, ErrTruncated},
		{"vars shorter than declared", valid[:len(valid)-1], 0, ErrTruncated},
		{"declared over limit", valid, 4, ErrTooLarge},
		{"key length past block", []byte{0, 3, 0, 0, 9, 0, 'A'}, 0, ErrMalformed},
		{"value length past block", []byte{0, 7, 0, 0, 1, 0, 'A', 9, 0, 'x', 'y'}, 0, ErrMalformed},
		{"dangling length byte", []byte{0, 1, 0, 0, 1}, 0, ErrMalformed},
		{"empty key", []byte{0, 4, 0, 0, 0, 0, 0, 0}, 0, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadPacket(bytes.NewReader(tt.in), tt.limit)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestContentLength(t *testing.T) {
	for _, tt := range []struct {
		v    string
		want int64
		bad  bool
	}{{"", 0, false}, {"0", 0, false}, {"10485760", 10 << 20, false}, {"-1", 0, true}, {"1e3", 0, true}, {" 5", 0, true}} {
		p := &Packet{Vars: Vars{{"CONTENT_LENGTH", tt.v}}}
		n, err := p.ContentLength()
		if (err != nil) != tt.bad || n != tt.want {
			t.Errorf("CONTENT_LENGTH %q: %d, %v", tt.v, n, err)
		}
	}
}

func TestEncoderLimits(t *testing.T) {
	var e Encoder
	e.Reset(0, 0)
	e.Add("", "x")
	if _, err := e.Bytes(); !errors.Is(err, ErrMalformed) {
		t.Errorf("empty key: %v", err)
	}
	e.Reset(0, 0)
	e.Add("A", strings.Repeat("x", 40000))
	e.Add("B", strings.Repeat("x", 40000))
	if _, err := e.Bytes(); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized block: %v", err)
	}
	e.Reset(0, 0)
	e.Add("A", strings.Repeat("x", MaxVarsSize-HeaderSize-1)) // exactly 65535 with the 4 length bytes and 1-byte key
	b, err := e.Bytes()
	if err != nil || len(b) != HeaderSize+MaxVarsSize {
		t.Errorf("max-size block: len %d, %v", len(b), err)
	}
}

func TestEncodeRequest(t *testing.T) {
	r := httptest.NewRequest("POST", "http://example.com:8080/caf%C3%A9/x?q=%E2%9C%93&a=1", strings.NewReader("abc"))
	r.Header.Set("Content-Type", "text/plain")
	r.Header.Add("X-Multi", "one")
	r.Header.Add("X-Multi", "two")
	r.Header.Add("Cookie", "a=1")
	r.Header.Add("Cookie", "b=2")
	r.Header["X_Sneaky"] = []string{"1"}
	r.Header.Set("Connection", "keep-alive")
	var e Encoder
	err := EncodeRequest(&e, r, &RequestInfo{RemoteAddr: "10.0.0.1", RemotePort: "5555", ServerName: "example.com", ServerPort: "8080", ContentLength: -1})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := e.Bytes()
	p, err := ReadPacket(bytes.NewReader(b), 0)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"REQUEST_METHOD":  "POST",
		"QUERY_STRING":    "q=%E2%9C%93&a=1",
		"PATH_INFO":       "/caf\xc3\xa9/x",
		"REQUEST_URI":     "http://example.com:8080/caf%C3%A9/x?q=%E2%9C%93&a=1",
		"SCRIPT_NAME":     "",
		"CONTENT_LENGTH":  "3",
		"CONTENT_TYPE":    "text/plain",
		"SERVER_PROTOCOL": "HTTP/1.1",
		"REQUEST_SCHEME":  "http",
		"REMOTE_ADDR":     "10.0.0.1",
		"SERVER_PORT":     "8080",
		"HTTP_HOST":       "example.com:8080",
		"HTTP_X_MULTI":    "one, two",
		"HTTP_COOKIE":     "a=1; b=2",
	}
	for k, v := range want {
		if got, ok := p.Vars.Get(k); !ok || got != v {
			t.Errorf("%s = %q (present %v), want %q", k, got, ok, v)
		}
	}
	for _, k := range []string{"HTTP_X_SNEAKY", "HTTP_CONNECTION", "HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH", "HTTPS"} {
		if _, ok := p.Vars.Get(k); ok {
			t.Errorf("%s must not be sent", k)
		}
	}
}

func TestEncodeRequestTooLarge(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Cookie", strings.Repeat("c", 70000))
	var e Encoder
	if err := EncodeRequest(&e, r, &RequestInfo{ContentLength: -1}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	_ = http.MethodGet
}

func FuzzReadPacket(f *testing.F) {
	valid, _ := AppendPacket(nil, 0, 0, Vars{{"REQUEST_METHOD", "GET"}, {"PATH_INFO", "/"}, {"CONTENT_LENGTH", ""}})
	f.Add(valid)
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0, 0xff, 0xff, 0})
	f.Add([]byte{0, 3, 0, 0, 9, 0, 'A'})
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := ReadPacket(bytes.NewReader(in), MaxVarsSize)
		if err != nil {
			return
		}
		// Whatever decodes must re-encode to the same head.
		out, err := AppendPacket(nil, p.Modifier1, p.Modifier2, p.Vars)
		if err != nil {
			t.Fatalf("decoded packet does not re-encode: %v", err)
		}
		if !bytes.Equal(out, in[:len(out)]) {
			t.Fatalf("re-encoded head differs:\n in % x\nout % x", in[:len(out)], out)
		}
		_, _ = p.ContentLength()
	})
}

func BenchmarkEncodeRequest(b *testing.B) {
	r := httptest.NewRequest("GET", "http://localhost/hello?x=1", nil)
	r.Header.Set("User-Agent", "wrk")
	r.Header.Set("Accept", "*/*")
	info := &RequestInfo{RemoteAddr: "127.0.0.1", RemotePort: "40000", ServerName: "localhost", ServerPort: "8080", ContentLength: -1}
	var e Encoder
	b.ReportAllocs()
	for b.Loop() {
		if err := EncodeRequest(&e, r, info); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadPacket(b *testing.B) {
	head, _ := AppendPacket(nil, 0, 0, Vars{{"REQUEST_METHOD", "GET"}, {"PATH_INFO", "/"}, {"QUERY_STRING", "a=1"}, {"HTTP_HOST", "localhost"}, {"HTTP_USER_AGENT", "wrk"}})
	rd := bytes.NewReader(head)
	b.ReportAllocs()
	for b.Loop() {
		rd.Reset(head)
		if _, err := ReadPacket(rd, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func TestSplitVars(t *testing.T) {
	vars := VarsOf("REQUEST_METHOD", "GET", "QUERY_STRING", "", "HTTP_X", "a=b; c", "PATH_INFO", "/caf\xc3\xa9")
	head, err := AppendPacket(nil, 0, SplitVars, vars)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(head, []byte("REQUEST_METHOD\x00GET\x00QUERY_STRING\x00\x00HTTP_X")) {
		t.Fatalf("split encoding: %q", head)
	}
	p, err := ReadPacket(bytes.NewReader(head), 0)
	if err != nil || p.Modifier2 != SplitVars || len(p.Vars) != len(vars) {
		t.Fatalf("ReadPacket: %+v %v", p, err)
	}
	for i := range vars {
		if p.Vars[i] != vars[i] {
			t.Errorf("var %d = %q", i, p.Vars[i])
		}
	}
	if _, err := ParseSplitVars([]byte("A\x00b\x00C")); !errors.Is(err, ErrMalformed) {
		t.Errorf("odd field count: %v", err)
	}
	if _, err := ParseSplitVars([]byte("\x00b")); !errors.Is(err, ErrMalformed) {
		t.Errorf("empty key: %v", err)
	}
	var e Encoder
	e.Reset(0, SplitVars)
	e.Add("K", "a\x00b")
	if _, err := e.Bytes(); !errors.Is(err, ErrNUL) {
		t.Errorf("a NUL in split encoding: %v", err)
	}
}

// TestEncodeRequestSplitFallsBack: a request that cannot use the split
// encoding (a decoded path with a NUL) is sent length-prefixed instead.
func TestEncodeRequestSplitFallsBack(t *testing.T) {
	var e Encoder
	r := httptest.NewRequest("GET", "/a", nil)
	if err := EncodeRequest(&e, r, &RequestInfo{SplitVars: true, ContentLength: -1}); err != nil {
		t.Fatal(err)
	}
	if b, _ := e.Bytes(); b[3] != SplitVars {
		t.Fatalf("modifier2 = %d, want SplitVars", b[3])
	}
	r = httptest.NewRequest("GET", "/a%00b", nil)
	if err := EncodeRequest(&e, r, &RequestInfo{SplitVars: true, ContentLength: -1}); err != nil {
		t.Fatal(err)
	}
	b, _ := e.Bytes()
	p, err := ReadPacket(bytes.NewReader(b), 0)
	if err != nil || b[3] != 0 {
		t.Fatalf("fallback: modifier2 %d, %v", b[3], err)
	}
	if v, _ := p.Vars.Get("PATH_INFO"); v != "/a\x00b" {
		t.Errorf("PATH_INFO = %q", v)
	}
}
