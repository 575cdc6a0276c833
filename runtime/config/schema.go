package config

import (
	"encoding"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// checkSchema walks the parsed document against the Config struct and
// reports every unknown key and every value of the wrong type, each with
// its line, before anything is decoded: a decoder stops at the first
// problem, a user fixing a file wants them all.
func checkSchema(file string, doc []byte) Errors {
	sc := &schemaCheck{file: file, arrays: map[string]int{}}
	var p unstable.Parser
	p.Reset(doc)
	root := reflect.TypeOf(Config{})
	tableType, tablePath := root, ""
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			keys := keyParts(e.Key())
			path := resolve(keys, sc.arrays)
			typ, ok := sc.lookup(root, keys, lineOf(&p, e), path)
			if !ok {
				tableType = nil
				continue
			}
			if e.Kind == unstable.ArrayTable {
				if typ.Kind() != reflect.Slice || deref(typ.Elem()).Kind() != reflect.Struct {
					sc.add(lineOf(&p, e), path, "wrong type: %s is not an array of tables ([[%s]]); write [%s]", path, strings.Join(keys, "."), strings.Join(keys, "."))
					tableType = nil
					continue
				}
				n := sc.arrays[path]
				sc.arrays[path] = n + 1
				tableType, tablePath = deref(typ.Elem()), path+"["+strconv.Itoa(n)+"]"
			} else {
				typ = deref(typ)
				if typ.Kind() != reflect.Struct && typ.Kind() != reflect.Map {
					sc.add(lineOf(&p, e), path, "wrong type: want %s, got a table", kindName(typ))
					tableType = nil
					continue
				}
				tableType, tablePath = typ, path
			}
		case unstable.KeyValue:
			if tableType == nil {
				continue // under a header already reported
			}
			keys := keyParts(e.Key())
			typ, ok := sc.lookup(tableType, keys, lineOf(&p, e), joinPath(tablePath, strings.Join(keys, ".")))
			if ok {
				sc.value(&p, e.Value(), typ, joinPath(tablePath, strings.Join(keys, ".")), lineOf(&p, e))
			}
		}
	}
	return sc.errs
}

type schemaCheck struct {
	file   string
	arrays map[string]int
	errs   Errors
}

func (sc *schemaCheck) add(line int, key, format string, args ...any) {
	sc.errs = append(sc.errs, &Error{File: sc.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// lookup follows dotted keys from typ (a struct or map type) and returns
// the type they name, reporting an unknown key.
func (sc *schemaCheck) lookup(typ reflect.Type, keys []string, line int, path string) (reflect.Type, bool) {
	for i, k := range keys {
		typ = deref(typ)
		if typ.Kind() == reflect.Slice && i > 0 {
			// A header such as [app.env] under [[app]]: the latest element.
			typ = deref(typ.Elem())
		}
		switch typ.Kind() {
		case reflect.Map:
			typ = typ.Elem()
		case reflect.Struct:
			f, ok := fieldByTag(typ, k)
			if !ok {
				sc.add(line, path, "unknown key%s", suggestField(typ, k))
				return nil, false
			}
			typ = f.Type
		default:
			sc.add(line, path, "wrong type: %s is a %s, not a table", strings.Join(keys[:i], "."), kindName(typ))
			return nil, false
		}
	}
	return typ, true
}

var textUnmarshaler = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()

// value checks one value node against typ; at is the line of the key (or
// array element) holding it, for values that have no line of their own (an
// empty array).
func (sc *schemaCheck) value(p *unstable.Parser, v *unstable.Node, typ reflect.Type, path string, at int) {
	line := lineOf(p, v)
	if line == 0 {
		line = at
	}
	typ = deref(typ)
	if reflect.PointerTo(typ).Implements(textUnmarshaler) {
		// Duration, Size: a string parsed by the type itself; Size also
		// takes an integer.
		switch {
		case v.Kind == unstable.String:
			ptr := reflect.New(typ)
			if err := ptr.Interface().(encoding.TextUnmarshaler).UnmarshalText(v.Data); err != nil {
				sc.add(line, path, "%s", err.Error())
			}
		case v.Kind == unstable.Integer && typ.Kind() == reflect.Int64 && typ != reflect.TypeOf(Duration(0)):
			if n, err := strconv.ParseInt(strings.ReplaceAll(string(v.Data), "_", ""), 0, 64); err != nil || n < 0 {
				sc.add(line, path, "invalid size %s: must be a non-negative integer", v.Data)
			}
		default:
			sc.add(line, path, "wrong type: want %s, got %s", kindName(typ), nodeName(v.Kind))
		}
		return
	}
	switch typ.Kind() {
	case reflect.String:
		sc.want(v, line, path, typ, unstable.String)
	case reflect.Bool:
		sc.want(v, line, path, typ, unstable.Bool)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		sc.want(v, line, path, typ, unstable.Integer)
	case reflect.Float32, reflect.Float64:
		sc.want(v, line, path, typ, unstable.Float, unstable.Integer)
	case reflect.Slice:
		if !sc.want(v, line, path, typ, unstable.Array) {
			return
		}
		it := v.Children()
		for i := 0; it.Next(); i++ {
			sc.value(p, it.Node(), typ.Elem(), path+"["+strconv.Itoa(i)+"]", line)
		}
	case reflect.Struct, reflect.Map:
		if !sc.want(v, line, path, typ, unstable.InlineTable) {
			return
		}
		it := v.Children()
		for it.Next() {
			kv := it.Node()
			keys := keyParts(kv.Key())
			sub := joinPath(path, strings.Join(keys, "."))
			if t, ok := sc.lookup(typ, keys, lineOf(p, kv), sub); ok {
				sc.value(p, kv.Value(), t, sub, lineOf(p, kv))
			}
		}
	}
}

func (sc *schemaCheck) want(v *unstable.Node, line int, path string, typ reflect.Type, kinds ...unstable.Kind) bool {
	for _, k := range kinds {
		if v.Kind == k {
			return true
		}
	}
	sc.add(line, path, "wrong type: want %s, got %s", kindName(typ), nodeName(v.Kind))
	return false
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// fieldByTag finds the field of a struct whose toml tag is name.
func fieldByTag(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if tag := tomlName(f); tag == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func tomlName(f reflect.StructField) string {
	tag, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
	if tag == "-" || !f.IsExported() {
		return ""
	}
	return tag
}

// suggestField proposes the known key of t closest to bad.
func suggestField(t reflect.Type, bad string) string {
	var names []string
	for i := 0; i < t.NumField(); i++ {
		if n := tomlName(t.Field(i)); n != "" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	best, bestD := "", 3
	for _, n := range names {
		if d := editDistance(bad, n); d < bestD {
			best, bestD = n, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func kindName(t reflect.Type) string {
	switch {
	case t == reflect.TypeOf(Duration(0)):
		return "a duration string such as \"30s\""
	case t == reflect.TypeOf(Size(0)):
		return "a size such as \"256MiB\" or an integer"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice:
		return "array"
	default:
		return "table"
	}
}

func nodeName(k unstable.Kind) string {
	switch k {
	case unstable.String:
		return "string"
	case unstable.Integer:
		return "integer"
	case unstable.Float:
		return "float"
	case unstable.Bool:
		return "boolean"
	case unstable.Array:
		return "array"
	case unstable.InlineTable:
		return "table"
	default:
		return strings.ToLower(k.String())
	}
}
