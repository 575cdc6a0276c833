package ui

import (
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"
)

func TestKeyTableMarkdownHasEveryBinding(t *testing.T) {
	md := KeyTableMarkdown()
	lines := strings.Split(strings.TrimSpace(md), "\n")
	if len(lines) != len(keyTable)+2 {
		t.Fatalf("%d table lines for %d bindings", len(lines), len(keyTable))
	}
	for i, b := range Keys() {
		row := lines[i+2]
		for _, k := range b.Keys {
			if k == " " {
				k = "space"
			}
			if !strings.Contains(row, "`"+k+"`") {
				t.Errorf("row %q lacks key %q", row, k)
			}
		}
		if !strings.Contains(row, b.Desc) || !strings.Contains(row, b.Scope.String()) {
			t.Errorf("row %q lacks %q or %q", row, b.Desc, b.Scope)
		}
		if b.ConfirmWhen != "" && !strings.Contains(row, b.ConfirmWhen) {
			t.Errorf("row %q does not say when it confirms", row)
		}
	}
}

// TestKeysDoNotCollide checks that in every view a key means one thing: a
// view's bindings never shadow a global one, and never repeat a key.
func TestKeysDoNotCollide(t *testing.T) {
	for _, s := range viewScopes {
		seen := map[string]string{}
		for _, b := range keyTable {
			if b.Scope&(s|ScopeGlobal) == 0 {
				continue
			}
			for _, k := range b.Keys {
				if prev, ok := seen[k]; ok {
					t.Errorf("%s: key %q is both %q and %q", s, k, prev, b.Desc)
				}
				seen[k] = b.Desc
			}
		}
	}
}

func TestEveryBindingIsReachable(t *testing.T) {
	km := newKeymap()
	for i := range keyTable {
		b := &keyTable[i]
		for _, s := range append(viewScopes[:], ScopeGlobal) {
			if b.Scope&s == 0 {
				continue
			}
			for _, k := range b.Keys {
				if got := km.match(k, s); got != b {
					t.Errorf("%s: %q matches %v, want %q", s, k, got, b.Desc)
				}
			}
		}
	}
}

func TestHelpBarFitsAndKeepsQuitAndHelp(t *testing.T) {
	m := newTestModel(t, nil, testOptions("dark", "256"), 80, 24)
	for _, s := range viewScopes {
		for _, w := range []int{80, 160} {
			bar := m.c.helpBar(s, w)
			if n := ansi.StringWidth(bar); n > w {
				t.Errorf("%s at %d: bar is %d wide", s, w, n)
			}
			plain := ansi.Strip(bar)
			if !strings.HasSuffix(plain, "q quit  ? all keys") {
				t.Errorf("%s at %d: bar %q does not end with quit and help", s, w, plain)
			}
		}
	}
}

func TestConfirmationsComeFromTheTable(t *testing.T) {
	for _, b := range keyTable {
		if (b.Dangerous || b.ConfirmWhen != "") && b.Confirm == "" {
			t.Errorf("%q asks to confirm but has no question", b.Desc)
		}
	}
}
