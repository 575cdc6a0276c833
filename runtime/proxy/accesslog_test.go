package proxy

import (
	"testing"
	"time"
)

func TestAppendAccess(t *testing.T) {
	start := time.Date(2026, 11, 24, 21, 7, 3, 0, time.FixedZone("", 3600))
	cases := []struct {
		name string
		e    accessEntry
		want string
	}{
		{"static, no upstream", accessEntry{remoteAddr: "127.0.0.1", start: start, method: "GET", uri: "/a.css", proto: "HTTP/1.1",
			status: 200, bytes: 13, took: 1500 * time.Microsecond},
			`127.0.0.1 - - [24/Nov/2026:21:07:03 +0100] "GET /a.css HTTP/1.1" 200 13 "-" "-" 0.001 - -`},
		{"proxied with referer, agent and user", accessEntry{remoteAddr: "10.0.0.9", user: "bob", start: start, method: "POST", uri: "/api?x=1",
			proto: "HTTP/1.0", status: 502, bytes: 0, referer: "http://a/", userAgent: "curl/8.5", took: 2345 * time.Millisecond,
			tries: []upstreamTry{{"uwsgi://127.0.0.1:3031", 1200 * time.Millisecond}, {"app:hello#2", 3 * time.Millisecond}}},
			`10.0.0.9 - bob [24/Nov/2026:21:07:03 +0100] "POST /api?x=1 HTTP/1.0" 502 0 "http://a/" "curl/8.5" 2.345 1.200, 0.003 uwsgi://127.0.0.1:3031, app:hello#2`},
		{"hostile input is escaped", accessEntry{remoteAddr: "1.2.3.4", start: start, method: "GET", uri: "/\"x\"\n\\", proto: "HTTP/1.1",
			status: 400, userAgent: "a\x01b\xffc"},
			`1.2.3.4 - - [24/Nov/2026:21:07:03 +0100] "GET /\x22x\x22\x0A\x5C HTTP/1.1" 400 0 "-" "a\x01b\xFFc" 0.000 - -`},
	}
	for _, c := range cases {
		timeCache.Store(nil)
		if got := string(appendAccess(nil, &c.e)); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
	}
}

func TestAppendSeconds(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0.000", time.Millisecond: "0.001", 999 * time.Microsecond: "0.000", 61*time.Second + 20*time.Millisecond: "61.020", -time.Second: "0.000",
	} {
		if got := string(appendSeconds(nil, d)); got != want {
			t.Errorf("appendSeconds(%v) = %s, want %s", d, got, want)
		}
	}
}

func BenchmarkAppendAccess(b *testing.B) {
	e := accessEntry{remoteAddr: "127.0.0.1", start: time.Now(), method: "GET", uri: "/", proto: "HTTP/1.1", status: 200, bytes: 13,
		userAgent: "wrk", tries: []upstreamTry{{"app:hello#1", time.Millisecond}}}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = appendAccess(buf[:0], &e)
	}
}
