package ui

import (
	"strconv"
	"strings"

	"github.com/stackctl/stackctl/runtime/control"
)

// maxEvents is how many recent events the console keeps for the Overview.
const maxEvents = 200

// eventLog holds the recent events, oldest first, each once: they arrive
// both inside snapshots (the most recent few) and as they happen.
type eventLog struct {
	list    []control.Event
	lastSeq uint64
	lost    uint64
}

func (e *eventLog) add(evs []control.Event) {
	for _, ev := range evs {
		if ev.Seq != 0 && ev.Seq <= e.lastSeq {
			continue
		}
		if ev.Seq != 0 {
			e.lastSeq = ev.Seq
		}
		e.list = append(e.list, ev)
	}
	if n := len(e.list) - maxEvents; n > 0 {
		e.list = append(e.list[:0:0], e.list[n:]...)
	}
}

// eventLine formats an event for a one-line list: time, kind, where, what.
func (c *common) eventLine(ev control.Event, width int) string {
	s := &c.styles
	where := ev.Source
	if ev.Worker != 0 {
		where += "/" + strconv.Itoa(ev.Worker)
	}
	kindStyle := s.Info
	k := strings.ToLower(ev.Kind + " " + ev.Message)
	switch {
	case strings.Contains(k, "crash") || strings.Contains(k, "fail") || strings.Contains(k, "error") ||
		strings.Contains(k, "killed") || strings.Contains(k, "timeout") || strings.Contains(k, "unhealthy"):
		kindStyle = s.Bad
	case strings.Contains(k, "drain") || strings.Contains(k, "reload") || strings.Contains(k, "restart") ||
		strings.Contains(k, "stop") || strings.Contains(k, "scale"):
		kindStyle = s.Warn
	}
	kw := 14
	if width >= 100 {
		kw = 17
	}
	ts := ev.Time.In(c.loc).Format("15:04:05")
	head := s.Muted.Render(ts) + " " + kindStyle.Render(fit(ev.Kind, kw)) + " " + fit(where, 10) + " "
	rest := width - (8 + 1 + kw + 1 + 10 + 1)
	return head + truncate(sanitize(ev.Message), max(0, rest))
}
