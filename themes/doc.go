// Package themes holds the console's looks: palettes of named colours, the
// lipgloss styles built from them, the built-in themes and user theme files.
//
// # Built-in themes
//
//	dark           the default, for dark terminals
//	light          for light terminals
//	high-contrast  bright colours, bold text, for low vision and glare
//	colorblind     the Okabe–Ito palette, safe for every common colour-vision deficiency
//	mono           no colours at all: reverse video and bold only (what NO_COLOR gets)
//
// No theme encodes state by colour alone: every state is also written as text
// with a glyph ("● idle", "◆ busy", "✗ down"), and the selected row is shown
// in reverse video with a "›" marker, so a screen stays readable in 16
// colours, in mono and to colour-blind eyes.
//
// # Theme files
//
// A theme file is TOML, named NAME.toml, in the console's theme directory
// (stackctl looks in $XDG_CONFIG_HOME/stackctl/themes). A file is layered
// over a built-in base: every colour it does not set is inherited, so a file
// can be as small as one line.
//
//	# ~/.config/stackctl/themes/solarized.toml
//	name = "solarized"   # optional; the file name without .toml otherwise
//	base = "dark"        # optional; the built-in theme it layers over (default "dark")
//
//	[colors]
//	text   = "#93a1a1"
//	accent = "#268bd2"
//	good   = "33"                          # an xterm-256 index, 0–255
//	bad    = { hex = "#dc322f", ansi = "1" } # exact fallbacks for 256/16-colour terminals
//	muted  = "none"                        # the terminal's own colour
//
// A colour is "#rrggbb", "#rgb", an xterm-256 index "0"–"255", "none", or a
// table { hex = "#rrggbb", ansi256 = "N", ansi = "N" } whose missing fields
// are derived from the others. A terminal with fewer colours gets the nearest
// one of its palette (or the exact fallback given).
//
// The colour names (see [Roles]):
//
//	text          body text
//	muted         secondary text: units, column rules, timestamps, hints
//	accent        titles, the active tab, focus
//	border        separators and frames
//	title         header bar text
//	title_bg      header bar background
//	select_fg     selected row text
//	select_bg     selected row background (the row is also reversed when unset)
//	header        table column headers
//	good          healthy states: idle, up, running, 2xx
//	busy          working states: busy
//	warn          transitional states: starting, stopping, drain, 4xx
//	bad           failed states: down, crash-loop, errors, 5xx, stderr
//	info          neutral highlights: counts, the current request
//	spark_rps     the requests-per-second sparkline
//	spark_latency the latency (p99) sparkline
//	spark_errors  the error-rate sparkline
//	key           key names in the help bar
//	status_ok     a command's success in the status line
//	status_err    a command's failure in the status line
//
// A file with an unknown key, an unknown colour name, a bad colour value or
// an unknown base is rejected with "FILE:LINE: key: what is wrong"; the
// console then keeps the built-in themes and shows the error.
package themes
