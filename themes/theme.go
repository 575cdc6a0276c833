package themes

import (
	"fmt"
	"slices"
	"strings"
)

// Palette is a theme's colours, one per role. The roles are semantic (what a
// colour means, not which colour it is) so a theme can remap them freely.
type Palette struct {
	Text         Color
	Muted        Color
	Accent       Color
	Border       Color
	Title        Color
	TitleBg      Color
	SelectFg     Color
	SelectBg     Color
	Header       Color
	Good         Color
	Busy         Color
	Warn         Color
	Bad          Color
	Info         Color
	SparkRPS     Color
	SparkLatency Color
	SparkErrors  Color
	Key          Color
	StatusOK     Color
	StatusErr    Color
}

// role ties a theme file's colour name to its Palette field.
type role struct {
	name string
	get  func(*Palette) *Color
}

// roles is the one list of colour names: theme files, Roles and the package
// doc all follow it.
var roles = []role{
	{"text", func(p *Palette) *Color { return &p.Text }},
	{"muted", func(p *Palette) *Color { return &p.Muted }},
	{"accent", func(p *Palette) *Color { return &p.Accent }},
	{"border", func(p *Palette) *Color { return &p.Border }},
	{"title", func(p *Palette) *Color { return &p.Title }},
	{"title_bg", func(p *Palette) *Color { return &p.TitleBg }},
	{"select_fg", func(p *Palette) *Color { return &p.SelectFg }},
	{"select_bg", func(p *Palette) *Color { return &p.SelectBg }},
	{"header", func(p *Palette) *Color { return &p.Header }},
	{"good", func(p *Palette) *Color { return &p.Good }},
	{"busy", func(p *Palette) *Color { return &p.Busy }},
	{"warn", func(p *Palette) *Color { return &p.Warn }},
	{"bad", func(p *Palette) *Color { return &p.Bad }},
	{"info", func(p *Palette) *Color { return &p.Info }},
	{"spark_rps", func(p *Palette) *Color { return &p.SparkRPS }},
	{"spark_latency", func(p *Palette) *Color { return &p.SparkLatency }},
	{"spark_errors", func(p *Palette) *Color { return &p.SparkErrors }},
	{"key", func(p *Palette) *Color { return &p.Key }},
	{"status_ok", func(p *Palette) *Color { return &p.StatusOK }},
	{"status_err", func(p *Palette) *Color { return &p.StatusErr }},
}

// Roles returns the colour names a theme file may set, in palette order.
func Roles() []string {
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = r.name
	}
	return names
}

// Get returns the colour of a role by its theme-file name.
func (p *Palette) Get(name string) (Color, bool) {
	for _, r := range roles {
		if r.name == name {
			return *r.get(p), true
		}
	}
	return Color{}, false
}

// Theme is a named palette. Mono themes carry no colour at all and rely on
// reverse video and bold, which is what NO_COLOR asks for.
type Theme struct {
	Name    string
	Base    string // the built-in it was layered over; "" for a built-in
	File    string // the file it was loaded from; "" for a built-in
	Palette Palette
}

// Mono reports whether the theme has no colours.
func (t Theme) Mono() bool {
	for _, r := range roles {
		if !r.get(&t.Palette).IsNone() {
			return false
		}
	}
	return true
}

// The built-in theme names.
const (
	Dark         = "dark"
	Light        = "light"
	HighContrast = "high-contrast"
	ColorBlind   = "colorblind"
	MonoName     = "mono"
)

// Default is the theme used when none is named.
const Default = Dark

