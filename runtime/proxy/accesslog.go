package proxy

import (
	"strconv"
	"sync/atomic"
	"time"
)

// accessEntry is what one access-log line says.
type accessEntry struct {
	remoteAddr string
	user       string // from basic auth; "" logs "-"
	start      time.Time
	method     string
	uri        string // as the client sent it
	proto      string
	status     int
	bytes      int64 // body bytes sent
	referer    string
	userAgent  string
	took       time.Duration // $request_time
	tries      []upstreamTry
}

// upstreamTry is one attempt at an upstream server, for
// $upstream_addr and $upstream_response_time.
type upstreamTry struct {
	addr string
	took time.Duration
}

// appendAccess appends e in nginx's "combined" format followed by
// $request_time, $upstream_response_time and $upstream_addr (each "-" when
// no upstream was tried; several tries are listed ", "-separated, as nginx
// does), and no newline:
//
//	127.0.0.1 - - [24/Nov/2026:21:07:00 +0000] "GET / HTTP/1.1" 200 13 "-" "curl/8.5" 0.002 0.001 app:hello#1
func appendAccess(b []byte, e *accessEntry) []byte {
	b = append(b, e.remoteAddr...)
	b = append(b, " - "...)
	if e.user == "" {
		b = append(b, '-')
	} else {
		b = appendEscaped(b, e.user)
	}
	b = append(b, " ["...)
	b = append(b, localTime(e.start)...)
	b = append(b, "] \""...)
	b = appendEscaped(b, e.method)
	b = append(b, ' ')
	b = appendEscaped(b, e.uri)
	b = append(b, ' ')
	b = appendEscaped(b, e.proto)
	b = append(b, "\" "...)
	b = strconv.AppendInt(b, int64(e.status), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, e.bytes, 10)
	b = append(b, " \""...)
	b = appendEscapedOrDash(b, e.referer)
	b = append(b, "\" \""...)
	b = appendEscapedOrDash(b, e.userAgent)
	b = append(b, "\" "...)
	b = appendSeconds(b, e.took)
	b = append(b, ' ')
	if len(e.tries) == 0 {
		return append(b, "- -"...)
	}
	for i, t := range e.tries {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = appendSeconds(b, t.took)
	}
	b = append(b, ' ')
	for i, t := range e.tries {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = appendEscaped(b, t.addr)
	}
	return b
}

// appendSeconds appends d in seconds with millisecond resolution ("0.003").
func appendSeconds(b []byte, d time.Duration) []byte {
	if d < 0 {
		d = 0
	}
	ms := int64(d / time.Millisecond)
	b = strconv.AppendInt(b, ms/1000, 10)
	b = append(b, '.')
	frac := ms % 1000
	b = append(b, byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
	return b
}

func appendEscapedOrDash(b []byte, s string) []byte {
	if s == "" {
		return append(b, '-')
	}
	return appendEscaped(b, s)
}

// appendEscaped appends s escaped as nginx escapes log variables: '"', '\'
// and bytes outside printable ASCII become \xHH, so a line can neither be
// split nor forged by what a client sends.
func appendEscaped(b []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			b = append(b, '\\', 'x', hex[c>>4], hex[c&15])
			continue
		}
		b = append(b, c)
	}
	return b
}

// localTime formats t as nginx's $time_local ("24/Nov/2026:21:07:00
// +0000"), cached per second: the formatting costs more than the rest of
// the line.
func localTime(t time.Time) string {
	sec := t.Unix()
	if c := timeCache.Load(); c != nil && c.sec == sec {
		return c.text
	}
	text := t.Format("02/Jan/2006:15:04:05 -0700")
	timeCache.Store(&cachedTime{sec: sec, text: text})
	return text
}

type cachedTime struct {
	sec  int64
	text string
}

var timeCache atomic.Pointer[cachedTime]
