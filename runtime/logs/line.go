package logs

import (
	"strconv"
	"time"
)

// Stream names used to tag lines.
const (
	StreamStdout = "stdout" // a worker's standard output
	StreamStderr = "stderr" // a worker's standard error
	StreamAccess = "access" // a proxy access-log record, already formatted
	StreamEvent  = "event"  // a supervisor event (spawn, exit, reload...)
	StreamMaster = "master" // the app server master's own messages
)

// Line is one captured log line. Lines are values: the strings they hold are
// never modified after Append returns.
type Line struct {
	Seq    uint64    // per-Buffer sequence number: 1 for the first line, +1 per appended line
	Time   time.Time // when the line was appended (non-decreasing along Seq within a Buffer)
	Source string    // the Buffer's source: an app name, "access", "events"
	Worker int       // worker id (slot), 0 when the line does not come from a worker
	Stream string    // StreamStdout, StreamStderr, StreamAccess, StreamEvent, StreamMaster
	Text   string    // the line without its line terminator
}

// timeLayout is RFC 3339 with milliseconds, like nginx's $time_iso8601 plus
// the fraction.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// String formats l the way it is written to a file:
//
//	2006-01-02T15:04:05.000+00:00 stderr[3] text    (worker 3)
//	2006-01-02T15:04:05.000+00:00 master text       (worker 0)
//
// Lines of stream StreamAccess are written as their Text alone, so that an
// access-log file stays in the proxy's format (nginx combined) for log tools.
func (l Line) String() string {
	return string(l.appendText(nil))
}

// appendText appends l formatted as String does to dst, without a newline.
// It does not allocate when dst has room.
func (l Line) appendText(dst []byte) []byte {
	if l.Stream == StreamAccess {
		return append(dst, l.Text...)
	}
	dst = l.Time.AppendFormat(dst, timeLayout)
	dst = append(dst, ' ')
	if l.Stream == "" {
		dst = append(dst, '-')
	} else {
		dst = append(dst, l.Stream...)
	}
	if l.Worker != 0 {
		dst = append(dst, '[')
		dst = strconv.AppendInt(dst, int64(l.Worker), 10)
		dst = append(dst, ']')
	}
	dst = append(dst, ' ')
	return append(dst, l.Text...)
}
