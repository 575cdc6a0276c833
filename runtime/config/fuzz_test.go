package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stackctl/stackctl/runtime/proxy/rewrite"
)

// FuzzParse feeds arbitrary documents to Parse. The seed corpus
// (testdata/fuzz/FuzzParse) holds realistic configurations (apps, a proxy,
// routes with rewrite rules and conditions, upstreams with health checks)
// and near misses (typos, wrong types, bad durations and sizes, broken
// tables). Whatever the input:
//
//   - Parse never panics, and returns either a Config or Errors, never both
//     and never another error type;
//   - every Error names the file, has a message, and a Line within the
//     document (0 only for a problem with no single place: never for a
//     syntax error, an unknown key, a wrong type, or a key written in the
//     file);
//   - parsing is deterministic: the same document gives the same Config, or
//     the same errors in the same order;
//   - a Config that validates is one the proxy can build: its regexes and
//     rewrite rules compile, its servers parse, the upstreams it names
//     exist, and every recorded key position is a line of the document.
//
// Relative paths resolve against a temporary directory that has "app",
// "src" and "public" subdirectories, so seeds using chdir = "app" or
// static = "public" validate.
func FuzzParse(f *testing.F) {
	root := f.TempDir()
	for _, d := range []string{"app", "src", "public", "public/docs"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			f.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "public", "file.txt"), []byte("x"), 0o644); err != nil {
		f.Fatal(err)
	}
	file := filepath.Join(root, "stackctl.toml")
	f.Add([]byte(""))
	f.Add([]byte("[[app]]\nname = \"hello\"\nmodule = \"hello:application\"\nchdir = \"app\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(file, data)
		checkParseResult(t, file, data, c, err)

		// Determinism. Errors may come from map iteration, so a document
		// with several errors is parsed a few more times: an order that
		// depends on the map's random iteration shows up almost surely.
		tries := 1
		if es, ok := err.(Errors); ok && len(es) > 1 {
			tries = 7
		}
		for range tries {
			c2, err2 := Parse(file, data)
			if (err == nil) != (err2 == nil) {
				t.Fatalf("parsed twice, different outcomes:\n1: %v\n2: %v", err, err2)
			}
			if err != nil {
				e1, e2 := errStrings(err), errStrings(err2)
				if !slices.Equal(slices.Sorted(slices.Values(e1)), slices.Sorted(slices.Values(e2))) {
					t.Fatalf("parsed twice, different errors:\n1: %q\n2: %q", e1, e2)
				}
				if !slices.Equal(e1, e2) {
					t.Fatalf("parsed twice, the same errors in a different order:\n1: %q\n2: %q", e1, e2)
				}
				continue
			}
			if !reflect.DeepEqual(c, c2) {
				t.Fatalf("parsed twice, different configs:\n1: %+v\n2: %+v", c, c2)
			}
		}
	})
}

func errStrings(err error) []string {
	es, _ := err.(Errors)
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = fmt.Sprintf("%d|%s|%s", e.Line, e.Key, e.Error())
	}
	return out
}

// placedMsg matches the messages of problems with something written in the
// file: they always have a line.
var placedMsg = regexp.MustCompile(`^(unknown key|wrong type)`)

