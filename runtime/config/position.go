package config

import (
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// positions maps a key path such as "app[1].chdir" or "proxy.route[0].path" to
// the 1-based line where it is written. Tables and array-table headers are
// recorded too ("app[1]"), so an error about a missing key can point at the
// section that lacks it.
type positions map[string]int

// line returns the line of path, falling back to the nearest recorded parent
// (so "app[0].workers" for a key that was never written points at "[[app]]").
func (p positions) line(path string) int {
	for path != "" {
		if l, ok := p[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i <= 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

// indexPositions parses doc (already known to be valid TOML) and records where
// every key lives.
func indexPositions(doc []byte) positions {
	pos := positions{}
	arrays := map[string]int{} // array-table path -> count so far
	var p unstable.Parser
	p.Reset(doc)
	var table string // current table prefix, with array indexes resolved
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			keys := keyParts(e.Key())
			table = resolve(keys, arrays)
			if e.Kind == unstable.ArrayTable {
				n := arrays[table]
				arrays[table] = n + 1
				table = table + "[" + strconv.Itoa(n) + "]"
			}
			pos[table] = lineOf(&p, e)
		case unstable.KeyValue:
			keys := keyParts(e.Key())
			path := joinPath(table, strings.Join(keys, "."))
			pos[path] = lineOf(&p, e)
			indexValue(&p, e.Value(), path, pos)
		}
	}
	return pos
}

// resolve turns a header such as [[proxy.route]] into a path in which every
// array table on the way refers to its latest element: [app.env] under the
// second [[app]] becomes "app[1].env". The last key is left unindexed.
func resolve(keys []string, arrays map[string]int) string {
	var path string
	for i, k := range keys {
		path = joinPath(path, k)
		if i == len(keys)-1 {
			break
		}
		if n := arrays[path]; n > 0 {
			path += "[" + strconv.Itoa(n-1) + "]"
		}
	}
	return path
}

func indexValue(p *unstable.Parser, v *unstable.Node, path string, pos positions) {
	switch v.Kind {
	case unstable.InlineTable:
		it := v.Children()
		for it.Next() {
			kv := it.Node()
			sub := joinPath(path, strings.Join(keyParts(kv.Key()), "."))
			pos[sub] = lineOf(p, kv)
			indexValue(p, kv.Value(), sub, pos)
		}
	case unstable.Array:
		it := v.Children()
		for i := 0; it.Next(); i++ {
			el := it.Node()
			sub := path + "[" + strconv.Itoa(i) + "]"
			if l := lineOf(p, el); l > 0 {
				pos[sub] = l
			}
			indexValue(p, el, sub, pos)
		}
	}
}

func keyParts(it unstable.Iterator) []string {
	var keys []string
	for it.Next() {
		keys = append(keys, string(it.Node().Data))
	}
	return keys
}

// lineOf returns the line of a node, using its own raw range or, for
// containers without one, that of its first key or child.
func lineOf(p *unstable.Parser, n *unstable.Node) int {
	if n.Raw.Length > 0 {
		return p.Shape(n.Raw).Start.Line
	}
	if n.Kind == unstable.KeyValue || n.Kind == unstable.Table || n.Kind == unstable.ArrayTable {
		it := n.Key()
		if it.Next() {
			return lineOf(p, it.Node())
		}
	}
	it := n.Children()
	if it.Next() {
		return lineOf(p, it.Node())
	}
	return 0
}

func joinPath(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}
