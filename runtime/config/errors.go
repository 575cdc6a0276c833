package config

import (
	"fmt"
	"strconv"
	"strings"
)

// Error is one problem in a configuration, located by file, line and key.
// Its text is "FILE:LINE: key: what is wrong", the form compilers and
// `nginx -t` use, so editors can jump to it.
type Error struct {
	File string
	Line int    // 1-based; 0 when the problem has no single place (a missing section)
	Key  string // dotted path such as "app[0].chdir"; empty for syntax errors
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one configuration. Load returns it (as
// error) when the configuration is invalid; it is never empty.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// report collects validation problems, locating each key through the
// position index of the file.
type report struct {
	file string
	pos  positions
	errs Errors
}

func (r *report) add(key, format string, args ...any) {
	r.errs = append(r.errs, &Error{File: r.file, Line: r.pos.line(key), Key: key, Msg: fmt.Sprintf(format, args...)})
}