func checkParseResult(t *testing.T, file string, data []byte, c *Config, err error) {
	t.Helper()
	lines := bytes.Count(data, []byte("\n")) + 1
	if err != nil {
		if c != nil {
			t.Fatalf("Parse returned both a config and an error: %v", err)
		}
		es, ok := err.(Errors)
		if !ok {
			t.Fatalf("Parse error is %T, want config.Errors: %v", err, err)
		}
		if len(es) == 0 {
			t.Fatal("Parse returned empty Errors")
		}
		var pos positions // of the keys written, as far as the document parses
		for _, e := range es {
			if e == nil {
				t.Fatalf("nil *Error in %v", es)
			}
			if e.File != file {
				t.Errorf("error %q: File = %q, want %q", e.Error(), e.File, file)
			}
			if e.Msg == "" {
				t.Errorf("error %q has no message", e.Error())
			}
			if e.Line < 0 || e.Line > lines {
				t.Errorf("error %q: Line %d outside the document's %d lines", e.Error(), e.Line, lines)
			}
			if !strings.HasPrefix(e.Error(), file) {
				t.Errorf("error text %q does not start with the file", e.Error())
			}
			if e.Line != 0 {
				continue
			}
			switch {
			case e.Key == "":
				t.Errorf("error %q: a syntax error without a line", e.Error())
			case placedMsg.MatchString(e.Msg):
				t.Errorf("error %q: about something written in the file, yet Line 0", e.Error())
			default:
				if pos == nil {
					pos = indexPositions(data)
				}
				if l, written := pos[e.Key]; written {
					t.Errorf("error %q: key %s is written in the file (recorded at line %d), yet Line 0", e.Error(), e.Key, l)
				}
			}
		}
		return
	}
	if c == nil {
		t.Fatal("Parse returned neither a config nor an error")
	}
	if c.File != file || !bytes.Equal(c.Source, data) {
		t.Fatalf("File %q / Source %q do not echo the input", c.File, c.Source)
	}
	for key, l := range c.pos {
		if l < 1 || l > lines {
			t.Errorf("key %s recorded at line %d, outside the document's %d lines", key, l, lines)
		}
	}
	if !filepath.IsAbs(c.RunDir) || !filepath.IsAbs(c.Control.Socket) {
		t.Errorf("run_dir %q / control.socket %q not absolute", c.RunDir, c.Control.Socket)
	}
	for i, a := range c.Apps {
		if a.Workers < 1 || a.Threads < 1 || a.BufferSize < 4096 || a.BufferSize > MaxBufferSize || !filepath.IsAbs(a.Chdir) {
			t.Errorf("app[%d] validated with %+v", i, a)
		}
	}
	// What the proxy does with a validated configuration must not fail on
	// anything validation could have caught.
	for i, u := range c.Upstreams {
		for j, s := range u.Servers {
			if _, err := ParseServer(s); err != nil {
				t.Errorf("upstream[%d].servers[%d] validated, yet ParseServer: %v", i, j, err)
			}
		}
	}
	if c.Proxy == nil {
		return
	}
	checkRules := func(key string, rules []rewrite.Rule) {
		if len(rules) == 0 {
			return
		}
		prog, err := rewrite.Compile(rules)
		if err != nil {
			t.Errorf("%s validated, yet rewrite.Compile: %v", key, err)
			return
		}
		for _, ref := range prog.Proxies() {
			if _, ok := c.UpstreamNamed(ref.Upstream); !ok {
				t.Errorf("%s validated, yet P=%s names no upstream", key, ref.Upstream)
			}
		}
	}
	checkRules("proxy.rewrite", c.Proxy.Rewrite)
	for i, rt := range c.Proxy.Routes {
		key := fmt.Sprintf("proxy.route[%d]", i)
		n := 0
		for _, s := range []string{rt.Path, rt.Exact, rt.Regex} {
			if s != "" {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s validated with %d of path, exact, regex", key, n)
		}
		if rt.Path != "" && rt.Path[0] != '/' || rt.Exact != "" && rt.Exact[0] != '/' {
			t.Errorf("%s validated with a path not starting with '/': %+v", key, rt)
		}
		if rt.Regex != "" {
			if _, err := regexp.Compile(rt.Regex); err != nil {
				t.Errorf("%s validated, yet its regex does not compile: %v", key, err)
			}
		}
		if rt.Upstream != "" {
			if _, ok := c.UpstreamNamed(rt.Upstream); !ok {
				t.Errorf("%s validated, yet upstream %q does not exist", key, rt.Upstream)
			}
		}
		checkRules(key+".rewrite", rt.Rewrite)
	}
}
