package stats

import (
	"bytes"
	"errors"
)

var errStatFormat = errors.New("stats: malformed /proc/PID/stat")

// statFields are the fields the sampler needs from one /proc/PID/stat line
// (proc(5)); numbers are the field positions there.
type statFields struct {
	state      byte   // 3
	utime      uint64 // 14, clock ticks
	stime      uint64 // 15, clock ticks
	threads    uint64 // 20
	startTicks uint64 // 22, clock ticks after boot
	vsize      uint64 // 23, bytes
	rssPages   uint64 // 24, pages
}

// parseStat parses a /proc/PID/stat line without allocating. The command
// name (field 2) is in parentheses and may itself contain spaces and
// parentheses, so the fields are counted from the last ')' in the line.
// It returns errStatFormat for anything else.
func parseStat(b []byte) (statFields, error) {
	var f statFields
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || bytes.IndexByte(b[:i], '(') < 0 {
		return f, errStatFormat
	}
	rest := b[i+1:]
	field := 2 // ')' ends field 2
	for field < 24 {
		if len(rest) == 0 || rest[0] != ' ' {
			return f, errStatFormat
		}
		rest = rest[1:]
		end := bytes.IndexByte(rest, ' ')
		if end < 0 {
			end = len(rest)
		}
		tok := bytes.TrimRight(rest[:end], "\n")
		rest = rest[end:]
		field++
		if len(tok) == 0 {
			return f, errStatFormat
		}
		var err error
		switch field {
		case 3:
			f.state = tok[0]
		case 14:
			f.utime, err = parseDecimal(tok)
		case 15:
			f.stime, err = parseDecimal(tok)
		case 20:
			f.threads, err = parseDecimal(tok)
		case 22:
			f.startTicks, err = parseDecimal(tok)
		case 23:
			f.vsize, err = parseDecimal(tok)
		case 24:
			f.rssPages, err = parseSigned(tok)
		}
		if err != nil {
			return f, err
		}
	}
	return f, nil
}

// parseDecimal parses an unsigned decimal number.
func parseDecimal(b []byte) (uint64, error) {
	if len(b) == 0 || len(b) > 20 {
		return 0, errStatFormat
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, errStatFormat
		}
		d := uint64(c - '0')
		if v > (1<<64-1-d)/10 {
			return 0, errStatFormat
		}
		v = v*10 + d
	}
	return v, nil
}

// parseSigned parses a decimal number that the kernel prints as signed
// (%ld) but is a count; negative values read as 0.
func parseSigned(b []byte) (uint64, error) {
	if len(b) > 0 && b[0] == '-' {
		if _, err := parseDecimal(b[1:]); err != nil {
			return 0, err
		}
		return 0, nil
	}
	return parseDecimal(b)
}
