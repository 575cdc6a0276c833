package themes

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
)

func TestBuiltins(t *testing.T) {
	want := []string{Dark, Light, HighContrast, ColorBlind, MonoName}
	s := NewSet()
	if got := strings.Join(s.Names(), ","); got != strings.Join(want, ",") {
		t.Fatalf("names = %s, want %s", got, strings.Join(want, ","))
	}
	for _, th := range Builtins() {
		mono := th.Name == MonoName
		if th.Mono() != mono {
			t.Errorf("%s: Mono() = %v", th.Name, th.Mono())
		}
		if mono {
			continue
		}
		// Every role of a coloured built-in is set, at every depth.
		for _, name := range Roles() {
			c, ok := th.Palette.Get(name)
			if !ok || c.Hex == "" || c.ANSI256 == "" || c.ANSI == "" {
				t.Errorf("%s: colour %s incomplete: %+v", th.Name, name, c)
			}
		}
	}
}

func TestColorBlindNeverGreenAgainstRed(t *testing.T) {
	th, _ := Builtin(ColorBlind)
	// Okabe–Ito: good is sky blue, bad vermillion; neither is pure green.
	if th.Palette.Good.Hex != "#56b4e9" || th.Palette.Bad.Hex != "#d55e00" {
		t.Fatalf("good/bad = %s/%s", th.Palette.Good.Hex, th.Palette.Bad.Hex)
	}
}

func TestNextCyclesAndSkipsMono(t *testing.T) {
	s := NewSet()
	name := Dark
	var seen []string
	for range 5 {
		name = s.Next(name).Name
		seen = append(seen, name)
	}
	if got := strings.Join(seen, ","); got != "light,high-contrast,colorblind,dark,light" {
		t.Fatalf("cycle = %s", got)
	}
	if s.Next("nope").Name != Dark {
		t.Fatalf("unknown name should restart at the first theme")
	}
}

func TestParseColor(t *testing.T) {
	for in, want := range map[string]Color{
		"#FF0000": {Hex: "#ff0000", ANSI256: "196", ANSI: "9"},
		"#f00":    {Hex: "#ff0000", ANSI256: "196", ANSI: "9"},
		"4":       {Hex: "#000080", ANSI256: "4", ANSI: "4"},
		"none":    {},
		"":        {},
	} {
		got, err := ParseColor(in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if got != want {
			t.Errorf("%q = %+v, want %+v", in, got, want)
		}
	}
	for _, bad := range []string{"#ff00", "#gggggg", "256", "-1", "red"} {
		if _, err := ParseColor(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestParsePartialInherits(t *testing.T) {
	src := `
base = "light"
[colors]
accent = "#123456"
bad = { hex = "#aa0000", ansi = "1" }
muted = 240
`
	th, err := Parse("mine.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	light, _ := Builtin(Light)
	if th.Name != "mine" || th.Base != Light || th.File != "mine.toml" {
		t.Fatalf("theme = %+v", th)
	}
	if th.Palette.Accent.Hex != "#123456" {
		t.Errorf("accent = %+v", th.Palette.Accent)
	}
	if th.Palette.Bad != (Color{Hex: "#aa0000", ANSI256: "124", ANSI: "1"}) {
		t.Errorf("bad = %+v", th.Palette.Bad)
	}
	if th.Palette.Muted.ANSI256 != "240" {
		t.Errorf("muted = %+v", th.Palette.Muted)
	}
	if th.Palette.Text != light.Palette.Text || th.Palette.Good != light.Palette.Good {
		t.Errorf("unset colours not inherited from light")
	}
}

func TestParseErrorsNameFileLineAndKey(t *testing.T) {
	for name, tc := range map[string]struct {
		src  string
		want []string
	}{
		"unknown colour": {
			src:  "[colors]\naccent = \"#fff\"\nacent = \"#fff\"\n",
			want: []string{"bad.toml:3: colors.acent: unknown colour name (want one of text, muted"},
		},
		"bad value": {
			src:  "name = \"x\"\n\n[colors]\ngood = \"#12345\"\nbad = \"300\"\n",
			want: []string{`bad.toml:5: colors.bad: "300" is not a colour`, `bad.toml:4: colors.good: "#12345" is not a colour`},
		},
		"unknown base": {
			src:  "base = \"darkest\"\n",
			want: []string{`bad.toml:1: base: unknown base theme "darkest" (want one of dark, light, high-contrast, colorblind, mono)`},
		},
		"unknown key": {
			src:  "name = \"x\"\ncolours = 1\n",
			want: []string{"bad.toml:2: colours: unknown key"},
		},
		"syntax": {
			src:  "name = \n",
			want: []string{"bad.toml:1:"},
		},
		"bad table": {
			src:  "[colors]\ngood = { hex = \"#fff\", ansi = \"16\" }\n",
			want: []string{`bad.toml:2: colors.good: ansi: "16" is not an index 0-15`},
		},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse("bad.toml", []byte(tc.src))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

func TestLoadDir(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("ocean.toml", "[colors]\naccent = \"#0077be\"\n")
	write("dark.toml", "[colors]\ntext = \"#ffffff\"\n") // redefines a built-in
	write("broken.toml", "[colors]\nnope = \"1\"\n")
	write("notes.txt", "ignored")

	s := NewSet()
	err := s.LoadDir(dir)
	var es Errors
	if !errors.As(err, &es) || len(es) != 1 || !strings.Contains(es[0].Error(), "broken.toml:2: colors.nope") {
		t.Fatalf("err = %v", err)
	}
	if got := strings.Join(s.Names(), ","); got != "dark,light,high-contrast,colorblind,mono,ocean" {
		t.Fatalf("names = %s", got)
	}
	d, _ := s.Get(Dark)
	if d.Palette.Text.Hex != "#ffffff" || d.File == "" {
		t.Fatalf("dark not redefined: %+v", d.Palette.Text)
	}
	if _, err := s.Get("nope"); err == nil || !strings.Contains(err.Error(), "have dark, light") {
		t.Fatalf("Get(nope) = %v", err)
	}
	if err := NewSet().LoadDir(filepath.Join(dir, "missing")); err != nil {
		t.Fatalf("missing dir: %v", err)
	}
}

func TestStylesDegrade(t *testing.T) {
	th, _ := Builtin(Dark)
	render := func(p termenv.Profile, th Theme) string {
		r := lipgloss.NewRenderer(nil)
		r.SetColorProfile(p)
		return NewStyles(th, r).Bad.Render("x")
	}
	if got := render(termenv.TrueColor, th); !strings.Contains(got, "38;2;255;95;95") {
		t.Errorf("truecolor: %q", got)
	}
	if got := render(termenv.ANSI256, th); !strings.Contains(got, "38;5;203") {
		t.Errorf("256: %q", got)
	}
	if got := render(termenv.ANSI, th); !strings.Contains(got, "91") { // bright red, the chosen fallback
		t.Errorf("16: %q", got)
	}
	mono, _ := Builtin(MonoName)
	r := lipgloss.NewRenderer(nil)
	r.SetColorProfile(termenv.ANSI)
	sel := NewStyles(mono, r).Selected.Render("row")
	if !strings.Contains(sel, "7") || strings.Contains(sel, "38;") {
		t.Errorf("mono selection should be reverse video without colour: %q", sel)
	}
}