// builtins are in the order `t` cycles through them.
var builtins = []Theme{
	{Name: Dark, Palette: Palette{
		Text:         C("#d0d0d0", 252, 7),
		Muted:        C("#808080", 244, 8),
		Accent:       C("#5fafff", 75, 12),
		Border:       C("#4e4e4e", 239, 8),
		Title:        C("#eeeeee", 255, 15),
		TitleBg:      C("#303a4e", 237, 4),
		SelectFg:     C("#000000", 16, 0),
		SelectBg:     C("#87afd7", 110, 12),
		Header:       C("#87afd7", 110, 14),
		Good:         C("#5fd787", 78, 10),
		Busy:         C("#ffd75f", 221, 11),
		Warn:         C("#ffaf5f", 215, 3),
		Bad:          C("#ff5f5f", 203, 9),
		Info:         C("#87d7ff", 117, 14),
		SparkRPS:     C("#5fafff", 75, 12),
		SparkLatency: C("#d7af5f", 179, 3),
		SparkErrors:  C("#ff5f5f", 203, 9),
		Key:          C("#5fafff", 75, 12),
		StatusOK:     C("#5fd787", 78, 10),
		StatusErr:    C("#ff5f5f", 203, 9),
	}},
	{Name: Light, Palette: Palette{
		Text:         C("#262626", 235, 0),
		Muted:        C("#6c6c6c", 242, 8),
		Accent:       C("#005faf", 25, 4),
		Border:       C("#bcbcbc", 250, 7),
		Title:        C("#ffffff", 231, 15),
		TitleBg:      C("#005faf", 25, 4),
		SelectFg:     C("#ffffff", 231, 15),
		SelectBg:     C("#005faf", 25, 4),
		Header:       C("#005f87", 24, 4),
		Good:         C("#007f3f", 29, 2),
		Busy:         C("#875f00", 94, 3),
		Warn:         C("#af5f00", 130, 3),
		Bad:          C("#c00000", 124, 1),
		Info:         C("#005f87", 24, 6),
		SparkRPS:     C("#005faf", 25, 4),
		SparkLatency: C("#875f00", 94, 3),
		SparkErrors:  C("#c00000", 124, 1),
		Key:          C("#005faf", 25, 4),
		StatusOK:     C("#007f3f", 29, 2),
		StatusErr:    C("#c00000", 124, 1),
	}},
	// High contrast keeps to the 16 bright ANSI colours, so every terminal
	// renders it the same, and lets the terminal pick the background.
	{Name: HighContrast, Palette: Palette{
		Text:         C("#ffffff", 231, 15),
		Muted:        C("#d0d0d0", 252, 7),
		Accent:       C("#ffff00", 226, 11),
		Border:       C("#ffffff", 231, 15),
		Title:        C("#000000", 16, 0),
		TitleBg:      C("#ffff00", 226, 11),
		SelectFg:     C("#000000", 16, 0),
		SelectBg:     C("#ffff00", 226, 11),
		Header:       C("#00ffff", 51, 14),
		Good:         C("#00ff00", 46, 10),
		Busy:         C("#00ffff", 51, 14),
		Warn:         C("#ffff00", 226, 11),
		Bad:          C("#ff5f5f", 203, 9),
		Info:         C("#ffffff", 231, 15),
		SparkRPS:     C("#00ffff", 51, 14),
		SparkLatency: C("#ffff00", 226, 11),
		SparkErrors:  C("#ff5f5f", 203, 9),
		Key:          C("#ffff00", 226, 11),
		StatusOK:     C("#00ff00", 46, 10),
		StatusErr:    C("#ff5f5f", 203, 9),
	}},
	// Okabe & Ito's palette ("Color Universal Design", 2008): eight colours
	// distinguishable under protanopia, deuteranopia and tritanopia. Good and
	// bad are sky blue and vermillion, never green against red.
	{Name: ColorBlind, Palette: Palette{
		Text:         C("#e4e4e4", 254, 7),
		Muted:        C("#8a8a8a", 245, 8),
		Accent:       C("#56b4e9", 74, 12),
		Border:       C("#585858", 240, 8),
		Title:        C("#000000", 16, 0),
		TitleBg:      C("#56b4e9", 74, 12),
		SelectFg:     C("#000000", 16, 0),
		SelectBg:     C("#f0e442", 227, 11),
		Header:       C("#56b4e9", 74, 12),
		Good:         C("#56b4e9", 74, 12),
		Busy:         C("#f0e442", 227, 11),
		Warn:         C("#e69f00", 214, 3),
		Bad:          C("#d55e00", 166, 1),
		Info:         C("#cc79a7", 175, 5),
		SparkRPS:     C("#56b4e9", 74, 12),
		SparkLatency: C("#e69f00", 214, 3),
		SparkErrors:  C("#d55e00", 166, 1),
		Key:          C("#f0e442", 227, 11),
		StatusOK:     C("#56b4e9", 74, 12),
		StatusErr:    C("#d55e00", 166, 1),
	}},
	{Name: MonoName},
}

// Builtins returns the built-in themes in cycling order.
func Builtins() []Theme { return slices.Clone(builtins) }

// Builtin returns a built-in theme by name.
func Builtin(name string) (Theme, bool) {
	for _, t := range builtins {
		if t.Name == name {
			return t, true
		}
	}
	return Theme{}, false
}

// Set is the themes a console can show: the built-ins, then user themes, in
// the order `t` cycles through them.
type Set struct {
	themes []Theme
}

// NewSet returns a set of the built-in themes.
func NewSet() *Set { return &Set{themes: Builtins()} }

// Add adds a theme, replacing one of the same name (a user file may
// redefine "dark").
func (s *Set) Add(t Theme) {
	for i := range s.themes {
		if s.themes[i].Name == t.Name {
			s.themes[i] = t
			return
		}
	}
	s.themes = append(s.themes, t)
}

// Names returns the themes' names in cycling order.
func (s *Set) Names() []string {
	names := make([]string, len(s.themes))
	for i, t := range s.themes {
		names[i] = t.Name
	}
	return names
}

// Get returns a theme by name, or an error listing the names there are.
func (s *Set) Get(name string) (Theme, error) {
	if name == "" {
		name = Default
	}
	for _, t := range s.themes {
		if t.Name == name {
			return t, nil
		}
	}
	return Theme{}, fmt.Errorf("unknown theme %q (have %s)", name, strings.Join(s.Names(), ", "))
}

// Next returns the theme after name in cycling order. Mono is skipped: it is
// for NO_COLOR, and a user cycling looks for colours.
func (s *Set) Next(name string) Theme {
	i := slices.IndexFunc(s.themes, func(t Theme) bool { return t.Name == name })
	for n := 1; n <= len(s.themes); n++ {
		t := s.themes[(i+n+len(s.themes))%len(s.themes)]
		if t.Name != MonoName {
			return t
		}
	}
	return s.themes[0]
}
