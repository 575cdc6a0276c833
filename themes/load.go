package themes

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// Error is one problem in a theme file, written "FILE:LINE: key: what is
// wrong" like the configuration's errors, so editors can jump to it.
type Error struct {
	File string
	Line int
	Key  string
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one or more theme files.
type Errors []*Error

func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// file is a theme file's shape. Colors stays untyped so a value may be a
// string or a table, and so each colour is checked by name with its line.
type file struct {
	Name   string         `toml:"name"`
	Base   string         `toml:"base"`
	Colors map[string]any `toml:"colors"`
}

// Parse reads a theme file's text (name is used in errors and, without
// ".toml", as the default theme name) and layers it over its base, which is
// looked up among the built-ins.
func Parse(name string, data []byte) (Theme, error) {
	var f file
	dec := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return Theme{}, decodeError(name, err)
	}
	t := Theme{Name: f.Name, Base: f.Base, File: name}
	if t.Name == "" {
		t.Name = strings.TrimSuffix(filepath.Base(name), ".toml")
	}
	if t.Base == "" {
		t.Base = Default
	}
	var errs Errors
	base, ok := Builtin(t.Base)
	if !ok {
		errs = append(errs, &Error{File: name, Line: lineOf(data, "", "base"), Key: "base",
			Msg: fmt.Sprintf("unknown base theme %q (want one of %s)", f.Base, strings.Join(builtinNames(), ", "))})
	}
	t.Palette = base.Palette
	keys := make([]string, 0, len(f.Colors))
	for k := range f.Colors {
		keys = append(keys, k)
	}
	sort.Strings(keys) // stable error order
	for _, k := range keys {
		line := lineOf(data, "colors", k)
		r := slices.IndexFunc(roles, func(r role) bool { return r.name == k })
		if r < 0 {
			errs = append(errs, &Error{File: name, Line: line, Key: "colors." + k,
				Msg: fmt.Sprintf("unknown colour name (want one of %s)", strings.Join(Roles(), ", "))})
			continue
		}
		var (
			c   Color
			err error
		)
		switch v := f.Colors[k].(type) {
		case string:
			c, err = ParseColor(v)
		case map[string]any:
			c, err = parseColorTable(v)
		case int64:
			c, err = ParseColor(fmt.Sprint(v))
		default:
			err = fmt.Errorf("want a colour string or a table, got %v", v)
		}
		if err != nil {
			errs = append(errs, &Error{File: name, Line: line, Key: "colors." + k, Msg: err.Error()})
			continue
		}
		*roles[r].get(&t.Palette) = c
	}
	if len(errs) > 0 {
		return Theme{}, errs
	}
	return t, nil
}

// LoadFile reads and parses one theme file.
func LoadFile(path string) (Theme, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Theme{}, err
	}
	return Parse(path, data)
}

// LoadDir adds every *.toml theme in dir to the set. A missing directory is
// not an error (most users have none); the themes that load are added even
// when others fail, and the failures come back together.
func (s *Set) LoadDir(dir string) error {
	if dir == "" {
		return nil
	}
	paths, err := filepath.Glob(filepath.Join(dir, "*.toml"))
	if err != nil {
		return err
	}
	if len(paths) == 0 {
		if _, err := os.Stat(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	sort.Strings(paths)
	var errs Errors
	for _, p := range paths {
		t, err := LoadFile(p)
		if err != nil {
			var es Errors
			if errors.As(err, &es) {
				errs = append(errs, es...)
			} else {
				errs = append(errs, &Error{File: p, Msg: err.Error()})
			}
			continue
		}
		s.Add(t)
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

func builtinNames() []string {
	names := make([]string, len(builtins))
	for i, t := range builtins {
		names[i] = t.Name
	}
	return names
}

func decodeError(name string, err error) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) {
		var es Errors
		for i := range strict.Errors {
			de := &strict.Errors[i]
			line, _ := de.Position()
			es = append(es, &Error{File: name, Line: line, Key: strings.Join(de.Key(), "."),
				Msg: "unknown key (a theme file has name, base and [colors])"})
		}
		return es
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		line, _ := de.Position()
		return Errors{{File: name, Line: line, Key: strings.Join(de.Key(), "."), Msg: strings.TrimPrefix(de.Error(), "toml: ")}}
	}
	return Errors{{File: name, Msg: err.Error()}}
}

var tableRE = regexp.MustCompile(`^\s*\[\s*([A-Za-z0-9_.-]+)\s*\]`)

// lineOf finds the line where key is set inside table ("" for the top
// level), for error messages; 0 when it cannot tell. Keys may also be
// written dotted ("colors.good = ...") at the top level.
func lineOf(data []byte, table, key string) int {
	cur := ""
	keyRE := regexp.MustCompile(`^\s*"?` + regexp.QuoteMeta(key) + `"?\s*=`)
	dotted := regexp.MustCompile(`^\s*` + regexp.QuoteMeta(table) + `\.` + regexp.QuoteMeta(key) + `\s*=`)
	for i, l := range strings.Split(string(data), "\n") {
		if m := tableRE.FindStringSubmatch(l); m != nil {
			cur = m[1]
			continue
		}
		if cur == table && keyRE.MatchString(l) {
			return i + 1
		}
		if table != "" && cur == "" && dotted.MatchString(l) {
			return i + 1
		}
	}
	return 0
}
