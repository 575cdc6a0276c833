package ui

import (
	"sort"
	"strings"
)

// A hand-formatted table. The bubbles table re-renders every cell through
// lipgloss on each frame (about 4 ms for 200 rows); here rows are formatted
// to plain padded strings once per snapshot, and a frame only joins the
// visible ones.

// column describes one table column.
type column struct {
	title string
	width int  // the width, or the minimum width of a flexible column
	want  int  // a flexible column's preferred width, claimed before lower-prio columns
	max   int  // a flexible column's maximum width (0: no maximum)
	flex  bool // takes a share of the spare width
	right bool // right-aligned (numbers)
	prio  int  // columns with a higher prio are dropped first when narrow
}

// gutter is the selection marker's width ("› ").
const gutter = 2

// layout is which columns fit in a width, and how wide each is.
type layout struct {
	show   []bool
	widths []int
	width  int
}

// layoutColumns fits columns into width. Priority levels are taken in
// turn: a level's columns are added at their minimum width if they fit,
// then the flexible columns shown so far grow towards their preferred
// width, so a lower level never starves a more important flexible column.
// Whatever is left grows the flexible columns up to their maximum.
func layoutColumns(cols []column, width int) layout {
	l := layout{show: make([]bool, len(cols)), widths: make([]int, len(cols)), width: width}
	levels := map[int]bool{}
	for _, c := range cols {
		levels[c.prio] = true
	}
	prios := make([]int, 0, len(levels))
	for p := range levels {
		prios = append(prios, p)
	}
	sort.Ints(prios)
	used := gutter
	for _, p := range prios {
		for i, c := range cols {
			if c.prio != p {
				continue
			}
			sep := 0
			if used > gutter {
				sep = 1 // the space before it
			}
			if used+sep+c.width <= width {
				l.show[i], l.widths[i] = true, c.width
				used += sep + c.width
			}
		}
		used += l.grow(cols, width-used, func(c column) int { return max(c.want, c.width) })
	}
	l.grow(cols, width-used, func(c column) int {
		if c.max == 0 {
			return width
		}
		return c.max
	})
	return l
}

// grow shares spare cells among the shown flexible columns, one at a time
// round-robin, up to limit(c) each; it returns how many it used.
func (l layout) grow(cols []column, spare int, limit func(column) int) int {
	used := 0
	for spare > used {
		grew := false
		for i, c := range cols {
			if spare > used && l.show[i] && c.flex && l.widths[i] < limit(c) {
				l.widths[i]++
				used++
				grew = true
			}
		}
		if !grew {
			break
		}
	}
	return used
}

// row formats cells (one per column, shown or not) into one padded line,
// without the gutter. It also returns the byte span of column mark (-1,
// -1 when mark is hidden or -1), so a caller can style that one cell.
func (l layout) row(cols []column, cells []string, mark int) (line string, start, end int) {
	var b strings.Builder
	b.Grow(l.width + 8)
	start, end = -1, -1
	first := true
	for i, c := range cols {
		if !l.show[i] {
			continue
		}
		if !first {
			b.WriteByte(' ')
		}
		first = false
		if i == mark {
			start = b.Len()
		}
		if c.right {
			b.WriteString(fitRight(cells[i], l.widths[i]))
		} else {
			b.WriteString(fit(cells[i], l.widths[i]))
		}
		if i == mark {
			end = b.Len()
		}
	}
	return b.String(), start, end
}

// header formats the column titles.
func (l layout) header(cols []column) string {
	titles := make([]string, len(cols))
	for i, c := range cols {
		titles[i] = c.title
	}
	line, _, _ := l.row(cols, titles, -1)
	return line
}
