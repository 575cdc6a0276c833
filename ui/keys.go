package ui

import (
	"slices"
	"strings"
)

// Scope says in which views a binding works; a binding may work in several.
type Scope uint8

// The scopes: everywhere, and one per view.
const (
	ScopeGlobal Scope = 1 << iota
	ScopeOverview
	ScopeWorkers
	ScopeUpstreams
	ScopeLogs
	ScopeConfig
)

// scopeNames are in view order, for the help screen and the README table.
var scopeNames = []struct {
	s    Scope
	name string
}{
	{ScopeGlobal, "everywhere"},
	{ScopeOverview, "Overview"},
	{ScopeWorkers, "Workers"},
	{ScopeUpstreams, "Upstreams"},
	{ScopeLogs, "Logs"},
	{ScopeConfig, "Config"},
}

// String names the views of s: "everywhere", "every view", "Workers, Logs".
func (s Scope) String() string {
	if s == modeAll {
		return "every view"
	}
	var names []string
	for _, n := range scopeNames {
		if s&n.s != 0 {
			names = append(names, n.name)
		}
	}
	return strings.Join(names, ", ")
}

// action is what a binding does; views switch on it.
type action uint8

const (
	actNone action = iota
	actQuit
	actHelp
	actTheme
	actView
	actNextView
	actPrevView
	actUp
	actDown
	actPageUp
	actPageDown
	actTop
	actBottom
	actEnter
	actFilter
	actBack
	actPrev
	actNext
	actSort
	actSortReverse
	actRestart
	actReload
	actScaleUp
	actScaleDown
	actDrain
	actMarkDown
	actLogs
	actFollow
	actWrap
	actTimestamps
	actWorkerPrev
	actWorkerNext
	actEdit
	actApply
)

// Binding is one key binding. The table of them (Keys) is the single source
// for dispatch, the help bar, the `?` screen, confirmations and the README's
// key table.
type Binding struct {
	Keys        []string // as the terminal reports them: "j", "down", "ctrl+c"
	Key         string   // as help shows them: "j/↓"
	Desc        string
	Scope       Scope
	Bar         bool   // shown in the help bar (every binding is on `?`)
	Dangerous   bool   // always asks to confirm
	ConfirmWhen string // asks to confirm only in this case (documented here, decided by the view)
	Confirm     string // the question; %s is the target

	act action
}

var modeAll = ScopeOverview | ScopeWorkers | ScopeUpstreams | ScopeLogs | ScopeConfig

