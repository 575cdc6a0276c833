package ui

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/stackctl/stackctl/runtime/control"
)

// config is view 5: the running configuration; edit it in $EDITOR, see it
// validated and diffed, then apply it or keep the running one.
type config struct {
	c    *common
	w, h int

	running control.ConfigText
	loaded  bool
	loading bool

	// An edit under review.
	pending    string
	hasPending bool
	validating bool
	valid      *control.ValidateResult
	applying   bool
	applied    *control.ApplyResult // the last apply's answer, shown until the next edit

	lines  []string // the body, formatted when its data changes
	offset int
}

// Messages of the config flow.
type (
	configMsg struct {
		cfg control.ConfigText
		err error
	}
	editedMsg struct {
		path string
		err  error
	}
	validatedMsg struct {
		text string
		res  control.ValidateResult
		err  error
	}
	appliedMsg struct {
		res control.ApplyResult
		err error
	}
)

func newConfig(c *common) config { return config{c: c} }

func (v *config) SetSize(w, h int) {
	v.w, v.h = w, h
	v.format()
}

// load fetches the running configuration if it has not been yet.
func (v *config) load(force bool) tea.Cmd {
	if (v.loaded && !force) || v.loading {
		return nil
	}
	v.loading = true
	c := v.c
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(c.ctx, c.timeout)
		defer cancel()
		cfg, err := c.backend.Config(ctx)
		return configMsg{cfg: cfg, err: err}
	}
}

func (v config) Update(msg tea.Msg) (config, tea.Cmd) {
	c := v.c
	switch msg := msg.(type) {
	case configMsg:
		v.loading = false
		if msg.err != nil {
			return v, status(false, "config: "+msg.err.Error())
		}
		v.running, v.loaded = msg.cfg, true
		v.format()
	case editedMsg:
		data, err := os.ReadFile(msg.path)
		os.Remove(msg.path)
		if msg.err != nil {
			return v, status(false, "editor: "+msg.err.Error())
		}
		if err != nil {
			return v, status(false, "editor: "+err.Error())
		}
		text := string(data)
		if text == v.running.Text {
			v.hasPending, v.pending, v.valid = false, "", nil
			v.format()
			return v, status(true, "config unchanged")
		}
		v.pending, v.hasPending, v.valid, v.applied, v.validating = text, true, nil, nil, true
		v.offset = 0
		v.format()
		return v, func() tea.Msg {
			ctx, cancel := context.WithTimeout(c.ctx, c.timeout)
			defer cancel()
			r, err := c.backend.ValidateConfig(ctx, text)
			return validatedMsg{text: text, res: r, err: err}
		}
	case validatedMsg:
		if !v.hasPending || msg.text != v.pending {
			return v, nil // an older edit's answer
		}
		v.validating = false
		if msg.err != nil {
			v.format()
			return v, status(false, "validate: "+msg.err.Error())
		}
		v.valid = &msg.res
		v.format()
		if msg.res.OK {
			return v, status(true, "the edited config is valid: a applies it, esc discards it")
		}
		return v, status(false, "the edited config has "+plural(len(msg.res.Errors), "error")+"; the running one is kept")
	case appliedMsg:
		v.applying = false
		if msg.err != nil {
			v.format()
			return v, status(false, "apply: "+msg.err.Error())
		}
		v.applied = &msg.res
		if msg.res.OK {
			v.hasPending, v.pending, v.valid = false, "", nil
			v.format()
			text := msg.res.Message
			if text == "" {
				text = "config applied"
			}
			return v, tea.Batch(status(true, text), v.load(true))
		}
		v.valid = &control.ValidateResult{OK: false, Errors: msg.res.Errors}
		v.format()
		return v, status(false, "apply refused: "+msg.res.Message)
	case tea.KeyMsg:
		return v.key(msg)
	}
	return v, nil
}

func (v config) key(msg tea.KeyMsg) (config, tea.Cmd) {
	_, a := v.c.match(msg, ScopeConfig)
	page := max(1, v.h-2)
	switch a {
	case actUp:
		v.offset--
	case actDown:
		v.offset++
	case actPageUp:
		v.offset -= page
	case actPageDown:
		v.offset += page
	case actTop:
		v.offset = 0
	case actBottom:
		v.offset = len(v.lines)
	case actEdit:
		if !v.loaded {
			return v, status(false, "the running config is not loaded yet")
		}
		text := v.running.Text
		if v.hasPending {
			text = v.pending // fix the edit, don't start over
		}
		return v, v.edit(text)
	case actApply:
		switch {
		case !v.hasPending:
			return v, status(false, "nothing to apply: e edits the config")
		case v.validating:
			return v, status(false, "still validating")
		case v.valid == nil || !v.valid.OK:
			return v, status(false, "the edited config has errors: e edits it again, esc discards it")
		}
		v.applying = true
		v.format()
		text, c := v.pending, v.c
		return v, func() tea.Msg {
			ctx, cancel := context.WithTimeout(c.ctx, c.timeout)
			defer cancel()
			r, err := c.backend.ApplyConfig(ctx, text)
			return appliedMsg{res: r, err: err}
		}
	case actBack:
		if v.hasPending {
			v.hasPending, v.pending, v.valid, v.validating = false, "", nil, false
			v.offset = 0
			v.format()
			return v, status(true, "edit discarded; the running config is unchanged")
		}
	}
	v.offset = clamp(v.offset, 0, max(0, len(v.lines)-(v.h-1)))
	return v, nil
}

