package ui

import (
	"slices"
	"strconv"
	"strings"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"
	"github.com/stackctl/stackctl/runtime/control"
)

// Log sources besides the apps.
const (
	sourceAccess = "access"
	sourceEvents = "events"
)

// logs is view 4: one log source (an app, the access log, the events),
// followed or scrolled, filtered by text and by worker.
type logs struct {
	c     *common
	w, h  int
	store *logStore
	snap  *control.Snapshot

	source     string
	follow     bool
	wrap       bool
	timestamps bool
	filter     string // lower case
	worker     int    // 0: all workers

	// With a filter, matches holds the logical indexes of matching lines,
	// built incrementally as lines arrive (never in View).
	matches []uint64
	scanned uint64 // the next index to look at
	seenGen int

	offset int // lines between the bottom of the log and the bottom of the screen
}

func newLogs(c *common, store *logStore) logs {
	return logs{c: c, store: store, follow: true, timestamps: true}
}

func (v *logs) SetSize(w, h int) { v.w, v.h = w, h }

func (v *logs) setSnapshot(s *control.Snapshot) {
	v.snap = s
	if v.source == "" {
		v.source = sourceEvents
		if len(s.Apps) > 0 {
			v.source = s.Apps[0].Name
		}
	}
}

// setSource shows a source from the top of its follow.
func (v *logs) setSource(src string) {
	if src != v.source {
		v.source, v.worker, v.offset, v.follow = src, 0, 0, true
	}
}

func (v *logs) setFilter(f string) {
	v.filter = strings.ToLower(f)
	v.rescan()
}

// sources lists what can be followed: each app, then the access log and
// the events.
func (v *logs) sources() []string {
	var out []string
	if v.snap != nil {
		for _, a := range v.snap.Apps {
			out = append(out, a.Name)
		}
	}
	return append(out, sourceAccess, sourceEvents)
}

func (v *logs) filtered() bool { return v.filter != "" || v.worker != 0 }

func (v *logs) match(l *control.LogLine) bool {
	if v.worker != 0 && l.Worker != v.worker {
		return false
	}
	return v.filter == "" || strings.Contains(strings.ToLower(l.Text), v.filter)
}

// rescan rebuilds the match list from the whole ring (a new filter).
func (v *logs) rescan() {
	v.matches = v.matches[:0]
	v.scanned = v.store.ring.first()
	v.seenGen = v.store.gen
	v.offset = 0
	v.sync()
}

// sync catches up with lines added to the store since the last call. The
// root calls it when a feed delivery brought lines.
func (v *logs) sync() {
	if v.store.gen != v.seenGen {
		v.seenGen = v.store.gen
		v.matches, v.scanned, v.offset = v.matches[:0], 0, 0
	}
	r := v.store.ring
	added := 0 // lines passing the filters among the new ones
	if v.filtered() {
		// Drop matches that fell out of the ring, then scan the new lines.
		drop := 0
		for drop < len(v.matches) && v.matches[drop] < r.first() {
			drop++
		}
		if drop > 0 {
			v.matches = append(v.matches[:0], v.matches[drop:]...)
		}
		for i := max(v.scanned, r.first()); i < r.next(); i++ {
			if v.match(r.at(i)) {
				v.matches = append(v.matches, i)
				added++
			}
		}
	} else {
		added = int(r.next() - max(v.scanned, r.first()))
	}
	v.scanned = r.next()
	if !v.follow {
		// Keep the lines on screen where they are while new ones arrive
		// (the offset counts from the bottom).
		v.offset = clamp(v.offset+added, 0, max(0, v.count()-1))
	} else {
		v.offset = 0
	}
}

// count is how many lines pass the filters.
func (v *logs) count() int {
	if v.filtered() {
		return len(v.matches)
	}
	return v.store.ring.len()
}

// line returns the i-th line passing the filters (0 is the oldest held).
func (v *logs) line(i int) *control.LogLine {
	if v.filtered() {
		return v.store.ring.at(v.matches[i])
	}
	return v.store.ring.at(v.store.ring.first() + uint64(i))
}

