package ui

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"
)

// Number formatting for cells. These run when a snapshot arrives, for every
// row, so they avoid fmt.

// fmtCount writes counts compactly: 999, 12.3k, 4.5M.
func fmtCount(n uint64) string {
	switch {
	case n < 10_000:
		return strconv.FormatUint(n, 10)
	case n < 1_000_000:
		return strconv.FormatFloat(float64(n)/1e3, 'f', 1, 64) + "k"
	case n < 1_000_000_000:
		return strconv.FormatFloat(float64(n)/1e6, 'f', 1, 64) + "M"
	default:
		return strconv.FormatFloat(float64(n)/1e9, 'f', 1, 64) + "G"
	}
}

// fmtRate writes a per-second rate with one decimal below 100.
func fmtRate(f float64) string {
	switch {
	case f <= 0 || math.IsNaN(f):
		return "0"
	case f < 100:
		return strconv.FormatFloat(f, 'f', 1, 64)
	case f < 100_000:
		return strconv.FormatFloat(f, 'f', 0, 64)
	default:
		return fmtCount(uint64(f))
	}
}

// fmtMs writes milliseconds: 0.42, 12.3, 1234.
func fmtMs(f float64) string {
	switch {
	case f <= 0 || math.IsNaN(f):
		return "-"
	case f < 1:
		return strconv.FormatFloat(f, 'f', 2, 64)
	case f < 100:
		return strconv.FormatFloat(f, 'f', 1, 64)
	default:
		return strconv.FormatFloat(f, 'f', 0, 64)
	}
}

// fmtPct writes a percentage with one decimal.
func fmtPct(f float64) string {
	if f <= 0 || math.IsNaN(f) {
		return "0.0"
	}
	return strconv.FormatFloat(f, 'f', 1, 64)
}

// fmtBytes writes sizes in binary units, the way max_rss is configured.
func fmtBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatUint(n, 10) + "B"
	}
	units := "KMGTPE"
	v, i := float64(n)/unit, 0
	for v >= unit && i < len(units)-1 {
		v /= unit
		i++
	}
	prec := 1
	if v >= 100 {
		prec = 0
	}
	return strconv.FormatFloat(v, 'f', prec, 64) + string(units[i]) + "i"
}

// fmtDur writes a duration the way uptime columns do: 850ms, 12s, 3m04s,
// 2h05m, 3d04h.
func fmtDur(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Second:
		return strconv.Itoa(int(d/time.Millisecond)) + "ms"
	case d < 10*time.Second:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + "s"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + "m" + pad2(int(d%time.Minute/time.Second)) + "s"
	case d < 24*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + "h" + pad2(int(d%time.Hour/time.Minute)) + "m"
	default:
		return strconv.Itoa(int(d/(24*time.Hour))) + "d" + pad2(int(d%(24*time.Hour)/time.Hour)) + "h"
	}
}

func pad2(n int) string {
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}

// sparkRunes are the eight block heights of a sparkline.
var sparkRunes = []rune("▁▂▃▄▅▆▇█")

// sparkline draws the last width points of vals scaled to their maximum
// (floor at lo so a quiet series is not drawn as noise). Missing history is
// left blank on the left, so time always runs right-aligned.
func sparkline(vals []float64, width int, lo float64) string {
	if width <= 0 {
		return ""
	}
	if len(vals) > width {
		vals = vals[len(vals)-width:]
	}
	top := lo
	for _, v := range vals {
		top = max(top, v)
	}
	var b strings.Builder
	b.Grow(width * 3)
	for range width - len(vals) {
		b.WriteByte(' ')
	}
	for _, v := range vals {
		i := 0
		if top > 0 && v > 0 {
			i = clamp(int(math.Round(v/top*float64(len(sparkRunes)-1))), 0, len(sparkRunes)-1)
		}
		b.WriteRune(sparkRunes[i])
	}
	return b.String()
}

// sparklineRange draws vals scaled between their minimum and maximum, for
// series that never approach zero (memory): from zero they would be a flat
// bar. A series varying by less than 1% is drawn flat.
func sparklineRange(vals []float64, width int) string {
	if len(vals) > width {
		vals = vals[len(vals)-width:]
	}
	if len(vals) == 0 {
		return sparkline(nil, width, 1)
	}
	lo, hi := vals[0], vals[0]
	for _, v := range vals {
		lo, hi = min(lo, v), max(hi, v)
	}
	shifted := make([]float64, len(vals))
	if hi-lo > hi/100 {
		for i, v := range vals {
			shifted[i] = v - lo
		}
	}
	return sparkline(shifted, width, 0)
}

// errorRate turns 5xx-per-second and requests-per-second series into a
// percentage series.
func errorRate(errs, rps []float64) []float64 {
	n := min(len(errs), len(rps))
	out := make([]float64, n)
	errs, rps = errs[len(errs)-n:], rps[len(rps)-n:]
	for i := range n {
		if rps[i] > 0 {
			out[i] = errs[i] / rps[i] * 100
		}
	}
	return out
}

func last(vals []float64) float64 {
	if len(vals) == 0 {
		return 0
	}
	return vals[len(vals)-1]
}

// fit pads or truncates s to exactly w cells. Most cells are ASCII, which
// takes the fast path.
func fit(s string, w int) string {
	if w <= 0 {
		return ""
	}
	n := len(s)
	if !isASCII(s) {
		n = ansi.StringWidth(s)
	}
	switch {
	case n == w:
		return s
	case n < w:
		return s + strings.Repeat(" ", w-n)
	default:
		if w == 1 {
			return "…"
		}
		if isASCII(s) {
			return s[:w-1] + "…"
		}
		t := ansi.Truncate(s, w-1, "")
		return t + "…" + strings.Repeat(" ", max(0, w-1-ansi.StringWidth(t)))
	}
}

// fitRight right-aligns s in w cells (numbers).
func fitRight(s string, w int) string {
	n := len(s)
	if !isASCII(s) {
		n = ansi.StringWidth(s)
	}
	if n >= w {
		return fit(s, w)
	}
	return strings.Repeat(" ", w-n) + s
}

// truncate cuts a possibly styled string to w cells without padding.
func truncate(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if ansi.StringWidth(s) <= w {
		return s
	}
	return ansi.Truncate(s, w-1, "") + "…"
}

// padStyled pads a possibly styled string with spaces to w cells, cutting
// it when longer.
func padStyled(s string, w int) string {
	n := ansi.StringWidth(s)
	if n > w {
		return ansi.Truncate(s, w, "")
	}
	return s + strings.Repeat(" ", w-n)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// clamp keeps v within [lo, hi] (hi wins when hi < lo).
func clamp(v, lo, hi int) int {
	if v > hi {
		v = hi
	}
	if v < lo {
		v = lo
	}
	return v
}

// sanitize makes a log line safe to draw: tabs become spaces and control
// characters (including escape sequences a worker printed) are dropped,
// so a line can never move the cursor or recolour the screen.
func sanitize(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	if strings.IndexByte(s, 0x1b) >= 0 {
		s = ansi.Strip(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r == '\t':
			b.WriteString("    ")
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