// edit writes text to a temporary file and opens it in the editor; the
// console gives the terminal to the editor until it exits.
func (v *config) edit(text string) tea.Cmd {
	name := "stackctl.toml"
	if v.running.File != "" {
		name = strings.TrimSuffix(baseName(v.running.File), ".toml") + ".toml"
	}
	f, err := os.CreateTemp(v.c.tempDir, "edit-*-"+name)
	if err != nil {
		return status(false, "editor: "+err.Error())
	}
	_, err = f.WriteString(text)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return status(false, "editor: "+err.Error())
	}
	if len(v.c.editor) == 0 {
		os.Remove(f.Name())
		return status(false, "editor: no editor (set $EDITOR)")
	}
	path := f.Name()
	cmd := exec.Command(v.c.editor[0], append(v.c.editor[1:], path)...)
	return v.c.exec(cmd, func(err error) tea.Msg { return editedMsg{path: path, err: err} })
}

func baseName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// format builds the body lines: the running config with line numbers, or
// the edit under review (its errors and its diff against the running one).
func (v *config) format() {
	st := &v.c.styles
	v.lines = v.lines[:0]
	if v.applied != nil && v.applied.OK {
		for _, ch := range v.applied.Changes {
			v.lines = append(v.lines, st.Good.Render("✓ ")+ch)
		}
		if len(v.applied.Changes) > 0 {
			v.lines = append(v.lines, "")
		}
	}
	if v.hasPending {
		if v.valid != nil {
			for _, e := range v.valid.Errors {
				v.lines = append(v.lines, st.Bad.Render("✗ ")+configErr(e))
			}
			if len(v.valid.Errors) > 0 {
				v.lines = append(v.lines, "")
			}
		}
		for _, l := range unified(lineDiff(v.running.Text, v.pending), 3) {
			var s string
			switch l[0] {
			case '+':
				s = st.Good.Render(l)
			case '-':
				s = st.Bad.Render(l)
			case '@':
				s = st.Info.Render(l)
			default:
				s = l
			}
			v.lines = append(v.lines, truncate(s, v.w))
		}
		return
	}
	text := strings.TrimSuffix(v.running.Text, "\n")
	if text == "" {
		return
	}
	src := strings.Split(text, "\n")
	nw := len(strconv.Itoa(len(src)))
	for i, l := range src {
		v.lines = append(v.lines, st.Muted.Render(fitRight(strconv.Itoa(i+1), nw))+"  "+truncate(sanitize(l), v.w-nw-2))
	}
}

// configErr writes a configuration error the way `stackctl check` does.
func configErr(e control.ConfigError) string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

func (v config) View() string {
	x := newBox(v.h)
	st := &v.c.styles
	sep := st.Muted.Render(" · ")
	switch {
	case !v.loaded:
		x.line(st.Muted.Render("loading the running config…"))
		return x.String()
	case v.applying:
		x.line(st.Warn.Render("applying…"))
	case v.hasPending && v.validating:
		x.line(st.Warn.Render("edited config: validating…"))
	case v.hasPending && v.valid != nil && v.valid.OK:
		x.line(st.Good.Render("✓ edited config is valid") + sep + "a apply" + sep + "e edit again" + sep + "esc discard")
	case v.hasPending && v.valid != nil:
		x.line(st.Bad.Render("✗ edited config has "+plural(len(v.valid.Errors), "error")) + sep + "e edit again" + sep + "esc discard" + sep + st.Muted.Render("the running config is kept"))
	case v.hasPending:
		x.line(st.Warn.Render("edited config: not validated") + sep + "e edit again" + sep + "esc discard")
	default:
		x.line(st.Accent.Render("running config") + sep + v.running.File + sep +
			strconv.Itoa(strings.Count(v.running.Text, "\n")) + " lines" + sep + "e edit")
	}
	off := clamp(v.offset, 0, max(0, len(v.lines)-(v.h-1)))
	for i := off; i < len(v.lines) && !x.full(); i++ {
		x.line(v.lines[i])
	}
	return x.String()
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

// statusMsg sets the status line.
type statusMsg struct {
	ok   bool
	text string
}

func status(ok bool, text string) tea.Cmd {
	return func() tea.Msg { return statusMsg{ok: ok, text: text} }
}
