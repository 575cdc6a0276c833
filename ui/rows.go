package ui

import "strings"

// row is one pre-formatted line of a selectable list. Both forms are built
// when data arrives; a frame picks one per visible row. The selected row is
// drawn from plain, because reverse video over embedded colour codes would
// stop at the first reset.
type row struct {
	key    string // stable identity: a worker id, a server address
	plain  string
	styled string
}

// stateRow builds a row whose state cell [start:end) of plain is styled.
func (c *common) stateRow(key, plain string, start, end int, state string) row {
	r := row{key: key, plain: plain, styled: plain}
	if start >= 0 && end > start && end <= len(plain) {
		r.styled = plain[:start] + c.stateCell(state, plain[start:end]) + plain[end:]
	}
	return r
}

// renderRows draws up to limit of rows[offset:] into the box, with the
// cursor's row selected. Only the visible rows are touched.
func (c *common) renderRows(x *box, rows []row, cursor, offset, limit int) {
	for i := offset; i < len(rows) && i < offset+limit && !x.full(); i++ {
		if i == cursor {
			x.line(c.styles.Accent.Render("›") + " " + c.styles.Selected.Render(rows[i].plain))
		} else {
			x.line("  " + rows[i].styled)
		}
	}
}

// scroll returns the offset that keeps cursor visible in a window of height
// rows over n rows, moving as little as possible from offset.
func scroll(cursor, offset, height, n int) int {
	if height <= 0 {
		return 0
	}
	if cursor < offset {
		offset = cursor
	}
	if cursor >= offset+height {
		offset = cursor - height + 1
	}
	return clamp(offset, 0, max(0, n-height))
}

// indexOf finds the row with key, or -1.
func indexOf(rows []row, key string) int {
	for i := range rows {
		if rows[i].key == key {
			return i
		}
	}
	return -1
}

// moveCursor applies a movement action to a cursor over n rows with a page
// of height rows. It reports false for actions that are not movements.
func moveCursor(a action, cursor, n, height int) (int, bool) {
	switch a {
	case actUp:
		cursor--
	case actDown:
		cursor++
	case actPageUp:
		cursor -= max(1, height-1)
	case actPageDown:
		cursor += max(1, height-1)
	case actTop:
		cursor = 0
	case actBottom:
		cursor = n - 1
	default:
		return cursor, false
	}
	return clamp(cursor, 0, max(0, n-1)), true
}

// box collects a view's lines up to its height; String pads it to exactly
// that height so the footer stays put.
type box struct {
	b    strings.Builder
	n, h int
}

func newBox(h int) *box { return &box{h: h} }

// line adds a line if there is room.
func (x *box) line(s string) {
	if x.n >= x.h {
		return
	}
	if x.n > 0 {
		x.b.WriteByte('\n')
	}
	x.b.WriteString(s)
	x.n++
}

func (x *box) full() bool { return x.n >= x.h }
func (x *box) left() int  { return x.h - x.n }

func (x *box) String() string {
	for x.n < x.h {
		if x.n > 0 {
			x.b.WriteByte('\n')
		}
		x.n++
	}
	return x.b.String()
}
