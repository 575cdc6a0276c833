package themes

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
)

// Color is one palette entry with its value for each colour depth. A zero
// Color is "none": the terminal's own foreground or background.
type Color struct {
	Hex     string // "#rrggbb" for true-colour terminals
	ANSI256 string // an xterm-256 index
	ANSI    string // an index 0–15 for 16-colour terminals
}

// IsNone reports whether the colour leaves the terminal's default in place.
func (c Color) IsNone() bool { return c.Hex == "" && c.ANSI256 == "" && c.ANSI == "" }

// Terminal returns the colour for lipgloss. Every depth is spelled out
// (lipgloss.CompleteColor) so a 16-colour terminal gets the fallback the
// theme chose instead of lipgloss's nearest guess.
func (c Color) Terminal() lipgloss.TerminalColor {
	if c.IsNone() {
		return lipgloss.NoColor{}
	}
	return lipgloss.CompleteColor{TrueColor: c.Hex, ANSI256: c.ANSI256, ANSI: c.ANSI}
}

// String renders the colour the way a theme file writes it.
func (c Color) String() string {
	if c.IsNone() {
		return "none"
	}
	return fmt.Sprintf("{ hex = %q, ansi256 = %q, ansi = %q }", c.Hex, c.ANSI256, c.ANSI)
}

// C builds a colour from a hex value and explicit 256- and 16-colour
// fallbacks; the built-in themes use it.
func C(hex string, ansi256, ansi int) Color {
	return Color{Hex: hex, ANSI256: strconv.Itoa(ansi256), ANSI: strconv.Itoa(ansi)}
}

// ParseColor reads a colour written as "#rrggbb", "#rgb", an xterm-256 index
// or "none", deriving the other depths from it.
func ParseColor(s string) (Color, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "" || strings.EqualFold(s, "none"):
		return Color{}, nil
	case strings.HasPrefix(s, "#"):
		hex, err := normHex(s)
		if err != nil {
			return Color{}, err
		}
		return complete(Color{Hex: hex})
	default:
		n, err := ansiIndex(s, 255)
		if err != nil {
			return Color{}, fmt.Errorf("%q is not a colour (want \"#rrggbb\", \"#rgb\", an xterm-256 index 0-255 or \"none\")", s)
		}
		return complete(Color{ANSI256: strconv.Itoa(n)})
	}
}

// parseColorTable reads { hex = "...", ansi256 = "...", ansi = "..." }.
func parseColorTable(m map[string]any) (Color, error) {
	var c Color
	for k, v := range m {
		s, ok := v.(string)
		if !ok {
			// Indexes may be written as numbers too.
			if n, isInt := v.(int64); isInt {
				s = strconv.FormatInt(n, 10)
			} else {
				return Color{}, fmt.Errorf("%s: want a string, got %v", k, v)
			}
		}
		switch k {
		case "hex":
			hex, err := normHex(s)
			if err != nil {
				return Color{}, fmt.Errorf("hex: %w", err)
			}
			c.Hex = hex
		case "ansi256":
			n, err := ansiIndex(s, 255)
			if err != nil {
				return Color{}, fmt.Errorf("ansi256: %q is not an index 0-255", s)
			}
			c.ANSI256 = strconv.Itoa(n)
		case "ansi":
			n, err := ansiIndex(s, 15)
			if err != nil {
				return Color{}, fmt.Errorf("ansi: %q is not an index 0-15", s)
			}
			c.ANSI = strconv.Itoa(n)
		default:
			return Color{}, fmt.Errorf("unknown field %q (want hex, ansi256, ansi)", k)
		}
	}
	if c.IsNone() {
		return Color{}, fmt.Errorf("empty colour table (want hex, ansi256 or ansi)")
	}
	return complete(c)
}

// complete derives the missing depths of c from the ones it has.
func complete(c Color) (Color, error) {
	var src termenv.Color
	switch {
	case c.Hex != "":
		src = termenv.RGBColor(c.Hex)
	case c.ANSI256 != "":
		n, _ := strconv.Atoi(c.ANSI256)
		src = termenv.ANSI256Color(n)
	default:
		n, _ := strconv.Atoi(c.ANSI)
		src = termenv.ANSIColor(n)
	}
	if c.Hex == "" {
		c.Hex = termenv.ConvertToRGB(src).Hex()
	}
	if c.ANSI256 == "" {
		switch v := termenv.ANSI256.Convert(src).(type) {
		case termenv.ANSI256Color:
			c.ANSI256 = strconv.Itoa(int(v))
		case termenv.ANSIColor:
			c.ANSI256 = strconv.Itoa(int(v))
		}
	}
	if c.ANSI == "" {
		if v, ok := termenv.ANSI.Convert(src).(termenv.ANSIColor); ok {
			c.ANSI = strconv.Itoa(int(v))
		}
	}
	return c, nil
}

func normHex(s string) (string, error) {
	h := strings.TrimPrefix(strings.ToLower(s), "#")
	if len(h) == 3 {
		h = string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
	}
	if len(h) != 6 {
		return "", fmt.Errorf("%q is not a colour (want \"#rrggbb\" or \"#rgb\")", s)
	}
	if _, err := strconv.ParseUint(h, 16, 32); err != nil {
		return "", fmt.Errorf("%q is not a colour (want \"#rrggbb\" or \"#rgb\")", s)
	}
	return "#" + h, nil
}

func ansiIndex(s string, max int) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 || n > max {
		return 0, fmt.Errorf("out of range")
	}
	return n, nil
}
