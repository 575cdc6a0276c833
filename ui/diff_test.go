package ui

import (
	"strings"
	"testing"
)

func TestUnifiedDiff(t *testing.T) {
	a := "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n"
	b := "a\nb\nC\nd\ne\nf\ng\nh\ni\nj\nk\n"
	got := strings.Join(unified(lineDiff(a, b), 1), "\n")
	want := strings.Join([]string{
		"@@ -2,3 +2,3 @@",
		" b",
		"-c",
		"+C",
		" d",
		"@@ -10,1 +10,2 @@", // one line of context before the addition
		" j",
		"+k",
	}, "\n")
	if got != want {
		t.Fatalf("diff:\n%s\nwant:\n%s", got, want)
	}
}

func TestDiffEqualAndEmpty(t *testing.T) {
	if d := unified(lineDiff("x\ny\n", "x\ny\n"), 3); d != nil {
		t.Fatalf("equal texts diff = %q", d)
	}
	d := unified(lineDiff("", "new\n"), 3)
	if strings.Join(d, "|") != "@@ -0,0 +1,1 @@|+new" {
		t.Fatalf("from empty = %q", d)
	}
	d = unified(lineDiff("old\n", ""), 3)
	if strings.Join(d, "|") != "@@ -1,1 +0,0 @@|-old" {
		t.Fatalf("to empty = %q", d)
	}
}

func TestDiffReconstructs(t *testing.T) {
	a := "[proxy]\nlisten = [\"127.0.0.1:8080\"]\n\n[[app]]\nname = \"blog\"\nworkers = 2\n"
	b := "[proxy]\nlisten = [\"127.0.0.1:9090\"]\n\n[[app]]\nname = \"blog\"\nworkers = 4\nmax_requests = 100\n"
	var ra, rb []string
	for _, op := range lineDiff(a, b) {
		if op.kind != '+' {
			ra = append(ra, op.text)
		}
		if op.kind != '-' {
			rb = append(rb, op.text)
		}
	}
	if strings.Join(ra, "\n")+"\n" != a || strings.Join(rb, "\n")+"\n" != b {
		t.Fatalf("ops do not rebuild both texts")
	}
}