// keyTable is the console's key bindings. Order matters only for display.
var keyTable = []Binding{
	{Keys: []string{"q", "ctrl+c"}, Key: "q", Desc: "quit", Scope: ScopeGlobal, Bar: true, act: actQuit,
		ConfirmWhen: "when this console started the stack",
		Confirm:     "Quit? This console started the stack; quitting stops it."},
	{Keys: []string{"?"}, Key: "?", Desc: "all keys", Scope: ScopeGlobal, Bar: true, act: actHelp},
	{Keys: []string{"1", "2", "3", "4", "5"}, Key: "1-5", Desc: "switch view: Overview, Workers, Upstreams, Logs, Config", Scope: ScopeGlobal, act: actView},
	{Keys: []string{"tab"}, Key: "tab", Desc: "next view", Scope: ScopeGlobal, act: actNextView},
	{Keys: []string{"shift+tab"}, Key: "shift+tab", Desc: "previous view", Scope: ScopeGlobal, act: actPrevView},
	{Keys: []string{"t"}, Key: "t", Desc: "next theme", Scope: ScopeGlobal, act: actTheme},

	{Keys: []string{"up", "k"}, Key: "↑/k", Desc: "move up", Scope: modeAll, act: actUp},
	{Keys: []string{"down", "j"}, Key: "↓/j", Desc: "move down", Scope: modeAll, act: actDown},
	{Keys: []string{"pgup", "ctrl+b"}, Key: "pgup", Desc: "page up", Scope: modeAll, act: actPageUp},
	{Keys: []string{"pgdown", "ctrl+f", " "}, Key: "pgdn", Desc: "page down", Scope: modeAll, act: actPageDown},
	{Keys: []string{"home", "g"}, Key: "g/home", Desc: "jump to top", Scope: modeAll, act: actTop},
	{Keys: []string{"end", "G"}, Key: "G/end", Desc: "jump to bottom", Scope: modeAll, act: actBottom},
	{Keys: []string{"enter"}, Key: "enter", Desc: "open the app's workers", Scope: ScopeOverview, Bar: true, act: actEnter},
	{Keys: []string{"enter"}, Key: "enter", Desc: "worker detail: sparklines and its log", Scope: ScopeWorkers, Bar: true, act: actEnter},
	{Keys: []string{"/"}, Key: "/", Desc: "filter", Scope: ScopeWorkers | ScopeUpstreams | ScopeLogs, Bar: true, act: actFilter},
	{Keys: []string{"esc"}, Key: "esc", Desc: "back: close detail, clear filter, discard an edit", Scope: modeAll, act: actBack},
	{Keys: []string{"left"}, Key: "←", Desc: "previous app", Scope: ScopeWorkers, act: actPrev},
	{Keys: []string{"right"}, Key: "→", Desc: "next app", Scope: ScopeWorkers, Bar: true, act: actNext},
	{Keys: []string{"left"}, Key: "←", Desc: "previous source", Scope: ScopeLogs, act: actPrev},
	{Keys: []string{"right"}, Key: "→", Desc: "next source (apps, access, events)", Scope: ScopeLogs, Bar: true, act: actNext},
	{Keys: []string{"s"}, Key: "s", Desc: "sort by the next column", Scope: ScopeWorkers, Bar: true, act: actSort},
	{Keys: []string{"S"}, Key: "S", Desc: "reverse the sort", Scope: ScopeWorkers, act: actSortReverse},

	{Keys: []string{"r"}, Key: "r", Desc: "restart the worker gracefully (loses no request)", Scope: ScopeWorkers, Bar: true, act: actRestart},
	{Keys: []string{"R"}, Key: "R", Desc: "chain-reload the app", Scope: ScopeOverview | ScopeWorkers, Bar: true, act: actReload},
	{Keys: []string{"+", "="}, Key: "+", Desc: "add a worker", Scope: ScopeOverview | ScopeWorkers, Bar: true, act: actScaleUp},
	{Keys: []string{"-"}, Key: "-", Desc: "remove a worker", Scope: ScopeOverview | ScopeWorkers, Bar: true, act: actScaleDown,
		ConfirmWhen: "when it leaves no worker",
		Confirm:     "Scale %s to 0 workers? That stops the app."},
	{Keys: []string{"d"}, Key: "d", Desc: "drain / undrain the server", Scope: ScopeUpstreams, Bar: true, act: actDrain},
	{Keys: []string{"D"}, Key: "D", Desc: "mark the server down / up", Scope: ScopeUpstreams, Bar: true, act: actMarkDown,
		ConfirmWhen: "when marking it down",
		Confirm:     "Mark %s down? It gets no requests until marked up."},
	{Keys: []string{"l"}, Key: "l", Desc: "the app's logs", Scope: ScopeOverview | ScopeWorkers, Bar: true, act: actLogs},

	{Keys: []string{"f"}, Key: "f", Desc: "follow on/off", Scope: ScopeLogs, Bar: true, act: actFollow},
	{Keys: []string{"w"}, Key: "w", Desc: "wrap on/off", Scope: ScopeLogs, Bar: true, act: actWrap},
	{Keys: []string{"T"}, Key: "T", Desc: "timestamps on/off", Scope: ScopeLogs, act: actTimestamps},
	{Keys: []string{"["}, Key: "[", Desc: "previous worker filter", Scope: ScopeLogs, act: actWorkerPrev},
	{Keys: []string{"]"}, Key: "]", Desc: "next worker filter (all, 1, 2, …)", Scope: ScopeLogs, Bar: true, act: actWorkerNext},

	{Keys: []string{"e"}, Key: "e", Desc: "edit in $EDITOR, then validate and diff", Scope: ScopeConfig, Bar: true, act: actEdit},
	{Keys: []string{"a"}, Key: "a", Desc: "apply the edited config", Scope: ScopeConfig, Bar: true, act: actApply},
}

// Keys returns the console's key bindings.
func Keys() []Binding {
	out := slices.Clone(keyTable)
	for i := range out {
		out[i].Keys = slices.Clone(out[i].Keys)
	}
	return out
}

// keymap looks bindings up by key.
type keymap struct {
	byKey map[string][]*Binding
}

func newKeymap() *keymap {
	km := &keymap{byKey: map[string][]*Binding{}}
	for i := range keyTable {
		b := &keyTable[i]
		for _, k := range b.Keys {
			km.byKey[k] = append(km.byKey[k], b)
		}
	}
	return km
}

// match returns the binding key has in scope, or nil. A view's own bindings
// are looked at before the global ones.
func (km *keymap) match(key string, scope Scope) *Binding {
	var global *Binding
	for _, b := range km.byKey[key] {
		if b.Scope&scope != 0 {
			return b
		}
		if b.Scope&ScopeGlobal != 0 && global == nil {
			global = b
		}
	}
	return global
}

// bar returns the bindings shown in the help bar for a view: the view's
// first, then the global ones.
func (km *keymap) bar(scope Scope) []*Binding {
	var own, global []*Binding
	for i := range keyTable {
		b := &keyTable[i]
		if !b.Bar {
			continue
		}
		switch {
		case b.Scope&scope != 0:
			own = append(own, b)
		case b.Scope&ScopeGlobal != 0:
			global = append(global, b)
		}
	}
	return append(own, global...)
}

// KeyTableMarkdown renders the key table for the README.
func KeyTableMarkdown() string {
	var b strings.Builder
	b.WriteString("| Key | Where | Does | Asks to confirm |\n")
	b.WriteString("|---|---|---|---|\n")
	for _, k := range keyTable {
		keys := make([]string, len(k.Keys))
		for i, s := range k.Keys {
			if s == " " {
				s = "space"
			}
			keys[i] = "`" + strings.ReplaceAll(s, "|", `\|`) + "`"
		}
		confirm := ""
		switch {
		case k.Dangerous:
			confirm = "yes"
		case k.ConfirmWhen != "":
			confirm = k.ConfirmWhen
		}
		b.WriteString("| " + strings.Join(keys, " ") + " | " + k.Scope.String() + " | " + k.Desc + " | " + confirm + " |\n")
	}
	return b.String()
}