func (v logs) Update(msg tea.Msg) (logs, tea.Cmd) {
	km, ok := msg.(tea.KeyMsg)
	if !ok {
		return v, nil
	}
	_, a := v.c.match(km, ScopeLogs)
	page := max(1, v.h-2)
	n := v.count()
	switch a {
	case actUp:
		v.offset, v.follow = min(v.offset+1, max(0, n-1)), false
	case actDown:
		v.offset = max(0, v.offset-1)
	case actPageUp:
		v.offset, v.follow = min(v.offset+page, max(0, n-1)), false
	case actPageDown:
		v.offset = max(0, v.offset-page)
	case actTop:
		v.offset, v.follow = max(0, n-page), false
	case actBottom:
		v.offset, v.follow = 0, true
	case actFollow:
		v.follow = !v.follow
		if v.follow {
			v.offset = 0
		}
	case actWrap:
		v.wrap = !v.wrap
	case actTimestamps:
		v.timestamps = !v.timestamps
	case actPrev, actNext:
		srcs := v.sources()
		i := slices.Index(srcs, v.source)
		if a == actPrev {
			i--
		} else {
			i++
		}
		v.setSource(srcs[(i+len(srcs))%len(srcs)])
	case actWorkerPrev, actWorkerNext:
		ids := v.workerIDs()
		i := slices.Index(ids, v.worker)
		if a == actWorkerPrev {
			i--
		} else {
			i++
		}
		v.worker = ids[(i+len(ids))%len(ids)]
		v.rescan()
	case actBack:
		if v.worker != 0 {
			v.worker = 0
			v.rescan()
		}
		if v.filter != "" {
			return v, func() tea.Msg { return clearFilterMsg{} }
		}
	}
	return v, nil
}

// workerIDs are the worker filter's choices: 0 (all), then the source
// app's worker ids.
func (v *logs) workerIDs() []int {
	ids := []int{0}
	if v.snap != nil {
		for _, a := range v.snap.Apps {
			if a.Name == v.source {
				for _, w := range a.Workers {
					ids = append(ids, w.ID)
				}
			}
		}
	}
	slices.Sort(ids[1:])
	return ids
}

func (v logs) View() string {
	x := newBox(v.h)
	x.line(v.statusLine())
	if v.store.source != v.source {
		x.line(v.c.styles.Muted.Render("opening " + v.source + "…"))
		return x.String()
	}
	rows := v.h - 1
	n := v.count()
	if n == 0 {
		msg := "no lines yet"
		if v.filtered() {
			msg = "no line matches"
		}
		x.line(v.c.styles.Muted.Render(msg))
		return x.String()
	}
	bottom := clamp(n-1-v.offset, 0, n-1)
	// Walk up from the bottom line until the screen is full, then draw
	// top-down: with wrapping a line may take several rows.
	var out []string
	for i := bottom; i >= 0 && len(out) < rows; i-- {
		l := v.c.logLine(v.line(i), v.timestamps, -1)
		if !v.wrap {
			out = append(out, truncate(l, v.w))
			continue
		}
		parts := strings.Split(ansi.Hardwrap(l, v.w, true), "\n")
		for j := len(parts) - 1; j >= 0 && len(out) < rows; j-- {
			out = append(out, parts[j])
		}
	}
	for i := len(out) - 1; i >= 0; i-- {
		x.line(out[i])
	}
	return x.String()
}

// statusLine says what is shown: source, modes, filters, counts.
func (v *logs) statusLine() string {
	st := &v.c.styles
	sep := st.Muted.Render(" · ")
	onOff := func(name string, on bool) string {
		if on {
			return name + " " + st.Good.Render("on")
		}
		return name + " " + st.Muted.Render("off")
	}
	line := st.Muted.Render("source ") + st.Accent.Render(v.source) + st.Muted.Render(" ←→") + sep +
		onOff("follow", v.follow) + sep + onOff("wrap", v.wrap) + sep + onOff("time", v.timestamps)
	if v.worker != 0 {
		line += sep + st.Info.Render("worker "+strconv.Itoa(v.worker))
	}
	if v.filter != "" {
		line += sep + st.Info.Render("filter "+strconv.Quote(v.filter))
	}
	line += sep + strconv.Itoa(v.count()) + "/" + strconv.Itoa(v.store.ring.len()) + " lines"
	if v.store.lost > 0 {
		line += sep + st.Warn.Render(strconv.FormatUint(v.store.lost, 10)+" lost")
	}
	if !v.follow && v.offset > 0 {
		line += sep + st.Muted.Render(strconv.Itoa(v.offset)+" below")
	}
	return truncate(line, v.w)
}

// logLine formats one log line: time, worker, a marker for stderr, the
// text. width < 0 leaves it uncut (the caller wraps or truncates).
func (c *common) logLine(l *control.LogLine, timestamps bool, width int) string {
	st := &c.styles
	var b strings.Builder
	b.Grow(len(l.Text) + 48)
	if timestamps && !l.Time.IsZero() {
		b.WriteString(st.Muted.Render(l.Time.In(c.loc).Format("15:04:05.000")))
		b.WriteByte(' ')
	}
	if l.Worker != 0 {
		b.WriteString(st.Muted.Render("[" + strconv.Itoa(l.Worker) + "]"))
		b.WriteByte(' ')
	}
	if l.Stream == "stderr" {
		// The "!" carries the meaning in mono; the colour is a bonus.
		b.WriteString(st.Bad.Render("!"))
		b.WriteByte(' ')
	}
	b.WriteString(l.Text)
	if width >= 0 {
		return truncate(b.String(), width)
	}
	return b.String()
}
