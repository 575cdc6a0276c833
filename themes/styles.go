package themes

import "github.com/charmbracelet/lipgloss"

// Styles are the lipgloss styles the console draws with, built once per
// theme (not per frame: building styles allocates).
type Styles struct {
	Theme string
	Mono  bool

	Text     lipgloss.Style
	Muted    lipgloss.Style
	Accent   lipgloss.Style
	Bold     lipgloss.Style
	Rule     lipgloss.Style // separators
	TitleBar lipgloss.Style
	Tab      lipgloss.Style
	TabOn    lipgloss.Style
	Header   lipgloss.Style // table column headers
	Selected lipgloss.Style // the selected row: reverse video (or select_bg) and bold

	Good lipgloss.Style
	Busy lipgloss.Style
	Warn lipgloss.Style
	Bad  lipgloss.Style
	Info lipgloss.Style

	SparkRPS     lipgloss.Style
	SparkLatency lipgloss.Style
	SparkErrors  lipgloss.Style

	Key       lipgloss.Style // a key in the help bar
	KeyDesc   lipgloss.Style // its description
	StatusOK  lipgloss.Style
	StatusErr lipgloss.Style
	Prompt    lipgloss.Style // a confirmation question
}

// NewStyles builds t's styles for a renderer (nil: lipgloss's default).
// Attributes that carry meaning without colour (bold, reverse, underline)
// are set in every theme, so mono and NO_COLOR lose only the colours.
func NewStyles(t Theme, r *lipgloss.Renderer) Styles {
	if r == nil {
		r = lipgloss.DefaultRenderer()
	}
	p := t.Palette
	fg := func(c Color) lipgloss.Style { return r.NewStyle().Foreground(c.Terminal()) }
	mono := t.Mono()
	s := Styles{
		Theme:        t.Name,
		Mono:         mono,
		Text:         fg(p.Text),
		Muted:        fg(p.Muted),
		Accent:       fg(p.Accent).Bold(true),
		Bold:         fg(p.Text).Bold(true),
		Rule:         fg(p.Border),
		TitleBar:     fg(p.Title).Background(p.TitleBg.Terminal()).Bold(true),
		Tab:          fg(p.Muted),
		TabOn:        fg(p.Accent).Bold(true).Underline(true),
		Header:       fg(p.Header).Bold(true),
		Good:         fg(p.Good),
		Busy:         fg(p.Busy).Bold(true),
		Warn:         fg(p.Warn),
		Bad:          fg(p.Bad).Bold(true),
		Info:         fg(p.Info),
		SparkRPS:     fg(p.SparkRPS),
		SparkLatency: fg(p.SparkLatency),
		SparkErrors:  fg(p.SparkErrors),
		Key:          fg(p.Key).Bold(true),
		KeyDesc:      fg(p.Muted),
		StatusOK:     fg(p.StatusOK).Bold(true),
		StatusErr:    fg(p.StatusErr).Bold(true),
		Prompt:       fg(p.Warn).Bold(true).Reverse(true),
	}
	if p.SelectBg.IsNone() {
		s.Selected = fg(p.SelectFg).Reverse(true).Bold(true)
	} else {
		s.Selected = fg(p.SelectFg).Background(p.SelectBg.Terminal()).Bold(true)
	}
	if mono {
		// Without colour, the header bar and muted text still need to stand
		// apart from the body.
		s.TitleBar = r.NewStyle().Reverse(true).Bold(true)
		s.Muted = r.NewStyle().Faint(true)
		s.KeyDesc = s.Muted
		s.Header = s.Header.Underline(true)
	}
	return s
}
