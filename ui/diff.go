package ui

import (
	"strconv"
	"strings"
)

// diffOp is one line of a line diff.
type diffOp struct {
	kind byte // ' ' same, '-' removed, '+' added
	text string
}

// lineDiff compares two texts line by line. Common leading and trailing lines
// are trimmed first, so the quadratic longest-common-subsequence table only
// covers what changed; configurations are hundreds of lines and edits are
// local, so that table stays small. Beyond maxCells it gives up on alignment
// and reports the middle as replaced, which is still a correct diff.
func lineDiff(a, b string) []diffOp {
	const maxCells = 4_000_000
	al, bl := splitLines(a), splitLines(b)
	pre := 0
	for pre < len(al) && pre < len(bl) && al[pre] == bl[pre] {
		pre++
	}
	suf := 0
	for suf < len(al)-pre && suf < len(bl)-pre && al[len(al)-1-suf] == bl[len(bl)-1-suf] {
		suf++
	}
	ops := make([]diffOp, 0, len(al)+len(bl))
	for _, l := range al[:pre] {
		ops = append(ops, diffOp{' ', l})
	}
	am, bm := al[pre:len(al)-suf], bl[pre:len(bl)-suf]
	if len(am)*len(bm) > maxCells {
		for _, l := range am {
			ops = append(ops, diffOp{'-', l})
		}
		for _, l := range bm {
			ops = append(ops, diffOp{'+', l})
		}
	} else {
		ops = append(ops, lcsDiff(am, bm)...)
	}
	for _, l := range al[len(al)-suf:] {
		ops = append(ops, diffOp{' ', l})
	}
	return ops
}

func lcsDiff(a, b []string) []diffOp {
	n, m := len(a), len(b)
	// t[i][j] is the LCS length of a[i:] and b[j:], in one flat slice.
	w := m + 1
	t := make([]int32, (n+1)*w)
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				t[i*w+j] = t[(i+1)*w+j+1] + 1
			} else {
				t[i*w+j] = max(t[(i+1)*w+j], t[i*w+j+1])
			}
		}
	}
	var ops []diffOp
	i, j := 0, 0
	for i < n && j < m {
		switch {
		case a[i] == b[j]:
			ops = append(ops, diffOp{' ', a[i]})
			i++
			j++
		case t[(i+1)*w+j] >= t[i*w+j+1]:
			ops = append(ops, diffOp{'-', a[i]})
			i++
		default:
			ops = append(ops, diffOp{'+', b[j]})
			j++
		}
	}
	for ; i < n; i++ {
		ops = append(ops, diffOp{'-', a[i]})
	}
	for ; j < m; j++ {
		ops = append(ops, diffOp{'+', b[j]})
	}
	return ops
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// unified renders ops as a unified diff with ctx lines of context around
// each change, with "@@ -a,b +c,d @@" hunk headers. It returns nil when the
// texts are the same.
func unified(ops []diffOp, ctx int) []string {
	// Mark which ops are within ctx of a change.
	keep := make([]bool, len(ops))
	changed := false
	for i, op := range ops {
		if op.kind == ' ' {
			continue
		}
		changed = true
		for k := max(0, i-ctx); k <= min(len(ops)-1, i+ctx); k++ {
			keep[k] = true
		}
	}
	if !changed {
		return nil
	}
	var out []string
	ai, bi := 1, 1 // line numbers in a and b at ops[i]
	for i := 0; i < len(ops); {
		if !keep[i] {
			if ops[i].kind != '+' {
				ai++
			}
			if ops[i].kind != '-' {
				bi++
			}
			i++
			continue
		}
		j := i
		for j < len(ops) && keep[j] {
			j++
		}
		var an, bn int
		for _, op := range ops[i:j] {
			if op.kind != '+' {
				an++
			}
			if op.kind != '-' {
				bn++
			}
		}
		out = append(out, "@@ -"+hunkRange(ai, an)+" +"+hunkRange(bi, bn)+" @@")
		for _, op := range ops[i:j] {
			out = append(out, string(op.kind)+op.text)
		}
		ai += an
		bi += bn
		i = j
	}
	return out
}

func hunkRange(start, n int) string {
	if n == 0 {
		start-- // an empty range names the line before it, as diff -u does
	}
	return strconv.Itoa(start) + "," + strconv.Itoa(n)
}
